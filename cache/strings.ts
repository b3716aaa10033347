/**
 * Commands of string values shared by the cache and its pipelines.
 *
 * @module
 */

import { InfraError } from "../base/mod.ts";
import { encodeValue } from "./codec.ts";
import { type Arg, type Command, command, type Reply } from "./connection.ts";
import { INCREMENT } from "./scripts.ts";
import type { CacheCore } from "./core.ts";
import { invalidArgument } from "./errors.ts";
import type { Codec, SetOptions } from "./types.ts";
import { type TagPair, wrapEntry } from "./tags.ts";
import { checkTtl } from "./validate.ts";

/** The SET command of {@link Cache.set}; every argument is checked before anything is sent. */
export function setCommand(
  core: CacheCore,
  key: string,
  value: unknown,
  options: Omit<SetOptions, "signal" | "codec">,
  codec: Codec,
  pairs?: readonly TagPair[],
): Command {
  const full = core.keys.full(key);
  if (options.tags !== undefined && pairs === undefined) {
    throw invalidArgument("tags are taken by Cache.set, not by a pipeline's set", "tags");
  }
  const args: Arg[] = [full, wrapEntry(encodeValue(value, codec), pairs)];
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

/**
 * The commands of {@link Cache.expire} (and its pipeline form), sent together; the last
 * one's reply is 1 when the key exists (and now has the TTL, or none for 0). A key without
 * TTL that is given none (0) exists all the same: PERSIST alone would say 0 for it.
 */
export function expireCommands(full: string, ttlMs: number): Command[] {
  if (ttlMs > 0) return [command("PEXPIRE", [full, ttlMs], full)];
  return [command("PERSIST", [full], full), command("EXISTS", [full], full)];
}

/** A PTTL reply as the API returns it: ms, `Infinity` for no TTL, `undefined` for a missing key. */
export function ttlFromReply(reply: Reply): number | undefined {
  const ms = Number(reply);
  if (ms === -2) return undefined;
  if (ms === -1) return Infinity;
  return ms;
}

/**
 * A counter step: `command`, and `fallback` to send instead when `command` found that the
 * stored value is not an integer. Integer steps go as INCRBY (HINCRBY), the fast command;
 * a counter that once took a fractional step holds a float, and Redis refuses it an integer
 * step, so the fallback takes that step with INCRBYFLOAT (HINCRBYFLOAT). A float step goes
 * as INCRBYFLOAT at once. The rule is the same everywhere; inside a pipeline, where a
 * second command would run after the commands behind it, the fallback runs in the server
 * (the INCREMENT script).
 */
export interface CounterStep {
  /** Sent first. */
  readonly command: Command;
  /** Sent when `command` met a stored value that is not an integer. */
  readonly fallback?: Command;
}

/** The step of {@link Cache.increment} (`inPipeline`: one command, fallback included). */
export function counterStep(
  full: string,
  by: number,
  ttlMs: number,
  inPipeline = false,
): CounterStep {
  const integer = Number.isSafeInteger(by);
  if (ttlMs > 0 || (integer && inPipeline)) {
    return {
      command: {
        kind: "script",
        script: INCREMENT,
        keys: [full],
        args: [by, ttlMs, integer ? "i" : "f"],
        binary: false,
      },
    };
  }
  if (!integer) return { command: command("INCRBYFLOAT", [full, by], full) };
  return {
    command: command("INCRBY", [full, by], full),
    fallback: command("INCRBYFLOAT", [full, by], full),
  };
}

/** Whether an increment failed because the stored value is not an integer. */
function notAnInteger(error: unknown): boolean {
  return InfraError.is(error, "Conflict") && error.message.includes("not an integer");
}

/** Sends a {@link CounterStep} with `send`, falling back when it says so. */
export async function sendStep(
  send: (command: Command) => Promise<Reply>,
  step: CounterStep,
): Promise<Reply> {
  if (!step.fallback) return await send(step.command);
  try {
    return await send(step.command);
  } catch (error) {
    if (!notAnInteger(error)) throw error;
    return await send(step.fallback);
  }
}
