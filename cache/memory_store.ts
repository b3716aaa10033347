/**
 * The memory driver's keyspace: the subset of Redis commands the cache uses, with Redis's
 * replies and error texts, TTLs on an injectable clock, pub/sub, and atomic execution of
 * scripts' JavaScript twins.
 *
 * Values are held in "byte strings" (one char per byte, like Latin-1) so that text and
 * bytes compare and sort as Redis does (memcmp order), and bitmaps as `Uint8Array`s that
 * SETBIT mutates in place.
 *
 * @module
 */

import type { Arg, Reply } from "./connection.ts";
import { InfraError } from "../base/mod.ts";
import { ReplyError } from "./errors.ts";
import {
  addLongDouble,
  formatLongDouble,
  formatRedisDouble,
  integerReply,
  parseLongDouble,
  parseRedisBound,
  parseRedisDouble,
  parseRedisInteger,
} from "./redis_numbers.ts";
import type { MemoryStore, MemoryStoreOptions, ScriptReply } from "./types.ts";
import type { MemoryScriptFunction } from "./types.ts";

type Bytes = string | Uint8Array;

type Entry =
  | { type: "string"; value: Bytes; expiresAt: number }
  | { type: "hash"; value: Map<string, string>; expiresAt: number }
  | { type: "set"; value: Set<string>; expiresAt: number }
  | { type: "zset"; value: Map<string, number>; expiresAt: number };

type Collections = { hash: Map<string, string>; set: Set<string>; zset: Map<string, number> };

type Handler = (store: MemoryKeyspace, args: string[]) => Reply;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
// deno-lint-ignore no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/** A byte string from a command argument. */
function toByteString(arg: Arg): string {
  if (typeof arg === "number") return String(arg);
  if (typeof arg === "string") {
    return NON_ASCII.test(arg) ? bytesToByteString(encoder.encode(arg)) : arg;
  }
  return bytesToByteString(arg);
}

function bytesToByteString(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

function byteStringToBytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function asByteString(value: Bytes): string {
  return typeof value === "string" ? value : bytesToByteString(value);
}

/** A reply as the client sees it: text decoded as UTF-8, or bytes. */
function exportReply(reply: Reply, binary: boolean): Reply {
  if (typeof reply === "string") {
    if (binary) return byteStringToBytes(reply);
    return NON_ASCII.test(reply) ? decoder.decode(byteStringToBytes(reply)) : reply;
  }
  if (reply instanceof Uint8Array) return binary ? reply.slice() : decoder.decode(reply);
  if (Array.isArray(reply)) return reply.map((r) => exportReply(r, binary));
  return reply;
}

const WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value";
const SYNTAX = "ERR syntax error";
const NOT_INTEGER = "ERR value is not an integer or out of range";
const NOT_FLOAT = "ERR value is not a valid float";

function arity(name: string, args: string[], min: number, step = 0): void {
  const ok = step === 0 ? args.length === min : args.length >= min &&
    (args.length - min) % step === 0;
  if (!ok) {
    throw new ReplyError(`ERR wrong number of arguments for '${name.toLowerCase()}' command`);
  }
}

function parseInteger(text: string, message = NOT_INTEGER): bigint {
  const value = parseRedisInteger(text);
  if (value === undefined) throw new ReplyError(message);
  return value;
}

/** A double argument (a score) as Redis reads it. */
function parseFloatArg(text: string, message = NOT_FLOAT): number {
  const value = parseRedisDouble(text);
  if (value === undefined) throw new ReplyError(message);
  return value;
}

const ZERO = { negative: false, significand: 0n, exponent: 0 };

/**
 * `INCRBYFLOAT`/`HINCRBYFLOAT`: `current` (stored text, or none) plus `by`, as Redis writes
 * it. `hash`: HINCRBYFLOAT's messages, and its refusal of an infinite step before adding.
 */
function addFloat(current: string | undefined, by: string, hash: boolean): string {
  const base = current === undefined ? ZERO : parseLongDouble(current);
  if (base === undefined) throw new ReplyError(hash ? "ERR hash value is not a float" : NOT_FLOAT);
  const step = parseLongDouble(by);
  if (step === undefined) throw new ReplyError(NOT_FLOAT);
  if (hash && typeof step === "number") throw new ReplyError("ERR value is NaN or Infinity");
  const sum = addLongDouble(base, step);
  if (typeof sum === "number") throw new ReplyError("ERR increment would produce NaN or Infinity");
  return formatLongDouble(sum);
}

/** A score bound: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`. */
function parseBound(text: string): { value: number; exclusive: boolean } {
  const exclusive = text.startsWith("(");
  const value = parseRedisBound(exclusive ? text.slice(1) : text);
  if (value === undefined || Number.isNaN(value)) {
    throw new ReplyError("ERR min or max is not a float");
  }
  return { value, exclusive };
}

const formatScore = formatRedisDouble;

function above(score: number, bound: { value: number; exclusive: boolean }): boolean {
  return bound.exclusive ? score > bound.value : score >= bound.value;
}

function below(score: number, bound: { value: number; exclusive: boolean }): boolean {
  return bound.exclusive ? score < bound.value : score <= bound.value;
}

function compareMembers(a: [string, number], b: [string, number]): number {
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** Normalizes Redis rank indexes (negative from the end) to a clamped [start, stop]. */
function rankRange(start: number, stop: number, length: number): [number, number] {
  if (start < 0) start = Math.max(0, length + start);
  if (stop < 0) stop = length + stop;
  if (stop >= length) stop = length - 1;
  return [start, stop];
}

function intArg(text: string): number {
  return Number(parseInteger(text));
}

/**
 * Converts what a JavaScript twin returned as Redis converts Lua values (`byteStrings`:
 * its strings already are byte strings): an array ends at its first `undefined` or hole
 * (Lua's nil ends a table's array part), while `null` and `false` keep their slot as a nil
 * reply (both are Lua's false: `redis.call` gives false for a nil reply, as a twin's gives
 * null); any other object is a table without an array part, an empty array.
 */
/**
 * Runs a script's twin, failing as Redis fails the Lua: an error whose message starts with
 * an error code (`ERR …`, `WRONGTYPE …`: an error reply the twin raised or a command of it
 * met) stays that reply, and anything else the twin throws is a runtime error, which Redis
 * answers `ERR user_script:…` (so both drivers give the same code).
 */
function runTwin<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof InfraError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    if (/^[A-Z]+$/.test(message.split(" ", 1)[0])) throw error;
    throw new ReplyError(`ERR user_script: ${message}`);
  }
}

function scriptValueToReply(value: ScriptReply | boolean | undefined, byteStrings: boolean): Reply {
  if (value === true) return 1;
  if (value === false || value === undefined || value === null) return null;
  if (typeof value === "number") return Math.trunc(value);
  if (Array.isArray(value)) {
    const end = value.findIndex((v) => v === undefined);
    const items = end < 0 ? value : value.slice(0, end);
    return items.map((v) => scriptValueToReply(v, byteStrings));
  }
  if (value instanceof Uint8Array) return bytesToByteString(value);
  if (typeof value === "object") return [];
  return byteStrings ? value : toByteString(value);
}

/** An argument of `redis.call` in a byte-string twin: strings already are byte strings. */
function byteStringArg(arg: Arg): string {
  if (typeof arg === "string") return arg;
  if (typeof arg === "number") return String(arg);
  return bytesToByteString(arg);
}

/** Text from a byte string (UTF-8 decoded). */
function textOf(byteString: string): string {
  return NON_ASCII.test(byteString) ? decoder.decode(byteStringToBytes(byteString)) : byteString;
}

const commands: Record<string, Handler> = {
  PING(_store, args) {
    return args.length > 0 ? args[0] : "PONG";
  },
  GET(store, args) {
    arity("GET", args, 1);
    const entry = store.read(args[0], "string");
    return entry ? asByteString(entry.value) : null;
  },
  SET(store, args) {
    if (args.length < 2) arity("SET", args, 2);
    const [key, value] = args;
    let nx = false, xx = false, get = false, keepTtl = false;
    let expiresAt = Infinity;
    for (let i = 2; i < args.length; i++) {
      const option = args[i].toUpperCase();
      if (option === "NX") nx = true;
      else if (option === "XX") xx = true;
      else if (option === "GET") get = true;
      else if (option === "KEEPTTL") keepTtl = true;
      else if (option === "PX" || option === "EX") {
        if (i + 1 >= args.length) throw new ReplyError(SYNTAX);
        const amount = intArg(args[++i]);
        if (amount <= 0) throw new ReplyError("ERR invalid expire time in 'set' command");
        expiresAt = store.now() + (option === "EX" ? amount * 1000 : amount);
      } else throw new ReplyError(SYNTAX);
    }
    if (nx && xx) throw new ReplyError(SYNTAX);
    const existing = store.lookup(key);
    if (get && existing && existing.type !== "string") throw new ReplyError(WRONGTYPE);
    const old = get && existing ? asByteString((existing as { value: Bytes }).value) : null;
    if ((nx && existing) || (xx && !existing)) return get ? old : null;
    if (keepTtl && existing) expiresAt = existing.expiresAt;
    store.put(key, { type: "string", value, expiresAt });
    return get ? old : "OK";
  },
  MGET(store, args) {
    if (args.length < 1) arity("MGET", args, 1);
    return args.map((key) => {
      const entry = store.lookup(key);
      return entry?.type === "string" ? asByteString(entry.value) : null;
    });
  },
  MSET(store, args) {
    arity("MSET", args, 2, 2);
    for (let i = 0; i < args.length; i += 2) {
      store.put(args[i], { type: "string", value: args[i + 1], expiresAt: Infinity });
    }
    return "OK";
  },
  DEL(store, args) {
    if (args.length < 1) arity("DEL", args, 1);
    let count = 0;
    for (const key of args) if (store.remove(key)) count++;
    return count;
  },
  EXISTS(store, args) {
    if (args.length < 1) arity("EXISTS", args, 1);
    return args.filter((key) => store.lookup(key) !== undefined).length;
  },
  TYPE(store, args) {
    arity("TYPE", args, 1);
    return store.lookup(args[0])?.type ?? "none";
  },
  PEXPIRE(store, args) {
    if (args.length < 2 || args.length > 3) arity("PEXPIRE", args, 2);
    const ms = intArg(args[1]);
    const entry = store.lookup(args[0]);
    if (!entry) return 0;
    const option = args[2]?.toUpperCase();
    const next = store.now() + ms;
    if (option === "NX" && entry.expiresAt !== Infinity) return 0;
    if (option === "XX" && entry.expiresAt === Infinity) return 0;
    if (option === "GT" && !(next > entry.expiresAt)) return 0;
    if (option === "LT" && !(next < entry.expiresAt)) return 0;
    if (option !== undefined && !["NX", "XX", "GT", "LT"].includes(option)) {
      throw new ReplyError(`ERR Unsupported option ${args[2]}`);
    }
    if (ms <= 0) store.remove(args[0]);
    else entry.expiresAt = next;
    return 1;
  },
  PTTL(store, args) {
    arity("PTTL", args, 1);
    const entry = store.lookup(args[0]);
    if (!entry) return -2;
    if (entry.expiresAt === Infinity) return -1;
    return Math.max(0, entry.expiresAt - store.now());
  },
  PERSIST(store, args) {
    arity("PERSIST", args, 1);
    const entry = store.lookup(args[0]);
    if (!entry || entry.expiresAt === Infinity) return 0;
    entry.expiresAt = Infinity;
    return 1;
  },
  INCRBY(store, args) {
    arity("INCRBY", args, 2);
    return store.incrementString(args[0], parseInteger(args[1]));
  },
  INCR(store, args) {
    arity("INCR", args, 1);
    return store.incrementString(args[0], 1n);
  },
  DECRBY(store, args) {
    arity("DECRBY", args, 2);
    return store.incrementString(args[0], -parseInteger(args[1]));
  },
  INCRBYFLOAT(store, args) {
    arity("INCRBYFLOAT", args, 2);
    const entry = store.read(args[0], "string");
    const next = addFloat(entry && asByteString(entry.value), args[1], false);
    store.put(args[0], { type: "string", value: next, expiresAt: entry?.expiresAt ?? Infinity });
    return next;
  },
  HGET(store, args) {
    arity("HGET", args, 2);
    return store.read(args[0], "hash")?.value.get(args[1]) ?? null;
  },
  HMGET(store, args) {
    if (args.length < 2) arity("HMGET", args, 2);
    const hash = store.read(args[0], "hash")?.value;
    return args.slice(1).map((field) => hash?.get(field) ?? null);
  },
  HGETALL(store, args) {
    arity("HGETALL", args, 1);
    const hash = store.read(args[0], "hash")?.value;
    return hash ? [...hash].flat() : [];
  },
  HSET(store, args) {
    arity("HSET", args, 3, 2);
    const hash = store.write(args[0], "hash", () => new Map<string, string>());
    let added = 0;
    for (let i = 1; i < args.length; i += 2) {
      if (!hash.has(args[i])) added++;
      hash.set(args[i], args[i + 1]);
    }
    return added;
  },
  HDEL(store, args) {
    if (args.length < 2) arity("HDEL", args, 2);
    const entry = store.read(args[0], "hash");
    if (!entry) return 0;
    let removed = 0;
    for (const field of args.slice(1)) if (entry.value.delete(field)) removed++;
    if (entry.value.size === 0) store.remove(args[0]);
    return removed;
  },
  HEXISTS(store, args) {
    arity("HEXISTS", args, 2);
    return store.read(args[0], "hash")?.value.has(args[1]) ? 1 : 0;
  },
  HLEN(store, args) {
    arity("HLEN", args, 1);
    return store.read(args[0], "hash")?.value.size ?? 0;
  },
  HINCRBY(store, args) {
    arity("HINCRBY", args, 3);
    const by = parseInteger(args[2]);
    const hash = store.write(args[0], "hash", () => new Map<string, string>());
    const current = hash.get(args[1]);
    const base = current === undefined
      ? 0n
      : parseInteger(current, "ERR hash value is not an integer");
    const next = base + by;
    if (next > 9223372036854775807n || next < -9223372036854775808n) {
      throw new ReplyError("ERR increment or decrement would overflow");
    }
    hash.set(args[1], String(next));
    return integerReply(next);
  },
  HINCRBYFLOAT(store, args) {
    arity("HINCRBYFLOAT", args, 3);
    const hash = store.read(args[0], "hash")?.value;
    const next = addFloat(hash?.get(args[1]), args[2], true);
    store.write(args[0], "hash", () => new Map<string, string>()).set(args[1], next);
    return next;
  },
  SADD(store, args) {
    if (args.length < 2) arity("SADD", args, 2);
    const set = store.write(args[0], "set", () => new Set<string>());
    let added = 0;
    for (const member of args.slice(1)) {
      if (!set.has(member)) {
        set.add(member);
        added++;
      }
    }
    return added;
  },
  SREM(store, args) {
    if (args.length < 2) arity("SREM", args, 2);
    const entry = store.read(args[0], "set");
    if (!entry) return 0;
    let removed = 0;
    for (const member of args.slice(1)) if (entry.value.delete(member)) removed++;
    if (entry.value.size === 0) store.remove(args[0]);
    return removed;
  },
  SMEMBERS(store, args) {
    arity("SMEMBERS", args, 1);
    return [...(store.read(args[0], "set")?.value ?? [])];
  },
  SISMEMBER(store, args) {
    arity("SISMEMBER", args, 2);
    return store.read(args[0], "set")?.value.has(args[1]) ? 1 : 0;
  },
  SCARD(store, args) {
    arity("SCARD", args, 1);
    return store.read(args[0], "set")?.value.size ?? 0;
  },
  ZADD(store, args) {
    if (args.length < 3) arity("ZADD", args, 3);
    let i = 1;
    let nx = false, xx = false, gt = false, lt = false, ch = false, incr = false;
    for (; i < args.length; i++) {
      const option = args[i].toUpperCase();
      if (option === "NX") nx = true;
      else if (option === "XX") xx = true;
      else if (option === "GT") gt = true;
      else if (option === "LT") lt = true;
      else if (option === "CH") ch = true;
      else if (option === "INCR") incr = true;
      else break;
    }
    const pairs = args.slice(i);
    if (pairs.length === 0 || pairs.length % 2 !== 0) throw new ReplyError(SYNTAX);
    if (nx && xx) {
      throw new ReplyError("ERR XX and NX options at the same time are not compatible");
    }
    if ((gt && lt) || (nx && (gt || lt))) {
      throw new ReplyError("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if (incr && pairs.length !== 2) {
      throw new ReplyError("ERR INCR option supports a single increment-element pair");
    }
    const scores = pairs.filter((_, j) => j % 2 === 0).map((s) => parseFloatArg(s));
    const existing = store.read(args[0], "zset");
    if (!existing && xx) return incr ? null : 0;
    const zset = store.write(args[0], "zset", () => new Map<string, number>());
    let added = 0, changed = 0;
    let result: number | null = null;
    for (let j = 0; j < scores.length; j++) {
      const member = pairs[j * 2 + 1];
      const current = zset.get(member);
      let score = scores[j];
      if (current === undefined) {
        if (xx) continue;
        zset.set(member, score);
        added++;
        result = score;
        continue;
      }
      if (nx) continue;
      if (incr) score = current + score;
      if (Number.isNaN(score)) throw new ReplyError("ERR resulting score is not a number (NaN)");
      if ((gt && !(score > current)) || (lt && !(score < current))) {
        if (incr) result = null;
        continue;
      }
      if (score !== current) {
        zset.set(member, score);
        changed++;
      }
      result = score;
    }
    if (zset.size === 0) store.remove(args[0]);
    if (incr) return result === null ? null : formatScore(result);
    return ch ? added + changed : added;
  },
  ZINCRBY(store, args) {
    arity("ZINCRBY", args, 3);
    const by = parseFloatArg(args[1]);
    const zset = store.write(args[0], "zset", () => new Map<string, number>());
    const next = (zset.get(args[2]) ?? 0) + by;
    if (Number.isNaN(next)) throw new ReplyError("ERR resulting score is not a number (NaN)");
    zset.set(args[2], next);
    return formatScore(next);
  },
  ZSCORE(store, args) {
    arity("ZSCORE", args, 2);
    const score = store.read(args[0], "zset")?.value.get(args[1]);
    return score === undefined ? null : formatScore(score);
  },
  ZRANK(store, args) {
    arity("ZRANK", args, 2);
    return store.rank(args[0], args[1], false);
  },
  ZREVRANK(store, args) {
    arity("ZREVRANK", args, 2);
    return store.rank(args[0], args[1], true);
  },
  ZREM(store, args) {
    if (args.length < 2) arity("ZREM", args, 2);
    const entry = store.read(args[0], "zset");
    if (!entry) return 0;
    let removed = 0;
    for (const member of args.slice(1)) if (entry.value.delete(member)) removed++;
    if (entry.value.size === 0) store.remove(args[0]);
    return removed;
  },
  ZCARD(store, args) {
    arity("ZCARD", args, 1);
    return store.read(args[0], "zset")?.value.size ?? 0;
  },
  ZCOUNT(store, args) {
    arity("ZCOUNT", args, 3);
    const min = parseBound(args[1]);
    const max = parseBound(args[2]);
    let count = 0;
    for (const score of store.read(args[0], "zset")?.value.values() ?? []) {
      if (above(score, min) && below(score, max)) count++;
    }
    return count;
  },
  ZRANGE(store, args) {
    if (args.length < 3) arity("ZRANGE", args, 3);
    const [key, startText, stopText] = args;
    let byScore = false, rev = false, withScores = false;
    let offset = 0, count = -1, limit = false;
    for (let i = 3; i < args.length; i++) {
      const option = args[i].toUpperCase();
      if (option === "BYSCORE") byScore = true;
      else if (option === "REV") rev = true;
      else if (option === "WITHSCORES") withScores = true;
      else if (option === "LIMIT" && i + 2 < args.length) {
        limit = true;
        offset = intArg(args[++i]);
        count = intArg(args[++i]);
      } else throw new ReplyError(SYNTAX);
    }
    if (limit && !byScore) {
      throw new ReplyError(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
      );
    }
    const sorted = store.sorted(key);
    if (rev) sorted.reverse();
    let selected: [string, number][];
    if (byScore) {
      // With REV the first bound is the maximum.
      const first = parseBound(startText);
      const second = parseBound(stopText);
      const [min, max] = rev ? [second, first] : [first, second];
      selected = sorted.filter(([, score]) => above(score, min) && below(score, max));
      if (offset < 0) selected = [];
      else selected = selected.slice(offset, count < 0 ? undefined : offset + count);
    } else {
      const [start, stop] = rankRange(intArg(startText), intArg(stopText), sorted.length);
      selected = start > stop ? [] : sorted.slice(start, stop + 1);
    }
    return withScores
      ? selected.flatMap(([member, score]) => [member, formatScore(score)])
      : selected.map(([member]) => member);
  },
  ZREMRANGEBYRANK(store, args) {
    arity("ZREMRANGEBYRANK", args, 3);
    const sorted = store.sorted(args[0]);
    const [start, stop] = rankRange(intArg(args[1]), intArg(args[2]), sorted.length);
    if (start > stop) return 0;
    const zset = store.read(args[0], "zset")!.value;
    const doomed = sorted.slice(start, stop + 1);
    for (const [member] of doomed) zset.delete(member);
    if (zset.size === 0) store.remove(args[0]);
    return doomed.length;
  },
  ZREMRANGEBYSCORE(store, args) {
    arity("ZREMRANGEBYSCORE", args, 3);
    const min = parseBound(args[1]);
    const max = parseBound(args[2]);
    const entry = store.read(args[0], "zset");
    if (!entry) return 0;
    let removed = 0;
    for (const [member, score] of [...entry.value]) {
      if (above(score, min) && below(score, max)) {
        entry.value.delete(member);
        removed++;
      }
    }
    if (entry.value.size === 0) store.remove(args[0]);
    return removed;
  },
  SETBIT(store, args) {
    arity("SETBIT", args, 3);
    const offset = intArg(args[1]);
    if (offset < 0 || offset >= 2 ** 32) {
      throw new ReplyError("ERR bit offset is not an integer or out of range");
    }
    if (args[2] !== "0" && args[2] !== "1") {
      throw new ReplyError("ERR bit is not an integer or out of range");
    }
    const bytes = store.bitmap(args[0], (offset >>> 3) + 1);
    const mask = 0x80 >> (offset & 7);
    const old = bytes[offset >>> 3] & mask ? 1 : 0;
    if (args[2] === "1") bytes[offset >>> 3] |= mask;
    else bytes[offset >>> 3] &= ~mask;
    return old;
  },
  GETBIT(store, args) {
    arity("GETBIT", args, 2);
    const offset = intArg(args[1]);
    const entry = store.read(args[0], "string");
    if (!entry) return 0;
    const index = offset >>> 3;
    const mask = 0x80 >> (offset & 7);
    const value = entry.value;
    const byte = typeof value === "string"
      ? (index < value.length ? value.charCodeAt(index) : 0)
      : (value[index] ?? 0);
    return byte & mask ? 1 : 0;
  },
  PUBLISH(store, args) {
    arity("PUBLISH", args, 2);
    return store.publish(textOf(args[0]), textOf(args[1]));
  },
  DBSIZE(store, args) {
    arity("DBSIZE", args, 0);
    return store.size;
  },
  FLUSHALL(store) {
    store.clear();
    return "OK";
  },
  FLUSHDB(store) {
    store.clear();
    return "OK";
  },
  SCRIPT(_store, args) {
    const sub = (args[0] ?? "").toUpperCase();
    if (sub === "FLUSH") return "OK";
    throw new ReplyError(`ERR the memory driver runs no Lua (SCRIPT ${sub})`);
  },
};

for (const name of ["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO"]) {
  commands[name] = () => {
    throw new ReplyError(
      "ERR the memory driver runs no Lua: define the script with cache.script(lua, { memory })",
    );
  };
}

/** The keyspace of the memory driver (see the module doc). */
export class MemoryKeyspace implements MemoryStore {
  readonly now: () => number;
  #data = new Map<string, Entry>();
  #channels = new Map<string, Set<(message: string) => void>>();
  #writesSinceSweep = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    this.#sweep();
    return this.#data.size;
  }

  clear(): void {
    this.#data.clear();
  }

  /** The live keys that start with `prefix` (text), as text. */
  keysWithPrefix(prefix: string): string[] {
    const start = toByteString(prefix);
    const now = this.now();
    const out: string[] = [];
    for (const [key, entry] of this.#data) {
      if (entry.expiresAt > now && key.startsWith(start)) out.push(textOf(key));
    }
    return out;
  }

  /** Runs one command; throws a {@link ReplyError} as Redis would reply. */
  execute(name: string, args: readonly Arg[], binary: boolean): Reply {
    const handler = commands[name.toUpperCase()];
    if (!handler) {
      throw new ReplyError(`ERR unknown command '${name}' (the memory driver does not offer it)`);
    }
    return exportReply(handler(this, args.map(toByteString)), binary);
  }

  /**
   * Runs a script's JavaScript twin atomically (synchronously) with `redis.call`. With
   * `byteStrings`, KEYS, ARGV and the replies of `redis.call` are byte strings (one char
   * per byte) as in Lua, so bytes pass through unchanged; otherwise decoded text.
   */
  runScript(
    script: MemoryScriptFunction,
    keys: readonly string[],
    args: readonly Arg[],
    binary: boolean,
    byteStrings = false,
  ): Reply {
    if (byteStrings) {
      const redis = {
        call: (name: string, ...callArgs: Arg[]): ScriptReply => {
          const upper = name.toUpperCase();
          if (upper.startsWith("EVAL")) throw new ReplyError("ERR scripts may not call EVAL");
          return this.#executeBytes(upper, callArgs.map(byteStringArg)) as ScriptReply;
        },
      };
      const result = runTwin(() => script(redis, keys.map(toByteString), args.map(toByteString)));
      return exportReply(scriptValueToReply(result, true), binary);
    }
    const redis = {
      call: (name: string, ...callArgs: Arg[]): ScriptReply => {
        const upper = name.toUpperCase();
        if (upper.startsWith("EVAL")) throw new ReplyError("ERR scripts may not call EVAL");
        return this.execute(upper, callArgs, false) as ScriptReply;
      },
    };
    const result = runTwin(() =>
      script(
        redis,
        [...keys],
        args.map((arg) =>
          typeof arg === "string"
            ? arg
            : arg instanceof Uint8Array
            ? decoder.decode(arg)
            : String(arg)
        ),
      )
    );
    return exportReply(scriptValueToReply(result, false), binary);
  }

  /** Runs one command on byte-string arguments; the reply keeps byte strings. */
  #executeBytes(name: string, args: string[]): Reply {
    const handler = commands[name];
    if (!handler) {
      throw new ReplyError(`ERR unknown command '${name}' (the memory driver does not offer it)`);
    }
    return handler(this, args);
  }

  /** Subscribes to a channel; returns the unsubscribe function. */
  subscribe(channel: string, listener: (message: string) => void): () => void {
    let listeners = this.#channels.get(channel);
    if (!listeners) this.#channels.set(channel, listeners = new Set());
    listeners.add(listener);
    return () => {
      listeners!.delete(listener);
      if (listeners!.size === 0) this.#channels.delete(channel);
    };
  }

  /** Delivers a message (text) to the channel's subscribers (asynchronously, like the network). */
  publish(channel: string, message: string): number {
    const listeners = this.#channels.get(channel);
    if (!listeners) return 0;
    for (const listener of [...listeners]) queueMicrotask(() => listener(message));
    return listeners.size;
  }

  /** The live entry of `key`, removing it when expired. */
  lookup(key: string): Entry | undefined {
    const entry = this.#data.get(key);
    if (entry && entry.expiresAt <= this.now()) {
      this.#data.delete(key);
      return undefined;
    }
    return entry;
  }

  /** The live entry of `key` when it has `type`; WRONGTYPE when it has another. */
  read<T extends Entry["type"]>(key: string, type: T): Extract<Entry, { type: T }> | undefined {
    const entry = this.lookup(key);
    if (entry && entry.type !== type) throw new ReplyError(WRONGTYPE);
    return entry as Extract<Entry, { type: T }> | undefined;
  }

  /** The value of a collection at `key`, created (without TTL) when missing. */
  write<T extends keyof Collections>(
    key: string,
    type: T,
    create: () => Collections[T],
  ): Collections[T] {
    const entry = this.read(key, type) as { value: Collections[T] } | undefined;
    if (entry) return entry.value;
    const value = create();
    this.put(key, { type, value, expiresAt: Infinity } as Entry);
    return value;
  }

  put(key: string, entry: Entry): void {
    this.#data.set(key, entry);
    if (++this.#writesSinceSweep > Math.max(1000, this.#data.size)) this.#sweep();
  }

  remove(key: string): boolean {
    return this.lookup(key) !== undefined && this.#data.delete(key);
  }

  incrementString(key: string, by: bigint): number {
    const entry = this.read(key, "string");
    const current = entry ? parseInteger(asByteString(entry.value)) : 0n;
    const next = current + by;
    if (next > 9223372036854775807n || next < -9223372036854775808n) {
      throw new ReplyError("ERR increment or decrement would overflow");
    }
    this.put(key, { type: "string", value: String(next), expiresAt: entry?.expiresAt ?? Infinity });
    return integerReply(next);
  }

  /** Members of a sorted set, lowest score first (ties by member bytes). */
  sorted(key: string): [string, number][] {
    const zset = this.read(key, "zset")?.value;
    return zset ? [...zset].sort(compareMembers) : [];
  }

  rank(key: string, member: string, reverse: boolean): number | null {
    const sorted = this.sorted(key);
    const index = sorted.findIndex(([m]) => m === member);
    if (index < 0) return null;
    return reverse ? sorted.length - 1 - index : index;
  }

  /** The bitmap at `key` as mutable bytes of at least `length`, created when missing. */
  bitmap(key: string, length: number): Uint8Array {
    const entry = this.read(key, "string");
    let bytes = entry
      ? (typeof entry.value === "string" ? byteStringToBytes(entry.value) : entry.value)
      : new Uint8Array(0);
    if (bytes.length < length) {
      const grown = new Uint8Array(length);
      grown.set(bytes);
      bytes = grown;
    }
    if (!entry) this.put(key, { type: "string", value: bytes, expiresAt: Infinity });
    else entry.value = bytes;
    return bytes;
  }

  #sweep(): void {
    this.#writesSinceSweep = 0;
    const now = this.now();
    for (const [key, entry] of this.#data) {
      if (entry.expiresAt <= now) this.#data.delete(key);
    }
  }
}
