/**
 * Retry with exponential backoff and full jitter.
 *
 * @module
 */

import { InfraError, isTransient } from "./errors.ts";
import { checkOptions } from "./options.ts";
import { describeValue } from "./config_check.ts";
import { abortable, abortError, delay, scopedSignal } from "./signal.ts";

const COMPONENT = "base";

/** How {@link retry} spaces and bounds its attempts. */
export interface RetryOptions {
  /**
   * Attempts in total, the first included: a whole number ≥ 1, or `Infinity` together with
   * a `deadlineMs`. Default 3, or unbounded (`Infinity`) when a `deadlineMs` is given, so
   * that the deadline alone bounds the retrying.
   */
  maxAttempts?: number;
  /**
   * Total time budget in ms from the first attempt (finite, ≥ 0): no wait or attempt starts
   * after it, and an attempt still running when it passes is abandoned (its signal fires)
   * with `Timeout`.
   */
  deadlineMs?: number;
  /** Upper bound of the first backoff, in ms. Default 100. */
  initialDelayMs?: number;
  /** Cap of any single backoff, in ms (finite). Default 10 000. */
  maxDelayMs?: number;
  /** Growth factor of the backoff cap per attempt. Default 2. */
  multiplier?: number;
  /**
   * `"full"` (default): each wait is uniform in [0, cap], which spreads retrying clients
   * apart. `"none"`: wait exactly the cap (deterministic, for tests).
   */
  jitter?: "full" | "none";
  /** Which errors are worth another attempt. Default: {@link isTransient}. */
  retryable?: (error: unknown, attempt: number) => boolean;
  /** Called before each wait, e.g. to log. */
  onRetry?: (info: RetryInfo) => void;
  /**
   * Stops retrying at once, during a wait or an attempt (whose own signal fires too); retry
   * then rejects with the code of {@link abortError} for it (`Aborted`, `Timeout`, or the
   * signal's own InfraError code such as `LockLost`).
   */
  signal?: AbortSignal;
  /**
   * Source of randomness in [0, 1); injectable for tests. Default `Math.random`. A value
   * outside it makes retry reject with `InvalidArgument` instead of waiting.
   */
  random?: () => number;
}

/** What each attempt of {@link retry} receives beside its number. */
export interface AttemptOptions {
  /**
   * Fires when the attempt is abandoned: the caller's signal fired or the deadline passed.
   * Pass it on to the I/O the attempt does, so that abandoned work stops too.
   */
  readonly signal: AbortSignal;
}

/** What {@link RetryOptions.onRetry} receives. */
export interface RetryInfo {
  /** The failed attempt, from 1. */
  attempt: number;
  /** Its error. */
  error: unknown;
  /** The wait before the next attempt, in ms. */
  delayMs: number;
}

/**
 * The backoff cap before attempt `attempt + 1`: `min(maxDelayMs, initialDelayMs ·
 * multiplier^(attempt-1))`. With full jitter the actual wait is uniform in [0, cap].
 *
 * @param attempt The attempt that just failed, from 1.
 * @param options The backoff settings of {@link RetryOptions}.
 * @returns The cap in ms.
 *
 * @example
 * ```ts
 * import { backoffCap } from "@gochat/infra/base";
 *
 * const caps = [1, 2, 3, 4].map((attempt) => backoffCap(attempt, { maxDelayMs: 250 }));
 * console.assert(caps.join() === "100,200,250,250");
 * ```
 */
export function backoffCap(
  attempt: number,
  options: Pick<RetryOptions, "initialDelayMs" | "maxDelayMs" | "multiplier"> = {},
): number {
  const initial = options.initialDelayMs ?? 100;
  const max = options.maxDelayMs ?? 10_000;
  const multiplier = options.multiplier ?? 2;
  // 0 · Infinity is NaN: after ~1,000 attempts the power overflows.
  if (initial === 0) return 0;
  return Math.min(max, initial * Math.pow(multiplier, Math.max(0, attempt - 1)));
}

// A deadline alone bounds the retrying; without one, three attempts.
function defaultAttempts(options: RetryOptions): number {
  return options.maxAttempts ?? (options.deadlineMs === undefined ? 3 : Infinity);
}

function bad(field: string, message: string): InfraError {
  return new InfraError("InvalidArgument", `retry: ${field} ${message}`, {
    component: COMPONENT,
    details: { field },
  });
}

const kindOf = (value: unknown) => value === null ? "null" : typeof value;

function checkRetryOptions(options: RetryOptions): void {
  for (const field of ["retryable", "onRetry", "random"] as const) {
    const value = options[field];
    if (value !== undefined && typeof value !== "function") {
      throw bad(field, `must be a function, got ${kindOf(value)}`);
    }
  }
  const { jitter } = options;
  if (jitter !== undefined && jitter !== "full" && jitter !== "none") {
    const got = typeof jitter === "string" ? JSON.stringify(jitter) : kindOf(jitter);
    throw bad("jitter", `must be "full" or "none", got ${got}`);
  }
  const { deadlineMs, initialDelayMs = 100, maxDelayMs = 10_000 } = options;
  const maxAttempts = defaultAttempts(options);
  if (!(maxAttempts === Infinity || (Number.isInteger(maxAttempts) && maxAttempts >= 1))) {
    throw bad(
      "maxAttempts",
      `must be a whole number ≥ 1 or Infinity, got ${describeValue(maxAttempts)}`,
    );
  }
  if (maxAttempts === Infinity && deadlineMs === undefined) {
    throw bad("maxAttempts", "may be Infinity only together with deadlineMs");
  }
  const finite = (value: number) => Number.isFinite(value) && value >= 0;
  if (deadlineMs !== undefined && !finite(deadlineMs)) {
    throw bad("deadlineMs", `must be a finite number ≥ 0, got ${describeValue(deadlineMs)}`);
  }
  if (!finite(initialDelayMs)) {
    throw bad(
      "initialDelayMs",
      `must be a finite number ≥ 0, got ${describeValue(initialDelayMs)}`,
    );
  }
  if (!finite(maxDelayMs)) {
    throw bad("maxDelayMs", `must be a finite number ≥ 0, got ${describeValue(maxDelayMs)}`);
  }
  const multiplier = options.multiplier ?? 2;
  if (!(Number.isFinite(multiplier) && multiplier >= 1)) {
    throw bad("multiplier", `must be a finite number ≥ 1, got ${describeValue(multiplier)}`);
  }
}

// A reading of `random`, which can be checked only when it is used: outside [0, 1) the wait
// would be negative (a confusing error from delay) or longer than the cap.
function fraction(random: () => number): number {
  const value = random();
  if (typeof value === "number" && value >= 0 && value < 1) return value;
  throw bad("random", `must return a number in [0, 1), got ${String(value)}`);
}

// The caller's signal fired: keep its abortError code (a LockLost reason stays LockLost),
// with the last failure of `fn`, if any, as the cause.
function stopped(signal: AbortSignal, failures: number, lastError: unknown): InfraError {
  const reason = abortError(signal, COMPONENT);
  if (failures === 0) return reason;
  return new InfraError(
    reason.code,
    `retry: stopped by its signal after ${failures} failed attempt(s)`,
    { component: COMPONENT, cause: lastError, details: { reason } },
  );
}

/**
 * Runs `fn` until it succeeds, an error is not retryable, the attempts are used up or the
 * deadline passes. Gives up by throwing the last error of `fn` unchanged, so callers still
 * branch on its code, except when it stops in the middle of something:
 *
 * - the caller's `signal` fires (during a wait or an attempt): the code of
 *   {@link abortError} for it, with the last error as `cause`;
 * - the deadline passes while an attempt runs: `Timeout`, with the last error as `cause`.
 *
 * An abandoned attempt is not awaited; its {@link AttemptOptions.signal} fires so that it
 * can stop its own work.
 *
 * @param fn The operation; receives the attempt number (from 1) and the attempt's signal.
 * @param retryOptions Attempts, deadline, backoff, predicate and signal.
 * @returns What `fn` returned on the successful attempt.
 * @throws {InfraError} `InvalidArgument` when `fn` is not a function or for bad options
 * (before the first attempt; for a `random` value outside [0, 1), before the wait it was
 * read for); the signal's code or `Timeout` as above; otherwise the last error of `fn`.
 *
 * @example Retry a flaky call three times
 * ```ts
 * import { InfraError, retry } from "@gochat/infra/base";
 *
 * let calls = 0;
 * const value = await retry(async () => {
 *   calls++;
 *   if (calls < 3) throw new InfraError("Unavailable", "try again");
 *   return "ok";
 * }, { maxAttempts: 5, initialDelayMs: 1 });
 * console.assert(value === "ok" && calls === 3);
 * ```
 *
 * @example Pass the attempt's signal on, so a deadline also stops a hanging attempt
 * ```ts
 * import { delay, InfraError, retry } from "@gochat/infra/base";
 *
 * const hanging = (_attempt: number, { signal }: { signal: AbortSignal }) =>
 *   delay(60_000, { signal }); // e.g. fetch(url, { signal })
 * const error = await retry(hanging, { deadlineMs: 50 }).catch((e) => e);
 * console.assert(InfraError.is(error, "Timeout"));
 * ```
 */
export async function retry<T>(
  fn: (attempt: number, options: AttemptOptions) => Promise<T>,
  retryOptions?: RetryOptions,
): Promise<T> {
  if (typeof fn !== "function") throw bad("fn", `must be a function, got ${kindOf(fn)}`);
  const options = checkOptions(retryOptions, COMPONENT, "retry");
  checkRetryOptions(options);
  const { signal, deadlineMs } = options;
  const maxAttempts = defaultAttempts(options);
  const retryable = options.retryable ?? isTransient;
  const random = options.random ?? Math.random;
  const started = Date.now();
  let lastError: unknown;
  for (let attempt = 1;; attempt++) {
    if (signal?.aborted) throw stopped(signal, attempt - 1, lastError);
    // A scope per attempt, disposed when it ends: no listener piles up on a long-lived
    // caller signal, and no deadline timer outlives the attempt.
    const scope = scopedSignal({
      signals: [signal],
      timeoutMs: deadlineMs === undefined
        ? undefined
        : Math.max(0, deadlineMs - (Date.now() - started)),
      component: COMPONENT,
    });
    try {
      return await abortable(Promise.resolve(fn(attempt, { signal: scope.signal })), scope.signal);
    } catch (error) {
      if (scope.signal.aborted) {
        if (signal?.aborted) throw stopped(signal, attempt - 1, lastError);
        throw new InfraError(
          "Timeout",
          `retry: the deadline of ${deadlineMs} ms passed during attempt ${attempt}`,
          { component: COMPONENT, cause: lastError, details: { attempt } },
        );
      }
      lastError = error;
    } finally {
      scope[Symbol.dispose]();
    }
    if (attempt >= maxAttempts || !retryable(lastError, attempt)) throw lastError;
    const cap = backoffCap(attempt, options);
    const delayMs = options.jitter === "none" ? cap : Math.floor(fraction(random) * cap);
    if (deadlineMs !== undefined && Date.now() - started + delayMs >= deadlineMs) {
      throw lastError;
    }
    options.onRetry?.({ attempt, error: lastError, delayMs });
    try {
      await delay(delayMs, { signal });
    } catch (error) {
      if (signal?.aborted) throw stopped(signal, attempt, lastError);
      throw error;
    }
  }
}
