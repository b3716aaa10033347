/**
 * Scripts: a Lua source, its SHA1 computed locally, and an optional JavaScript twin that
 * the memory driver runs instead (it has no Lua).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { MemoryScript, ScriptSource } from "./connection.ts";
import { describeValue } from "../base/mod.ts";
import { invalidArgument } from "./errors.ts";

/** The SHA1 (hex) Redis gives `lua`. */
export function scriptSha(lua: string): string {
  return createHash("sha1").update(lua).digest("hex");
}

/**
 * Defines a script. `keyCount` is how many keys every call passes (-1: any number, for the
 * cache's own variadic scripts). `byteStrings`: the twin sees KEYS, ARGV and replies as
 * Redis's byte strings (one char per byte), as Lua does, so binary values pass through
 * intact (the cache's own scripts); otherwise as decoded text (users' twins).
 */
export function defineScript(
  lua: string,
  keyCount: number,
  memory?: MemoryScript,
  byteStrings = false,
): ScriptSource {
  if (typeof lua !== "string" || lua.trim().length === 0) {
    throw invalidArgument("a script needs Lua source text", "lua");
  }
  if (keyCount !== -1 && (!Number.isInteger(keyCount) || keyCount < 0)) {
    throw invalidArgument(
      `script keys must be an integer ≥ 0, got ${describeValue(keyCount)}`,
      "keys",
    );
  }
  if (memory !== undefined && typeof memory !== "function") {
    throw invalidArgument("script memory twin must be a function", "memory");
  }
  return { lua, sha: scriptSha(lua), keyCount, memory, byteStrings };
}
