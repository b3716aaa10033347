/**
 * Retry with exponential backoff and full jitter.
 *
 * @module
 */

import { InfraError, isTransient } from "./errors.ts";
import { abortError, delay } from "./signal.ts";

/** How {@link retry} spaces and bounds its attempts. */
export interface RetryOptions {
  /** Attempts in total, the first included. Default 3; `Infinity` with a `deadlineMs`. */
  maxAttempts?: number;
  /** Total time budget in ms from the first attempt; no attempt starts after it. */
  deadlineMs?: number;
  /** Upper bound of the first backoff, in ms. Default 100. */
  initialDelayMs?: number;
  /** Cap of any single backoff, in ms. Default 10 000. */
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
  /** Stops waiting and attempting; the pending wait rejects with `Aborted`/`Timeout`. */
  signal?: AbortSignal;
  /** Source of randomness in [0, 1); injectable for tests. Default `Math.random`. */
  random?: () => number;
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
 */
export function backoffCap(
  attempt: number,
  options: Pick<RetryOptions, "initialDelayMs" | "maxDelayMs" | "multiplier"> = {},
): number {
  const initial = options.initialDelayMs ?? 100;
  const max = options.maxDelayMs ?? 10_000;
  const multiplier = options.multiplier ?? 2;
  return Math.min(max, initial * Math.pow(multiplier, Math.max(0, attempt - 1)));
}

function checkOptions(options: RetryOptions): void {
  const bad = (field: string, message: string) =>
    new InfraError("InvalidArgument", `retry: ${field} ${message}`, { details: { field } });
  const { maxAttempts = 3, deadlineMs, initialDelayMs = 100, maxDelayMs = 10_000 } = options;
  if (!(maxAttempts >= 1)) throw bad("maxAttempts", `must be ≥ 1, got ${maxAttempts}`);
  if (maxAttempts === Infinity && deadlineMs === undefined) {
    throw bad("maxAttempts", "may be Infinity only together with deadlineMs");
  }
  if (deadlineMs !== undefined && !(deadlineMs >= 0)) {
    throw bad("deadlineMs", `must be ≥ 0, got ${deadlineMs}`);
  }
  if (!(initialDelayMs >= 0)) throw bad("initialDelayMs", `must be ≥ 0, got ${initialDelayMs}`);
  if (!(maxDelayMs >= 0)) throw bad("maxDelayMs", `must be ≥ 0, got ${maxDelayMs}`);
  if (!((options.multiplier ?? 2) >= 1)) {
    throw bad("multiplier", `must be ≥ 1, got ${options.multiplier}`);
  }
}

/**
 * Runs `fn` until it succeeds, an error is not retryable, the attempts are used up or the
 * deadline would pass during the next wait. Gives up by throwing the last error unchanged,
 * so callers still branch on its code; an abort through `signal` throws `Aborted` (or
 * `Timeout` when the signal was a timeout) with the last error as `cause`.
 *
 * @param fn The operation; receives the attempt number (from 1).
 * @param options Attempts, deadline, backoff, predicate and signal.
 * @returns What `fn` returned on the successful attempt.
 * @throws {InfraError} `InvalidArgument` for bad options; otherwise the last error of `fn`.
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
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  checkOptions(options);
  const maxAttempts = options.maxAttempts ?? 3;
  const retryable = options.retryable ?? isTransient;
  const random = options.random ?? Math.random;
  const started = Date.now();
  for (let attempt = 1;; attempt++) {
    if (options.signal?.aborted) throw abortError(options.signal);
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= maxAttempts || !retryable(error, attempt)) throw error;
      const cap = backoffCap(attempt, options);
      const delayMs = options.jitter === "none" ? cap : Math.floor(random() * cap);
      if (
        options.deadlineMs !== undefined && Date.now() - started + delayMs >= options.deadlineMs
      ) {
        throw error;
      }
      options.onRetry?.({ attempt, error, delayMs });
      try {
        await delay(delayMs, { signal: options.signal });
      } catch (abort) {
        const code = InfraError.is(abort, "Timeout") ? "Timeout" : "Aborted";
        throw new InfraError(code, `gave up waiting to retry after attempt ${attempt}`, {
          cause: error,
          details: { reason: abort },
        });
      }
    }
  }
}
