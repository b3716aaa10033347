/**
 * Commands of string values shared by the cache and its pipelines.
 *
 * @module
 */

import { InfraError } from "../base/mod.ts";
import { encodeValue } from "./codec.ts";
import { type Arg, type Command, command, type Reply } from "./connection.ts";
import { DELETE, EXPIRE, INCREMENT, PROBE, SET_IF } from "./scripts.ts";
import type { CacheCore } from "./core.ts";
import { invalidArgument } from "./errors.ts";
import type { Codec, SetOptions } from "./types.ts";
import { checkTaggedLife, MAX_TAGGED_LIFE_MS, type TagPair, wrapEntry } from "./tags.ts";
import { absentKeyOf, companionsOf } from "./keys.ts";
import { checkTtl } from "./validate.ts";

/**
 * What a conditional set (`ifAbsent` / `ifPresent`) knows of a tagged entry at its key: the
 * entry's tag header, and whether its tags are still valid (see `SET_IF`).
 */
export type KnownEntry = readonly [header: string, valid: boolean];

/**
 * The command of {@link Cache.set}; every argument is checked before anything is sent. A
 * plain set is a SET; a conditional one (`ifAbsent` / `ifPresent`) runs `SET_IF`, which
 * takes a tag-invalidated entry for a missing one (`known`: what the caller learnt of the
 * entry at the key on an earlier attempt). Read its reply with {@link setOutcome}.
 */
export function setCommand(
  core: CacheCore,
  key: string,
  value: unknown,
  options: Omit<SetOptions, "signal" | "codec">,
  codec: Codec,
  pairs?: readonly TagPair[],
  known?: KnownEntry,
): Command {
  const full = core.keys.full(key);
  if (options.tags !== undefined && pairs === undefined) {
    throw invalidArgument("tags are taken by Cache.set, not by a pipeline's set", "tags");
  }
  const data = wrapEntry(encodeValue(value, codec), pairs);
  if (options.ifAbsent && options.ifPresent) {
    throw invalidArgument("ifAbsent and ifPresent exclude each other", "ifAbsent");
  }
  let ttl: Arg[] = [];
  if (options.keepTtl) {
    if (options.ttlMs !== undefined) throw invalidArgument("keepTtl excludes ttlMs", "keepTtl");
    ttl = ["KEEPTTL"];
  } else {
    const ms = checkTtl(options.ttlMs ?? core.settings.defaultTtlMs);
    if (ms > 0) ttl = ["PX", ms];
  }
  if (isConditional(options)) {
    return {
      kind: "script",
      script: SET_IF,
      keys: [full, absentKeyOf(core.keys, full)],
      args: [
        data,
        options.ifAbsent ? "nx" : "xx",
        ttl.length === 1 ? "keep" : ttl[1] ?? 0,
        known?.[0] ?? "",
        known?.[1] ? "1" : "0",
      ],
      binary: false,
    };
  }
  return command("SET", [full, data, ...ttl], full);
}

/**
 * Whether {@link setCommand} makes a conditional set, which ends getOrSet's companion
 * marker in its own script, only when it writes.
 */
export function isConditional(options: Pick<SetOptions, "ifAbsent" | "ifPresent">): boolean {
  return Boolean(options.ifAbsent || options.ifPresent);
}

/**
 * What a reply of {@link setCommand} says: whether it wrote, or (a string) the tag header
 * of an entry at the key whose validity the conditional set must learn before it can
 * decide (send it again with that knowledge).
 */
export function setOutcome(reply: Reply): boolean | string {
  if (!Array.isArray(reply)) return reply !== null;
  if (Number(reply[0]) === -1) return String(reply[1]);
  return Number(reply[0]) === 1;
}

/** Attempts of a conditional set while the entry at its key keeps changing. */
const CONDITIONAL_ATTEMPTS = 10;

/**
 * Sends {@link setCommand}, taking a tag-invalidated entry at the key for a missing one: a
 * conditional set that finds a tagged entry learns whether its tags are still valid and
 * sends again. `first`: a reply already received (a pipeline's).
 */
export async function sendSet(
  core: CacheCore,
  send: (command: Command) => Promise<Reply>,
  build: (known?: KnownEntry) => Command,
  signal?: AbortSignal,
  first?: Reply,
): Promise<boolean> {
  let outcome = setOutcome(first === undefined ? await send(build()) : first);
  for (let attempt = 1; typeof outcome === "string"; attempt++) {
    if (attempt >= CONDITIONAL_ATTEMPTS) {
      throw new InfraError(
        "Conflict",
        `a conditional set gave up: the tagged entry at its key changed ${attempt} times while it checked its tags`,
        { component: "cache" },
      );
    }
    const [valid] = await core.tags.validHeaders([outcome], signal);
    outcome = setOutcome(await send(build([outcome, valid])));
  }
  return outcome;
}

/**
 * The command of {@link Cache.expire} (and its pipeline form): the `EXPIRE` script, which
 * also ends a getOrSet grace marker. Read its reply with {@link expireOutcome}.
 */
export function expireCommand(core: CacheCore, full: string, ttlMs: number): Command {
  return {
    kind: "script",
    script: EXPIRE,
    keys: [full, absentKeyOf(core.keys, full)],
    args: [ttlMs, MAX_TAGGED_LIFE_MS],
    binary: false,
  };
}

/**
 * What an `EXPIRE` reply means: true when the key exists (a tag-invalidated entry does
 * not) and now has the TTL. `InvalidArgument` when it holds a valid tagged entry that the
 * TTL would let outlive its tags.
 */
export async function expireOutcome(
  core: CacheCore,
  reply: Reply,
  ttlMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const [[result, header]] = probed(reply);
  if (result === 0) return false;
  if (header !== "" && !(await core.tags.validHeaders([header], signal))[0]) return false;
  if (result === -1) checkTaggedLife(ttlMs);
  return true;
}

/** The `PROBE` command of keys of one slot: EXISTS ("e") or PTTL ("t") with tag headers. */
export function probeCommand(keys: readonly string[], op: "e" | "t"): Command {
  return { kind: "script", script: PROBE, keys, args: [op], binary: false };
}

/** The `DELETE` command of keys of one slot, with their companions. */
export function deleteCommand(core: CacheCore, keys: readonly string[]): Command {
  return {
    kind: "script",
    script: DELETE,
    keys: keys.flatMap((key) => [key, ...companionsOf(core.keys, key)]),
    args: [],
    binary: false,
  };
}

/** The `[reply, tag header]` pairs of a `PROBE`, `DELETE` or `EXPIRE` reply. */
export function probed(reply: Reply): [number, string][] {
  const items = reply as Reply[];
  const out: [number, string][] = [];
  for (let i = 0; i < items.length; i += 2) out.push([Number(items[i]), String(items[i + 1])]);
  return out;
}

/**
 * How many of the probed keys hold something (a reply of 1) that no tag invalidated. One
 * look-up of the tag records for all of them.
 */
export async function countLive(
  core: CacheCore,
  entries: readonly [number, string][],
  signal?: AbortSignal,
): Promise<number> {
  const valid = await core.tags.validHeaders(entries.map(([, header]) => header), signal);
  return entries.reduce((sum, [reply], i) => sum + (reply === 1 && valid[i] ? 1 : 0), 0);
}

/** A `PTTL` probe as {@link Cache.ttl} returns it (a tag-invalidated entry is missing). */
export async function ttlOutcome(
  core: CacheCore,
  [pttl, header]: [number, string],
  signal?: AbortSignal,
): Promise<number | undefined> {
  if (header !== "" && !(await core.tags.validHeaders([header], signal))[0]) return undefined;
  return ttlFromReply(pttl);
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
