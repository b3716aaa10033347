/**
 * Checks of a call's options object: that it is an object (`null` is not one), and that
 * its `signal`, when there is one, is an AbortSignal. Every public method of every component
 * runs them first, so bad options are an `InvalidArgument` naming the method and the
 * option, not a TypeError from deep inside.
 *
 * @module
 */

import { InfraError } from "./errors.ts";

// Shared by every call that left its options out: no allocation on hot paths. Frozen, so
// no caller can change what the next one gets.
const NO_OPTIONS: Readonly<Record<string, never>> = Object.freeze({});

/** `null`, `array` or the `typeof` of a value: what a message says it got. */
function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/**
 * Whether `value` can be used as an AbortSignal: an object with a boolean `aborted` and
 * `addEventListener` and `removeEventListener` functions. Structural rather than `instanceof AbortSignal`, so that a
 * signal from another realm or an AbortController polyfill is accepted too; those are all
 * the helpers here use of a signal.
 *
 * @param value Anything.
 * @returns `true` for a usable signal.
 *
 * @example
 * ```ts
 * import { isAbortSignal } from "@gochat/infra/base";
 *
 * console.assert(isAbortSignal(new AbortController().signal));
 * console.assert(!isAbortSignal(5_000));
 * ```
 */
export function isAbortSignal(value: unknown): value is AbortSignal {
  return typeof value === "object" && value !== null &&
    typeof (value as AbortSignal).aborted === "boolean" &&
    typeof (value as AbortSignal).addEventListener === "function" &&
    typeof (value as AbortSignal).removeEventListener === "function";
}

/**
 * Checks an optional signal given on its own (not inside options).
 *
 * @param signal The signal, or `undefined`.
 * @param component Named in the error (`"cache"`).
 * @param where The method and parameter, as the message names them (`"abortable signal"`).
 * @returns The signal.
 * @throws {InfraError} `InvalidArgument` when `signal` is neither `undefined` nor an
 * AbortSignal (see {@link isAbortSignal}).
 *
 * @example
 * ```ts
 * import { checkSignal } from "@gochat/infra/base";
 *
 * const signal = checkSignal(new AbortController().signal, "demo", "run signal");
 * console.assert(signal?.aborted === false);
 * ```
 */
export function checkSignal(
  signal: unknown,
  component: string,
  where: string,
): AbortSignal | undefined {
  if (signal === undefined || isAbortSignal(signal)) return signal;
  throw new InfraError(
    "InvalidArgument",
    `${where} must be an AbortSignal, got ${kindOf(signal)}`,
    { component, details: { field: where.slice(where.lastIndexOf(" ") + 1) } },
  );
}

/**
 * A public method's options: a shared empty object when left out (`undefined`), the
 * options themselves when they are an object whose `signal`, if any, is an AbortSignal.
 * Two `typeof` tests on the common path, and no allocation.
 *
 * @param options What the caller passed.
 * @param component Named in the error (`"coord"`).
 * @param method The method, as the message names it (`"kv.get"`).
 * @returns The options, never `null` or `undefined`; do not modify it.
 * @throws {InfraError} `InvalidArgument` with `details.field` `"options"` when `options`
 * is not an object (`null`, a number...), or `"options.signal"` when its signal is not an
 * AbortSignal: `coord: kv.get options must be an object, got null`.
 *
 * @example
 * ```ts
 * import { checkOptions } from "@gochat/infra/base";
 *
 * function fetchUser(id: string, options?: { signal?: AbortSignal }) {
 *   const { signal } = checkOptions(options, "users", "fetchUser");
 *   return { id, aborted: signal?.aborted ?? false };
 * }
 * console.assert(fetchUser("1").aborted === false);
 * ```
 */
export function checkOptions<T extends object>(
  options: T | undefined,
  component: string,
  method: string,
): T {
  if (options === undefined) return NO_OPTIONS as T;
  if (typeof options !== "object" || options === null) {
    throw new InfraError(
      "InvalidArgument",
      `${method} options must be an object, got ${kindOf(options)}`,
      { component, details: { field: "options" } },
    );
  }
  const signal = (options as { signal?: unknown }).signal;
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw new InfraError(
      "InvalidArgument",
      `${method} options.signal must be an AbortSignal, got ${kindOf(signal)}`,
      { component, details: { field: "options.signal" } },
    );
  }
  return options;
}
