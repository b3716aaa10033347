/**
 * The seam between coord's primitives and a key-value store with etcd v3 semantics. The
 * config center, registry, locks, elections and the instance-id allocator are written once
 * against this interface; the etcd drivers (`etcd.ts` over the etcd3 npm client's gRPC,
 * `gateway.ts` over etcd's JSON gateway and `fetch`) and the embedded memory driver
 * (`memory.ts`) implement it.
 *
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

/** One stored key, as etcd's `mvccpb.KeyValue`. */
export interface KeyValue {
  /** The key (already stripped of the coord namespace above the transport). */
  key: string;
  /**
   * The value as text. When the stored bytes are not valid UTF-8 (written by another
   * client), this is their lossy decoding, for messages only, and `bytes` holds them.
   */
  value: string;
  /** The stored bytes, only when they are not valid UTF-8 (see {@link decodeValue}). */
  bytes?: Uint8Array;
  /** Revision of the write that created the key (since its last deletion). */
  createRevision: number;
  /** Revision of the last write to the key. */
  modRevision: number;
  /** Writes since creation, from 1. */
  version: number;
  /** Decimal lease id the key is attached to, `"0"` for none. */
  lease: string;
}

/** Which keys a range, delete or watch covers. */
export interface KeyRange {
  /** The key, or the prefix when `prefix` is set. */
  key: string;
  /** Cover every key starting with `key`. */
  prefix?: boolean;
}

/** A read of a key or a key range. */
export interface RangeRequest extends KeyRange {
  /** At most this many keys (0 or absent: all). */
  limit?: number;
  /** Result order; default by key, ascending. */
  sort?: { target: "key" | "create" | "mod"; order: "ascend" | "descend" };
  /** Only keys whose create revision is at most this. */
  maxCreateRevision?: number;
  /** Omit values. */
  keysOnly?: boolean;
  /** Read the store as of this past revision (throws a compacted error when it is gone). */
  revision?: number;
}

/** What a range returns. */
export interface RangeResult {
  /** The matching keys, after limit. */
  kvs: KeyValue[];
  /** How many keys matched before the limit. */
  count: number;
  /** The store revision the read saw. */
  revision: number;
}

/** A write or read inside a transaction. */
export type Operation =
  /** `prevKv`: return the key as it was before the put (etcd's `prev_kv`). */
  | { type: "put"; key: string; value: string; lease?: string; prevKv?: boolean }
  /** `prevKv`: return the keys as they were before the delete (etcd's `prev_kv`). */
  | { type: "delete"; key: string; prefix?: boolean; prevKv?: boolean }
  | { type: "range"; request: RangeRequest };

/** The result of one {@link Operation}, in order. */
export type OperationResult =
  /** `prevKv`: the key before the put, when asked for and the key existed. */
  | { type: "put"; prevKv?: KeyValue }
  /** `prevKvs`: the deleted keys as they were, in key order, when asked for. */
  | { type: "delete"; deleted: number; prevKvs?: KeyValue[] }
  | { type: "range"; result: RangeResult };

/** A condition of a transaction on one key (a missing key has all revisions 0). */
export interface Compare {
  /** The key compared. */
  key: string;
  /** What of the key is compared. */
  target: "create" | "mod" | "version" | "value" | "lease";
  /** The comparison. */
  result: "==" | "!=" | "<" | ">";
  /** The right-hand side: a revision/version number, a value text or a decimal lease id. */
  value: number | string;
}

/** An etcd transaction: if every compare holds run `success`, else `failure`. */
export interface TxnRequest {
  /** The conditions (all must hold). */
  compare: Compare[];
  /** Operations when they hold. */
  success: Operation[];
  /** Operations when one does not. */
  failure: Operation[];
}

/** What a transaction returns. */
export interface TxnResult {
  /** Whether the compares held. */
  succeeded: boolean;
  /** The store revision after the transaction (its writes, if any, carry it). */
  revision: number;
  /** Results of the operations that ran. */
  results: OperationResult[];
}

/** One change seen by a watch. */
export interface TransportEvent {
  /** A put (create or update) or a delete (including lease expiry). */
  type: "put" | "delete";
  /** The key after the change; for a delete only key and modRevision are meaningful. */
  kv: KeyValue;
}

/** Why a watch subscription ended. */
export type WatchEnd =
  /** The start revision was compacted away; events from `compactRevision` on remain. */
  | { reason: "compacted"; compactRevision: number }
  /** The connection failed or the server cancelled the watch; resubscribing may work. */
  | { reason: "error"; error: unknown };

/** Callbacks of one watch subscription. */
export interface WatchSink {
  /**
   * The server has registered the watch. For a watch from now (no start revision), every
   * change after this point will be delivered.
   */
  onCreated?(): void;
  /** A batch of events (one or more whole revisions, in order). */
  onEvents(events: TransportEvent[]): void;
  /** The subscription ended by itself; it delivers nothing more. Not called after cancel. */
  onEnd(end: WatchEnd): void;
}

/** A live watch subscription. */
export interface WatchSubscription {
  /** Stops the subscription (server side too); idempotent. */
  cancel(): Promise<void>;
}

/** A granted lease. */
export interface LeaseGrant {
  /** Decimal lease id. */
  id: string;
  /** TTL the server granted, in seconds (may exceed the requested one). */
  ttlSeconds: number;
}

/** Per-call options of the transport. */
export interface CallOptions {
  /** Abandons the call (the transport's own request timeout still applies). */
  signal?: AbortSignal;
}

/**
 * A key-value store with etcd v3 semantics: a global revision, leases with TTLs whose
 * expiry deletes their keys, transactions, and watches that replay history from a revision.
 * Errors are InfraErrors (`Unavailable`, `Timeout`, `PermissionDenied`, ...); a read of a
 * compacted revision throws an InfraError with `details.compacted === true`, one of a
 * revision not written yet `details.futureRevision === true`.
 */
export interface Transport {
  /** Reads a key or range. */
  range(request: RangeRequest, options?: CallOptions): Promise<RangeResult>;
  /** Runs a transaction. */
  txn(request: TxnRequest, options?: CallOptions): Promise<TxnResult>;
  /** Grants a lease of `ttlSeconds` seconds. */
  leaseGrant(ttlSeconds: number, options?: CallOptions): Promise<LeaseGrant>;
  /** Revokes a lease, deleting its keys; a lease that is already gone is not an error. */
  leaseRevoke(id: string, options?: CallOptions): Promise<void>;
  /** Renews a lease once; resolves to the TTL in seconds, 0 when the lease is gone. */
  leaseKeepAlive(id: string, options?: CallOptions): Promise<number>;
  /** Watches a key or range from `startRevision` (absent: from now). */
  watch(range: KeyRange, startRevision: number | undefined, sink: WatchSink): WatchSubscription;
  /** Compacts history up to `revision` (tests and maintenance). */
  compact(revision: number, options?: CallOptions): Promise<void>;
  /** Releases connections; pending calls fail with `Closed`. */
  close(): Promise<void>;
}

/** etcd's error for a write to a full database (its NOSPACE alarm is raised). */
export const NO_SPACE = "etcdserver: mvcc: database space exceeded";
/** etcd's error for a request while its applied index lags far behind. */
export const TOO_MANY_REQUESTS = "etcdserver: too many requests";
/** gRPC's RESOURCE_EXHAUSTED for a message over the receiver's size limit. */
export const TOO_LARGE = /larger than max/i;

/**
 * Whether `error` (mapped to `PermissionDenied`) says the auth token expired, not that the
 * user lacks a permission: the request is worth sending again with a new token.
 */
export function isAuthExpired(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === "PermissionDenied" &&
    /invalid auth token|token is expired/i.test(error.message) &&
    !/authentication failed/.test(error.message);
}

function hasDetail(error: unknown, name: string): boolean {
  return typeof error === "object" && error !== null &&
    (error as { details?: Record<string, unknown> }).details?.[name] === true;
}

/** Whether `error` says a requested revision was compacted away. */
export function isCompacted(error: unknown): boolean {
  return hasDetail(error, "compacted");
}

/** Whether `error` says a requested revision is not written yet. */
export function isFutureRevision(error: unknown): boolean {
  return hasDetail(error, "futureRevision");
}

/** The lease id of a key name: etcd's concurrency package writes it in lower-case hex. */
export function leaseHex(id: string): string {
  return BigInt(id).toString(16);
}

// ignoreBOM: a leading U+FEFF is part of the value (a text editor's BOM), not to be dropped.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lossy = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Decodes a stored value as UTF-8, strictly: bytes that are not UTF-8 text are kept as they
 * are (`bytes`) instead of being turned into U+FFFD, so that nothing above the transport can
 * mistake them for the text they would decode to (a read-modify-write would store that
 * text, destroying the value).
 *
 * @param bytes The stored bytes.
 * @returns The text, and the bytes when they are not UTF-8 (the text is then their lossy
 * decoding, for messages).
 */
export function decodeValue(bytes: Uint8Array): { value: string; bytes?: Uint8Array } {
  if (bytes.length === 0) return { value: "" };
  try {
    return { value: utf8.decode(bytes) };
  } catch {
    // A copy: a Node Buffer may be a view into a pool that is reused.
    return { value: lossy.decode(bytes), bytes: new Uint8Array(bytes) };
  }
}

/**
 * The exclusive end of the range of keys starting with `prefix` (etcd's
 * `GetPrefixRangeEnd`): the prefix with its last byte below 0xff incremented. An empty
 * prefix, or one of 0xff bytes only, runs to the end of the keyspace (`[0]`).
 *
 * @param prefix The prefix as UTF-8 bytes.
 * @returns The range end.
 */
export function prefixRangeEnd(prefix: Uint8Array): Uint8Array {
  // A copy: `slice` of a Node Buffer is a view, and the increment must not touch the key.
  const end = new Uint8Array(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}
