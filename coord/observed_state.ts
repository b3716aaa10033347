/**
 * A state that listeners can follow: what a registration and an instance-id lease expose as
 * `state` and `onStateChange`.
 *
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

import { InfraError } from "../base/mod.ts";
import type { Logger } from "../clog/mod.ts";

/** See the module doc. */
export class ObservedState<S extends string> {
  #state: S;
  readonly #listeners = new Set<(state: S) => void>();
  readonly #logger: Logger;
  readonly #what: string;

  /**
   * Creates the state.
   *
   * @param initial The first state.
   * @param logger Where a listener's error is logged.
   * @param what What changes state, for that log line.
   */
  constructor(initial: S, logger: Logger, what: string) {
    this.#state = initial;
    this.#logger = logger;
    this.#what = what;
  }

  /** The current state. */
  get current(): S {
    return this.#state;
  }

  /**
   * Subscribes to changes.
   *
   * @param listener Called with each new state; its errors are logged, never thrown.
   * @returns A function that unsubscribes.
   * @throws {InfraError} `InvalidArgument` when `listener` is not a function.
   */
  subscribe(listener: (state: S) => void): () => void {
    if (typeof listener !== "function") {
      throw new InfraError("InvalidArgument", "listener must be a function", {
        component: "coord",
        details: { field: "listener" },
      });
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Moves to `state` and tells the listeners (nothing happens when it is the current one).
   *
   * @param state The new state.
   */
  set(state: S): void {
    if (this.#state === state) return;
    this.#state = state;
    for (const listener of this.#listeners) {
      try {
        listener(state);
      } catch (error) {
        // A listener's bug must not stop what changes state.
        this.#logger.error("state listener threw", { what: this.#what, state, error });
      }
    }
  }
}
