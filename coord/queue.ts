/**
 * The revision-ordered queue behind locks and elections, as in etcd's Go `concurrency`
 * package: each contender puts a key `{prefix}{leaseHex}_{n}` under its session lease; the
 * owner is the key with the lowest create revision; a waiter watches only the key just
 * before its own (the highest create revision below its own) and re-checks when that one
 * is deleted. So waiters are served in arrival order and a release wakes exactly one of
 * them (no thundering herd). The owner's create revision is its fencing token.
 *
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

import {
  abortable,
  backoffCap,
  delay,
  InfraError,
  isTransient,
  scopedSignal,
} from "../base/mod.ts";
import type { CoordContext } from "./context.ts";
import { removeLeasedKey } from "./ownership.ts";
import type { Session } from "./session.ts";
import type { KeyValue, TxnResult } from "./transport.ts";

const COMPONENT = "coord";
let sequence = 0;

/**
 * A fresh contender key in a queue: `{prefix}{leaseHex}_{n}`, unique per call (per attempt
 * to join): one session can wait for the same lock from several places at once, and the
 * late clean-up of an abandoned join (see {@link joinQueue}) can only ever delete the key of
 * that join, never one of a later attempt.
 *
 * @param prefix The queue prefix, ending with `/`.
 * @param session The session whose lease will hold it.
 * @returns The key.
 */
export function queueKey(prefix: string, session: Session): string {
  return `${prefix}${session.hex}_${(++sequence).toString(36)}`;
}

/** A contender's place in a queue. */
export interface QueueEntry {
  /** The contender's key. */
  key: string;
  /** Its create revision (the fencing token once it owns the queue). */
  revision: number;
  /** Whether it owned the queue right after joining. */
  owner: boolean;
}

/**
 * Joins a queue: `If(CreateRevision(myKey) == 0) Then(Put(myKey), Get(first)) Else(Get(myKey),
 * Get(first))`. Safe to retry (a retry finds the key it already put).
 *
 * A join given up in flight (its signal fired, its deadline passed) may still land: the
 * transport stops waiting but cannot take back a request already on its way (etcd3 cannot
 * cancel a unary call, and one cancelled on the wire may still be applied). Its key would
 * then sit in the queue under the shared session, blocking the lock for every process while
 * the session lives. So each put is sent without the attempt's signal and its real outcome
 * is kept: when the join fails, the key is deleted once every put sent has settled (as
 * well as by the caller at once).
 *
 * @param context The client context.
 * @param session The session whose lease holds the key.
 * @param prefix The queue prefix, ending with `/`.
 * @param key The contender's key, from {@link queueKey}.
 * @param value The key's value.
 * @param signal Gives up.
 * @returns The entry.
 */
export async function joinQueue(
  context: CoordContext,
  session: Session,
  prefix: string,
  key: string,
  value: string,
  signal?: AbortSignal,
): Promise<QueueEntry> {
  const first = {
    type: "range" as const,
    request: {
      key: prefix,
      prefix: true,
      sort: { target: "create", order: "ascend" },
      limit: 1,
      keysOnly: true,
    } as const,
  };
  // Scoped, not AbortSignal.any: the shared session outlives any number of joins.
  using scope = scopedSignal({ signals: [signal, session.signal], component: COMPONENT });
  const sent: Promise<unknown>[] = [];
  let result: TxnResult;
  try {
    result = await context.retrying((call) => {
      const put = context.transport.txn({
        compare: [{ key, target: "create", result: "==", value: 0 }],
        success: [{ type: "put", key, value, lease: session.id }, first],
        failure: [{ type: "range", request: { key } }, first],
      });
      sent.push(put);
      return abortable(put, call.signal, COMPONENT);
    }, scope.signal);
  } catch (error) {
    // Idempotent (only a key still under this session's lease goes), and the key is this
    // join's own: a late put that lands after the caller's clean-up goes again here.
    void Promise.allSettled(sent).then(() => removeLeasedKey(context, session, key));
    throw error;
  }
  let revision = result.revision;
  if (!result.succeeded) {
    const mine = result.results[0];
    const kv = mine.type === "range" ? mine.result.kvs[0] : undefined;
    if (!kv) throw lost(key, session);
    revision = kv.createRevision;
  }
  if (!session.alive) throw lost(key, session);
  const owner = result.results[1];
  const ownerKv = owner.type === "range" ? owner.result.kvs[0] : undefined;
  return { key, revision, owner: ownerKv?.createRevision === revision };
}

function lost(key: string, session: Session): InfraError {
  const reason = session.signal.reason;
  return new InfraError("LockLost", `${key} was lost while waiting`, {
    component: COMPONENT,
    cause: reason,
  });
}

/**
 * Waits until `entry` owns its queue: every key created before it is gone.
 *
 * @param context The client context.
 * @param session The entry's session.
 * @param prefix The queue prefix.
 * @param entry The entry.
 * @param signal Gives up waiting.
 * @throws {InfraError} `LockLost` when the session or the key is lost; `Aborted`/`Timeout`
 * from the signal.
 */
export async function waitForTurn(
  context: CoordContext,
  session: Session,
  prefix: string,
  entry: QueueEntry,
  signal?: AbortSignal,
): Promise<void> {
  using scope = scopedSignal({
    signals: [signal, session.signal, context.closed],
    component: COMPONENT,
  });
  const stop = scope.signal;
  for (let attempt = 1;; attempt++) {
    if (session.signal.aborted) throw lost(entry.key, session);
    if (stop.aborted) throw abortReason(stop);
    let predecessor: KeyValue | undefined;
    try {
      const result = await context.transport.txn({
        compare: [],
        success: [
          { type: "range", request: { key: entry.key, keysOnly: true } },
          {
            type: "range",
            request: {
              key: prefix,
              prefix: true,
              maxCreateRevision: entry.revision - 1,
              sort: { target: "create", order: "descend" },
              limit: 1,
              keysOnly: true,
            },
          },
        ],
        failure: [],
      }, { signal: stop });
      const [mine, before] = result.results;
      const myKv = mine.type === "range" ? mine.result.kvs[0] : undefined;
      if (!myKv || myKv.createRevision !== entry.revision) throw lost(entry.key, session);
      predecessor = before.type === "range" ? before.result.kvs[0] : undefined;
    } catch (error) {
      if (InfraError.is(error, "LockLost")) throw error;
      if (stop.aborted) throw session.signal.aborted ? lost(entry.key, session) : abortReason(stop);
      if (!isTransient(error)) throw error;
      await pause(attempt, stop, entry, session);
      continue;
    }
    if (!predecessor) {
      // Owner only while the session is: do not hand out a lock whose lease just went.
      if (!session.alive) throw lost(entry.key, session);
      return;
    }
    attempt = 0;
    if (!await waitForDelete(context, predecessor.key, predecessor.createRevision, stop)) {
      // The watch failed (etcd unreachable?): back off before checking again.
      await pause(1, stop, entry, session);
    }
  }
}

function abortReason(signal: AbortSignal): InfraError {
  const reason = signal.reason;
  if (reason instanceof InfraError) {
    return reason.code === "Closed" || reason.code === "Timeout" ? reason : new InfraError(
      "Aborted",
      "the wait was aborted",
      { component: COMPONENT, cause: reason },
    );
  }
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new InfraError("Timeout", "the wait timed out", { component: COMPONENT, cause: reason });
  }
  return new InfraError("Aborted", "the wait was aborted", { component: COMPONENT, cause: reason });
}

async function pause(attempt: number, stop: AbortSignal, entry: QueueEntry, session: Session) {
  try {
    await delay(
      Math.floor(Math.random() * backoffCap(attempt, { initialDelayMs: 50, maxDelayMs: 1_000 })),
      {
        signal: stop,
      },
    );
  } catch {
    throw session.signal.aborted ? lost(entry.key, session) : abortReason(stop);
  }
}

/**
 * Resolves true when `key` (with create revision `createRevision`) is gone (or `signal`
 * fires), false when the watch fails; the caller re-checks the queue either way.
 *
 * The watch starts from "now" rather than from the revision of the last read: etcd delivers
 * to a watch that starts in the past only after its next resync (up to 100 ms), which would
 * add that delay to every hand-over under contention. Re-reading the key once the watch is
 * registered closes the gap between the last read and the watch.
 */
function waitForDelete(
  context: CoordContext,
  key: string,
  createRevision: number,
  signal: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (deleted: boolean) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      void subscription.cancel();
      resolve(deleted);
    };
    const onAbort = () => done(true);
    const subscription = context.transport.watch({ key }, undefined, {
      onCreated() {
        context.transport.range({ key, keysOnly: true }, { signal }).then((result) => {
          if (result.kvs[0]?.createRevision !== createRevision) done(true);
        }, () => done(false));
      },
      onEvents(events) {
        if (events.some((event) => event.type === "delete")) done(true);
      },
      onEnd(end) {
        done(end.reason === "compacted");
      },
    });
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
}
