/**
 * An in-process key-value store with etcd v3 semantics, behind the same {@link Transport}
 * seam as etcd: one global revision, multi-version history (replayable by watches,
 * compactable), leases whose expiry deletes their keys on time, transactions whose writes
 * share a revision, and size limits like a default etcd server. Several clients (one
 * {@link MemoryTransport} each) can share one store, the way processes share an etcd.
 *
 * @module
 */

import { InfraError } from "../base/mod.ts";
import type {
  CallOptions,
  Compare,
  KeyRange,
  KeyValue,
  LeaseGrant,
  Operation,
  OperationResult,
  RangeRequest,
  RangeResult,
  Transport,
  TransportEvent,
  TxnRequest,
  TxnResult,
  WatchEnd,
  WatchSink,
  WatchSubscription,
} from "./transport.ts";
import { decodeValue } from "./transport.ts";

const COMPONENT = "coord";
/** etcd's default `--max-request-bytes`. */
const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** etcd's default `--max-txn-ops`. */
const MAX_TXN_OPS = 128;

interface HistoryEvent extends TransportEvent {
  /** The key before the change, to read past revisions. */
  prev: KeyValue | undefined;
}

interface Revision {
  revision: number;
  events: HistoryEvent[];
}

interface Lease {
  id: string;
  ttlSeconds: number;
  keys: Set<string>;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface Watcher {
  range: KeyRange;
  nextRevision: number;
  sink: WatchSink;
  scheduled: boolean;
  active: boolean;
}

function inRange(range: KeyRange, key: string): boolean {
  return range.prefix ? key.startsWith(range.key) : key === range.key;
}

function byKey(a: KeyValue, b: KeyValue): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function bytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

function invalid(message: string, details?: Record<string, unknown>): InfraError {
  return new InfraError("InvalidArgument", `memory: ${message}`, {
    component: COMPONENT,
    details,
  });
}

/** Settings of a {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Revisions of history kept for watches; older ones are compacted away. Default 10 000. */
  historyLimit?: number;
}

/** The smallest lease TTL etcd grants on its default settings (heartbeat 100 ms, election 1 s). */
const MIN_LEASE_TTL_SECONDS = 2;

/** The shared state of the embedded driver; see the module doc. */
export class MemoryStore {
  #revision = 1;
  #compactRevision = 0;
  readonly #kvs = new Map<string, KeyValue>();
  readonly #history: Revision[] = [];
  readonly #leases = new Map<string, Lease>();
  readonly #watchers = new Set<Watcher>();
  readonly #historyLimit: number;
  #nextLease = BigInt(0x694d0000) * BigInt(Math.floor(Math.random() * 0xffff) + 1);

  /**
   * Creates an empty store.
   *
   * @param options History retention.
   */
  constructor(options: MemoryStoreOptions = {}) {
    this.#historyLimit = options.historyLimit ?? 10_000;
  }

  /** The current revision. */
  get revision(): number {
    return this.#revision;
  }

  range(request: RangeRequest): RangeResult {
    if (bytes(request.key) > MAX_REQUEST_BYTES) throw invalid("request is too large");
    let kvs: KeyValue[];
    if (
      request.revision !== undefined && request.revision > 0 && request.revision < this.#revision
    ) {
      kvs = this.#rangeAt(request);
    } else {
      if (request.revision !== undefined && request.revision > this.#revision) {
        throw invalid("required revision is a future revision", { futureRevision: true });
      }
      kvs = [];
      for (const kv of this.#kvs.values()) if (inRange(request, kv.key)) kvs.push(kv);
    }
    return this.#shape(kvs, request);
  }

  #rangeAt(request: RangeRequest): KeyValue[] {
    const revision = request.revision!;
    if (revision < this.#compactRevision) {
      throw new InfraError("NotFound", "memory: required revision has been compacted", {
        component: COMPONENT,
        details: { compacted: true },
      });
    }
    const state = new Map<string, KeyValue>();
    for (const kv of this.#kvs.values()) if (inRange(request, kv.key)) state.set(kv.key, kv);
    for (let i = this.#history.length - 1; i >= 0 && this.#history[i].revision > revision; i--) {
      const events = this.#history[i].events;
      for (let j = events.length - 1; j >= 0; j--) {
        const event = events[j];
        if (!inRange(request, event.kv.key)) continue;
        if (event.prev) state.set(event.kv.key, event.prev);
        else state.delete(event.kv.key);
      }
    }
    return [...state.values()];
  }

  #shape(kvs: KeyValue[], request: RangeRequest): RangeResult {
    let selected = kvs;
    if (request.maxCreateRevision !== undefined) {
      selected = selected.filter((kv) => kv.createRevision <= request.maxCreateRevision!);
    }
    const target = request.sort?.target ?? "key";
    const direction = request.sort?.order === "descend" ? -1 : 1;
    selected = [...selected].sort((a, b) => {
      const order = target === "create"
        ? a.createRevision - b.createRevision
        : target === "mod"
        ? a.modRevision - b.modRevision
        : byKey(a, b);
      return order * direction;
    });
    const count = selected.length;
    if (request.limit) selected = selected.slice(0, request.limit);
    if (request.keysOnly) selected = selected.map(({ bytes: _, ...kv }) => ({ ...kv, value: "" }));
    return { kvs: selected, count, revision: this.#revision };
  }

  txn(request: TxnRequest): TxnResult {
    this.#checkTxn(request);
    const succeeded = request.compare.every((c) => this.#holds(c));
    const operations = succeeded ? request.success : request.failure;
    for (const op of operations) {
      if (op.type === "put" && op.lease && op.lease !== "0" && !this.#leases.has(op.lease)) {
        throw new InfraError("NotFound", "memory: requested lease not found", {
          component: COMPONENT,
          details: { leaseNotFound: true },
        });
      }
    }
    const writes = operations.some((op) =>
      op.type === "put" ||
      (op.type === "delete" &&
        (op.prefix ? [...this.#kvs.keys()].some((key) => inRange(op, key)) : this.#kvs.has(op.key)))
    );
    const revision = writes ? this.#revision + 1 : this.#revision;
    const events: HistoryEvent[] = [];
    const results: OperationResult[] = operations.map((op) => this.#apply(op, revision, events));
    if (events.length > 0) this.#commit(revision, events);
    return { succeeded, revision: this.#revision, results };
  }

  #checkTxn(request: TxnRequest): void {
    const all = [...request.success, ...request.failure];
    if (request.success.length > MAX_TXN_OPS || request.failure.length > MAX_TXN_OPS) {
      throw invalid("too many operations in txn request");
    }
    let size = 0;
    for (const c of request.compare) {
      if (c.key === "") throw invalid("key is not provided");
      size += bytes(c.key);
    }
    for (const ops of [request.success, request.failure]) {
      const written = new Set<string>();
      for (const op of ops) {
        if (op.type === "range") continue;
        if (op.key === "" && !(op.type === "delete" && op.prefix)) {
          throw invalid("key is not provided");
        }
        if (written.has(op.key)) throw invalid("duplicate key given in txn request");
        written.add(op.key);
      }
    }
    for (const op of all) {
      if (op.type === "put") size += bytes(op.key) + bytes(op.value);
    }
    if (size > MAX_REQUEST_BYTES) throw invalid("request is too large");
  }

  #holds(c: Compare): boolean {
    const kv = this.#kvs.get(c.key);
    let left: number | string;
    switch (c.target) {
      case "create":
        left = kv?.createRevision ?? 0;
        break;
      case "mod":
        left = kv?.modRevision ?? 0;
        break;
      case "version":
        left = kv?.version ?? 0;
        break;
      case "lease":
        left = kv ? BigInt(kv.lease).toString() : "0";
        break;
      case "value":
        // etcd: a value compare on a missing key fails whatever the operator.
        if (!kv) return false;
        left = kv.value;
        break;
    }
    const right = c.target === "lease" ? BigInt(c.value).toString() : c.value;
    if (c.target === "lease") {
      const l = BigInt(left as string), r = BigInt(right as string);
      return c.result === "=="
        ? l === r
        : c.result === "!="
        ? l !== r
        : c.result === "<"
        ? l < r
        : l > r;
    }
    switch (c.result) {
      case "==":
        return left === right;
      case "!=":
        return left !== right;
      case "<":
        return left < right;
      case ">":
        return left > right;
    }
  }

  #apply(op: Operation, revision: number, events: HistoryEvent[]): OperationResult {
    switch (op.type) {
      case "range":
        return { type: "range", result: this.#shapePending(op.request) };
      case "put": {
        const lease = op.lease && op.lease !== "0" ? op.lease : "0";
        const prev = this.#put(op.key, { value: op.value }, lease, revision, events);
        return op.prevKv && prev ? { type: "put", prevKv: prev } : { type: "put" };
      }
      case "delete": {
        const prevKvs: KeyValue[] = [];
        // In key order, as etcd deletes (and reports) a range.
        const doomed = op.prefix
          ? [...this.#kvs.values()].filter((kv) => inRange(op, kv.key)).sort(byKey)
          : [this.#kvs.get(op.key)].filter((kv) => kv !== undefined);
        for (const prev of doomed) {
          const key = prev.key;
          this.#kvs.delete(key);
          if (prev.lease !== "0") this.#leases.get(prev.lease)?.keys.delete(key);
          events.push({ type: "delete", kv: this.#tombstone(key, revision), prev });
          prevKvs.push(prev);
        }
        return op.prevKv && prevKvs.length > 0
          ? { type: "delete", deleted: prevKvs.length, prevKvs }
          : { type: "delete", deleted: prevKvs.length };
      }
    }
  }

  /** Writes one key at `revision`; returns the key as it was. */
  #put(
    key: string,
    stored: { value: string; bytes?: Uint8Array },
    lease: string,
    revision: number,
    events: HistoryEvent[],
  ): KeyValue | undefined {
    const prev = this.#kvs.get(key);
    const kv: KeyValue = {
      key,
      ...stored,
      createRevision: prev?.createRevision ?? revision,
      modRevision: revision,
      version: (prev?.version ?? 0) + 1,
      lease,
    };
    if (prev && prev.lease !== "0") this.#leases.get(prev.lease)?.keys.delete(key);
    if (lease !== "0") this.#leases.get(lease)!.keys.add(key);
    this.#kvs.set(key, kv);
    events.push({ type: "put", kv, prev });
    return prev;
  }

  /**
   * Stores raw bytes under `key` (no lease), as a client that writes values which are not
   * UTF-8 text would: for tests of how coord reads them back.
   *
   * @param key The key (with the client's namespace, as stored).
   * @param bytes The value.
   * @returns The revision of the write.
   */
  putBytes(key: string, bytes: Uint8Array): number {
    const revision = this.#revision + 1;
    const events: HistoryEvent[] = [];
    this.#put(key, decodeValue(bytes), "0", revision, events);
    this.#commit(revision, events);
    return revision;
  }

  /** A range inside a transaction: it sees the writes of the transaction's earlier operations. */
  #shapePending(request: RangeRequest): RangeResult {
    const kvs: KeyValue[] = [];
    for (const kv of this.#kvs.values()) if (inRange(request, kv.key)) kvs.push(kv);
    return this.#shape(kvs, request);
  }

  #tombstone(key: string, revision: number): KeyValue {
    return { key, value: "", createRevision: 0, modRevision: revision, version: 0, lease: "0" };
  }

  #commit(revision: number, events: HistoryEvent[]): void {
    this.#revision = revision;
    this.#history.push({ revision, events });
    if (this.#history.length > this.#historyLimit) {
      this.compact(this.#history[this.#history.length - this.#historyLimit].revision);
    }
    for (const watcher of this.#watchers) this.#schedule(watcher);
  }

  compact(revision: number): void {
    if (revision <= this.#compactRevision) {
      throw invalid("mvcc: required revision has been compacted");
    }
    if (revision > this.#revision) throw invalid("mvcc: required revision is a future revision");
    this.#compactRevision = revision;
    while (this.#history.length > 0 && this.#history[0].revision < revision) this.#history.shift();
    for (const watcher of this.#watchers) {
      if (watcher.nextRevision < revision) this.#schedule(watcher);
    }
  }

  leaseGrant(ttlSeconds: number): LeaseGrant {
    if (!(ttlSeconds >= 1)) throw invalid("lease TTL must be at least 1 second");
    // etcd grants at least 1.5 election timeouts, rounded up: 2 s on its default settings.
    // Granting less here would let a test pass on this driver that fails on etcd.
    ttlSeconds = Math.max(ttlSeconds, MIN_LEASE_TTL_SECONDS);
    this.#nextLease += BigInt(1 + Math.floor(Math.random() * 1000));
    const id = this.#nextLease.toString();
    const lease: Lease = { id, ttlSeconds, keys: new Set(), timer: undefined };
    this.#leases.set(id, lease);
    this.#arm(lease);
    return { id, ttlSeconds };
  }

  #arm(lease: Lease): void {
    if (lease.timer !== undefined) clearTimeout(lease.timer);
    // Not unref'd: like a server, the store must outlive a caller waiting for an expiry.
    lease.timer = setTimeout(() => this.leaseRevoke(lease.id), lease.ttlSeconds * 1000);
  }

  leaseKeepAlive(id: string): number {
    const lease = this.#leases.get(id);
    if (!lease) return 0;
    this.#arm(lease);
    return lease.ttlSeconds;
  }

  /** Revokes (or expires) a lease: its keys are deleted in one revision. */
  leaseRevoke(id: string): void {
    const lease = this.#leases.get(id);
    if (!lease) return;
    if (lease.timer !== undefined) clearTimeout(lease.timer);
    this.#leases.delete(id);
    if (lease.keys.size === 0) return;
    const revision = this.#revision + 1;
    const events: HistoryEvent[] = [];
    for (const key of [...lease.keys].sort()) {
      const prev = this.#kvs.get(key);
      if (!prev) continue;
      this.#kvs.delete(key);
      events.push({ type: "delete", kv: this.#tombstone(key, revision), prev });
    }
    if (events.length > 0) this.#commit(revision, events);
  }

  watch(range: KeyRange, startRevision: number | undefined, sink: WatchSink): () => void {
    const watcher: Watcher = {
      range,
      nextRevision: startRevision === undefined || startRevision <= 0
        ? this.#revision + 1
        : startRevision,
      sink,
      scheduled: false,
      active: true,
    };
    this.#watchers.add(watcher);
    setTimeout(() => {
      if (watcher.active) sink.onCreated?.();
    }, 0);
    this.#schedule(watcher);
    return () => {
      watcher.active = false;
      this.#watchers.delete(watcher);
    };
  }

  /** Delivers pending history to a watcher asynchronously, as a network watch would. */
  #schedule(watcher: Watcher): void {
    if (watcher.scheduled) return;
    watcher.scheduled = true;
    setTimeout(() => {
      watcher.scheduled = false;
      if (!watcher.active) return;
      if (watcher.nextRevision < this.#compactRevision) {
        watcher.active = false;
        this.#watchers.delete(watcher);
        watcher.sink.onEnd({ reason: "compacted", compactRevision: this.#compactRevision });
        return;
      }
      const events: TransportEvent[] = [];
      for (const entry of this.#history) {
        if (entry.revision < watcher.nextRevision) continue;
        for (const event of entry.events) {
          if (inRange(watcher.range, event.kv.key)) events.push({ type: event.type, kv: event.kv });
        }
      }
      // Never below a start in the future (as etcd: nothing before the start revision).
      watcher.nextRevision = Math.max(watcher.nextRevision, this.#revision + 1);
      if (events.length > 0) watcher.sink.onEvents(events);
    }, 0);
  }
}

/** One client of a {@link MemoryStore}. */
export class MemoryTransport implements Transport {
  readonly #store: MemoryStore;
  readonly #watches = new Set<(why?: WatchEnd) => void>();
  #closed = false;

  /**
   * Creates a client of `store`.
   *
   * @param store The shared store.
   */
  constructor(store: MemoryStore) {
    this.#store = store;
  }

  #call<T>(work: () => T, options: CallOptions = {}): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new InfraError("Closed", "the client is closed", { component: COMPONENT }),
      );
    }
    if (options.signal?.aborted) {
      return Promise.reject(
        new InfraError("Aborted", "the operation was aborted", {
          component: COMPONENT,
          cause: options.signal.reason,
        }),
      );
    }
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  range(request: RangeRequest, options?: CallOptions): Promise<RangeResult> {
    return this.#call(() => this.#store.range(request), options);
  }

  txn(request: TxnRequest, options?: CallOptions): Promise<TxnResult> {
    return this.#call(() => this.#store.txn(request), options);
  }

  leaseGrant(ttlSeconds: number, options?: CallOptions): Promise<LeaseGrant> {
    return this.#call(() => this.#store.leaseGrant(ttlSeconds), options);
  }

  leaseRevoke(id: string, options?: CallOptions): Promise<void> {
    return this.#call(() => this.#store.leaseRevoke(id), options);
  }

  leaseKeepAlive(id: string, options?: CallOptions): Promise<number> {
    return this.#call(() => this.#store.leaseKeepAlive(id), options);
  }

  watch(range: KeyRange, startRevision: number | undefined, sink: WatchSink): WatchSubscription {
    let done = false;
    if (this.#closed) {
      setTimeout(() =>
        sink.onEnd({
          reason: "error",
          error: new InfraError("Closed", "the client is closed", { component: COMPONENT }),
        }), 0);
      return { cancel: () => Promise.resolve() };
    }
    const stop = this.#store.watch(range, startRevision, {
      onCreated: () => {
        if (!done) sink.onCreated?.();
      },
      onEvents: (events) => {
        if (!done) sink.onEvents(events);
      },
      onEnd: (end) => {
        if (done) return;
        done = true;
        this.#watches.delete(cancel);
        sink.onEnd(end);
      },
    });
    // Ends the watch: quietly on cancel, with `why` when the client closes.
    const cancel = (why?: WatchEnd) => {
      if (done) return;
      done = true;
      stop();
      this.#watches.delete(cancel);
      if (why) sink.onEnd(why);
    };
    this.#watches.add(cancel);
    return {
      cancel: () => {
        cancel();
        return Promise.resolve();
      },
    };
  }

  compact(revision: number, options?: CallOptions): Promise<void> {
    return this.#call(() => this.#store.compact(revision), options);
  }

  close(): Promise<void> {
    this.#closed = true;
    const error = new InfraError("Closed", "the client is closed", { component: COMPONENT });
    for (const cancel of [...this.#watches]) cancel({ reason: "error", error });
    return Promise.resolve();
  }
}
