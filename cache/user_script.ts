/**
 * Scripts defined by users: {@link Cache.script} and their runs (alone or in pipelines).
 *
 * @module
 */

import { plainReply } from "./codec.ts";
import type { Command, ScriptSource } from "./connection.ts";
import type { CacheCore } from "./core.ts";
import { describeValue } from "../base/mod.ts";
import { invalidArgument } from "./errors.ts";
import { defineScript } from "./script.ts";
import type { Script, ScriptOptions, ScriptReply, ScriptRunOptions } from "./types.ts";
import { optionsOf } from "./validate.ts";

const sources = new WeakMap<Script, ScriptSource>();

/** The command that runs `script` with `keys` (prefixed here) and `args`. */
export function scriptCommand(
  core: CacheCore,
  script: Script,
  keys: string[],
  args: (string | number)[],
  binary: boolean,
): Extract<Command, { kind: "script" }> {
  const source = sources.get(script);
  if (!source) throw invalidArgument("not a script made by cache.script()", "script");
  if (!Array.isArray(keys) || keys.length !== source.keyCount) {
    throw invalidArgument(
      `the script takes exactly ${source.keyCount} key(s), got ${
        Array.isArray(keys) ? keys.length : "no array"
      }`,
      "keys",
    );
  }
  if (!Array.isArray(args)) throw invalidArgument("script args must be an array", "args");
  args.forEach((arg, i) => {
    if (typeof arg !== "string" && !(typeof arg === "number" && Number.isFinite(arg))) {
      throw invalidArgument(`args[${i}] must be a string or a finite number`, `args[${i}]`);
    }
  });
  const full = keys.map((key, i) => core.keys.full(key, `keys[${i}]`));
  return { kind: "script", script: source, keys: full, args, binary };
}

/** {@link Cache.script}. */
export function createScript(core: CacheCore, lua: string, options: ScriptOptions): Script {
  if (options === null || typeof options !== "object") {
    throw invalidArgument("script options { keys } are required", "options");
  }
  if (!Number.isInteger(options.keys) || options.keys < 0) {
    throw invalidArgument(
      `script keys must be an integer ≥ 0, got ${describeValue(options.keys)}`,
      "keys",
    );
  }
  const source = defineScript(lua, options.keys, options.memory);
  const script: Script = {
    sha: source.sha,
    keys: source.keyCount,
    async run(keys: string[], args: (string | number)[] = [], runOptions: ScriptRunOptions = {}) {
      runOptions = optionsOf(runOptions, "script.run");
      const command = scriptCommand(core, script, keys, args, runOptions.binary ?? false);
      // A script may write any of its keys: it is a write of all of them (that may also
      // leave them as they were).
      const reply = await core.write(
        command.keys,
        () => core.connection.call(command),
        runOptions.signal,
        [],
        command.keys,
      );
      return plainReply(reply) as ScriptReply;
    },
  };
  sources.set(script, source);
  return script;
}
