/**
 * Optimistic transactions over several keys, as etcd's software transactional memory (Go's
 * `concurrency.NewSTM` with serializable snapshot isolation, the etcd3 client's `stm()`):
 * every read sees the store as of one revision (that of the first read), writes are kept
 * until the function returns, and the commit is one etcd transaction that applies them only
 * if nothing the function read, and nothing it writes, changed since that revision. If
 * something did, the function runs again on a fresh snapshot, a bounded number of times.
 *
 * Internal: the public face is {@link ConfigCenter.transaction}.
 *
 * @module
 */

import { describeValue, encodeJson, InfraError } from "../base/mod.ts";
import { checkGuard, fenceCompare, guardHeld, lockLost, toEntry } from "./config_center.ts";
import type { CoordContext } from "./context.ts";
import { checkKey, coordOptions } from "./keys.ts";
import { type Compare, isCompacted, type Operation } from "./transport.ts";
import type {
  ConfigEntry,
  ConfigTransaction,
  TransactionOptions,
  TransactionResult,
} from "./types.ts";

const COMPONENT = "coord";

/** The default of {@link TransactionOptions.maxAttempts}. */
const DEFAULT_ATTEMPTS = 10;

/** Thrown inside an attempt whose snapshot is gone: the attempt starts over. */
class Restart extends Error {}

/** One attempt: its snapshot, what it read and what it will write. */
class Attempt implements ConfigTransaction {
  readonly #context: CoordContext;
  readonly #signal: AbortSignal | undefined;
  /** The snapshot revision, set by the first read. */
  snapshot: number | undefined;
  /** Key → mod revision read (0: absent), and the entry. */
  readonly reads = new Map<string, { modRevision: number; entry?: ConfigEntry<unknown> }>();
  /** Key → the last write to it (undefined value: a delete). */
  readonly writes = new Map<string, { text?: string; value?: unknown }>();
  ended = false;

  constructor(context: CoordContext, signal: AbortSignal | undefined) {
    this.#context = context;
    this.#signal = signal;
  }

  #checkOpen(): void {
    if (this.ended) {
      throw new InfraError("InvalidArgument", "the transaction has ended; it cannot be used", {
        component: COMPONENT,
      });
    }
  }

  async get<T = unknown>(key: string): Promise<ConfigEntry<T> | undefined> {
    checkKey(key);
    this.#checkOpen();
    const written = this.writes.get(key);
    if (written) {
      if (written.text === undefined) return undefined;
      // Read-your-writes; revisions are those of the stored key until the commit.
      const stored = this.reads.get(key)?.entry;
      return {
        key,
        value: structuredClone(written.value) as T,
        revision: stored?.revision ?? 0,
        createRevision: stored?.createRevision ?? 0,
        version: stored?.version ?? 0,
      };
    }
    const read = this.reads.get(key);
    if (read) return read.entry as ConfigEntry<T> | undefined;
    let result;
    try {
      result = await this.#context.retrying(
        (call) =>
          this.#context.transport.range(
            { key, ...(this.snapshot !== undefined ? { revision: this.snapshot } : {}) },
            call,
          ),
        this.#signal,
      );
    } catch (error) {
      if (isCompacted(error)) throw new Restart();
      throw error;
    }
    this.snapshot ??= result.revision;
    const kv = result.kvs[0];
    const entry = kv ? toEntry<T>(kv) : undefined;
    this.reads.set(key, { modRevision: kv?.modRevision ?? 0, entry });
    return entry;
  }

  set(key: string, value: unknown): void {
    checkKey(key);
    this.#checkOpen();
    const text = encodeJson(value, COMPONENT);
    // Kept as the JSON would bring it back, so a later get does not see the caller's object.
    this.writes.delete(key);
    this.writes.set(key, { text, value: JSON.parse(text) });
  }

  delete(key: string): void {
    checkKey(key);
    this.#checkOpen();
    this.writes.delete(key);
    this.writes.set(key, {});
  }
}

function conflict(attempts: number): InfraError {
  return new InfraError(
    "Conflict",
    `the transaction kept conflicting with other writes: gave up after ${attempts} attempts`,
    { component: COMPONENT, details: { attempts } },
  );
}

/**
 * Runs `fn` as an optimistic transaction; see the module doc.
 *
 * @param context The client context.
 * @param fn The transaction's reads and writes; it may run several times, so it should do
 * nothing else that cannot be repeated.
 * @param options Attempts, a guard and a signal.
 * @returns What `fn` returned, the revision of the commit, and the attempts it took.
 */
export async function runTransaction<R>(
  context: CoordContext,
  fn: (tx: ConfigTransaction) => Promise<R> | R,
  options?: TransactionOptions,
): Promise<TransactionResult<R>> {
  options = coordOptions(options, "kv.transaction");
  if (typeof fn !== "function") {
    throw new InfraError("InvalidArgument", "transaction needs a function", {
      component: COMPONENT,
      details: { field: "fn" },
    });
  }
  const maxAttempts = options.maxAttempts ?? DEFAULT_ATTEMPTS;
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
    throw new InfraError(
      "InvalidArgument",
      `maxAttempts must be a whole number ≥ 1, got ${describeValue(maxAttempts)}`,
      { component: COMPONENT, details: { field: "maxAttempts" } },
    );
  }
  // As set and delete check it: a token that is not one would fail the commit as LockLost.
  checkGuard(options.guard);
  const guard = options.guard;
  context.ensureOpen();
  for (let attempt = 1;; attempt++) {
    if (attempt > 1) {
      // Others are writing the same keys: spread the retries out.
      await context.backoff(attempt - 1, options.signal ?? context.closed, {
        initialDelayMs: 5,
        maxDelayMs: 200,
      });
    }
    const tx = new Attempt(context, options.signal);
    let value: R;
    try {
      value = await fn(tx);
    } catch (error) {
      if (error instanceof Restart) {
        if (attempt >= maxAttempts) throw conflict(attempt);
        continue;
      }
      throw error;
    } finally {
      tx.ended = true;
    }
    if (tx.writes.size === 0 && guard === undefined) {
      // Only reads, all from one snapshot: consistent as they are.
      return { value, revision: tx.snapshot ?? 0, attempts: attempt };
    }
    const compare: Compare[] = [];
    for (const [key, read] of tx.reads) {
      compare.push({ key, target: "mod", result: "==", value: read.modRevision });
    }
    if (tx.snapshot !== undefined) {
      for (const key of tx.writes.keys()) {
        // A key written without being read must not have changed since the snapshot either.
        if (!tx.reads.has(key)) {
          compare.push({ key, target: "mod", result: "<", value: tx.snapshot + 1 });
        }
      }
    }
    if (guard) compare.push(fenceCompare(guard));
    const success: Operation[] = [...tx.writes].map(([key, write]) =>
      write.text === undefined ? { type: "delete", key } : { type: "put", key, value: write.text }
    );
    // Not retried: a commit whose answer was lost may have been applied.
    const result = await context.transport.txn({
      compare,
      success,
      failure: guard ? [{ type: "range", request: { key: guard.key, keysOnly: true } }] : [],
    }, { signal: options.signal });
    if (result.succeeded) return { value, revision: result.revision, attempts: attempt };
    if (guard && !guardHeld(result, guard)) throw lockLost(guard);
    if (attempt >= maxAttempts) throw conflict(attempt);
  }
}
