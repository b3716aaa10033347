/**
 * Hashes, sets and sorted sets. Field values and members go through the codec; sorted-set
 * reads return scores in the same reply (no N+1 round trips).
 *
 * @module
 */

import { encodeValue, isBinary } from "./codec.ts";
import { type Arg, type Command, command } from "./connection.ts";
import type { CacheCore } from "./core.ts";
import { invalidArgument } from "./errors.ts";
import { type CounterStep, sendStep } from "./strings.ts";
import { refuseTags } from "./tags.ts";
import type {
  CallOptions,
  Codec,
  Hashes,
  RangeOptions,
  ScoredMember,
  ScoreRangeOptions,
  Sets,
  SortedSetAddOptions,
  SortedSets,
  ValueOptions,
} from "./types.ts";
import {
  checkCodec,
  checkField,
  checkFinite,
  checkInteger,
  checkNonEmpty,
  checkScore,
  decodeReply,
  optionsOf,
  parseHash,
  parseInteger,
  parseScore,
  parseScored,
  scoreArg,
} from "./validate.ts";

/** Commands of hash operations (shared by {@link Hashes} and pipelines). */
export const hashCommands = {
  set(core: CacheCore, key: string, fields: Record<string, unknown>, codec: Codec): Command {
    const full = core.keys.full(key);
    if (fields === null || typeof fields !== "object" || Array.isArray(fields)) {
      throw invalidArgument("fields must be an object of field names to values", "fields");
    }
    const args: Arg[] = [full];
    for (const [field, value] of Object.entries(fields)) {
      args.push(field, encodeValue(value, codec, `fields[${JSON.stringify(field)}]`));
    }
    if (args.length === 1) throw invalidArgument("fields must not be empty", "fields");
    return command("HSET", args, full);
  },
  get(core: CacheCore, key: string, field: string, codec: Codec): Command {
    const full = core.keys.full(key);
    return command("HGET", [full, checkField(field)], full, isBinary(codec));
  },
  getAll(core: CacheCore, key: string, codec: Codec): Command {
    const full = core.keys.full(key);
    return command("HGETALL", [full], full, isBinary(codec));
  },
};

/** Hash operations. */
export function createHashes(core: CacheCore): Hashes {
  const codecOf = (options?: ValueOptions) => {
    refuseTags(options, "hashes");
    return checkCodec(options?.codec, core.settings.codec);
  };
  return {
    async get<T>(key: string, field: string, options?: ValueOptions) {
      options = optionsOf(options, "hashes.get");
      const codec = codecOf(options);
      const reply = await core.send(hashCommands.get(core, key, field, codec), options?.signal);
      return decodeReply<T>(reply, codec);
    },
    async getMany<T>(key: string, fields: string[], options?: ValueOptions) {
      options = optionsOf(options, "hashes.getMany");
      const codec = codecOf(options);
      const full = core.keys.full(key);
      checkNonEmpty(fields, "fields").forEach((field, i) => checkField(field, `fields[${i}]`));
      const reply = await core.send(
        command("HMGET", [full, ...fields], full, isBinary(codec)),
        options?.signal,
      );
      return (reply as (string | Uint8Array | null)[]).map((r) => decodeReply<T>(r, codec));
    },
    async getAll<T>(key: string, options?: ValueOptions) {
      options = optionsOf(options, "hashes.getAll");
      const codec = codecOf(options);
      const reply = await core.send(hashCommands.getAll(core, key, codec), options?.signal);
      return parseHash<T>(reply, codec);
    },
    async set(key, fields, options) {
      options = optionsOf(options, "hashes.set");
      const codec = codecOf(options);
      return parseInteger(
        await core.send(hashCommands.set(core, key, fields, codec), options?.signal),
      );
    },
    async delete(key, fields, options) {
      options = optionsOf(options, "hashes.delete");
      const full = core.keys.full(key);
      const list = typeof fields === "string" ? [fields] : checkNonEmpty(fields, "fields");
      list.forEach((field, i) => checkField(field, `fields[${i}]`));
      return parseInteger(await core.send(command("HDEL", [full, ...list], full), options?.signal));
    },
    async has(key, field, options) {
      options = optionsOf(options, "hashes.has");
      const full = core.keys.full(key);
      return parseInteger(
        await core.send(command("HEXISTS", [full, checkField(field)], full), options?.signal),
      ) === 1;
    },
    async size(key, options) {
      options = optionsOf(options, "hashes.size");
      const full = core.keys.full(key);
      return parseInteger(await core.send(command("HLEN", [full], full), options?.signal));
    },
    async increment(key, field, by = 1, options) {
      options = optionsOf(options, "hashes.increment");
      refuseTags(options, "hashes");
      const full = core.keys.full(key);
      checkFinite(by, "by");
      const args = [full, checkField(field), by];
      const float = command("HINCRBYFLOAT", args, full);
      // The same rule as Cache.increment: a float field takes an integer step as a float.
      const step: CounterStep = Number.isSafeInteger(by)
        ? { command: command("HINCRBY", args, full), fallback: float }
        : { command: float };
      return parseScore(await sendStep((cmd) => core.send(cmd, options?.signal), step));
    },
  };
}

function encodeMembers(members: unknown[], codec: Codec, field = "members"): Arg[] {
  return checkNonEmpty(members, field).map((member, i) =>
    encodeValue(member, codec, `${field}[${i}]`)
  );
}

/** Commands of set operations (shared with pipelines). */
export const setCommands = {
  add(core: CacheCore, key: string, members: unknown[], codec: Codec): Command {
    const full = core.keys.full(key);
    return command("SADD", [full, ...encodeMembers(members, codec)], full);
  },
};

/** Set operations. */
export function createSets(core: CacheCore): Sets {
  const codecOf = (options?: ValueOptions) => {
    refuseTags(options, "sets");
    return checkCodec(options?.codec, core.settings.codec);
  };
  return {
    async add(key, members, options) {
      options = optionsOf(options, "sets.add");
      const command = setCommands.add(core, key, members, codecOf(options));
      return parseInteger(await core.send(command, options?.signal));
    },
    async remove(key, members, options) {
      options = optionsOf(options, "sets.remove");
      const full = core.keys.full(key);
      const args = encodeMembers(members, codecOf(options));
      return parseInteger(await core.send(command("SREM", [full, ...args], full), options?.signal));
    },
    async members<T>(key: string, options?: ValueOptions) {
      options = optionsOf(options, "sets.members");
      const codec = codecOf(options);
      const full = core.keys.full(key);
      const reply = await core.send(
        command("SMEMBERS", [full], full, isBinary(codec)),
        options?.signal,
      );
      return ((reply ?? []) as (string | Uint8Array)[]).map((m) => decodeReply<T>(m, codec) as T);
    },
    async has(key, member, options) {
      options = optionsOf(options, "sets.has");
      const full = core.keys.full(key);
      const encoded = encodeValue(member, codecOf(options), "member");
      return parseInteger(
        await core.send(command("SISMEMBER", [full, encoded], full), options?.signal),
      ) === 1;
    },
    async size(key, options) {
      options = optionsOf(options, "sets.size");
      const full = core.keys.full(key);
      return parseInteger(await core.send(command("SCARD", [full], full), options?.signal));
    },
  };
}

/** Commands of sorted-set operations (shared with pipelines). */
export const sortedSetCommands = {
  add(
    core: CacheCore,
    key: string,
    members: ScoredMember[],
    codec: Codec,
    options: Omit<SortedSetAddOptions, "codec" | "signal"> = {},
  ): Command {
    const full = core.keys.full(key);
    const args: Arg[] = [full];
    if (options.ifAbsent && options.ifPresent) {
      throw invalidArgument("ifAbsent and ifPresent exclude each other", "ifAbsent");
    }
    if (options.onlyGreater && options.onlyLess) {
      throw invalidArgument("onlyGreater and onlyLess exclude each other", "onlyGreater");
    }
    if (options.ifAbsent && (options.onlyGreater || options.onlyLess)) {
      throw invalidArgument("ifAbsent excludes onlyGreater and onlyLess", "ifAbsent");
    }
    if (options.ifAbsent) args.push("NX");
    if (options.ifPresent) args.push("XX");
    if (options.onlyGreater) args.push("GT");
    if (options.onlyLess) args.push("LT");
    checkNonEmpty(members, "members").forEach((entry, i) => {
      if (entry === null || typeof entry !== "object") {
        throw invalidArgument(`members[${i}] must be { member, score }`, `members[${i}]`);
      }
      args.push(
        scoreArg(checkScore(entry.score, `members[${i}].score`)),
        encodeValue(entry.member, codec, `members[${i}].member`),
      );
    });
    return command("ZADD", args, full);
  },
  range(
    core: CacheCore,
    key: string,
    start: number,
    stop: number,
    codec: Codec,
    reverse = false,
  ): Command {
    const full = core.keys.full(key);
    const args: Arg[] = [full, checkInteger(start, "start"), checkInteger(stop, "stop")];
    if (reverse) args.push("REV");
    args.push("WITHSCORES");
    return command("ZRANGE", args, full, isBinary(codec));
  },
  trim(core: CacheCore, key: string, keep: number, lowest = false): Command {
    const full = core.keys.full(key);
    checkInteger(keep, "keep", 0);
    // Ranks are ascending by score: keeping the highest N removes ranks 0 .. -(N+1).
    const args = lowest ? [full, keep, -1] : [full, 0, -(keep + 1)];
    return command("ZREMRANGEBYRANK", args, full);
  },
};

/** Sorted-set operations. */
export function createSortedSets(core: CacheCore): SortedSets {
  const codecOf = (options?: ValueOptions) => {
    refuseTags(options, "sortedSets");
    return checkCodec(options?.codec, core.settings.codec);
  };
  const integerReply = async (name: string, args: Arg[], options?: CallOptions) => {
    const full = args[0] as string;
    return parseInteger(await core.send(command(name, args, full), options?.signal));
  };
  return {
    async add(key, members, addOptions) {
      const options = optionsOf(addOptions, "sortedSets.add");
      const command = sortedSetCommands.add(core, key, members, codecOf(options), options);
      return parseInteger(await core.send(command, options.signal));
    },
    async range<T>(key: string, start: number, stop: number, rangeOptions?: RangeOptions) {
      const options = optionsOf(rangeOptions, "sortedSets.range");
      const codec = codecOf(options);
      const command = sortedSetCommands.range(core, key, start, stop, codec, options.reverse);
      return parseScored<T>(await core.send(command, options.signal), codec);
    },
    async rangeByScore<T>(
      key: string,
      min: number,
      max: number,
      rangeOptions?: ScoreRangeOptions,
    ) {
      const options = optionsOf(rangeOptions, "sortedSets.rangeByScore");
      const codec = codecOf(options);
      const full = core.keys.full(key);
      const low = scoreArg(checkScore(min, "min"), options.minExclusive);
      const high = scoreArg(checkScore(max, "max"), options.maxExclusive);
      const args: Arg[] = options.reverse
        ? [full, high, low, "BYSCORE", "REV"]
        : [full, low, high, "BYSCORE"];
      if (options.offset !== undefined || options.count !== undefined) {
        args.push(
          "LIMIT",
          checkInteger(options.offset ?? 0, "offset", 0),
          checkInteger(options.count ?? -1, "count", -1),
        );
      }
      args.push("WITHSCORES");
      const reply = await core.send(command("ZRANGE", args, full, isBinary(codec)), options.signal);
      return parseScored<T>(reply, codec);
    },
    async score(key, member, options) {
      options = optionsOf(options, "sortedSets.score");
      const full = core.keys.full(key);
      const reply = await core.send(
        command("ZSCORE", [full, encodeValue(member, codecOf(options), "member")], full),
        options?.signal,
      );
      return reply === null ? undefined : parseScore(reply);
    },
    async rank(key, member, options) {
      options = optionsOf(options, "sortedSets.rank");
      const full = core.keys.full(key);
      const name = options?.reverse ? "ZREVRANK" : "ZRANK";
      const reply = await core.send(
        command(name, [full, encodeValue(member, codecOf(options), "member")], full),
        options?.signal,
      );
      return reply === null ? undefined : parseInteger(reply);
    },
    async remove(key, members, options) {
      options = optionsOf(options, "sortedSets.remove");
      const full = core.keys.full(key);
      return await integerReply(
        "ZREM",
        [full, ...encodeMembers(members, codecOf(options))],
        options,
      );
    },
    async size(key, options) {
      options = optionsOf(options, "sortedSets.size");
      return await integerReply("ZCARD", [core.keys.full(key)], options);
    },
    async count(key, min, max, options) {
      options = optionsOf(options, "sortedSets.count");
      const full = core.keys.full(key);
      return await integerReply("ZCOUNT", [
        full,
        scoreArg(checkScore(min, "min")),
        scoreArg(checkScore(max, "max")),
      ], options);
    },
    async increment(key, member, by, options) {
      options = optionsOf(options, "sortedSets.increment");
      const full = core.keys.full(key);
      const args = [full, checkFinite(by, "by"), encodeValue(member, codecOf(options), "member")];
      return parseScore(
        await core.send(command("ZINCRBY", args, full), options?.signal),
      );
    },
    async removeByRank(key, start, stop, options) {
      options = optionsOf(options, "sortedSets.removeByRank");
      const full = core.keys.full(key);
      return await integerReply("ZREMRANGEBYRANK", [
        full,
        checkInteger(start, "start"),
        checkInteger(stop, "stop"),
      ], options);
    },
    async removeByScore(key, min, max, options) {
      options = optionsOf(options, "sortedSets.removeByScore");
      const full = core.keys.full(key);
      return await integerReply("ZREMRANGEBYSCORE", [
        full,
        scoreArg(checkScore(min, "min")),
        scoreArg(checkScore(max, "max")),
      ], options);
    },
    async trim(key, keep, options) {
      options = optionsOf(options, "sortedSets.trim");
      const command = sortedSetCommands.trim(core, key, keep, options?.lowest);
      return parseInteger(await core.send(command, options?.signal));
    },
  };
}
