/**
 * The checks both generators apply to their clock, and to a clock reading before it becomes
 * part of an id. Internal: not exported from `mod.ts`.
 *
 * @module
 */

import { type ConfigCheck, InfraError } from "../base/mod.ts";
import type { Clock } from "./types.ts";

/**
 * Checks an injected clock when its generator is created: a clock without `now()` would
 * otherwise be a raw TypeError at the first id.
 *
 * @param clock What the caller passed as `deps.clock`.
 * @param check The generator's checks of its dependencies (naming them in the message).
 * @returns The clock.
 */
export function checkClock(clock: unknown, check: ConfigCheck): Clock {
  if (typeof (clock as Partial<Clock> | null | undefined)?.now === "function") {
    return clock as Clock;
  }
  throw check.fail("clock", "must be an object with a now() function returning Unix milliseconds");
}

/**
 * The error for a clock reading that is not a safe integer: an injected clock returning
 * `NaN`, a fraction (`performance.now()`-style) or `Infinity` would otherwise reach the
 * bit layout and produce a malformed id or a raw `RangeError`.
 *
 * @param now What the clock returned.
 * @returns An `InvalidArgument` error to throw.
 */
export function badClockReading(now: unknown): InfraError {
  return new InfraError(
    "InvalidArgument",
    `the clock returned ${
      String(now)
    }; a Clock must return Unix milliseconds as a non-negative integer`,
    { component: "uid", details: { field: "clock", now } },
  );
}
