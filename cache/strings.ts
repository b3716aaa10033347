/**
 * Commands of string values shared by the cache and its pipelines.
 *
 * @module
 */

import { encodeValue } from "./codec.ts";
import { type Arg, type Command, command, type Reply } from "./connection.ts";
import type { CacheCore } from "./core.ts";
import { invalidArgument } from "./errors.ts";
import type { Codec, SetOptions } from "./types.ts";
import { checkTtl } from "./validate.ts";

/** The SET command of {@link Cache.set}; every argument is checked before anything is sent. */
export function setCommand(
  core: CacheCore,
  key: string,
  value: unknown,
  options: Omit<SetOptions, "signal" | "codec">,
  codec: Codec,
): Command {
  const full = core.keys.full(key);
  const args: Arg[] = [full, encodeValue(value, codec)];
  if (options.ifAbsent && options.ifPresent) {
    throw invalidArgument("ifAbsent and ifPresent exclude each other", "ifAbsent");
  }
  if (options.keepTtl) {
    if (options.ttlMs !== undefined) throw invalidArgument("keepTtl excludes ttlMs", "keepTtl");
    args.push("KEEPTTL");
  } else {
    const ttl = checkTtl(options.ttlMs ?? core.settings.defaultTtlMs);
    if (ttl > 0) args.push("PX", ttl);
  }
  if (options.ifAbsent) args.push("NX");
  if (options.ifPresent) args.push("XX");
  return command("SET", args, full);
}

/** A PTTL reply as the API returns it: ms, `Infinity` for no TTL, `undefined` for a missing key. */
export function ttlFromReply(reply: Reply): number | undefined {
  const ms = Number(reply);
  if (ms === -2) return undefined;
  if (ms === -1) return Infinity;
  return ms;
}
