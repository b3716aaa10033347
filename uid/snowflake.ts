/**
 * Snowflake ids: 41-bit millisecond timestamp from a configurable epoch, 10-bit instance id,
 * 12-bit sequence, in a 63-bit positive integer that sorts by time.
 *
 * @module
 */

import { checkOptions, configCheck, describeValue, InfraError } from "../base/mod.ts";
import { badClockReading, checkClock } from "./clock.ts";
import {
  type Clock,
  DEFAULT_EPOCH_MS,
  type InstanceIdLease,
  type InstanceIdLeaseState,
  type SnowflakeConfig,
  systemClock,
} from "./types.ts";

const TIMESTAMP_BITS = 41;
const INSTANCE_BITS = 10;
const SEQUENCE_BITS = 12;
/** Largest instance id the layout holds: 1023. */
export const MAX_INSTANCE_ID: number = (1 << INSTANCE_BITS) - 1;
/** Largest sequence within one millisecond: 4095. */
export const MAX_SEQUENCE: number = (1 << SEQUENCE_BITS) - 1;
const MAX_TIMESTAMP = 2 ** TIMESTAMP_BITS - 1;
const MAX_CLOCK_BACKWARDS_MS = 100;
const MAX_ID = (1n << 63n) - 1n;
const LOW_BITS = BigInt(INSTANCE_BITS + SEQUENCE_BITS);
const INSTANCE_MASK = BigInt(MAX_INSTANCE_ID);
const SEQUENCE_MASK = BigInt(MAX_SEQUENCE);

/** The parts of a Snowflake id. */
export interface SnowflakeParts {
  /** Unix time of the id in milliseconds (epoch already added). */
  timestampMs: number;
  /** The instance that issued it, 0..1023. */
  instanceId: number;
  /** Its sequence within that millisecond, 0..4095. */
  sequence: number;
}

/** Dependencies of {@link snowflake}: where the instance id and the time come from. */
export interface SnowflakeDeps {
  /**
   * The instance id as a lease, e.g. from `coord`'s instance-id allocator. While its signal
   * has fired, or its `state` is not `held`, the generator issues no ids (`LockLost`) rather
   * than risk a duplicate; it carries on once the lease holds the id again, and stops for
   * good once the lease is `taken` or `closed`.
   */
  lease?: InstanceIdLease;
  /** The clock; injectable for tests. Default `Date.now`. */
  clock?: Clock;
}

/** A Snowflake id generator for one instance. Ids are unique and strictly increasing. */
export interface Snowflake {
  /** The instance id in every id this generator issues. */
  readonly instanceId: number;
  /** The epoch of its timestamps, in Unix milliseconds. */
  readonly epochMs: number;
  /**
   * The next id. Waits (synchronously) for the next millisecond when 4,096 ids were issued in
   * the current one, and for the clock to catch up when it moved back by at most
   * `maxClockBackwardsMs`.
   *
   * @returns The id.
   * @throws {InfraError} `LockLost` while the instance-id lease is not held (checked again
   * after a wait), for good once it is `taken` or `closed`; `ClockBackwards` when the clock moved back further than tolerated or is before
   * the epoch; `ResourceExhausted` when the 41-bit timestamp ran out (about 69 years after the
   * epoch); `InvalidArgument` when the clock returned something other than an integer. A
   * failed call leaves the generator as it was.
   */
  next(): bigint;
  /**
   * The next id as a decimal string (ids exceed 2^53, so JSON numbers would lose digits).
   *
   * @returns The id's decimal digits.
   * @throws {InfraError} As {@link Snowflake.next}.
   */
  nextString(): string;
  /**
   * The parts of an id issued with this generator's epoch.
   *
   * @param id A bigint or its decimal string.
   * @returns Timestamp, instance id and sequence.
   * @throws {InfraError} `InvalidArgument` when `id` is not a valid Snowflake id.
   */
  decompose(id: bigint | string): SnowflakeParts;
}

const check = configCheck("uid");
// snowflake()'s second argument, named as what it is: the lease is a dependency, not config.
const depsCheck = configCheck("uid", "snowflake deps");

/**
 * Validates a Snowflake config and fills in defaults.
 *
 * @param config A partial config.
 * @returns The complete config.
 * @throws {InfraError} `InvalidArgument` naming the field.
 *
 * @example
 * ```ts
 * import { validateSnowflakeConfig } from "@gochat/infra/uid";
 *
 * const config = validateSnowflakeConfig({ instanceId: 3 });
 * console.assert(config.maxClockBackwardsMs === 10);
 * ```
 */
export function validateSnowflakeConfig(config: Partial<SnowflakeConfig>): SnowflakeConfig {
  check.object(config, "");
  check.knownKeys(config, "", ["epochMs", "instanceId", "maxClockBackwardsMs"]);
  const epochMs = check.integer(config.epochMs ?? DEFAULT_EPOCH_MS, "epochMs", {
    min: 0,
    max: Date.now(),
  });
  const maxClockBackwardsMs = check.integer(
    config.maxClockBackwardsMs ?? 10,
    "maxClockBackwardsMs",
    // The wait blocks the event loop, so a lease's keepalive and loss deadline cannot run
    // during it: it must not outlast coord's smallest safety margin (100 ms of a 1 s TTL).
    { min: 0, max: MAX_CLOCK_BACKWARDS_MS },
  );
  const result: SnowflakeConfig = { epochMs, maxClockBackwardsMs };
  if (config.instanceId !== undefined) {
    result.instanceId = check.integer(config.instanceId, "instanceId", {
      min: 0,
      max: MAX_INSTANCE_ID,
    });
  }
  return result;
}

/**
 * Creates a Snowflake generator. The instance id comes from `config.instanceId` or from
 * `deps.lease`. With a lease, the generator reads `lease.signal` and `lease.state` (when the
 * lease has one) once per millisecond, checks the signal it read before every id, and reads
 * the lease again as soon as that signal fired: it issues nothing while the lease is not
 * held, and resumes by itself when a recovering lease (coord's) holds the id again. Its ids stay strictly increasing across such a gap, since the generator keeps its
 * own last timestamp and sequence. A lease that is `taken` or `closed` stops it for good; so
 * does a lease without `state` whose signal fired (its signal never comes back).
 *
 * @param config Epoch, instance id, tolerated clock step back.
 * @param deps The instance-id lease and the clock.
 * @returns The generator.
 * @throws {InfraError} `InvalidArgument` for a bad config, a missing instance id, `deps`
 * that is not an object, a clock without `now()`, a lease without an `AbortSignal` or with
 * an unknown `state`, or a lease that disagrees with `config.instanceId`.
 *
 * @example
 * ```ts
 * import { snowflake } from "@gochat/infra/uid";
 *
 * const ids = snowflake({ instanceId: 7 });
 * const a = ids.next();
 * const b = ids.next();
 * console.assert(b > a);
 * console.assert(ids.decompose(a).instanceId === 7);
 * ```
 */
export function snowflake(
  config: Partial<SnowflakeConfig> = {},
  deps: SnowflakeDeps = {},
): Snowflake {
  const valid = validateSnowflakeConfig(config);
  depsCheck.object(deps, "");
  const { lease } = deps;
  const clock = checkClock(deps.clock ?? systemClock, depsCheck);
  let instanceId = valid.instanceId;
  if (lease !== undefined) {
    depsCheck.object(lease, "lease");
    const leased = depsCheck.integer(lease.id, "lease.id", { min: 0, max: MAX_INSTANCE_ID });
    // Without a real signal the generator could never learn that the lease was lost.
    if (!(lease.signal instanceof AbortSignal)) {
      throw depsCheck.fail(
        "lease.signal",
        "must be an AbortSignal that fires when the lease is lost",
      );
    }
    if (lease.state !== undefined) depsCheck.oneOf(lease.state, "lease.state", LEASE_STATES);
    if (instanceId !== undefined && instanceId !== leased) {
      throw check.fail("instanceId", `is ${instanceId} but the lease holds ${leased}`);
    }
    instanceId = leased;
  }
  if (instanceId === undefined) {
    throw check.fail("instanceId", "is required when no instance-id lease is given");
  }
  return new SnowflakeGenerator(valid, instanceId, clock, lease);
}

const LEASE_STATES: readonly InstanceIdLeaseState[] = [
  "held",
  "lost",
  "taken",
  "expired",
  "closed",
];

class SnowflakeGenerator implements Snowflake {
  readonly instanceId: number;
  readonly epochMs: number;
  readonly #maxBackwardsMs: number;
  readonly #clock: Clock;
  /** Replaced by a lease that stays over once the real one is taken or closed. */
  #lease: InstanceIdLease | undefined;
  #over = false;
  /** The lease's signal as last read (each millisecond); undefined without a lease. */
  #signal: AbortSignal | undefined;
  // instanceId and sequence combined, as bigints, so next() does one BigInt addition.
  readonly #low: bigint[];
  // NaN until the first id: equal to no reading and below none, so whatever the clock
  // returns first (-1 included) starts a millisecond, where it is checked.
  #lastMs = Number.NaN;
  #sequence = 0;
  #base = 0n;

  constructor(
    config: SnowflakeConfig,
    instanceId: number,
    clock: Clock,
    lease?: InstanceIdLease,
  ) {
    this.instanceId = instanceId;
    this.epochMs = config.epochMs;
    this.#maxBackwardsMs = config.maxClockBackwardsMs;
    this.#clock = clock;
    this.#lease = lease;
    this.#signal = lease?.signal;
    this.#low = Array.from(
      { length: MAX_SEQUENCE + 1 },
      (_, sequence) => BigInt((instanceId << SEQUENCE_BITS) | sequence),
    );
  }

  next(): bigint {
    this.#checkLease();
    let now = this.#clock.now();
    if (now === this.#lastMs) {
      if (this.#sequence < MAX_SEQUENCE) return this.#base + this.#low[++this.#sequence];
      now = this.#waitPast(this.#lastMs);
    } else if (now < this.#lastMs) {
      now = this.#waitBackwards(now);
      if (now === this.#lastMs && this.#sequence < MAX_SEQUENCE) {
        return this.#base + this.#low[++this.#sequence];
      }
      if (now === this.#lastMs) now = this.#waitPast(this.#lastMs);
    }
    this.#startMillisecond(now);
    return this.#base + this.#low[0];
  }

  nextString(): string {
    return this.next().toString();
  }

  decompose(id: bigint | string): SnowflakeParts {
    return decompose(id, { epochMs: this.epochMs });
  }

  // Everything is checked and computed before the state changes: a failed call must leave
  // the generator where it was, or the next call would reuse a sequence.
  #startMillisecond(now: number): void {
    if (this.#lease !== undefined) this.#followLease(this.#lease);
    if (!Number.isSafeInteger(now)) throw badClockReading(now);
    const elapsed = now - this.epochMs;
    if (elapsed < 0) this.#beforeEpoch(now);
    if (elapsed > MAX_TIMESTAMP) {
      throw new InfraError(
        "ResourceExhausted",
        "the 41-bit timestamp is exhausted: choose a later epoch",
        { component: "uid", details: { now, epochMs: this.epochMs } },
      );
    }
    const base = BigInt(elapsed) << LOW_BITS;
    this.#lastMs = now;
    this.#sequence = 0;
    this.#base = base;
  }

  // All 4,096 sequence values of `ms` are used: spin until the clock passes it.
  #waitPast(ms: number): number {
    let now = this.#clock.now();
    while (now <= ms) {
      this.#checkBehind(now);
      now = this.#clock.now();
    }
    this.#checkLease();
    return now;
  }

  // The clock is behind the last issued millisecond: wait it out if the step is small.
  #waitBackwards(now: number): number {
    this.#checkBehind(now);
    while (now < this.#lastMs) {
      now = this.#clock.now();
      this.#checkBehind(now);
    }
    this.#checkLease();
    return now;
  }

  // A reading behind the last issued millisecond is waited out only when it is close; one
  // before the epoch fails as it would at the start of a millisecond, rather than be waited
  // for (a clock stuck there would hold the call forever).
  #checkBehind(now: number): void {
    if (this.#lastMs - now > this.#maxBackwardsMs) this.#backwardsTooFar(now);
    if (now < this.epochMs) this.#beforeEpoch(now);
  }

  // Before each id, and again after a wait: code that ran during the wait (the clock) may
  // have seen the lease go. Only the signal read at the start of the millisecond: reading
  // coord's `signal` or `state` checks the lease's deadline (a monotonic clock read), which
  // per id would cost a quarter of the layout's 4,096 ids/ms.
  #checkLease(): void {
    if (this.#signal?.aborted) this.#followLease(this.#lease!);
  }

  // Each new millisecond, and when the signal last read has fired: read the lease afresh,
  // since a recovering lease hands out a new signal for each period it holds the id.
  #followLease(lease: InstanceIdLease): void {
    const signal = lease.signal;
    const state = lease.state;
    if (signal.aborted || (state !== undefined && state !== "held")) this.#notHeld(signal, state);
    this.#signal = signal;
  }

  #beforeEpoch(now: number): never {
    throw new InfraError(
      "ClockBackwards",
      `the clock (${now}) is before the epoch (${this.epochMs})`,
      { component: "uid", details: { now, epochMs: this.epochMs } },
    );
  }

  #backwardsTooFar(now: number): never {
    const stepMs = this.#lastMs - now;
    throw new InfraError(
      "ClockBackwards",
      `the clock moved back ${stepMs} ms (tolerated: ${this.#maxBackwardsMs} ms); refusing to issue ids until it catches up`,
      { component: "uid", details: { stepMs, lastMs: this.#lastMs, now } },
    );
  }

  #notHeld(signal: AbortSignal, state: InstanceIdLeaseState | undefined): never {
    const cause = signal.aborted ? signal.reason : undefined;
    const id = this.instanceId;
    if (state === "lost" || state === "held") {
      // `held` with a fired signal: the period is ending and the state not updated yet.
      throw new InfraError(
        "LockLost",
        `the lease on instance id ${id} is lost; no ids until it holds the id again`,
        { component: "uid", cause, details: { instanceId: id, state: "lost" } },
      );
    }
    if (!this.#over) {
      // Over for good, whatever the lease object says later.
      this.#over = true;
      this.#lease = { id, state, signal: AbortSignal.abort(cause) };
      this.#signal = this.#lease.signal;
    }
    const why = state === "taken"
      ? "was taken by another holder"
      : state === "closed"
      ? "was closed"
      : state === "expired"
      ? "expired with its session"
      : "was lost";
    throw new InfraError(
      "LockLost",
      `the lease on instance id ${id} ${why}; no more ids from this generator`,
      { component: "uid", cause, details: { instanceId: id, state: state ?? "lost" } },
    );
  }
}

/**
 * The parts of a Snowflake id.
 *
 * @param id A bigint or its decimal string.
 * @param options The epoch the id was issued with (default {@link DEFAULT_EPOCH_MS}).
 * @returns Timestamp (Unix ms), instance id and sequence.
 * @throws {InfraError} `InvalidArgument` when `id` is not a non-negative 63-bit integer,
 * `options` is not an object or the epoch is not a non-negative integer.
 *
 * @example
 * ```ts
 * import { decompose, snowflake } from "@gochat/infra/uid";
 *
 * const id = snowflake({ instanceId: 3 }).nextString();
 * const { instanceId, timestampMs } = decompose(id);
 * console.assert(instanceId === 3 && timestampMs <= Date.now());
 * ```
 */
export function decompose(id: bigint | string, options: { epochMs?: number } = {}): SnowflakeParts {
  const { epochMs: epoch = DEFAULT_EPOCH_MS } = checkOptions(options, "uid", "decompose");
  const epochMs = check.integer(epoch, "epochMs", { min: 0 });
  let value: bigint;
  if (typeof id === "bigint") {
    value = id;
  } else if (typeof id === "string" && /^[0-9]{1,19}$/.test(id)) {
    value = BigInt(id);
  } else {
    throw new InfraError("InvalidArgument", `not a Snowflake id: ${String(id).slice(0, 40)}`, {
      component: "uid",
    });
  }
  if (value < 0n || value > MAX_ID) {
    throw new InfraError("InvalidArgument", `Snowflake id out of range: ${value}`, {
      component: "uid",
    });
  }
  return {
    timestampMs: Number(value >> LOW_BITS) + epochMs,
    instanceId: Number((value >> BigInt(SEQUENCE_BITS)) & INSTANCE_MASK),
    sequence: Number(value & SEQUENCE_MASK),
  };
}

/** The parts {@link compose} builds an id from; the ones left out are 0. */
export interface SnowflakePartsInput {
  /** Unix time in milliseconds, at or after the epoch. */
  timestampMs: number;
  /** The instance id, 0..1023. Default 0. */
  instanceId?: number;
  /** The sequence, 0..4095. Default 0. */
  sequence?: number;
}

/**
 * The Snowflake id of given parts: the inverse of {@link decompose}. With the defaults it is
 * the smallest id of a millisecond, so `compose({ timestampMs: t })` and
 * `compose({ timestampMs: t, instanceId: MAX_INSTANCE_ID, sequence: MAX_SEQUENCE })` bound
 * every id issued at `t`: a time range becomes an id range for `WHERE id BETWEEN` or a
 * cursor, with no timestamp column.
 *
 * @param parts Timestamp (Unix ms), and optionally instance id and sequence.
 * @param options The epoch the ids are issued with (default {@link DEFAULT_EPOCH_MS}).
 * @returns The id.
 * @throws {InfraError} `InvalidArgument` when a part is not an integer in its range (a
 * timestamp before the epoch or more than 2^41 ms after it), `options` is not an object or
 * the epoch is not a non-negative integer.
 *
 * @example Ids of the last hour, as a range
 * ```ts
 * import { compose, MAX_INSTANCE_ID, MAX_SEQUENCE, snowflake } from "@gochat/infra/uid";
 *
 * const id = snowflake({ instanceId: 7 }).next();
 * const now = Date.now();
 * const from = compose({ timestampMs: now - 3_600_000 });
 * const to = compose({ timestampMs: now, instanceId: MAX_INSTANCE_ID, sequence: MAX_SEQUENCE });
 * console.assert(from <= id && id <= to);
 * ```
 */
export function compose(parts: SnowflakePartsInput, options: { epochMs?: number } = {}): bigint {
  const { epochMs: epoch = DEFAULT_EPOCH_MS } = checkOptions(options, "uid", "compose");
  const epochMs = check.integer(epoch, "epochMs", { min: 0 });
  if (typeof parts !== "object" || parts === null) {
    throw new InfraError("InvalidArgument", `compose takes the parts as an object`, {
      component: "uid",
    });
  }
  const timestampMs = part(parts.timestampMs, "timestampMs", epochMs, epochMs + MAX_TIMESTAMP);
  const instanceId = part(parts.instanceId ?? 0, "instanceId", 0, MAX_INSTANCE_ID);
  const sequence = part(parts.sequence ?? 0, "sequence", 0, MAX_SEQUENCE);
  return (BigInt(timestampMs - epochMs) << LOW_BITS) |
    (BigInt(instanceId) << BigInt(SEQUENCE_BITS)) | BigInt(sequence);
}

function part(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InfraError(
      "InvalidArgument",
      `a Snowflake ${name} must be an integer between ${min} and ${max}, got ${
        describeValue(value)
      }`,
      { component: "uid", details: { field: name } },
    );
  }
  return value;
}
