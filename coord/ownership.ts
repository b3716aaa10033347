/**
 * Holding the head of a queue (a lock or a leadership): the signal that fires when it ends,
 * the ownership check, and the release.
 *
 * The signal follows the session (lease lost: fires at the session's local deadline). Only
 * when someone reads `signal` does the holder also watch its own key, to notice an operator
 * deleting it or writing it under another lease: a lock that nobody watches costs no watch
 * stream.
 *
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

import { anySignal, closeOnce, InfraError, retry } from "../base/mod.ts";
import { coordOptions } from "./keys.ts";
import type { CoordContext } from "./context.ts";
import type { Session } from "./session.ts";
import type { CallOptions, Compare } from "./transport.ts";
import { runWatch } from "./watch.ts";
import type { SignalOptions } from "./types.ts";

const COMPONENT = "coord";

/**
 * Deletes a key (a queue key, a registration, an id) if it is still attached to
 * `session`'s lease (never a key someone else has put since), retrying for a while; when
 * etcd stays unreachable, keeps trying in the background while the session lives (a key
 * left behind would block its queue, or stay registered, for as long as a shared session
 * lives). Nothing to do once the session is gone: its lease takes the key along.
 *
 * One session may hold several keys that others of its holders could put again (a caller's
 * session shared by several instance ids): `guard` narrows the delete to the key as this
 * holder put it, by its create revision or its value.
 *
 * @param context The client context.
 * @param session The session holding the key.
 * @param key The key.
 * @param guard Deletes only while the key has this create revision, or this value.
 */
export async function removeLeasedKey(
  context: CoordContext,
  session: Session,
  key: string,
  guard?: { createRevision: number } | { value: string },
): Promise<void> {
  if (!session.alive) return;
  const compare: Compare[] = [{ key, target: "lease", result: "==", value: session.id }];
  if (guard !== undefined) {
    compare.push(
      "value" in guard
        ? { key, target: "value", result: "==", value: guard.value }
        : { key, target: "create", result: "==", value: guard.createRevision },
    );
  }
  const attempt = (call: CallOptions) =>
    context.transport.txn({
      compare,
      success: [{ type: "delete", key }],
      failure: [],
    }, call);
  try {
    await context.retrying(attempt, session.signal);
  } catch (error) {
    if (!session.alive) return;
    context.logger.warn("could not delete a queue key; retrying in the background", {
      key,
      error,
    });
    void retry((_attempt, call) => attempt(call), {
      maxAttempts: Infinity,
      deadlineMs: Number.MAX_SAFE_INTEGER,
      initialDelayMs: 200,
      maxDelayMs: 5_000,
      signal: session.signal,
    }).catch(() => {});
  }
}

/** See the module doc. */
export class Ownership {
  /** The queue key. */
  readonly key: string;
  /** Its create revision. */
  readonly fencingToken: number;
  readonly #context: CoordContext;
  readonly #session: Session;
  readonly #ended = new AbortController();
  readonly #onSessionLost: () => void;
  readonly #untrack: () => void;
  #watching: AbortController | undefined;
  readonly #what: string;
  readonly #heldSince: number;

  /**
   * Takes ownership of a queue head.
   *
   * @param context The client context.
   * @param session The session.
   * @param key The queue key.
   * @param fencingToken Its create revision.
   * @param what For messages, e.g. `lock orders`.
   * @param heldSince The revision from which the key is under `session`'s lease (default
   * `fencingToken`; later when the key was moved over from another lease of the holder).
   */
  constructor(
    context: CoordContext,
    session: Session,
    key: string,
    fencingToken: number,
    what: string,
    heldSince: number = fencingToken,
  ) {
    this.#context = context;
    this.#session = session;
    this.key = key;
    this.fencingToken = fencingToken;
    this.#what = what;
    this.#heldSince = heldSince;
    this.#untrack = context.track({ close: () => this.release(), abandon: () => this.#stop() });
    this.#onSessionLost = () => {
      const reason = session.signal.reason;
      // A caller's session closed by the caller releases what is bound to it.
      const error = InfraError.is(reason, "Closed")
        ? new InfraError("Closed", `${what} released: its session was closed`, {
          component: COMPONENT,
          cause: reason,
        })
        : new InfraError("LockLost", `${what} lost: its lease was lost`, {
          component: COMPONENT,
          cause: reason,
        });
      // The listener is gone already (`once`): removing it again would search every
      // listener of a session that thousands of locks share, for each of them.
      this.#end(error, false);
    };
    if (session.signal.aborted) this.#onSessionLost();
    else session.signal.addEventListener("abort", this.#onSessionLost, { once: true });
  }

  /** The session behind it. */
  get session(): Session {
    return this.#session;
  }

  /** Fires when ownership ends. */
  get signal(): AbortSignal {
    this.#watchKey();
    return this.#ended.signal;
  }

  #end(reason: InfraError, listening = true): void {
    this.#watching?.abort();
    if (listening) this.#session.signal.removeEventListener("abort", this.#onSessionLost);
    // Over: nothing left for the client's close to release.
    this.#untrack();
    if (!this.#ended.signal.aborted) this.#ended.abort(reason);
  }

  #stop(): void {
    this.#end(new InfraError("Closed", `${this.#what} abandoned`, { component: COMPONENT }));
  }

  #watchKey(): void {
    if (this.#watching || this.#ended.signal.aborted) return;
    const watching = new AbortController();
    this.#watching = watching;
    runWatch({
      transport: this.#context.transport,
      range: { key: this.key },
      start: { revision: this.#heldSince, known: new Map([[this.key, this.#heldSince]]) },
      signal: anySignal(watching.signal, this.#ended.signal),
      logger: this.#context.logger,
      what: this.#what,
      onChanges: (changes) => {
        const lease = BigInt(this.#session.id);
        for (const change of changes) {
          const why = change.type === "delete"
            ? "its key was deleted"
            : change.type === "put" && BigInt(change.kv.lease) !== lease
            ? "its key was overwritten under another lease"
            : undefined;
          if (why === undefined) continue;
          this.#end(
            new InfraError("LockLost", `${this.#what} lost: ${why}`, { component: COMPONENT }),
          );
          return;
        }
      },
    }).catch((error) => {
      // A permanent failure (no read permission on the key, say): the lease is still
      // followed, but a deletion by someone else would now go unnoticed; say so.
      if (this.#ended.signal.aborted) return;
      this.#context.logger.warn(
        "cannot watch the key of what is held; its deletion would go unnoticed (the lease is still followed)",
        { what: this.#what, key: this.key, error },
      );
    });
  }

  /**
   * Asks etcd whether the key still exists with this fencing token, under this session's
   * lease, and whether ownership is still held when the answer comes back.
   *
   * @param options An optional signal.
   * @returns True while held.
   */
  async isOwner(options?: SignalOptions): Promise<boolean> {
    options = coordOptions(options, "isOwner");
    if (this.#ended.signal.aborted) return false;
    const result = await this.#context.retrying(
      (call) => this.#context.transport.range({ key: this.key, keysOnly: true }, call),
      options.signal,
    );
    const kv = result.kvs[0];
    // A put by someone else keeps the create revision: only the lease tells it apart. And
    // an answer that arrives after the session's local deadline (or after ownership ended
    // otherwise) says nothing any more: etcd may expire the lease any moment now.
    return kv?.createRevision === this.fencingToken &&
      BigInt(kv.lease) === BigInt(this.#session.id) &&
      !this.#ended.signal.aborted && this.#session.alive;
  }

  /** Ends ownership and deletes the key (the next in line takes over). Idempotent. */
  release: () => Promise<void> = closeOnce(async () => {
    this.#untrack();
    this.#end(new InfraError("Closed", `${this.#what} released`, { component: COMPONENT }));
    // Only the key as it was taken: a key put again since, by another holder on the same
    // session, is theirs.
    await removeLeasedKey(this.#context, this.#session, this.key, {
      createRevision: this.fencingToken,
    });
  });
}
