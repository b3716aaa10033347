/**
 * The contract of the uid component: config, the instance-id lease, the clock.
 *
 * @module
 */

import { checkEnvironment } from "../base/mod.ts";

/** The default Snowflake epoch, 2024-01-01T00:00:00Z, in Unix ms. */
export const DEFAULT_EPOCH_MS: number = Date.UTC(2024, 0, 1);

/** A source of Unix time in milliseconds; tests inject one to drive the clock by hand. */
export interface Clock {
  /** The current Unix time in milliseconds (an integer). */
  now(): number;
}

/** The wall clock (`Date.now`). */
export const systemClock: Clock = { now: Date.now };

/**
 * Where an {@link InstanceIdLease} stands, as `coord`'s instance-id lease reports it:
 * `held` (ids may be issued), `lost` (issue nothing until it is held again), `taken`
 * (another holder has the id: over for good), `expired` (the session it was leased on
 * expired: over for good) or `closed` (released: over for good).
 */
export type InstanceIdLeaseState = "held" | "lost" | "taken" | "expired" | "closed";

/**
 * An instance id held under a lease, e.g. from `coord`'s instance-id allocator (which fits
 * this shape; uid does not depend on coord). `signal` fires when the lease is lost; from
 * then on another process may hold the same id, so a generator using it must stop.
 *
 * A lease that recovers its id after a loss exposes `state` and gives a fresh `signal` for
 * each period it holds the id: a generator reads both as it goes, so it stops while the
 * lease is lost and carries on once it is held again.
 */
export interface InstanceIdLease {
  /** The leased instance id, 0..1023 for Snowflake; the same for the life of the lease. */
  readonly id: number;
  /**
   * Fires when the lease is lost. Read again each millisecond of ids and once the signal
   * read last has fired: a recovering lease hands out a fresh one for each period it holds
   * the id.
   */
  readonly signal: AbortSignal;
  /**
   * Where the lease stands, for a lease that can recover its id. Left out, the signal alone
   * says whether the id is held, and once it fired the lease is over. Read with `signal`,
   * not for every id (coord's checks a deadline, which costs more than a signal's `aborted`).
   */
  readonly state?: InstanceIdLeaseState;
}

/** Config of a Snowflake generator (plain JSON; can live in the config center). */
export interface SnowflakeConfig {
  /** Epoch of the 41-bit timestamp, in Unix ms. Never change it for existing ids. */
  epochMs: number;
  /** A fixed instance id, 0..1023; leave it out when a lease provides one. */
  instanceId?: number;
  /**
   * How far the clock may move back and be waited out, in ms. A larger step fails with
   * `ClockBackwards` instead. 0..100: the wait is synchronous and blocks the event loop, so
   * a lease's keepalive cannot run during it.
   */
  maxClockBackwardsMs: number;
}

/**
 * The default Snowflake config for an environment: epoch 2024-01-01T00:00:00Z, and a clock
 * step back of up to 10 ms (production) or 50 ms (development, where laptops sleep and
 * resync) waited out.
 *
 * @param env `"development"` or `"production"`.
 * @returns A complete config; add `instanceId` or pass a lease.
 * @throws {InfraError} `InvalidArgument` for any other `env`.
 *
 * @example
 * ```ts
 * import { defaultConfig, snowflake } from "@gochat/infra/uid";
 *
 * const ids = snowflake({ ...defaultConfig("production"), instanceId: 1 });
 * ids.next();
 * ```
 */
export function defaultConfig(env: "development" | "production"): SnowflakeConfig {
  checkEnvironment(env, "uid");
  return { epochMs: DEFAULT_EPOCH_MS, maxClockBackwardsMs: env === "production" ? 10 : 50 };
}
