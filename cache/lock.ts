/**
 * The lock: `SET NX PX` with a random owner token; extend and release are atomic
 * compare-and-act scripts that succeed only for the owner (and say so when they do not);
 * blocking acquire waits for the release event (or polls with backoff) until a signal or
 * timeout ends the wait.
 *
 * @module
 */

import { abortError, InfraError, scopedSignal, unrefTimer } from "../base/mod.ts";
import type { Command, ScriptSource } from "./connection.ts";
import type { CacheCore } from "./core.ts";
import { randomToken } from "./core.ts";
import type { KeyWaiter } from "./events.ts";
import { LOCK_ACQUIRE, LOCK_EXTEND, LOCK_RELEASE } from "./scripts.ts";
import type { CallOptions, Lock, LockOptions, TryLockOptions } from "./types.ts";
import { checkDurationMs, optionsOf, parseInteger } from "./validate.ts";

const COMPONENT = "cache";

function script(source: ScriptSource, lockKey: string, args: (string | number)[]): Command {
  return { kind: "script", script: source, keys: [lockKey], args, binary: false };
}

class HeldLock implements Lock {
  readonly key: string;
  readonly token: string;
  readonly #core: CacheCore;
  readonly #lockKey: string;
  readonly #ttlMs: number;
  readonly #controller = new AbortController();
  #expiresAt: number;
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;
  #extendTimer: ReturnType<typeof setInterval> | undefined;
  #removeStopper: () => void;

  constructor(
    core: CacheCore,
    key: string,
    lockKey: string,
    token: string,
    ttlMs: number,
    acquiredAt: number,
    autoExtend: boolean,
  ) {
    this.#core = core;
    this.key = key;
    this.#lockKey = lockKey;
    this.token = token;
    this.#ttlMs = ttlMs;
    this.#expiresAt = acquiredAt + ttlMs;
    this.#armExpiry();
    if (autoExtend) {
      this.#extendTimer = setInterval(() => this.#autoExtend(), Math.max(1, Math.floor(ttlMs / 3)));
      unrefTimer(this.#extendTimer);
    }
    // A closed cache extends nothing: say so rather than let the holder believe it owns on.
    this.#removeStopper = core.onClose(() =>
      this.#abandon(this.#lost("the cache closed; the lock is no longer extended"))
    );
  }

  get expiresAt(): number {
    return this.#expiresAt;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  async extend(ttlMs: number = this.#ttlMs, options?: CallOptions): Promise<void> {
    options = optionsOf(options, "lock.extend");
    checkDurationMs(ttlMs, "ttlMs", 1);
    if (this.#controller.signal.aborted) throw this.#lost("the lock was already lost or released");
    const sentAt = Date.now();
    const reply = await this.#core.send(
      script(LOCK_EXTEND, this.#lockKey, [this.token, ttlMs]),
      options?.signal,
    );
    if (parseInteger(reply) !== 1) {
      const error = this.#lost("the lock is no longer held by this owner");
      this.#abandon(error);
      throw error;
    }
    this.#expiresAt = sentAt + ttlMs;
    this.#armExpiry();
  }

  async release(options?: CallOptions): Promise<boolean> {
    options = optionsOf(options, "lock.release");
    // The lock stays held, timers running, until Redis answered: a release that fails
    // (nothing sent, or no answer) leaves a lock that is still extended and still says when
    // it is lost, rather than one that expires unnoticed.
    const reply = await this.#core.send(
      script(LOCK_RELEASE, this.#lockKey, [
        this.token,
        this.#core.events.channel,
        this.#lockKey,
      ]),
      options?.signal,
    );
    const released = parseInteger(reply) === 1;
    if (!released) {
      this.#core.logger.warn("lock release found another owner (or none): it had expired", {
        key: this.key,
      });
    }
    this.#abandon(this.#lost(released ? "the lock was released" : "the lock had expired"));
    return released;
  }

  [Symbol.asyncDispose](): Promise<void> {
    if (this.#controller.signal.aborted) return Promise.resolve();
    return this.release().then(() => {});
  }

  #lost(message: string): InfraError {
    return new InfraError("LockLost", `${message} (${this.key})`, { component: COMPONENT });
  }

  #armExpiry(): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = setTimeout(
      () => this.#abandon(this.#lost("the lock expired")),
      Math.max(0, this.#expiresAt - Date.now()),
    );
    unrefTimer(this.#expiryTimer);
  }

  async #autoExtend(): Promise<void> {
    try {
      await this.extend();
    } catch (error) {
      if (InfraError.is(error, "LockLost", "Closed")) {
        this.#stopTimers();
        return;
      }
      // Transient: the expiry timer fires if we never get through in time.
      this.#core.logger.warn("lock auto-extension failed; retrying", { key: this.key, error });
    }
  }

  #abandon(reason: InfraError): void {
    this.#stopTimers();
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }

  #stopTimers(): void {
    clearTimeout(this.#expiryTimer);
    clearInterval(this.#extendTimer);
    this.#extendTimer = undefined;
    this.#removeStopper?.();
  }
}

function checkLockOptions(options: TryLockOptions, method: string): void {
  if (options === undefined) {
    throw new InfraError("InvalidArgument", `${method} options with ttlMs are required`, {
      component: COMPONENT,
      details: { field: "options" },
    });
  }
  optionsOf(options, method);
  checkDurationMs(options.ttlMs, "ttlMs", 1);
}

/**
 * One acquire attempt. The command is not abandoned when the signal fires mid-flight (the
 * lock may be taken by then): the reply is awaited (bounded by the command deadline), and
 * a lock taken for a caller that gave up, or for a cache that began to close meanwhile, is
 * released at once. Callers run it tracked, so the connection is still open for that.
 */
async function attempt(
  core: CacheCore,
  key: string,
  lockKey: string,
  token: string,
  options: TryLockOptions,
) {
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal, COMPONENT);
  const sentAt = Date.now();
  const reply = parseInteger(
    await core.send(script(LOCK_ACQUIRE, lockKey, [token, options.ttlMs])),
  );
  if (reply !== -1) return { remainingMs: reply };
  const gaveUp = signal?.aborted ? signal : core.closing.aborted ? core.closing : undefined;
  if (gaveUp) {
    // Past core.send, which refuses once close has begun.
    await core.connection.call(
      script(LOCK_RELEASE, lockKey, [token, core.events.channel, lockKey]),
    ).catch((error) =>
      core.logger.warn("could not release a lock taken for a caller that gave up; it expires", {
        key,
        error,
      })
    );
    throw abortError(gaveUp, COMPONENT);
  }
  return {
    lock: new HeldLock(
      core,
      key,
      lockKey,
      token,
      options.ttlMs,
      sentAt,
      options.autoExtend ?? false,
    ),
  };
}

/** {@link Cache.tryLock}. */
export async function tryLock(
  core: CacheCore,
  key: string,
  options: TryLockOptions,
): Promise<Lock | undefined> {
  checkLockOptions(options, "tryLock");
  const lockKey = core.keys.companion(core.keys.full(key), ":lock");
  return (await attempt(core, key, lockKey, randomToken(), options)).lock;
}

/** {@link Cache.lock}. */
export async function lock(core: CacheCore, key: string, options: LockOptions): Promise<Lock> {
  checkLockOptions(options, "lock");
  const lockKey = core.keys.companion(core.keys.full(key), ":lock");
  const token = randomToken();
  // Disposed when the acquire ends: neither the timer nor a listener on the caller's
  // signal outlives it (a lock per request would hold them for the whole timeout). The
  // wait also ends, Closed, as the cache begins to close.
  using scope = scopedSignal({
    signals: options.signal === undefined ? [core.closing] : [options.signal, core.closing],
    timeoutMs: options.timeoutMs === undefined
      ? undefined
      : checkDurationMs(options.timeoutMs, "timeoutMs", 1),
    component: COMPONENT,
  });
  const signal = scope.signal;
  let waiter: KeyWaiter | undefined;
  let backoffMs = 10;
  try {
    for (;;) {
      if (signal.aborted) throw abortError(signal, COMPONENT);
      const result = await attempt(core, key, lockKey, token, { ...options, signal });
      if (result.lock) return result.lock;
      if (!waiter) {
        // Register for the release event, then try again before waiting (no lost wake-up).
        core.checkOpen();
        waiter = await core.events.register(lockKey);
        continue;
      }
      const remaining = result.remainingMs! > 0 ? result.remainingMs! + 1 : backoffMs;
      await waiter.wait(Math.min(backoffMs, remaining), signal);
      backoffMs = Math.min(backoffMs * 2, 1_000);
    }
  } finally {
    waiter?.dispose();
  }
}
