/**
 * The contract of the uid component: config, the instance-id lease, the clock.
 *
 * @module
 */

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
 * An instance id held under a lease, e.g. from `coord`'s instance-id allocator. `signal`
 * fires when the lease is lost; from then on another process may hold the same id, so a
 * generator using it must stop.
 */
export interface InstanceIdLease {
  /** The leased instance id, 0..1023 for Snowflake. */
  readonly id: number;
  /** Fires when the lease is lost. */
  readonly signal: AbortSignal;
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
  return { epochMs: DEFAULT_EPOCH_MS, maxClockBackwardsMs: env === "production" ? 10 : 50 };
}
