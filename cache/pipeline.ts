/**
 * Pipelines: queued commands sent in one round trip through the connection's batch (one
 * pipeline per slot in a cluster). Scripts inside go as EVAL, so a pipeline never meets
 * NOSCRIPT and its commands run in the order they were queued.
 *
 * @module
 */

import { InfraError, throwIfAborted } from "../base/mod.ts";
import { type Encoded, isBinary } from "./codec.ts";
import { type Command, command, type Reply } from "./connection.ts";
import type { CacheCore } from "./core.ts";
import { hashCommands, setCommands, sortedSetCommands } from "./collections.ts";
import * as strings from "./strings.ts";
import { toCacheError } from "./errors.ts";
import { isWrapped, refuseTags } from "./tags.ts";
import type { CallOptions, Codec, Pipeline, ScoredMember, Script, SetOptions } from "./types.ts";
import {
  checkCodec,
  checkFinite,
  checkTtl,
  decodeReply,
  optionsOf,
  parseHash,
  parseInteger,
  parseScore,
  parseScored,
} from "./validate.ts";
import { scriptCommand } from "./user_script.ts";

interface Queued {
  command: Command;
  decode: (reply: Reply) => unknown;
  /** Full keys this command writes (for L1 invalidation). */
  writes: string[];
  /**
   * Whether it gives its keys a string value: "surely" when it succeeds (a plain set: its
   * companion marker ends), "maybe" (an increment, a script: a cached "not found" ends, a
   * grace marker stays), or not at all (see `CacheCore.write`). A conditional set ends the
   * marker in its own script.
   */
  givesValue?: "surely" | "maybe";
}

const identity = (reply: Reply) => reply;

/**
 * A result that needs one more step once the replies are in: a value or header whose tags
 * must be checked, or a conditional set that found a tagged entry.
 */
class Pending {
  constructor(readonly settle: (signal?: AbortSignal) => Promise<unknown>) {}
}

/** {@link Cache.pipeline}. */
export function createPipeline(core: CacheCore): Pipeline {
  const queue: Queued[] = [];
  const codecOf = (options?: { codec?: Codec }) => {
    refuseTags(options, "a pipeline");
    return checkCodec(options?.codec, core.settings.codec);
  };
  const push = (queued: Queued) => {
    queue.push(queued);
    return pipeline;
  };
  const write = (
    cmd: Command,
    decode: (reply: Reply) => unknown = identity,
    givesValue?: Queued["givesValue"],
  ) => {
    const full = cmd.kind === "command" ? cmd.key! : cmd.keys[0];
    return push({ command: cmd, decode, writes: [full], givesValue });
  };

  const pipeline: Pipeline = {
    get(key, options) {
      options = optionsOf(options, "pipeline.get");
      const codec = codecOf(options);
      const full = core.keys.full(key);
      return push({
        command: command("GET", [full], full, isBinary(codec)),
        // A value in an envelope has its tags checked once the replies are in.
        decode: (reply) =>
          reply !== null && isWrapped(reply as Encoded)
            ? new Pending(async (signal) =>
              (await core.tags.decode([reply as Encoded], codec, signal))[0]
            )
            : decodeReply(reply, codec),
        writes: [],
      });
    },
    set(key, value, setOptions?: Omit<SetOptions, "signal">) {
      const options = optionsOf(setOptions, "pipeline.set");
      const codec = codecOf(options);
      const build = (known?: strings.KnownEntry) =>
        strings.setCommand(core, key, value, options, codec, undefined, known);
      const full = [core.keys.full(key)];
      const conditional = strings.isConditional(options);
      const send = (cmd: Command) =>
        core.write(full, () => core.connection.call(cmd), undefined, conditional ? [] : full);
      return write(
        build(),
        (reply) => {
          const outcome = strings.setOutcome(reply);
          // A conditional set that met a tagged entry decides once its tags are checked.
          return typeof outcome === "boolean"
            ? outcome
            : new Pending((signal) => strings.sendSet(core, send, build, signal, reply));
        },
        conditional ? undefined : "surely",
      );
    },
    delete(key) {
      const full = core.keys.full(key);
      return push({
        command: strings.deleteCommand(core, [full]),
        decode: (reply) =>
          new Pending((signal) => strings.countLive(core, strings.probed(reply), signal)),
        writes: [full],
      });
    },
    exists(key) {
      const full = core.keys.full(key);
      return push({
        command: strings.probeCommand([full], "e"),
        decode: (reply) =>
          new Pending(async (signal) =>
            (await strings.countLive(core, strings.probed(reply), signal)) === 1
          ),
        writes: [],
      });
    },
    expire(key, ttlMs) {
      const full = core.keys.full(key);
      const ttl = checkTtl(ttlMs);
      return push({
        command: strings.expireCommand(core, full, ttl),
        decode: (reply) => new Pending((signal) => strings.expireOutcome(core, reply, ttl, signal)),
        writes: [full],
      });
    },
    ttl(key) {
      const full = core.keys.full(key);
      return push({
        command: strings.probeCommand([full], "t"),
        decode: (reply) =>
          new Pending((signal) => strings.ttlOutcome(core, strings.probed(reply)[0], signal)),
        writes: [],
      });
    },
    increment(key, by = 1) {
      const full = core.keys.full(key);
      checkFinite(by, "by");
      return write(strings.counterStep(full, by, 0, true).command, parseScore, "maybe");
    },
    hashSet(key, fields, options) {
      options = optionsOf(options, "pipeline.hashSet");
      return write(hashCommands.set(core, key, fields, codecOf(options)), parseInteger);
    },
    hashGet(key, field, options) {
      options = optionsOf(options, "pipeline.hashGet");
      const codec = codecOf(options);
      return push({
        command: hashCommands.get(core, key, field, codec),
        decode: (r) => decodeReply(r, codec),
        writes: [],
      });
    },
    hashGetAll(key, options) {
      options = optionsOf(options, "pipeline.hashGetAll");
      const codec = codecOf(options);
      return push({
        command: hashCommands.getAll(core, key, codec),
        decode: (r) => parseHash(r, codec),
        writes: [],
      });
    },
    setAdd(key, members, options) {
      options = optionsOf(options, "pipeline.setAdd");
      return write(setCommands.add(core, key, members, codecOf(options)), parseInteger);
    },
    sortedSetAdd(key, members: ScoredMember[], options) {
      options = optionsOf(options, "pipeline.sortedSetAdd");
      return write(sortedSetCommands.add(core, key, members, codecOf(options)), parseInteger);
    },
    sortedSetRange(key, start, stop, options) {
      options = optionsOf(options, "pipeline.sortedSetRange");
      const codec = codecOf(options);
      const cmd = sortedSetCommands.range(core, key, start, stop, codec, options?.reverse);
      return push({ command: cmd, decode: (r) => parseScored(r, codec), writes: [] });
    },
    sortedSetTrim(key, keep, options) {
      options = optionsOf(options, "pipeline.sortedSetTrim");
      return write(sortedSetCommands.trim(core, key, keep, options?.lowest), parseInteger);
    },
    run(script: Script, keys: string[], args: (string | number)[] = []) {
      const cmd = scriptCommand(core, script, keys, args, false);
      return push({ command: cmd, decode: identity, writes: [...cmd.keys], givesValue: "maybe" });
    },
    get length() {
      return queue.length;
    },
    async exec(options?: CallOptions) {
      options = optionsOf(options, "pipeline.exec");
      core.checkOpen();
      throwIfAborted(options?.signal, "cache");
      const items = queue.splice(0, queue.length);
      if (items.length === 0) return [];
      const writes = items.flatMap((item) => item.writes);
      const outcomes = await core.write(
        writes,
        () => core.connection.batch(items.map((item) => item.command)),
        options?.signal,
        items.flatMap((item) => item.givesValue === "surely" ? item.writes : []),
        items.flatMap((item) => item.givesValue === "maybe" ? item.writes : []),
      );
      const decoded = outcomes.map((outcome, i) => {
        if (!outcome.ok) return { ok: false as const, error: outcome.error };
        try {
          return { ok: true as const, value: items[i].decode(outcome.reply) };
        } catch (error) {
          return { ok: false as const, error: error as InfraError };
        }
      });
      const results = await Promise.all(decoded.map(async (result) => {
        if (!result.ok || !(result.value instanceof Pending)) return result;
        try {
          return { ok: true as const, value: await result.value.settle(options?.signal) };
        } catch (error) {
          return { ok: false as const, error: toCacheError(error) };
        }
      }));
      const failed = results.findIndex((result) => !result.ok);
      if (failed >= 0) {
        const first = results[failed] as { ok: false; error: InfraError };
        throw new InfraError(
          first.error.code ?? "Internal",
          `pipeline command ${failed} failed: ${first.error.message}`,
          {
            component: "cache",
            cause: first.error,
            details: { index: failed, results },
          },
        );
      }
      return results.map((result) => (result as { value: unknown }).value);
    },
  };
  return pipeline;
}
