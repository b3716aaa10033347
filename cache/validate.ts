/**
 * Checks of call arguments (each failure is `InvalidArgument` before anything is sent) and
 * parsing of replies into the shapes the API returns.
 *
 * @module
 */

import { checkOptions, describeValue } from "../base/mod.ts";
import { CODECS, decodeValue, type Encoded } from "./codec.ts";
import type { Reply } from "./connection.ts";
import { invalidArgument } from "./errors.ts";
import type { Codec, ScoredMember } from "./types.ts";

const MAX_MS = 2 ** 53 - 1;

/**
 * A public method's options: a shared `{}` when left out; `InvalidArgument` naming `method`
 * when not an object (`null`) or when its `signal` is not an AbortSignal.
 */
export function optionsOf<T extends object>(options: T | undefined, method: string): T {
  return checkOptions(options, "cache", method);
}

/** A factory's dependencies (`memory(config, deps)`, `connect(config, deps)`): an object. */
export function checkDependencies<T extends object>(deps: T, factory: string): T {
  if (deps === null || typeof deps !== "object") {
    throw invalidArgument(
      `${factory} dependencies must be an object, got ${deps === null ? "null" : typeof deps}`,
      "deps",
    );
  }
  return deps;
}

/** A TTL in ms: an integer ≥ 0 (0 = no expiry). */
export function checkTtl(value: unknown, field = "ttlMs"): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_MS) {
    throw invalidArgument(
      `${field} must be an integer number of ms ≥ 0, got ${describeValue(value)}`,
      field,
    );
  }
  return value;
}

/** The longest delay a timer holds (setTimeout takes a signed 32-bit delay), about 24.8 days. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A duration a timer waits on (a lock's TTL, getOrSet's timeouts): an integer number of
 * ms from `min` to {@link MAX_TIMER_MS}, the bounds of the config's durations.
 */
export function checkDurationMs(value: unknown, field: string, min = 0): number {
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < min || value > MAX_TIMER_MS
  ) {
    throw invalidArgument(
      `${field} must be an integer number of ms from ${min} to ${MAX_TIMER_MS}, got ${
        String(value)
      }`,
      field,
    );
  }
  return value;
}

/** The codec of a call (its option, or the default). */
export function checkCodec(value: Codec | undefined, fallback: Codec): Codec {
  if (value === undefined) return fallback;
  if (!CODECS.includes(value)) {
    throw invalidArgument(
      `codec must be one of ${CODECS.join(", ")}, got ${describeValue(value)}`,
      "codec",
    );
  }
  return value;
}

/** A finite number (an increment). */
export function checkFinite(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw invalidArgument(`${field} must be a finite number, got ${describeValue(value)}`, field);
  }
  return value;
}

/** A safe integer (a rank, an offset). */
export function checkInteger(value: unknown, field: string, min = -MAX_MS): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw invalidArgument(
      `${field} must be an integer ≥ ${min}, got ${describeValue(value)}`,
      field,
    );
  }
  return value;
}

/** A score or score bound: any number but NaN (±Infinity allowed). */
export function checkScore(value: unknown, field: string): number {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw invalidArgument(
      `${field} must be a number (±Infinity allowed), got ${describeValue(value)}`,
      field,
    );
  }
  return value;
}

/** A non-empty array. */
export function checkNonEmpty<T>(value: T[], field: string): T[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidArgument(`${field} must be a non-empty array`, field);
  }
  return value;
}

/** A string field name (hash fields may be empty strings, as in Redis). */
export function checkField(value: unknown, field = "field"): string {
  if (typeof value !== "string") throw invalidArgument(`${field} must be a string`, field);
  return value;
}

/** A score as Redis takes it. */
export function scoreArg(score: number, exclusive = false): string {
  const text = score === Infinity ? "+inf" : score === -Infinity ? "-inf" : String(score);
  return exclusive ? `(${text}` : text;
}

/** A score as Redis returns it (a string, or a number in RESP3 mappings). */
export function parseScore(reply: Reply): number {
  if (typeof reply === "number") return reply;
  const text = typeof reply === "string" ? reply : new TextDecoder().decode(reply as Uint8Array);
  if (text === "inf" || text === "+inf") return Infinity;
  if (text === "-inf") return -Infinity;
  return Number(text);
}

/** An integer reply. */
export function parseInteger(reply: Reply): number {
  return typeof reply === "number" ? reply : Number(asText(reply));
}

/** A bulk reply as text. */
export function asText(reply: Reply): string {
  if (typeof reply === "string") return reply;
  if (reply instanceof Uint8Array) return new TextDecoder().decode(reply);
  return String(reply);
}

/** A value reply, `undefined` for nil. */
export function decodeReply<T>(reply: Reply, codec: Codec): T | undefined {
  return reply === null ? undefined : decodeValue(reply as Encoded, codec) as T;
}

/**
 * `[member, score]` pairs from a WITHSCORES reply: flat `[m, s, m, s]` (RESP2) or nested
 * `[[m, s], ...]` (RESP3).
 */
export function parseScored<T>(reply: Reply, codec: Codec): ScoredMember<T>[] {
  const items = (reply ?? []) as Reply[];
  const out: ScoredMember<T>[] = [];
  if (items.length > 0 && Array.isArray(items[0])) {
    for (const pair of items as Reply[][]) {
      out.push({ member: decodeValue(pair[0] as Encoded, codec) as T, score: parseScore(pair[1]) });
    }
    return out;
  }
  for (let i = 0; i < items.length; i += 2) {
    out.push({
      member: decodeValue(items[i] as Encoded, codec) as T,
      score: parseScore(items[i + 1]),
    });
  }
  return out;
}

/**
 * Gives `out` the own field `field`: a field name is data, so `__proto__` is a field like
 * any other (an assignment would set the object's prototype instead).
 */
function defineField<T>(out: Record<string, T>, field: string, value: T): void {
  Object.defineProperty(out, field, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** A hash from HGETALL: a flat `[f, v, ...]` array (or an object in RESP3 mappings). */
export function parseHash<T>(reply: Reply, codec: Codec): Record<string, T> {
  const out: Record<string, T> = {};
  if (
    reply !== null && typeof reply === "object" && !Array.isArray(reply) &&
    !(reply instanceof Uint8Array)
  ) {
    for (const [field, value] of Object.entries(reply as Record<string, Encoded>)) {
      defineField(out, field, decodeValue(value, codec) as T);
    }
    return out;
  }
  const items = (reply ?? []) as Reply[];
  for (let i = 0; i < items.length; i += 2) {
    defineField(out, asText(items[i]), decodeValue(items[i + 1] as Encoded, codec) as T);
  }
  return out;
}
