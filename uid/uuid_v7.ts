/**
 * UUID version 7 (RFC 9562): a 48-bit Unix millisecond timestamp, then a 42-bit counter
 * (the 12 bits of rand_a and the top 30 of rand_b, RFC 9562 §6.2 method 1) seeded randomly
 * each millisecond, then 32 random bits. Ids from one process are strictly increasing, as
 * strings and as bytes, even within one millisecond and when the clock moves back.
 *
 * @module
 */

import { configCheck, describeValue, InfraError } from "../base/mod.ts";
import { badClockReading, checkClock } from "./clock.ts";
import { type Clock, systemClock } from "./types.ts";

const HEX_DIGITS = "0123456789abcdef";
const HEX: string[] = Array.from(
  { length: 256 },
  (_, i) => HEX_DIGITS[i >> 4] + HEX_DIGITS[i & 15],
);
const COUNTER_LOW_MAX = 0x3fffffff; // 30 bits in rand_b
const COUNTER_HIGH_MAX = 0xfff; // 12 bits of rand_a
const MAX_TIMESTAMP = 0xffffffffffff; // 48 bits
const POOL_SIZE = 2048;
const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Dependencies of {@link uuidv7Generator}; both are injectable for tests. */
export interface Uuidv7Deps {
  /** The clock. Default `Date.now`. */
  clock?: Clock;
  /** Fills a buffer with random values. Default `crypto.getRandomValues`. */
  random?: (buffer: Uint32Array) => void;
}

/** A monotonic UUID v7 generator. */
export interface Uuidv7Generator {
  /**
   * The next UUID v7 in canonical form (lowercase, 8-4-4-4-12).
   *
   * @returns A UUID greater than every one this generator returned before.
   * @throws {InfraError} `InvalidArgument` when the clock returned something other than a
   * non-negative integer; `ResourceExhausted` past the 48-bit timestamp. A failed call
   * changes nothing.
   */
  next(): string;
  /**
   * The next UUID v7 as 16 bytes (same ordering as {@link Uuidv7Generator.next}).
   *
   * @returns A new 16-byte array.
   * @throws {InfraError} As {@link Uuidv7Generator.next}.
   */
  nextBytes(): Uint8Array;
}

const depsCheck = configCheck("uid", "uuidv7Generator deps");

/**
 * Creates a UUID v7 generator with its own monotonic state. Most code wants the shared one
 * behind {@link uuidv7}; create your own to inject a clock in tests.
 *
 * @param deps The clock and the random source.
 * @returns The generator.
 * @throws {InfraError} `InvalidArgument` when `deps` is not an object, its clock has no
 * `now()` or its random source is not a function.
 *
 * @example
 * ```ts
 * import { uuidv7Generator } from "@gochat/infra/uid";
 *
 * const ids = uuidv7Generator({ clock: { now: () => 1_700_000_000_000 } });
 * console.assert(ids.next() < ids.next());
 * ```
 */
export function uuidv7Generator(deps: Uuidv7Deps = {}): Uuidv7Generator {
  depsCheck.object(deps, "");
  const clock = checkClock(deps.clock ?? systemClock, depsCheck);
  if (deps.random !== undefined && typeof deps.random !== "function") {
    throw depsCheck.fail("random", "must be a function that fills a Uint32Array");
  }
  return new MonotonicUuidv7(clock, deps.random ?? ((b) => crypto.getRandomValues(b)));
}

class MonotonicUuidv7 implements Uuidv7Generator {
  readonly #clock: Clock;
  readonly #random: (buffer: Uint32Array) => void;
  readonly #pool = new Uint32Array(POOL_SIZE);
  #poolIndex = POOL_SIZE;
  // Below every clock reading, so the first one always starts a millisecond (and is checked).
  #ms = -Infinity;
  #counterHigh = 0;
  #counterLow = 0;
  // "tttttttt-tttt-7": the timestamp part, rebuilt once per millisecond.
  #prefix = "";

  constructor(clock: Clock, random: (buffer: Uint32Array) => void) {
    this.#clock = clock;
    this.#random = random;
  }

  next(): string {
    this.#advance();
    const high = this.#counterHigh;
    const low = this.#counterLow;
    const r = this.#random32();
    return this.#prefix + HEX_DIGITS[high >>> 8] + HEX[high & 0xff] + "-" +
      HEX[0x80 | (low >>> 24)] + HEX[(low >>> 16) & 0xff] + "-" +
      HEX[(low >>> 8) & 0xff] + HEX[low & 0xff] +
      HEX[r >>> 24] + HEX[(r >>> 16) & 0xff] + HEX[(r >>> 8) & 0xff] + HEX[r & 0xff];
  }

  nextBytes(): Uint8Array {
    this.#advance();
    const bytes = new Uint8Array(16);
    const ms = this.#ms;
    const msHigh = Math.floor(ms / 0x100000000);
    bytes[0] = msHigh >>> 8;
    bytes[1] = msHigh & 0xff;
    bytes[2] = ms >>> 24;
    bytes[3] = (ms >>> 16) & 0xff;
    bytes[4] = (ms >>> 8) & 0xff;
    bytes[5] = ms & 0xff;
    bytes[6] = 0x70 | (this.#counterHigh >>> 8);
    bytes[7] = this.#counterHigh & 0xff;
    const low = this.#counterLow;
    bytes[8] = 0x80 | (low >>> 24);
    bytes[9] = (low >>> 16) & 0xff;
    bytes[10] = (low >>> 8) & 0xff;
    bytes[11] = low & 0xff;
    const r = this.#random32();
    bytes[12] = r >>> 24;
    bytes[13] = (r >>> 16) & 0xff;
    bytes[14] = (r >>> 8) & 0xff;
    bytes[15] = r & 0xff;
    return bytes;
  }

  // Moves to the next (timestamp, counter) pair: a fresh random counter in a new
  // millisecond; otherwise counter + 1, and when the counter overflows, the next millisecond
  // ahead of the clock (which also covers a clock that moved back: we never go back).
  // A reading that is neither above nor at-or-below the current millisecond is NaN. Before
  // the first one, `#prefix` is empty: a first reading of -Infinity is checked too.
  #advance(): void {
    const now = this.#clock.now();
    if (now > this.#ms || this.#prefix === "") {
      this.#startMillisecond(now);
    } else if (!(now <= this.#ms)) {
      throw badClockReading(now);
    } else if (this.#counterLow < COUNTER_LOW_MAX) {
      this.#counterLow++;
    } else if (this.#counterHigh < COUNTER_HIGH_MAX) {
      this.#counterLow = 0;
      this.#counterHigh++;
    } else {
      this.#startMillisecond(this.#ms + 1);
    }
  }

  #startMillisecond(ms: number): void {
    if (!Number.isSafeInteger(ms) || ms < 0) throw badClockReading(ms);
    if (ms > MAX_TIMESTAMP) {
      throw new InfraError(
        "ResourceExhausted",
        `timestamp ${ms} does not fit UUID v7's 48 bits (they last until the year 10889)`,
        { component: "uid", details: { now: ms } },
      );
    }
    this.#ms = ms;
    // The top bit of the counter starts at 0, leaving at least 2^41 increments per ms.
    this.#counterHigh = this.#random32() & 0x7ff;
    this.#counterLow = this.#random32() >>> 2;
    const hex = ms.toString(16).padStart(12, "0");
    this.#prefix = hex.slice(0, 8) + "-" + hex.slice(8) + "-7";
  }

  #random32(): number {
    if (this.#poolIndex === POOL_SIZE) {
      this.#random(this.#pool);
      this.#poolIndex = 0;
    }
    return this.#pool[this.#poolIndex++];
  }
}

const shared = uuidv7Generator();

/**
 * A new UUID v7 string from the process-wide monotonic generator.
 *
 * @returns A canonical lowercase UUID, greater than every one returned before in this process.
 *
 * @example
 * ```ts
 * import { uuidv7, uuidv7Timestamp } from "@gochat/infra/uid";
 *
 * const id = uuidv7();
 * console.assert(Math.abs(uuidv7Timestamp(id) - Date.now()) < 1_000);
 * ```
 */
export function uuidv7(): string {
  return shared.next();
}

/**
 * A new UUID v7 as 16 bytes from the process-wide monotonic generator.
 *
 * @returns A new 16-byte array.
 *
 * @example
 * ```ts
 * import { formatUuid, uuidv7Bytes } from "@gochat/infra/uid";
 *
 * const bytes = uuidv7Bytes(); // e.g. for a Postgres uuid column or a binary key
 * console.assert(bytes.length === 16 && formatUuid(bytes)[14] === "7");
 * ```
 */
export function uuidv7Bytes(): Uint8Array {
  return shared.nextBytes();
}

function invalid(message: string): InfraError {
  return new InfraError("InvalidArgument", message, { component: "uid" });
}

/**
 * The 16 bytes of a UUID in canonical form (any version; case-insensitive).
 *
 * @param value A string like `018f3c1a-7b2e-7c00-8a4b-1234567890ab`.
 * @returns The bytes.
 * @throws {InfraError} `InvalidArgument` when `value` is not a canonical UUID string
 * (braces, a `urn:uuid:` prefix or missing dashes are refused, not guessed at).
 *
 * @example
 * ```ts
 * import { parseUuid } from "@gochat/infra/uid";
 *
 * const bytes = parseUuid("018f3c1a-7b2e-7c00-8a4b-1234567890ab");
 * console.assert(bytes[0] === 0x01 && bytes[15] === 0xab);
 * ```
 */
export function parseUuid(value: string): Uint8Array {
  if (typeof value !== "string" || !CANONICAL.test(value)) {
    const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 40)) : typeof value;
    throw invalid(`not a UUID (expected 8-4-4-4-12 hex digits): ${shown}`);
  }
  const bytes = new Uint8Array(16);
  const hex = value.replace(/-/g, "");
  for (let i = 0; i < 16; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/**
 * The canonical lowercase string of 16 UUID bytes.
 *
 * @param bytes Exactly 16 bytes.
 * @returns The 8-4-4-4-12 string.
 * @throws {InfraError} `InvalidArgument` when `bytes` is not 16 bytes long.
 *
 * @example
 * ```ts
 * import { formatUuid, parseUuid } from "@gochat/infra/uid";
 *
 * const id = "018f3c1a-7b2e-7c00-8a4b-1234567890ab";
 * console.assert(formatUuid(parseUuid(id.toUpperCase())) === id);
 * ```
 */
export function formatUuid(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 16) {
    throw invalid(
      `a UUID has 16 bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`,
    );
  }
  let out = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += "-";
    out += HEX[bytes[i]];
  }
  return out;
}

/** A parsed UUID v7. */
export interface ParsedUuidv7 {
  /** Its 16 bytes. */
  bytes: Uint8Array;
  /** Its Unix timestamp in milliseconds. */
  timestampMs: number;
}

/**
 * Parses and validates a UUID v7: canonical form, version 7, RFC 9562 variant.
 *
 * @param value A UUID string or its 16 bytes.
 * @returns The bytes and the timestamp.
 * @throws {InfraError} `InvalidArgument` saying what is wrong (form, version or variant).
 *
 * @example
 * ```ts
 * import { parseUuidv7, uuidv7 } from "@gochat/infra/uid";
 *
 * const { timestampMs } = parseUuidv7(uuidv7());
 * console.assert(timestampMs > 0);
 * ```
 */
export function parseUuidv7(value: string | Uint8Array): ParsedUuidv7 {
  const bytes = value instanceof Uint8Array ? parseUuid(formatUuid(value)) : parseUuid(value);
  const version = bytes[6] >>> 4;
  if (version !== 7) throw invalid(`not a UUID v7: version is ${version}`);
  if ((bytes[8] & 0xc0) !== 0x80) {
    throw invalid(
      `not an RFC 9562 UUID: variant bits are ${(bytes[8] >>> 6).toString(2).padStart(2, "0")}`,
    );
  }
  const timestampMs = (bytes[0] * 2 ** 40) + (bytes[1] * 2 ** 32) +
    ((bytes[2] << 24) >>> 0) + (bytes[3] << 16) + (bytes[4] << 8) + bytes[5];
  return { bytes, timestampMs };
}

/**
 * The Unix millisecond timestamp of a UUID v7.
 *
 * @param value A UUID v7 string or its bytes.
 * @returns Milliseconds since 1970.
 * @throws {InfraError} `InvalidArgument` when `value` is not a UUID v7.
 *
 * @example
 * ```ts
 * import { uuidv7Timestamp } from "@gochat/infra/uid";
 *
 * const ms = uuidv7Timestamp("018f3c1a-7b2e-7c00-8a4b-1234567890ab");
 * console.assert(new Date(ms).toISOString() === "2024-05-03T01:38:39.534Z");
 * ```
 */
export function uuidv7Timestamp(value: string | Uint8Array): number {
  return parseUuidv7(value).timestampMs;
}

/**
 * Whether `value` is a canonical UUID v7 string (version 7, RFC 9562 variant).
 *
 * @param value Anything.
 * @returns True for a valid UUID v7 string.
 *
 * @example
 * ```ts
 * import { isUuidv7, uuidv7 } from "@gochat/infra/uid";
 *
 * console.assert(isUuidv7(uuidv7()));
 * console.assert(!isUuidv7(crypto.randomUUID())); // version 4
 * ```
 */
export function isUuidv7(value: unknown): value is string {
  return typeof value === "string" && value.length === 36 && CANONICAL.test(value) &&
    value[14] === "7" && "89abAB".includes(value[19]);
}

/**
 * The smallest or the largest UUID v7 of a millisecond: every UUID v7 issued at
 * `timestampMs` sorts between the two, as strings and as bytes (so also in a Postgres
 * `uuid` column). A time range becomes an id range: `WHERE id BETWEEN
 * uuidv7Bound(from, "min") AND uuidv7Bound(to, "max")`, or a cursor for paging by time.
 *
 * @param timestampMs Unix time in milliseconds, 0..2^48 − 1.
 * @param edge `"min"` (counter and random bits all 0) or `"max"` (all 1).
 * @returns A canonical lowercase UUID v7 (version and variant bits set).
 * @throws {InfraError} `InvalidArgument` for a timestamp that is not an integer in range, or
 * another `edge`.
 *
 * @example Ids of the last minute
 * ```ts
 * import { uuidv7, uuidv7Bound } from "@gochat/infra/uid";
 *
 * const id = uuidv7();
 * const now = Date.now();
 * console.assert(uuidv7Bound(now - 60_000, "min") <= id && id <= uuidv7Bound(now, "max"));
 * ```
 */
export function uuidv7Bound(timestampMs: number, edge: "min" | "max"): string {
  if (
    typeof timestampMs !== "number" || !Number.isInteger(timestampMs) || timestampMs < 0 ||
    timestampMs > MAX_TIMESTAMP
  ) {
    throw invalid(
      `a UUID v7 timestamp must be an integer between 0 and ${MAX_TIMESTAMP}, got ${
        String(timestampMs)
      }`,
    );
  }
  if (edge !== "min" && edge !== "max") {
    throw invalid(`edge must be "min" or "max", got ${describeValue(edge)}`);
  }
  const fill = edge === "min" ? 0 : 0xff;
  const bytes = new Uint8Array(16).fill(fill);
  let rest = timestampMs;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  bytes[6] = 0x70 | (fill & 0x0f);
  bytes[8] = 0x80 | (fill & 0x3f);
  return formatUuid(bytes);
}
