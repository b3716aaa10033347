/**
 * AbortSignal helpers: timeouts, combining signals, abortable waits, and turning an
 * abort into an {@link InfraError}.
 *
 * @module
 */

import { InfraError } from "./errors.ts";

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
  if (!Number.isFinite(ms) || ms < 0) {
    throw new InfraError("InvalidArgument", `timeout must be a finite number ≥ 0, got ${ms}`, {
      component,
      details: { field: "ms" },
    });
  }
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new InfraError("Timeout", `timed out after ${ms} ms`, { component }),
      ),
    ms,
  );
  unrefTimer(timer);
  return controller.signal;
}

/**
 * A signal that aborts as soon as any of the given signals aborts, with that signal's
 * reason. `undefined` entries are ignored, so optional signals can be passed as they are.
 *
 * @param signals Signals to follow.
 * @returns One signal; it is already aborted when one of the inputs is.
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
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length === 1) return present[0];
  if (present.length === 0) return new AbortController().signal;
  return AbortSignal.any(present);
}

/**
 * The error a caller should see when `signal` has fired: the reason itself when it is an
 * InfraError (for example the `Timeout` of {@link timeoutSignal}), `Timeout` for a
 * DOMException `TimeoutError` (from `AbortSignal.timeout`), `Aborted` otherwise.
 *
 * @param signal An aborted signal.
 * @param component Named in the error.
 * @returns The error to throw.
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
 */
export function throwIfAborted(signal: AbortSignal | undefined, component = ""): void {
  if (signal?.aborted) throw abortError(signal, component);
}

/**
 * Waits `ms` milliseconds, or rejects with {@link abortError} as soon as `signal` fires.
 *
 * @param ms Milliseconds to wait.
 * @param options An optional signal.
 * @returns A promise that resolves after the wait.
 *
 * @example
 * ```ts
 * import { delay } from "@gochat/infra/base";
 *
 * await delay(10);
 * ```
 */
export function delay(ms: number, options: { signal?: AbortSignal } = {}): Promise<void> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
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
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  component = "",
): Promise<T> {
  if (!signal) return promise;
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
 */
export function unrefTimer(timer: unknown): void {
  if (typeof timer === "object" && timer !== null && "unref" in timer) {
    (timer as { unref(): void }).unref();
    return;
  }
  const deno = (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno;
  if (typeof timer === "number" && deno?.unrefTimer) deno.unrefTimer(timer);
}
