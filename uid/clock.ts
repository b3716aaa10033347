/**
 * The check both generators apply to a clock reading before it becomes part of an id.
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

import { InfraError } from "../base/mod.ts";

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
