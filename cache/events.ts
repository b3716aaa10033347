/**
 * Wake-ups across processes: lock releases and getOrSet fills publish the full key on one
 * channel; a process subscribes once (on first need) and wakes its local waiters for that
 * key. Waiters also poll with backoff, so a lost message or a dead lock holder only delays
 * them.
 *
 * @module
 */

import { abortError } from "../base/mod.ts";
import type { Logger } from "../clog/mod.ts";
import type { Connection, Subscription } from "./connection.ts";
import { closedError } from "./errors.ts";

/** A registered waiter for one key. */
export interface KeyWaiter {
  /**
   * Resolves when the key's event arrives or after `ms`; rejects with `Aborted`/`Timeout`
   * when `signal` fires. May be called repeatedly.
   */
  wait(ms: number, signal?: AbortSignal): Promise<void>;
  /** Unregisters. */
  dispose(): void;
}

/** The per-process hub of key events. */
export class KeyEvents {
  readonly #connection: Connection;
  readonly #channel: string;
  readonly #logger: Logger;
  readonly #waiters = new Map<string, Set<() => void>>();
  #subscription: Promise<Subscription> | undefined;
  #closed = false;

  constructor(connection: Connection, channel: string, logger: Logger) {
    this.#connection = connection;
    this.#channel = channel;
    this.#logger = logger;
  }

  /** The channel (for scripts that publish on it). */
  get channel(): string {
    return this.#channel;
  }

  /**
   * Registers interest in `fullKey`. Once this resolves, every later event for the key is
   * seen: check the state after registering, then wait. `Closed` after {@link close} (and
   * when it came while subscribing): a subscription made then would never be ended.
   */
  async register(fullKey: string): Promise<KeyWaiter> {
    if (this.#closed) throw closedError();
    await this.#subscribe();
    if (this.#closed) throw closedError();
    let wake: (() => void) | undefined;
    let fired = false;
    const notify = () => {
      fired = true;
      wake?.();
    };
    let set = this.#waiters.get(fullKey);
    if (!set) this.#waiters.set(fullKey, set = new Set());
    set.add(notify);
    const dispose = () => {
      set!.delete(notify);
      if (set!.size === 0 && this.#waiters.get(fullKey) === set) this.#waiters.delete(fullKey);
    };
    return {
      wait: (ms, signal) => {
        if (signal?.aborted) return Promise.reject(abortError(signal, "cache"));
        if (fired) {
          fired = false;
          return Promise.resolve();
        }
        return new Promise<void>((resolve, reject) => {
          const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", onAbort);
            wake = undefined;
            fired = false;
            resolve();
          };
          const onAbort = () => {
            clearTimeout(timer);
            wake = undefined;
            reject(abortError(signal!, "cache"));
          };
          // Not unref'd: a caller is awaiting this wait, as it would a sleep.
          const timer = setTimeout(done, Math.max(1, ms));
          wake = done;
          signal?.addEventListener("abort", onAbort, { once: true });
        });
      },
      dispose,
    };
  }

  /** Stops listening, for good: later registrations are `Closed`. */
  async close(): Promise<void> {
    this.#closed = true;
    const subscription = this.#subscription;
    this.#subscription = undefined;
    if (subscription) await (await subscription.catch(() => undefined))?.unsubscribe();
    this.#wakeAll();
  }

  #subscribe(): Promise<Subscription> {
    if (!this.#subscription) {
      this.#subscription = this.#connection.subscribe(this.#channel, {
        onMessage: (fullKey) => {
          const set = this.#waiters.get(fullKey);
          if (set) { for (const notify of [...set]) notify(); }
        },
        onResubscribed: () => {
          this.#logger.debug("key events resubscribed; waking every waiter to re-check");
          this.#wakeAll();
        },
      });
      // A failed subscribe is retried by the next waiter.
      this.#subscription.catch(() => (this.#subscription = undefined));
    }
    return this.#subscription;
  }

  #wakeAll(): void {
    for (const set of this.#waiters.values()) for (const notify of [...set]) notify();
  }
}
