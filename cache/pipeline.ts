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
import { counterStep, expireCommands, setCommand, ttlFromReply } from "./strings.ts";
import { companionsOf } from "./keys.ts";
import { isWrapped } from "./tags.ts";
import type { CallOptions, Codec, Pipeline, ScoredMember, Script, SetOptions } from "./types.ts";
import {
  checkCodec,
  checkFinite,
  checkTtl,
  decodeReply,
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
  /** Whether it may give its keys a string value (which ends a cached "not found"). */
  givesValue?: boolean;
  /** Commands sent right before it whose outcome is not reported (expire 0's PERSIST). */
  before?: Command[];
  /** Commands sent right after it whose outcome is not reported (a delete's companions). */
  extra?: Command[];
}

const identity = (reply: Reply) => reply;

/** A pipeline `get` of a value in an envelope: decoded once its tags are checked. */
class Unchecked {
  constructor(readonly data: Encoded, readonly codec: Codec) {}
}

/** {@link Cache.pipeline}. */
export function createPipeline(core: CacheCore): Pipeline {
  const queue: Queued[] = [];
  const codecOf = (options?: { codec?: Codec }) => checkCodec(options?.codec, core.settings.codec);
  const push = (queued: Queued) => {
    queue.push(queued);
    return pipeline;
  };
  const write = (
    cmd: Command,
    decode: (reply: Reply) => unknown = identity,
    givesValue = false,
  ) => {
    const full = cmd.kind === "command" ? cmd.key! : cmd.keys[0];
    return push({ command: cmd, decode, writes: [full], givesValue });
  };

  const pipeline: Pipeline = {
    get(key, options) {
      const codec = codecOf(options);
      const full = core.keys.full(key);
      return push({
        command: command("GET", [full], full, isBinary(codec)),
        // A value in an envelope has its tags checked once the replies are in.
        decode: (reply) =>
          reply !== null && isWrapped(reply as Encoded)
            ? new Unchecked(reply as Encoded, codec)
            : decodeReply(reply, codec),
        writes: [],
      });
    },
    set(key, value, options: Omit<SetOptions, "signal"> = {}) {
      return write(
        setCommand(core, key, value, options, codecOf(options)),
        (reply) => reply !== null,
        true,
      );
    },
    delete(key) {
      const full = core.keys.full(key);
      // As Cache.delete: getOrSet's companions (cached "not found", fill lock) go too.
      const companions = companionsOf(core.keys, full);
      return push({
        command: command("DEL", [full], full),
        decode: parseInteger,
        writes: [full],
        extra: [command("DEL", companions, companions[0])],
      });
    },
    exists(key) {
      const full = core.keys.full(key);
      return push({
        command: command("EXISTS", [full], full),
        decode: (r) => parseInteger(r) === 1,
        writes: [],
      });
    },
    expire(key, ttlMs) {
      const full = core.keys.full(key);
      const commands = expireCommands(full, checkTtl(ttlMs));
      return push({
        before: commands.slice(0, -1),
        command: commands[commands.length - 1],
        decode: (reply) => parseInteger(reply) === 1,
        writes: [full],
      });
    },
    ttl(key) {
      const full = core.keys.full(key);
      return push({ command: command("PTTL", [full], full), decode: ttlFromReply, writes: [] });
    },
    increment(key, by = 1) {
      const full = core.keys.full(key);
      checkFinite(by, "by");
      return write(counterStep(full, by, 0, true).command, parseScore, true);
    },
    hashSet(key, fields, options) {
      return write(hashCommands.set(core, key, fields, codecOf(options)), parseInteger);
    },
    hashGet(key, field, options) {
      const codec = codecOf(options);
      return push({
        command: hashCommands.get(core, key, field, codec),
        decode: (r) => decodeReply(r, codec),
        writes: [],
      });
    },
    hashGetAll(key, options) {
      const codec = codecOf(options);
      return push({
        command: hashCommands.getAll(core, key, codec),
        decode: (r) => parseHash(r, codec),
        writes: [],
      });
    },
    setAdd(key, members, options) {
      return write(setCommands.add(core, key, members, codecOf(options)), parseInteger);
    },
    sortedSetAdd(key, members: ScoredMember[], options) {
      return write(sortedSetCommands.add(core, key, members, codecOf(options)), parseInteger);
    },
    sortedSetRange(key, start, stop, options) {
      const codec = codecOf(options);
      const cmd = sortedSetCommands.range(core, key, start, stop, codec, options?.reverse);
      return push({ command: cmd, decode: (r) => parseScored(r, codec), writes: [] });
    },
    sortedSetTrim(key, keep, options) {
      return write(sortedSetCommands.trim(core, key, keep, options?.lowest), parseInteger);
    },
    run(script: Script, keys: string[], args: (string | number)[] = []) {
      const cmd = scriptCommand(core, script, keys, args, false);
      return push({ command: cmd, decode: identity, writes: [...cmd.keys], givesValue: true });
    },
    get length() {
      return queue.length;
    },
    async exec(options?: CallOptions) {
      core.checkOpen();
      throwIfAborted(options?.signal, "cache");
      const items = queue.splice(0, queue.length);
      if (items.length === 0) return [];
      const writes = items.flatMap((item) => item.writes);
      const commands = items.flatMap((item) => [
        ...(item.before ?? []),
        item.command,
        ...(item.extra ?? []),
      ]);
      const outcomes = await core.write(
        writes,
        () =>
          core.connection.batch(commands).then((outcomes) => {
            // Only each item's own command reports; the others around it are best effort.
            let next = 0;
            return items.map((item) => {
              next += item.before?.length ?? 0;
              const outcome = outcomes[next];
              next += 1 + (item.extra?.length ?? 0);
              return outcome;
            });
          }),
        options?.signal,
        items.flatMap((item) => item.givesValue ? item.writes : []),
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
        if (!result.ok || !(result.value instanceof Unchecked)) return result;
        const { data, codec } = result.value;
        try {
          return {
            ok: true as const,
            value: (await core.tags.decode([data], codec, options?.signal))[0],
          };
        } catch (error) {
          return { ok: false as const, error: error as InfraError };
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
