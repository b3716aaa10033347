/**
 * The distributed lock with etcd `Mutex` semantics: a FIFO queue under `/locks/{name}/`
 * (see `queue.ts`), on the client's shared session of the requested TTL or on the caller's
 * session, so taking a lock costs one transaction and releasing it one delete (no lease per
 * acquisition).
 *
 * Internal: the public face is {@link Lock} (`coord.lock`, `tryLock`, `withLock`).
 *
 * @module
 */

import { InfraError, scopedSignal } from "../base/mod.ts";
import type { CoordContext } from "./context.ts";
import { checkSegment, LOCKS_ROOT } from "./keys.ts";
import { Ownership, removeLeasedKey } from "./ownership.ts";
import { joinQueue, queueKey, waitForTurn } from "./queue.ts";
import type { Lock, LockOptions, SignalOptions } from "./types.ts";

class HeldLock implements Lock {
  readonly name: string;
  readonly #ownership: Ownership;

  constructor(name: string, ownership: Ownership) {
    this.name = name;
    this.#ownership = ownership;
  }

  get key(): string {
    return this.#ownership.key;
  }

  get fencingToken(): number {
    return this.#ownership.fencingToken;
  }

  get signal(): AbortSignal {
    return this.#ownership.signal;
  }

  isOwner(options?: SignalOptions): Promise<boolean> {
    return this.#ownership.isOwner(options);
  }

  release(): Promise<void> {
    return this.#ownership.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

/**
 * Joins the queue of lock `name` and waits for its turn (or, for a try-lock, gives up at
 * once when someone is ahead).
 *
 * @param context The client context.
 * @param name The lock name.
 * @param options TTL and signal.
 * @param wait Whether to wait for the turn.
 * @returns The held lock, or undefined for a try-lock that found the lock taken.
 */
export async function acquireLock(
  context: CoordContext,
  name: string,
  options: LockOptions = {},
  wait = true,
): Promise<Lock | undefined> {
  checkSegment(name, "name");
  const binding = context.bindSession(options, `lock ${name}`);
  const prefix = `${LOCKS_ROOT}/${name}/`;
  return await context.opening(`lock ${name}`, async (closing) => {
    using scope = scopedSignal({ signals: [options.signal, closing], component: "coord" });
    const signal = scope.signal;
    return await context.withSession(binding, signal, async (session) => {
      const key = queueKey(prefix, session);
      try {
        const entry = await joinQueue(context, session, prefix, key, "", signal);
        if (!entry.owner) {
          if (!wait) {
            await removeLeasedKey(context, session, key);
            return undefined;
          }
          await waitForTurn(context, session, prefix, entry, signal);
        }
        const ownership = new Ownership(context, session, key, entry.revision, `lock ${name}`);
        return new HeldLock(name, ownership);
      } catch (error) {
        // Never leave a key behind: it would block the queue while the shared session lives.
        await removeLeasedKey(context, session, key);
        throw error;
      }
    }, `lock ${name}`);
  }, async (lock) => await lock?.release());
}

/**
 * `withLock`: acquire, run, release (also when `fn` throws).
 *
 * @param context The client context.
 * @param name The lock name.
 * @param fn The critical section.
 * @param options TTL and signal.
 * @returns What `fn` returned.
 */
export async function withLock<R>(
  context: CoordContext,
  name: string,
  fn: (lock: Lock) => Promise<R> | R,
  options: LockOptions = {},
): Promise<R> {
  if (typeof fn !== "function") {
    throw new InfraError("InvalidArgument", "withLock needs a function", {
      component: "coord",
      details: { field: "fn" },
    });
  }
  const lock = (await acquireLock(context, name, options))!;
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
