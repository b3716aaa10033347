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

/** Options of {@link runWatch}. */
export interface RunWatchOptions {
  /** The transport. */
  transport: Transport;
  /** What to watch. */
  range: KeyRange;
  /** The starting point. */
  start: WatchStart;
  /** Receives each batch, in order; the next batch waits until it settles. */
  onChanges(changes: WatchChange[]): void | Promise<void>;
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

/**
 * Runs a watch until `signal` fires or a permanent error occurs.
 *
 * @param options See {@link RunWatchOptions}.
 * @returns Resolves when stopped by the signal or because the transport closed; rejects
 * with a permanent error (e.g. `PermissionDenied`) or, as soon as it happens, with the error
 * of a failed `onChanges` (nothing more is delivered after it).
 */
export async function runWatch(options: RunWatchOptions): Promise<void> {
  const { transport, range, signal, logger, what } = options;
  const known = new Map(options.start.known);
  let baseline = options.start.known !== undefined;
  let next = options.start.revision + 1;
  let attempt = 0;
  let outage = false;
  let queue: Promise<void> = Promise.resolve();
  let deliveryError: unknown;
  // Ends the current subscription at once when a delivery fails.
  let interrupt = () => {};

  const deliverFrom = options.start.deliverFrom ?? 0;
  const deliver = (all: WatchChange[]) => {
    if (deliveryError !== undefined) return;
    for (const change of all) {
      if (change.type === "put") known.set(change.kv.key, change.kv.modRevision);
      else if (change.type === "delete") known.delete(change.kv.key);
      else known.clear();
    }
    const changes = all.filter((change) => change.kv.modRevision >= deliverFrom);
    if (changes.length === 0) return;
    queue = queue.then(() => {
      if (deliveryError === undefined) return options.onChanges(changes);
    }).catch((error) => {
      deliveryError ??= error;
      interrupt();
    });
  };

  while (!signal.aborted) {
    const end = await new Promise<WatchEnd | undefined>((resolve) => {
      const onAbort = () => {
        signal.removeEventListener("abort", onAbort);
        subscription.cancel();
        resolve(undefined);
      };
      interrupt = onAbort;
      const subscription = transport.watch(range, next, {
        onEvents(events) {
          if (signal.aborted) return;
          attempt = 0;
          if (outage) {
            outage = false;
            logger.info("watch resumed", { what, fromRevision: events[0].kv.modRevision });
          }
          next = events[events.length - 1].kv.modRevision + 1;
          deliver(events.map((event) => ({ ...event, reloaded: false })));
        },
        onEnd(end) {
          signal.removeEventListener("abort", onAbort);
          resolve(end);
        },
      });
      signal.addEventListener("abort", onAbort, { once: true });
    });
    await queue;
    if (deliveryError !== undefined) throw deliveryError;
    if (end === undefined || signal.aborted) return;

    if (end.reason === "compacted") {
      logger.warn("watch history was compacted; re-reading", {
        what,
        fromRevision: next,
        compactRevision: end.compactRevision,
      });
      const fresh = await reread(options, baseline ? known : undefined, () => attempt++);
      if (fresh === undefined) return;
      baseline = true;
      next = fresh.revision + 1;
      if (fresh.changes.length > 0) deliver(fresh.changes);
      await queue;
      if (deliveryError !== undefined) throw deliveryError;
      continue;
    }

    const error = end.error;
    if (InfraError.is(error, "Closed")) return;
    if (!isTransient(error)) throw error;
    if (!outage) {
      outage = true;
      logger.warn("watch interrupted; resuming", { what, fromRevision: next, error });
    } else {
      logger.debug("watch still interrupted", { what, error });
    }
    try {
      await delay(pause(++attempt), { signal });
    } catch {
      return;
    }
  }
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
