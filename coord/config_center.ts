/**
 * The config center: JSON values by key with revisions, compare-and-set, and watches that
 * survive restarts and compaction.
 *
 * Internal: the public face is {@link ConfigCenter} (`coord.kv`).
 *
 * @module
 */

import { decodeJson, describeValue, encodeJson, InfraError } from "../base/mod.ts";
import { checkKey, coordOptions } from "./keys.ts";
import { runTransaction } from "./transaction.ts";
import type { CoordContext } from "./context.ts";
import type {
  CallOptions,
  Compare,
  KeyRange,
  KeyValue,
  Operation,
  TxnResult,
} from "./transport.ts";
import { isCompacted, isFutureRevision } from "./transport.ts";
import { readStart, type WatchChange, type WatchStart } from "./watch.ts";
import { eventStream } from "./watch_stream.ts";
import type {
  ConfigCenter,
  ConfigEntry,
  ConfigEvent,
  ConfigList,
  ConfigTransaction,
  DeleteOptions,
  DeleteResult,
  Fence,
  InvalidEntry,
  ListOptions,
  SetOptions,
  SignalOptions,
  TransactionOptions,
  TransactionResult,
  WatchOptions,
} from "./types.ts";

const COMPONENT = "coord";

/**
 * Decodes a stored value: UTF-8 text that is JSON. Every reader of values (entries, watch
 * events, transactions, typed config, the registry) decodes through here, so a value that
 * is not text is refused everywhere alike instead of being read as the U+FFFD text it would
 * decode to (and then written back so, destroying it).
 *
 * @param kv The key-value.
 * @param what Names the value in the error.
 * @returns The value.
 * @throws {InfraError} `InvalidArgument` when the value is not UTF-8 text, or not JSON.
 */
export function decodeStored<T>(kv: KeyValue, what = `the value of ${kv.key}`): T {
  if (kv.bytes !== undefined) {
    throw new InfraError(
      "InvalidArgument",
      `${what} is not valid UTF-8: ${kv.bytes.length} bytes that are not text`,
      { component: COMPONENT, details: { key: kv.key } },
    );
  }
  return decodeJson<T>(kv.value, COMPONENT, what);
}

/**
 * Decodes a stored key-value.
 *
 * @param kv The key-value.
 * @returns The entry.
 * @throws {InfraError} `InvalidArgument` when the value is not UTF-8 text, or not JSON.
 */
export function toEntry<T>(kv: KeyValue): ConfigEntry<T> {
  return {
    key: kv.key,
    value: decodeStored<T>(kv),
    revision: kv.modRevision,
    createRevision: kv.createRevision,
    version: kv.version,
  };
}

/**
 * Decodes a stored key-value, or says why it cannot be decoded (for results that must
 * report such a key rather than throw: watch events, what a write replaced).
 *
 * @param kv The key-value.
 * @returns The entry, or the invalid entry.
 */
export function decodeEntry<T>(
  kv: KeyValue,
): { entry: ConfigEntry<T> } | { invalid: InvalidEntry } {
  try {
    return { entry: toEntry<T>(kv) };
  } catch (error) {
    return {
      invalid: {
        key: kv.key,
        text: kv.value,
        error: error as InfraError,
        revision: kv.modRevision,
        createRevision: kv.createRevision,
        version: kv.version,
      },
    };
  }
}

/**
 * The event of a watched change.
 *
 * @param change The change.
 * @returns The public event.
 */
export function toEvent<T>(change: WatchChange): ConfigEvent<T> {
  const { kv, reloaded } = change;
  if (change.type === "reset") {
    return { type: "reset", key: kv.key, revision: kv.modRevision, reloaded: true };
  }
  if (change.type === "delete") {
    return { type: "delete", key: kv.key, revision: kv.modRevision, reloaded };
  }
  const decoded = decodeEntry<T>(kv);
  if ("invalid" in decoded) {
    const { key, text, error, revision } = decoded.invalid;
    return { type: "invalid", key, text, error, revision, reloaded };
  }
  return { type: "put", ...decoded.entry, reloaded };
}

/**
 * The compare that holds while `fence` still owns its lock or leadership.
 *
 * @param fence The fence.
 * @returns The compare.
 */
export function fenceCompare(fence: Fence): Compare {
  return { key: fence.key, target: "create", result: "==", value: fence.fencingToken };
}

/**
 * The error of a guarded write whose guard no longer holds.
 *
 * @param fence The guard.
 * @returns The `LockLost` error.
 */
export function lockLost(fence: Fence): InfraError {
  return new InfraError("LockLost", `the guard ${fence.key} is no longer held`, {
    component: COMPONENT,
    details: { key: fence.key, fencingToken: fence.fencingToken },
  });
}

/**
 * Whether `guard` still held when a guarded transaction failed: its failure branch reads the
 * guard's key (`[{ type: "range", request: { key: guard.key, keysOnly: true } }]`).
 *
 * @param result The failed transaction.
 * @param guard The guard.
 * @returns True when the guard's key is still the one with its fencing token.
 */
export function guardHeld(result: TxnResult, guard: Fence): boolean {
  const read = result.results[0];
  return read?.type === "range" && read.result.kvs[0]?.createRevision === guard.fencingToken;
}

function checkRevision(value: unknown, field: string, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new InfraError(
      "InvalidArgument",
      `${field} must be an integer ≥ ${min}, got ${describeValue(value)}`,
      {
        component: COMPONENT,
        details: { field },
      },
    );
  }
  return value;
}

/**
 * Checks the `prefix` option: a boolean, or absent. Anything else would be taken as true by
 * its truthiness (`"false"` from a config file), and a delete would remove a whole subtree.
 */
function checkPrefix(prefix: unknown): boolean {
  if (prefix === undefined || typeof prefix === "boolean") return prefix === true;
  throw new InfraError("InvalidArgument", `prefix must be a boolean, got ${typeof prefix}`, {
    component: COMPONENT,
    details: { field: "prefix" },
  });
}

/**
 * Checks the `guard` option: a held {@link Fence} (a lock or leadership), or absent.
 *
 * @param guard The option.
 * @throws {InfraError} `InvalidArgument` for anything else.
 */
export function checkGuard(guard: unknown): void {
  if (guard === undefined) return;
  if (typeof guard !== "object" || guard === null) {
    throw new InfraError("InvalidArgument", "guard must be a held lock or leadership", {
      component: COMPONENT,
      details: { field: "guard" },
    });
  }
  const fence = guard as Partial<Fence>;
  checkKey(fence.key, "guard.key");
  checkRevision(fence.fencingToken, "guard.fencingToken", 1);
}

/**
 * Where a watch starts: now, or at `fromRevision` (reading the state just before it, when
 * that history is still there; for a revision not written yet, the state now, with the
 * changes before `fromRevision` kept back). Transient failures are retried until `signal`
 * fires.
 */
async function watchStart(
  context: CoordContext,
  range: KeyRange,
  fromRevision: number | undefined,
  signal: AbortSignal,
): Promise<WatchStart> {
  return await context.retryingForever(async (call) => {
    if (fromRevision === undefined) {
      return (await readStart(context.transport, range, call)).start;
    }
    if (fromRevision <= 1) return { revision: 0, known: new Map() };
    for (;;) {
      try {
        const before = fromRevision - 1;
        return (await readStart(context.transport, range, { ...call, revision: before })).start;
      } catch (error) {
        // The history before fromRevision is gone, and with it what the caller knew: at the
        // compaction the watch re-reads and reports a reset, then every current key.
        if (isCompacted(error)) return { revision: fromRevision - 1, known: undefined };
        if (!isFutureRevision(error)) throw error;
      }
      const now = await readStart(context.transport, range, call);
      // Still short of fromRevision - 1 (else read that revision after all: writes between
      // it and now would be in the known state, never delivered).
      if (now.start.revision < fromRevision - 1) return { ...now.start, deliverFrom: fromRevision };
    }
  }, signal);
}

/**
 * Builds the config center of a client.
 *
 * @param context The client context.
 * @returns The config center.
 */
export function createConfigCenter(context: CoordContext): ConfigCenter {
  const { transport } = context;

  const write = async (
    compares: Compare[],
    operation: Operation,
    options: SetOptions,
    onFailure: () => InfraError,
    call: CallOptions,
  ) => {
    const compare = options.guard ? [...compares, fenceCompare(options.guard)] : compares;
    const result = await transport.txn({ compare, success: [operation], failure: [] }, call);
    if (!result.succeeded) throw onFailure();
    return result;
  };

  return {
    async get<T>(key: string, options?: SignalOptions) {
      options = coordOptions(options, "kv.get");
      checkKey(key);
      context.ensureOpen();
      const result = await context.retrying(
        (call) => transport.range({ key }, call),
        options.signal,
      );
      return result.kvs.length === 0 ? undefined : toEntry<T>(result.kvs[0]);
    },

    async set(key: string, value: unknown, options?: SetOptions) {
      options = coordOptions(options, "kv.set");
      checkKey(key);
      checkGuard(options.guard);
      const text = encodeJson(value, COMPONENT);
      context.ensureOpen();
      const result = await context.retrying(
        (call) =>
          write(
            [],
            { type: "put", key, value: text },
            options,
            () => lockLost(options.guard!),
            call,
          ),
        options.signal,
      );
      return result.revision;
    },

    async getAndSet<T>(key: string, value: unknown, options?: SetOptions) {
      options = coordOptions(options, "kv.getAndSet");
      checkKey(key);
      checkGuard(options.guard);
      const text = encodeJson(value, COMPONENT);
      context.ensureOpen();
      // Not retried: a retry after a lost answer would return this call's own write.
      const result = await write(
        [],
        { type: "put", key, value: text, prevKv: true },
        options,
        () => lockLost(options.guard!),
        { signal: options.signal },
      );
      const put = result.results[0];
      const replaced = put?.type === "put" ? put.prevKv : undefined;
      if (!replaced) return { revision: result.revision, previous: undefined };
      const decoded = decodeEntry<T>(replaced);
      return "entry" in decoded
        ? { revision: result.revision, previous: decoded.entry }
        : { revision: result.revision, previous: undefined, invalid: decoded.invalid };
    },

    async compareAndSet(
      key: string,
      value: unknown,
      expectedRevision: number,
      options?: SetOptions,
    ) {
      options = coordOptions(options, "kv.compareAndSet");
      checkKey(key);
      checkRevision(expectedRevision, "expectedRevision", 0);
      checkGuard(options.guard);
      const text = encodeJson(value, COMPONENT);
      context.ensureOpen();
      const compare: Compare = { key, target: "mod", result: "==", value: expectedRevision };
      const guard = options.guard;
      // Not retried: a retry after a lost answer would report a false conflict.
      const result = await transport.txn({
        compare: guard ? [compare, fenceCompare(guard)] : [compare],
        success: [{ type: "put", key, value: text }],
        failure: guard ? [{ type: "range", request: { key: guard.key, keysOnly: true } }] : [],
      }, { signal: options.signal });
      if (!result.succeeded) {
        if (guard && !guardHeld(result, guard)) throw lockLost(guard);
        throw new InfraError(
          "Conflict",
          `${key} changed: expected revision ${expectedRevision}`,
          { component: COMPONENT, details: { key, expectedRevision } },
        );
      }
      return result.revision;
    },

    async delete(key: string, options?: DeleteOptions) {
      options = coordOptions(options, "kv.delete");
      checkKey(key);
      const prefix = checkPrefix(options.prefix);
      checkGuard(options.guard);
      context.ensureOpen();
      const result = await context.retrying(
        (call) =>
          write(
            [],
            { type: "delete", key, prefix },
            options,
            () => lockLost(options.guard!),
            call,
          ),
        options.signal,
      );
      const first = result.results[0];
      return first?.type === "delete" ? first.deleted : 0;
    },

    async getAndDelete<T>(key: string, options?: DeleteOptions): Promise<DeleteResult<T>> {
      options = coordOptions(options, "kv.getAndDelete");
      checkKey(key);
      const prefix = checkPrefix(options.prefix);
      checkGuard(options.guard);
      context.ensureOpen();
      // Not retried: a retry after a lost answer would find nothing left to delete.
      const result = await write(
        [],
        { type: "delete", key, prefix, prevKv: true },
        options,
        () => lockLost(options.guard!),
        { signal: options.signal },
      );
      const first = result.results[0];
      const outcome: DeleteResult<T> = { revision: result.revision, deleted: [], invalid: [] };
      for (const kv of (first?.type === "delete" ? first.prevKvs : undefined) ?? []) {
        const decoded = decodeEntry<T>(kv);
        if ("entry" in decoded) outcome.deleted.push(decoded.entry);
        else outcome.invalid.push(decoded.invalid);
      }
      return outcome;
    },

    async list<T>(prefix: string, options?: ListOptions): Promise<ConfigList<T>> {
      options = coordOptions(options, "kv.list");
      checkKey(prefix, "prefix");
      if (options.limit !== undefined) checkRevision(options.limit, "limit", 1);
      context.ensureOpen();
      const result = await context.retrying(
        (call) => transport.range({ key: prefix, prefix: true, limit: options.limit }, call),
        options.signal,
      );
      return { entries: result.kvs.map((kv) => toEntry<T>(kv)), revision: result.revision };
    },

    transaction<R>(
      fn: (tx: ConfigTransaction) => Promise<R> | R,
      options?: TransactionOptions,
    ): Promise<TransactionResult<R>> {
      return runTransaction(context, fn, options);
    },

    watch<T>(key: string, options?: WatchOptions): ReadableStream<ConfigEvent<T>> {
      options = coordOptions(options, "kv.watch");
      checkKey(key);
      const prefix = checkPrefix(options.prefix);
      if (options.fromRevision !== undefined) {
        checkRevision(options.fromRevision, "fromRevision", 1);
      }
      if (options.bufferSize !== undefined) checkRevision(options.bufferSize, "bufferSize", 1);
      context.ensureOpen();
      const range: KeyRange = { key, prefix };
      return eventStream(context, {
        range,
        what: prefix ? `prefix ${key}` : `key ${key}`,
        signal: options.signal,
        bufferSize: options.bufferSize,
        start: (signal) => watchStart(context, range, options.fromRevision, signal),
        map: (change) => toEvent<T>(change),
      });
    },
  };
}
