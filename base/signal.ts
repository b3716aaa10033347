/**
 * AbortSignal helpers: timeouts, combining signals, abortable waits, and turning an
 * abort into an {@link InfraError}.
 *
 * @module
 */

import { InfraError } from "./errors.ts";
import { describeValue } from "./config_check.ts";
import { checkOptions, checkSignal, isAbortSignal } from "./options.ts";

// setTimeout takes a signed 32-bit delay: anything longer fires after 1 ms on Node and Bun.
const MAX_TIMER_MS = 2 ** 31 - 1;

function checkMs(ms: number, what: string, component: string): void {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new InfraError(
      "InvalidArgument",
      `${what} must be a finite number ≥ 0, got ${describeValue(ms)}`,
      {
        component,
        details: { field: "ms" },
      },
    );
  }
}

// A timer for any finite delay: longer ones are chained in steps setTimeout can hold.
// Returns the function that clears it.
function startTimer(ms: number, callback: () => void, unref: boolean): () => void {
  let timer: ReturnType<typeof setTimeout>;
  const arm = (remaining: number) => {
    timer = setTimeout(
      remaining > MAX_TIMER_MS ? () => arm(remaining - MAX_TIMER_MS) : callback,
      Math.min(remaining, MAX_TIMER_MS),
    );
    if (unref) unrefTimer(timer);
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/**
 * A signal that aborts after `ms` milliseconds with an `InfraError` of code `Timeout`.
 * The timer does not keep the process alive.
 *
 * @param ms Milliseconds until the signal fires; must be a finite number ≥ 0.
 * @param component Named in the timeout error.
 * @returns The signal.
 * @throws {InfraError} `InvalidArgument` when `ms` is negative or not finite.
 *
 * @example
 * ```ts
 * import { timeoutSignal } from "@gochat/infra/base";
 *
 * const signal = timeoutSignal(5_000);
 * signal.aborted; // false for the next five seconds
 * ```
 */
export function timeoutSignal(ms: number, component = ""): AbortSignal {
  checkMs(ms, "timeout", component);
  const controller = new AbortController();
  startTimer(ms, () => controller.abort(timeoutError(ms, component)), true);
  return controller.signal;
}

function timeoutError(ms: number, component: string): InfraError {
  return new InfraError("Timeout", `timed out after ${ms} ms`, { component });
}

/**
 * A signal that aborts as soon as any of the given signals aborts, with that signal's
 * reason. `undefined` entries are ignored, so optional signals can be passed as they are.
 * A signal of a polyfill or of another realm, which the checks accept, is followed too,
 * the same on every runtime. For one call under a long-lived signal (a client's close
 * signal, a session), prefer {@link scopedSignal}, which lets go of that signal when the
 * call is done.
 *
 * @param signals Signals to follow.
 * @returns One signal; it is already aborted when one of the inputs is.
 * @throws {InfraError} `InvalidArgument` when an entry is neither `undefined` nor an
 * AbortSignal.
 *
 * @example
 * ```ts
 * import { anySignal, timeoutSignal } from "@gochat/infra/base";
 *
 * function fetchUser(options: { signal?: AbortSignal } = {}) {
 *   const signal = anySignal(options.signal, timeoutSignal(3_000));
 *   return signal;
 * }
 * fetchUser().aborted; // false
 * ```
 */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  for (const signal of signals) checkSignal(signal, "base", "anySignal signals");
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length === 1) return present[0];
  if (present.length === 0) return new AbortController().signal;
  // AbortSignal.any takes only this realm's own signals: for a polyfill's or another
  // realm's, Deno's and Bun's throw a TypeError and Node 20's never follows it.
  if (present.every((signal) => signal instanceof AbortSignal)) return AbortSignal.any(present);
  return follow(present).signal;
}

/** A controller following signals through listeners; see `follow`. */
interface Following {
  /** Aborts with the reason of the first followed signal to abort, or of `abort`. */
  readonly signal: AbortSignal;
  /** Stops following, then aborts `signal` with `reason`. */
  abort(reason: unknown): void;
  /** Stops following: removes the listeners and runs what was added to `releases`. */
  release(): void;
  /** What `release` undoes; add to it only while `signal` has not aborted. */
  readonly releases: (() => void)[];
}

// Listeners rather than AbortSignal.any: they work for any signal isAbortSignal accepts,
// and release() removes them at once instead of whenever the result is garbage collected.
function follow(signals: readonly (AbortSignal | undefined)[]): Following {
  const controller = new AbortController();
  const releases: (() => void)[] = [];
  const release = () => {
    for (const undo of releases.splice(0)) undo();
  };
  const abort = (reason: unknown) => {
    release();
    controller.abort(reason);
  };
  for (const signal of signals) {
    if (signal === undefined) continue;
    if (signal.aborted) {
      abort(signal.reason);
      break;
    }
    const onAbort = () => abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    releases.push(() => signal.removeEventListener("abort", onAbort));
  }
  return { signal: controller.signal, abort, release, releases };
}

/** A signal for one piece of work, released by disposing it; see {@link scopedSignal}. */
export interface ScopedSignal extends Disposable {
  /**
   * Aborts with the reason of the first followed signal to abort, or with a `Timeout`
   * InfraError once `timeoutMs` passed.
   */
  readonly signal: AbortSignal;
  /**
   * Stops following: removes the listeners from the followed signals and clears the timer
   * (which keeps the process alive until then). The signal keeps its state (it does not
   * abort). Idempotent.
   */
  [Symbol.dispose](): void;
}

/** What {@link scopedSignal} follows. */
export interface ScopedSignalOptions {
  /** Signals to follow; `undefined` entries are ignored. */
  signals?: (AbortSignal | undefined)[];
  /** Aborts the signal after this many ms (a finite number ≥ 0); no timeout when left out. */
  timeoutMs?: number;
  /** Named in the timeout error. */
  component?: string;
}

/**
 * A signal for one call: like `anySignal(...signals, timeoutSignal(timeoutMs))`, but
 * disposable, so its listeners and timer go as soon as the call is done. Use it instead of
 * {@link anySignal} when a followed signal lives long (a client's close signal, a session's
 * lost signal) and calls are many: every signal from `AbortSignal.any` stays registered on
 * its inputs until it is garbage collected, and some runtime versions never release it
 * (nodejs/node#54614, denoland/deno#24842); a {@link timeoutSignal} holds its timer until it
 * fires.
 *
 * @param options Signals to follow, a timeout, the component named in the timeout error.
 * @returns The scoped signal; dispose it (`using`) when the call is done.
 * @throws {InfraError} `InvalidArgument` when `timeoutMs` is negative or not finite, when
 * `options` is not an object, when `signals` is not an array (one signal too), or when a
 * followed signal is not an AbortSignal.
 *
 * @example One request under the caller's signal and a 3 s timeout
 * ```ts
 * import { scopedSignal } from "@gochat/infra/base";
 *
 * async function ping(options: { signal?: AbortSignal } = {}): Promise<boolean> {
 *   using scope = scopedSignal({ signals: [options.signal], timeoutMs: 3_000 });
 *   return !scope.signal.aborted; // e.g. await fetch(url, { signal: scope.signal })
 * }
 * console.assert(await ping());
 * ```
 */
export function scopedSignal(options: ScopedSignalOptions = {}): ScopedSignal {
  const { signals = [], timeoutMs, component = "" } = checkOptions(options, "base", "scopedSignal");
  if (!Array.isArray(signals)) {
    // One signal on its own is the likely mistake: say how to pass it.
    const got = isAbortSignal(signals)
      ? "one AbortSignal (pass it as [signal])"
      : signals === null
      ? "null"
      : typeof signals;
    throw new InfraError(
      "InvalidArgument",
      `scopedSignal options.signals must be an array of AbortSignals, got ${got}`,
      { component: component || "base", details: { field: "options.signals" } },
    );
  }
  for (const signal of signals) {
    checkSignal(signal, component || "base", "scopedSignal options.signals");
  }
  if (timeoutMs !== undefined) checkMs(timeoutMs, "timeoutMs", component);
  const scope = follow(signals);
  if (timeoutMs !== undefined && !scope.signal.aborted) {
    // Unlike timeoutSignal's, this timer keeps the process alive: it is cleared when the
    // scope is disposed, and until then a call waiting only on the signal must still end.
    const onTimeout = () => scope.abort(timeoutError(timeoutMs, component));
    scope.releases.push(startTimer(timeoutMs, onTimeout, false));
  }
  return { signal: scope.signal, [Symbol.dispose]: scope.release };
}

/**
 * The error a caller should see when `signal` has fired: the reason itself when it is an
 * InfraError (for example the `Timeout` of {@link timeoutSignal}), `Timeout` for a
 * DOMException `TimeoutError` (from `AbortSignal.timeout`), `Aborted` otherwise.
 *
 * @param signal An aborted signal.
 * @param component Named in the error.
 * @returns The error to throw.
 *
 * @example
 * ```ts
 * import { abortError } from "@gochat/infra/base";
 *
 * const signal = AbortSignal.abort("shutting down");
 * console.assert(abortError(signal, "cache").code === "Aborted");
 * ```
 */
export function abortError(signal: AbortSignal, component = ""): InfraError {
  const reason: unknown = signal.reason;
  if (reason instanceof InfraError) return reason;
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new InfraError("Timeout", "the operation timed out", { component, cause: reason });
  }
  return new InfraError("Aborted", "the operation was aborted", { component, cause: reason });
}

/**
 * Throws {@link abortError} when `signal` has fired; does nothing otherwise.
 *
 * @param signal An optional signal.
 * @param component Named in the error.
 * @throws {InfraError} `Aborted` or `Timeout`.
 *
 * @example Stop a loop between steps
 * ```ts
 * import { throwIfAborted } from "@gochat/infra/base";
 *
 * function sum(values: number[], signal?: AbortSignal): number {
 *   let total = 0;
 *   for (const value of values) {
 *     throwIfAborted(signal, "demo");
 *     total += value;
 *   }
 *   return total;
 * }
 * console.assert(sum([1, 2, 3]) === 6);
 * ```
 */
export function throwIfAborted(signal: AbortSignal | undefined, component = ""): void {
  if (signal?.aborted) throw abortError(signal, component);
}

/**
 * Waits `ms` milliseconds, or rejects with {@link abortError} as soon as `signal` fires.
 *
 * @param ms Milliseconds to wait, a finite number ≥ 0 (waits longer than setTimeout's
 * 2^31 − 1 ms limit are fine).
 * @param options An optional signal.
 * @returns A promise that resolves after the wait.
 * @throws {InfraError} (as a rejection) `InvalidArgument` when `ms` is negative or not
 * finite, when `options` is not an object or its `signal` not an AbortSignal; `Aborted`/`Timeout` when the signal fires.
 *
 * @example
 * ```ts
 * import { delay } from "@gochat/infra/base";
 *
 * await delay(10);
 * ```
 */
export function delay(ms: number, options?: { signal?: AbortSignal }): Promise<void> {
  let signal: AbortSignal | undefined;
  try {
    signal = checkOptions(options, "base", "delay").signal;
    checkMs(ms, "delay", "");
  } catch (error) {
    return Promise.reject(error);
  }
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clear();
      reject(abortError(signal!));
    };
    const clear = startTimer(ms, () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, false);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Settles like `promise`, unless `signal` fires first: then it rejects with
 * {@link abortError}. The underlying work is not cancelled; use this only where the work
 * is harmless to leave running (or cancels itself on the same signal).
 *
 * @param promise The work to wait for.
 * @param signal An optional signal.
 * @param component Named in the error.
 * @returns The promise's value.
 * @throws {InfraError} (as a rejection) `InvalidArgument` when `signal` is neither
 * `undefined` nor an AbortSignal.
 *
 * @example Stop waiting for a reply the caller no longer wants
 * ```ts
 * import { abortable, InfraError } from "@gochat/infra/base";
 *
 * const controller = new AbortController();
 * const reply = new Promise<string>(() => {}); // e.g. a client call without signal support
 * const waiting = abortable(reply, controller.signal, "cache");
 * controller.abort();
 * const error = await waiting.catch((e) => e);
 * console.assert(InfraError.is(error, "Aborted"));
 * ```
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  component = "",
): Promise<T> {
  if (signal === undefined) return promise;
  try {
    checkSignal(signal, component || "base", "abortable signal");
  } catch (error) {
    promise.catch(() => {});
    return Promise.reject(error);
  }
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortError(signal, component));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal, component));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Lets a timer not keep the process alive, on every runtime (Node and Bun return an object
 * with `unref`, Deno a number that `Deno.unrefTimer` accepts).
 *
 * @param timer What `setTimeout` or `setInterval` returned.
 *
 * @example A background refresh that must not hold the process open
 * ```ts
 * import { unrefTimer } from "@gochat/infra/base";
 *
 * const timer = setInterval(() => {}, 60_000);
 * unrefTimer(timer);
 * clearInterval(timer);
 * ```
 */
export function unrefTimer(timer: unknown): void {
  if (typeof timer === "object" && timer !== null && "unref" in timer) {
    (timer as { unref(): void }).unref();
    return;
  }
  const deno = (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno;
  if (typeof timer === "number" && deno?.unrefTimer) deno.unrefTimer(timer);
}
