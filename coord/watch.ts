/**
 * The resilient watch every coord stream is built on (go-zero's discov pattern): start from
 * a known revision, watch from the next one, and
 *
 * - after a connection failure or an etcd restart, resubscribe from the revision after the
 *   last event delivered, so no update is missed and none is repeated;
 * - after a compaction (the history it needs is gone), read the range afresh and deliver,
 *   per key, only what differs from the state it had delivered: a `put` for each key that
 *   is new or has another mod revision, a `delete` (at the read's revision) for each key
 *   that disappeared. Those events are marked `reloaded`. A watch that never knew the state
 *   it started from (that history was compacted before it could read it) cannot tell what
 *   disappeared: it delivers a `reset`, then a `put` for every key.
 *
 * Retries use jittered exponential backoff (50 ms to 1 s); trouble is logged once per
 * outage, not once per attempt (etcd3 reports every reconnect attempt).
 *
 * Flow control: a consumer slower than etcd never makes the watch hold more than its bound
 * (`bufferSize` changes, counting the consumer's own queue). When a batch does not fit, the
 * watch takes in the whole revisions that do, cancels its subscription, and once the
 * consumer has caught up to half the bound resubscribes from the first revision it did not
 * take, the same way it resumes after a lost connection; etcd keeps the history meanwhile.
 * When that history is compacted before the watch resumes, it re-reads as above.
 *
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

import { backoffCap, delay, InfraError, isTransient } from "../base/mod.ts";
import type { Logger } from "../clog/mod.ts";
import type { KeyRange, KeyValue, Transport, WatchEnd } from "./transport.ts";

/** A change delivered by {@link runWatch}. */
export interface WatchChange {
  /**
   * `put` and `delete` as in a transport event. `reset` (only for a start without a
   * baseline): the watch re-read the range after a compaction without knowing what existed
   * before, so it cannot say what was deleted: forget every key in range; the reloaded puts
   * after it in the same batch are all the keys there are.
   */
  type: "put" | "delete" | "reset";
  /** The key after the change; for a reset, the watched key and the re-read's revision. */
  kv: KeyValue;
  /** Synthesized from a re-read after compaction. */
  reloaded: boolean;
}

/** Where a watch starts: the revision it has seen up to, and the keys it knows. */
export interface WatchStart {
  /** The revision the known state is from; events start at `revision + 1`. */
  revision: number;
  /**
   * The keys in range at `revision`, with their mod revisions; undefined when that state
   * could not be read (its history was compacted).
   */
  known: Map<string, number> | undefined;
  /**
   * Deliver only changes at this revision or later; earlier ones just keep the known state
   * (for a `fromRevision` beyond the current revision, which etcd accepts).
   */
  deliverFrom?: number;
}

/**
 * How many changes a watch holds for a consumer that has not taken them yet, by default,
 * before it pauses its subscription (see {@link RunWatchOptions.bufferSize}).
 */
export const DEFAULT_WATCH_BUFFER = 1_000;

/**
 * Wakes whoever waits on it: how a consumer tells a paused watch that it has taken some of
 * what the watch holds.
 */
export class Wakeup {
  readonly #waiters = new Set<() => void>();

  /** Resolves every pending {@link Wakeup.wait}. */
  wake(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) waiter();
  }

  /**
   * Waits for the next {@link Wakeup.wake}.
   *
   * @param signal Resolves the wait early when it fires.
   * @returns Resolves on the next wake (or the abort).
   */
  wait(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        this.#waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.#waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}

/**
 * What a consumer with a queue of its own (a ReadableStream's) tells {@link runWatch}, so
 * that the bound covers that queue too.
 */
export interface WatchBacklog {
  /** Changes handed to the consumer that it has not consumed yet. */
  held(): number;
  /** Woken by the consumer each time it consumed some. */
  readonly wakeup: Wakeup;
}

/**
 * Counters of a watch's flow control: what it held at most and how often it paused. Kept by
 * {@link runWatch} when given; tests read them through `watchFlow` (`watch_stream.ts`).
 */
export interface WatchFlow {
  /**
   * The most changes held at once, measured after each batch taken in: those waiting for
   * `onChanges` plus the consumer's backlog (for a stream, what its queue holds, read off
   * the controller's `desiredSize`).
   */
  peak: number;
  /** How many times the subscription was paused (cancelled) because the buffer was full. */
  pauses: number;
}

/** Options of {@link runWatch}. */
export interface RunWatchOptions {
  /** The transport. */
  transport: Transport;
  /** What to watch. */
  range: KeyRange;
  /** The starting point. */
  start: WatchStart;
  /**
   * Receives the changes, in order. It is not called again before what it returns settles;
   * changes that arrive meanwhile wait, and are handed over together in the next call (so a
   * slow consumer gets fewer, larger batches).
   */
  onChanges(changes: WatchChange[]): void | Promise<void>;
  /**
   * The most changes held for the consumer: those waiting for `onChanges` plus the
   * `backlog`. A batch from the transport that does not fit is cut between two revisions
   * (a revision is never split: one larger than the bound is taken alone, once nothing is
   * held); the subscription is then cancelled, and resumed from the first revision not
   * taken once the consumer has brought what is held down to half the bound (or as far as
   * that revision needs to fit: to nothing for one larger than the bound). Changes
   * re-read after a compaction are taken all at once (at most one per key in range).
   * Default {@link DEFAULT_WATCH_BUFFER}.
   */
  bufferSize?: number;
  /** The consumer's own queue, counted against `bufferSize`. */
  backlog?: WatchBacklog;
  /** Updated in place with the flow control's counters. */
  flow?: WatchFlow;
  /** Stops the watch. */
  signal: AbortSignal;
  /** For outage and recovery messages. */
  logger: Logger;
  /** What is watched, for logs. */
  what: string;
}

/**
 * Reads the keys of `range` and returns them as a watch start.
 *
 * @param transport The transport.
 * @param range What to read.
 * @param options A signal and an optional past revision.
 * @returns The start and the entries read.
 */
export async function readStart(
  transport: Transport,
  range: KeyRange,
  options: { signal?: AbortSignal; revision?: number } = {},
): Promise<{ start: WatchStart; kvs: KeyValue[] }> {
  const result = await transport.range(
    { ...range, ...(options.revision !== undefined ? { revision: options.revision } : {}) },
    { signal: options.signal },
  );
  const known = new Map(result.kvs.map((kv) => [kv.key, kv.modRevision]));
  return {
    start: { revision: options.revision ?? result.revision, known },
    kvs: result.kvs,
  };
}

/** Why one subscription ended: by itself, stopped (signal or failed delivery), or paused. */
type SubscriptionEnd = WatchEnd | "stopped" | "paused";

/**
 * Runs a watch until `signal` fires or a permanent error occurs. Memory stays bounded by
 * `bufferSize` however slowly the consumer takes the changes: see
 * {@link RunWatchOptions.bufferSize}. A pause and its resume lose and repeat nothing: the
 * watch resumes from the revision after the last one it took in, as after a lost
 * connection, and a compaction of that revision meanwhile is handled as any compaction
 * (the re-read of the module doc).
 *
 * @param options See {@link RunWatchOptions}.
 * @returns Resolves when stopped by the signal or because the transport closed; rejects
 * with a permanent error (e.g. `PermissionDenied`) or, as soon as it happens, with the error
 * of a failed `onChanges` (nothing more is delivered after it).
 */
export async function runWatch(options: RunWatchOptions): Promise<void> {
  const { transport, range, signal, logger, what } = options;
  const bufferSize = options.bufferSize ?? DEFAULT_WATCH_BUFFER;
  const backlog = options.backlog;
  const wakeup = backlog?.wakeup ?? new Wakeup();
  const flow = options.flow ?? { peak: 0, pauses: 0 };
  const known = new Map(options.start.known);
  let baseline = options.start.known !== undefined;
  let next = options.start.revision + 1;
  let attempt = 0;
  let outage = false;
  let deliveryError: unknown;
  // Ends the current subscription at once when a delivery fails.
  let interrupt = () => {};

  /** Taken in, not yet handed to onChanges. */
  const pending: WatchChange[] = [];
  const held = () => pending.length + (backlog?.held() ?? 0);
  let delivering = false;
  let delivered: Promise<void> = Promise.resolve();
  /** The size of the revision that did not fit when the watch last paused. */
  let cutSize = 0;

  /** Hands what is pending to onChanges, batch after batch, one call at a time. */
  const flush = () => {
    if (delivering || deliveryError !== undefined) return;
    delivering = true;
    delivered = (async () => {
      try {
        while (pending.length > 0 && deliveryError === undefined && !signal.aborted) {
          const batch = pending.splice(0);
          wakeup.wake();
          try {
            await options.onChanges(batch);
          } catch (error) {
            deliveryError ??= error;
            interrupt();
          }
          wakeup.wake();
        }
      } finally {
        // In the same turn as the last check of `pending`: nothing taken in is left behind.
        delivering = false;
      }
    })();
  };
  /** Until every change taken in was handed over (or the watch stopped). */
  const settled = async () => {
    while (delivering) await delivered;
  };
  /**
   * Until what is held is down to half the bound, and low enough for a revision of `size`
   * changes to fit, or to nothing for one larger than that (or until the watch stopped).
   */
  const room = async (size = 0) => {
    const low = Math.max(0, Math.min(Math.floor(bufferSize / 2), bufferSize - size));
    while (held() > low && !signal.aborted && deliveryError === undefined) {
      await wakeup.wait(signal);
    }
  };

  const deliverFrom = options.start.deliverFrom ?? 0;
  /** Takes changes in: the known state follows them, and they wait for onChanges. */
  const take = (all: WatchChange[]) => {
    for (const change of all) {
      if (change.type === "put") known.set(change.kv.key, change.kv.modRevision);
      else if (change.type === "delete") known.delete(change.kv.key);
      else known.clear();
      if (change.kv.modRevision >= deliverFrom) pending.push(change);
    }
    flow.peak = Math.max(flow.peak, held());
  };
  /**
   * Takes in the whole revisions of a transport batch that fit in the buffer.
   *
   * @returns The first revision that did not fit and its size, or undefined when all did.
   */
  const takeFitting = (
    changes: WatchChange[],
  ): { revision: number; size: number } | undefined => {
    for (let i = 0; i < changes.length;) {
      const revision = changes[i].kv.modRevision;
      let end = i;
      while (end < changes.length && changes[end].kv.modRevision === revision) end++;
      const group = changes.slice(i, end);
      const now = held();
      const size = revision >= deliverFrom ? group.length : 0;
      if (now > 0 && now + size > bufferSize) return { revision, size };
      take(group);
      i = end;
    }
    return undefined;
  };

  while (!signal.aborted && deliveryError === undefined) {
    const end = await new Promise<SubscriptionEnd>((resolve) => {
      let live = true;
      const finish = (why: SubscriptionEnd) => {
        live = false;
        interrupt = () => {};
        signal.removeEventListener("abort", onAbort);
        resolve(why);
      };
      const onAbort = () => {
        subscription.cancel();
        finish("stopped");
      };
      interrupt = onAbort;
      const subscription = transport.watch(range, next, {
        onEvents(events) {
          if (!live || signal.aborted) return;
          attempt = 0;
          if (outage) {
            outage = false;
            logger.info("watch resumed", { what, fromRevision: events[0].kv.modRevision });
          }
          const cut = takeFitting(events.map((event) => ({ ...event, reloaded: false })));
          next = cut?.revision ?? events[events.length - 1].kv.modRevision + 1;
          cutSize = cut?.size ?? 0;
          flush();
          if (cut !== undefined) {
            // The consumer is behind: stop the server sending what there is no room for.
            subscription.cancel();
            finish("paused");
          }
        },
        onEnd(end) {
          if (live) finish(end);
        },
      });
      signal.addEventListener("abort", onAbort, { once: true });
    });
    if (end === "paused" && deliveryError === undefined) {
      flow.pauses++;
      logger.debug("watch paused: the consumer is behind", { what, held: held(), next });
      await room(cutSize);
      if (!signal.aborted && deliveryError === undefined) {
        logger.debug("watch resuming", { what, fromRevision: next });
      }
    }
    if (deliveryError !== undefined || end === "stopped" || signal.aborted) {
      await settled();
      if (deliveryError !== undefined) throw deliveryError;
      return;
    }
    if (end === "paused") continue;

    if (end.reason === "compacted") {
      logger.warn("watch history was compacted; re-reading", {
        what,
        fromRevision: next,
        compactRevision: end.compactRevision,
      });
      const fresh = await reread(options, baseline ? known : undefined, () => attempt++);
      if (fresh === undefined) {
        await settled();
        return;
      }
      baseline = true;
      next = fresh.revision + 1;
      take(fresh.changes);
      flush();
      await room();
      continue;
    }

    const error = end.error;
    if (InfraError.is(error, "Closed")) {
      await settled();
      return;
    }
    if (!isTransient(error)) {
      await settled();
      if (deliveryError !== undefined) throw deliveryError;
      throw error;
    }
    if (!outage) {
      outage = true;
      logger.warn("watch interrupted; resuming", { what, fromRevision: next, error });
    } else {
      logger.debug("watch still interrupted", { what, error });
    }
    try {
      await delay(pause(++attempt), { signal });
    } catch {
      await settled();
      return;
    }
  }
  await settled();
  if (deliveryError !== undefined) throw deliveryError;
}

function pause(attempt: number): number {
  return Math.floor(Math.random() * backoffCap(attempt, { initialDelayMs: 50, maxDelayMs: 1_000 }));
}

function marker(key: string, revision: number): KeyValue {
  return { key, value: "", createRevision: 0, modRevision: revision, version: 0, lease: "0" };
}

/**
 * The re-read after a compaction, retried until it works or the watch stops. Without a
 * baseline (`known` undefined) it reports a reset and every key.
 */
async function reread(
  options: RunWatchOptions,
  known: Map<string, number> | undefined,
  nextAttempt: () => number,
): Promise<{ revision: number; changes: WatchChange[] } | undefined> {
  const { transport, range, signal } = options;
  for (;;) {
    if (signal.aborted) return undefined;
    try {
      const result = await transport.range(range, { signal });
      const changes: WatchChange[] = known === undefined
        ? [{ type: "reset", kv: marker(range.key, result.revision), reloaded: true }]
        : [];
      const present = new Set<string>();
      for (const kv of result.kvs) {
        present.add(kv.key);
        if (known?.get(kv.key) !== kv.modRevision) {
          changes.push({ type: "put", kv, reloaded: true });
        }
      }
      for (const key of known?.keys() ?? []) {
        if (present.has(key)) continue;
        changes.push({ type: "delete", kv: marker(key, result.revision), reloaded: true });
      }
      return { revision: result.revision, changes };
    } catch (error) {
      if (InfraError.is(error, "Closed", "Aborted")) return undefined;
      if (!isTransient(error)) throw error;
      try {
        await delay(pause(nextAttempt() + 1), { signal });
      } catch {
        return undefined;
      }
    }
  }
}
