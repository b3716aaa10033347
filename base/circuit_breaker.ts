/**
 * A circuit breaker: stop calling a dependency that keeps failing, probe it after a pause,
 * and close again once it answers.
 *
 * @module
 */

import { InfraError } from "./errors.ts";
import { checkOptions } from "./options.ts";
import { describeValue } from "./config_check.ts";

const COMPONENT = "base";

/** `closed`: calls pass. `open`: calls are rejected. `half-open`: a few probe calls pass. */
export type CircuitState = "closed" | "open" | "half-open";

/** Settings of {@link createCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Named in errors and events. Default `"circuit"`. */
  name?: string;
  /** Consecutive counted failures (closed state) that open the circuit. Default 5. */
  failureThreshold?: number;
  /** Consecutive successful probes (half-open state) that close it again. Default 2. */
  successThreshold?: number;
  /**
   * Time spent open before probing, in ms; also the longest a probe may run: one still
   * running after it counts as failed and opens the circuit again. Default 30 000.
   */
  openTimeoutMs?: number;
  /** Probe calls allowed at once while half-open. Default 1. */
  halfOpenMaxCalls?: number;
  /**
   * Which errors count as failures of the dependency. Errors it returns false for (a
   * `NotFound`, a validation error) pass through and count as successes: the dependency
   * answered. Default: every error counts. Should it throw, the call counts as failed
   * and its error is what `execute` throws.
   */
  isFailure?: (error: unknown) => boolean;
  /** Clock in ms; injectable for tests. Default `Date.now`. */
  now?: () => number;
}

/** What a state-change listener receives. */
export interface CircuitStateChange {
  /** The breaker's name. */
  name: string;
  /** The state it left. */
  from: CircuitState;
  /** The state it entered. */
  to: CircuitState;
}

/** A circuit breaker guarding calls to one dependency. */
export interface CircuitBreaker {
  /** The breaker's name. */
  readonly name: string;
  /** The current state (an open breaker past its timeout reports `half-open`). */
  readonly state: CircuitState;
  /**
   * Runs `fn` unless the circuit is open.
   *
   * @param fn The guarded call.
   * @returns What `fn` returned.
   * @throws {InfraError} (as a rejection) `InvalidArgument` when `fn` is not a function,
   * counted neither way; `CircuitOpen` without calling `fn`; otherwise what `fn` threw.
   */
  execute<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Subscribes to state changes.
   *
   * @param listener Called synchronously on each change; its errors are ignored.
   * @returns A function that unsubscribes.
   */
  onStateChange(listener: (change: CircuitStateChange) => void): () => void;
  /** Forces the closed state and clears the counters; calls still running are not counted. */
  reset(): void;
}

function optionalFunction<F>(value: F | undefined, field: string): F | undefined {
  if (value !== undefined && typeof value !== "function") {
    throw new InfraError(
      "InvalidArgument",
      `circuit breaker: ${field} must be a function, got ${value === null ? "null" : typeof value}`,
      { component: COMPONENT, details: { field } },
    );
  }
  return value;
}

function positiveInteger(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new InfraError(
      "InvalidArgument",
      `circuit breaker: ${field} must be an integer ≥ 1, got ${describeValue(value)}`,
      { component: COMPONENT, details: { field } },
    );
  }
  return value;
}

/**
 * Creates a circuit breaker.
 *
 * @param breakerOptions Thresholds, timeout and the failure predicate.
 * @returns The breaker, closed.
 * @throws {InfraError} `InvalidArgument` for bad options.
 *
 * @example
 * ```ts
 * import { createCircuitBreaker, InfraError } from "@gochat/infra/base";
 *
 * const breaker = createCircuitBreaker({
 *   name: "user-service",
 *   failureThreshold: 3,
 *   isFailure: (error) => !InfraError.is(error, "NotFound"),
 * });
 * breaker.onStateChange(({ from, to }) => console.log(`user-service ${from} -> ${to}`));
 * const user = await breaker.execute(() => Promise.resolve({ id: 1 }));
 * ```
 */
export function createCircuitBreaker(
  breakerOptions?: CircuitBreakerOptions,
): CircuitBreaker {
  const options = checkOptions(breakerOptions, COMPONENT, "createCircuitBreaker");
  const name = options.name ?? "circuit";
  const failureThreshold = positiveInteger(options.failureThreshold ?? 5, "failureThreshold");
  const successThreshold = positiveInteger(options.successThreshold ?? 2, "successThreshold");
  const halfOpenMaxCalls = positiveInteger(options.halfOpenMaxCalls ?? 1, "halfOpenMaxCalls");
  const openTimeoutMs = options.openTimeoutMs ?? 30_000;
  if (!(openTimeoutMs >= 0)) {
    throw new InfraError(
      "InvalidArgument",
      `circuit breaker: openTimeoutMs must be ≥ 0, got ${describeValue(openTimeoutMs)}`,
      { component: COMPONENT, details: { field: "openTimeoutMs" } },
    );
  }
  const isFailure = optionalFunction(options.isFailure, "isFailure") ?? (() => true);
  const now = optionalFunction(options.now, "now") ?? Date.now;
  const listeners = new Set<(change: CircuitStateChange) => void>();

  let state: CircuitState = "closed";
  let failures = 0;
  let successes = 0;
  let openedAt = 0;
  // Start times of the probes running in the half-open state.
  let probes = new Set<{ startedAt: number }>();
  // A generation number lets results of calls started before a transition be ignored.
  let generation = 0;

  function transition(to: CircuitState): void {
    if (state === to) return;
    const from = state;
    state = to;
    generation++;
    failures = 0;
    successes = 0;
    probes = new Set();
    if (to === "open") openedAt = now();
    for (const listener of listeners) {
      try {
        listener({ name, from, to });
      } catch {
        // A listener's bug must not break the guarded call.
      }
    }
  }

  function currentState(): CircuitState {
    // A probe that hangs would otherwise hold its slot, and the circuit half-open, for ever.
    if (state === "half-open") {
      const time = now();
      for (const probe of probes) {
        if (time - probe.startedAt > openTimeoutMs) {
          transition("open");
          break;
        }
      }
    }
    if (state === "open" && now() - openedAt >= openTimeoutMs) transition("half-open");
    return state;
  }

  function onSuccess(callGeneration: number, probe: { startedAt: number } | undefined): void {
    if (callGeneration !== generation) return;
    if (probe) probes.delete(probe);
    if (state === "closed") {
      failures = 0;
    } else if (state === "half-open") {
      successes++;
      if (successes >= successThreshold) transition("closed");
    }
  }

  function onFailure(callGeneration: number, probe: { startedAt: number } | undefined): void {
    if (callGeneration !== generation) return;
    if (probe) probes.delete(probe);
    if (state === "half-open") {
      transition("open");
    } else if (state === "closed") {
      failures++;
      if (failures >= failureThreshold) transition("open");
    }
  }

  return {
    name,
    get state() {
      return currentState();
    },
    async execute<T>(fn: () => Promise<T>): Promise<T> {
      // The caller's bug, not the dependency's failure: checked before the state is read,
      // which may move it to half-open, and before anything is counted.
      if (typeof fn !== "function") {
        throw new InfraError(
          "InvalidArgument",
          `circuit "${name}": execute fn must be a function, got ${
            fn === null ? "null" : typeof fn
          }`,
          { component: COMPONENT, details: { name, field: "fn" } },
        );
      }
      const current = currentState();
      if (current === "open" || (current === "half-open" && probes.size >= halfOpenMaxCalls)) {
        throw new InfraError("CircuitOpen", `circuit "${name}" is open`, {
          component: COMPONENT,
          details: { name, state: current },
        });
      }
      const probe = current === "half-open" ? { startedAt: now() } : undefined;
      if (probe) probes.add(probe);
      const callGeneration = generation;
      let result: T;
      try {
        result = await fn();
      } catch (error) {
        let failed = true;
        try {
          failed = isFailure(error);
        } finally {
          if (failed) onFailure(callGeneration, probe);
          else onSuccess(callGeneration, probe);
        }
        throw error;
      }
      onSuccess(callGeneration, probe);
      return result;
    },
    onStateChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reset() {
      transition("closed");
      // Also when it was closed already: calls started before the reset must not count.
      generation++;
      failures = 0;
      probes = new Set();
    },
  };
}
