/**
 * The public contract of coord: the client and the primitives it hands out.
 *
 * @module
 */

import type { HotReloadable, InfraError } from "../base/mod.ts";

/**
 * Options every I/O method accepts. Options that are not an object (`null`), or a `signal`
 * that is not an AbortSignal, are `InvalidArgument` naming the method and the option
 * (`coord: kv.get options must be an object, got null`), before anything is sent.
 */
export interface SignalOptions {
  /** Abandons the call: it rejects with `Aborted` (or `Timeout` for a timeout signal). */
  signal?: AbortSignal;
}

/**
 * Something that proves current ownership in a transaction: a held {@link Lock} or
 * {@link Leadership}. A write guarded by it happens only while the owner's queue key still
 * has the create revision `fencingToken`.
 */
export interface Fence {
  /** The owner's queue key. */
  readonly key: string;
  /** The create revision of that key: grows with every new owner. */
  readonly fencingToken: number;
}

/** A stored config value. */
export interface ConfigEntry<T = unknown> {
  /** The key. */
  key: string;
  /** The value, decoded from JSON. */
  value: T;
  /** Revision of the last write (compare-and-set against this). */
  revision: number;
  /** Revision of the write that created the key. */
  createRevision: number;
  /** Writes since creation, from 1. */
  version: number;
}

/** What {@link ConfigCenter.list} returns. */
export interface ConfigList<T = unknown> {
  /** The entries under the prefix, by key. */
  entries: ConfigEntry<T>[];
  /** The store revision of the listing; watch from `revision + 1` to miss nothing. */
  revision: number;
}

/**
 * A stored key whose value could not be decoded: text that is not JSON, or bytes that are
 * not UTF-8 text (written by another tool or client).
 */
export interface InvalidEntry {
  /** The key. */
  key: string;
  /** The stored text; for bytes that are not UTF-8, their lossy decoding (for messages only). */
  text: string;
  /** Why it could not be decoded (`InvalidArgument`, naming the key). */
  error: InfraError;
  /** Revision of the last write. */
  revision: number;
  /** Revision of the write that created the key. */
  createRevision: number;
  /** Writes since creation, from 1. */
  version: number;
}

/** What {@link ConfigCenter.getAndSet} returns. */
export interface SetResult<T = unknown> {
  /** The revision of the write. */
  revision: number;
  /** The entry the write replaced; undefined when it created the key (or see `invalid`). */
  previous: ConfigEntry<T> | undefined;
  /** The entry the write replaced, when its value could not be decoded. */
  invalid?: InvalidEntry;
}

/** What {@link ConfigCenter.getAndDelete} returns. */
export interface DeleteResult<T = unknown> {
  /** The revision of the delete (the store's revision when nothing was deleted). */
  revision: number;
  /** The entries deleted, in key order (except those in `invalid`). */
  deleted: ConfigEntry<T>[];
  /** The entries deleted whose values could not be decoded, in key order. */
  invalid: InvalidEntry[];
}

/** Options of {@link ConfigCenter.set} and {@link ConfigCenter.compareAndSet}. */
export interface SetOptions extends SignalOptions {
  /** Write only while this lock or leadership is still held (else `LockLost`). */
  guard?: Fence;
}

/** Options of {@link ConfigCenter.delete}. */
export interface DeleteOptions extends SetOptions {
  /** Delete every key starting with `key` (a boolean; anything else is `InvalidArgument`). */
  prefix?: boolean;
}

/** Options of {@link ConfigCenter.list}. */
export interface ListOptions extends SignalOptions {
  /** At most this many entries (by key order). */
  limit?: number;
}

/** Options of {@link ConfigCenter.watch}. */
export interface WatchOptions extends SignalOptions {
  /** Watch every key starting with `key` (a boolean; anything else is `InvalidArgument`). */
  prefix?: boolean;
  /**
   * First revision to report, e.g. `list().revision + 1` or `get().revision + 1`: nothing
   * written after that read is missed. A revision not written yet is fine (as in etcd): the
   * stream reports from it once the store gets there. Absent: changes after the stream has
   * read the current state, an instant after the call (as an etcd watch without a revision).
   */
  fromRevision?: number;
  /**
   * The most events the stream holds for a reader that has not read them yet (the stream's
   * high-water mark, an integer ≥ 1; anything else is `InvalidArgument`). Default 1 000.
   *
   * A reader slower than the writers costs no more memory than that: once the stream would
   * hold more, the watch underneath stops (its server-side watch is cancelled) and etcd keeps
   * the history meanwhile; when the reader has brought the stream down to half the bound
   * (or further, until the next revision fits), the watch resumes from the revision after
   * the last event it holds. Nothing is lost or
   * repeated: every event still arrives once, in revision order. If that history is
   * compacted before the watch resumes, the stream goes on as after any compaction (see
   * {@link ConfigEvent}: `reloaded` events with what differs). The bound can be exceeded
   * only by one revision with more events than the bound (a transaction or a prefix delete
   * is never split) and by the events of such a re-read (at most one per key).
   */
  bufferSize?: number;
}

/**
 * One change seen by {@link ConfigCenter.watch}.
 *
 * - `put`: the key was created or updated; `value` is the decoded JSON.
 * - `delete`: the key was deleted or its lease expired.
 * - `invalid`: the key was written with text that is not JSON, or with bytes that are not
 *   UTF-8 text (then `text` is their lossy decoding, for messages only); `error` says why.
 *
 * - `reset`: forget every key you know under the watched key or prefix; the `put` events
 *   that follow are every key that exists now. Sent only by a watch from `fromRevision`
 *   whose history was compacted before the watch could read the state before it: it cannot
 *   tell which of the keys you knew were deleted meanwhile.
 *
 * `reloaded` is true for events synthesized after a compaction: the watch could not replay
 * the history it missed, so it read the keys afresh and reports, per key, only the latest
 * state that differs from what it had reported (intermediate values are gone; a deleted key
 * is reported with the revision of the re-read).
 */
export type ConfigEvent<T = unknown> =
  | {
    type: "put";
    key: string;
    value: T;
    revision: number;
    createRevision: number;
    version: number;
    reloaded: boolean;
  }
  | { type: "delete"; key: string; revision: number; reloaded: boolean }
  | {
    type: "invalid";
    key: string;
    text: string;
    error: InfraError;
    revision: number;
    reloaded: boolean;
  }
  | { type: "reset"; key: string; revision: number; reloaded: true };

/** Reads and writes of one attempt of {@link ConfigCenter.transaction}. */
export interface ConfigTransaction {
  /**
   * Reads a key as of the transaction's snapshot: the revision of its first read. A key this
   * transaction wrote reads as written (with the stored key's revisions until the commit).
   *
   * @param key The key.
   * @returns The entry, or undefined when the key does not exist (or was deleted here).
   * @throws {InfraError} `InvalidArgument` for a bad key or a stored value that is not JSON
   * (or not UTF-8 text),
   * or once the transaction has ended.
   */
  get<T = unknown>(key: string): Promise<ConfigEntry<T> | undefined>;
  /**
   * Writes a key at the commit (the last write to a key wins).
   *
   * @param key The key.
   * @param value Any value JSON brings back as it is (the rule of {@link ConfigCenter}).
   * @throws {InfraError} `InvalidArgument` for a bad key or value (at once, not at the
   * commit), or once the transaction has ended.
   */
  set(key: string, value: unknown): void;
  /**
   * Deletes a key at the commit.
   *
   * @param key The key.
   * @throws {InfraError} `InvalidArgument` for a bad key, or once the transaction has ended.
   */
  delete(key: string): void;
}

/** Options of {@link ConfigCenter.transaction}. */
export interface TransactionOptions extends SetOptions {
  /** How many times the function may run before the transaction gives up with `Conflict`. Default 10. */
  maxAttempts?: number;
}

/** What {@link ConfigCenter.transaction} returns. */
export interface TransactionResult<R> {
  /** What the function returned (on its last, committed run). */
  value: R;
  /** The revision of the commit; of the snapshot for a transaction that only read (0: none). */
  revision: number;
  /** How many times the function ran. */
  attempts: number;
}

/**
 * The config center: JSON values by key, with revisions. Keys start with `/` and are used
 * as given (see {@link configKey} for the `/config/{env}/{service}/{component}` layout); a
 * key without the leading `/` is `InvalidArgument`, as it would escape the client's
 * namespace.
 *
 * Values are stored only when JSON brings them back as they are (base's `jsonProblem`
 * rule): strings, finite numbers, booleans, `null`, and arrays and plain objects of them; a
 * `toJSON` result stands for its object (a `Date` is stored as its ISO string), object
 * properties that are `undefined` are left out, and `-0` comes back as `0`. Anything else
 * (`NaN`, `±Infinity`, a `Map` or `Set`, a class instance, a typed array, a bigint, a
 * function, a symbol, `undefined` in an array or a hole of a sparse array, a cycle, nesting
 * deeper than 1,000 levels) is `InvalidArgument` naming the path of the offending part
 * (`value.limits.rate: NaN is not a JSON number ...`), and nothing is written.
 *
 * A key whose stored text is not JSON (put by another tool, e.g. `etcdctl put /k 'text'`)
 * is `InvalidArgument` on `get` and `list`, naming the key, and an `invalid` event in a
 * watch, which goes on. So is a value whose bytes are not UTF-8 text (a binary value from
 * another client): it is never read as the text it would decode to with U+FFFD in place of
 * its bytes, which a read-modify-write would then store, destroying the value.
 *
 * A write to an etcd whose database is full (its space quota exceeded, the NOSPACE alarm
 * raised) is `ResourceExhausted`, at once: writing again will not help until an operator
 * compacts, defragments and disarms the alarm; reads and deletes go on.
 */
export interface ConfigCenter {
  /**
   * Reads a key.
   *
   * @param key The key.
   * @param options An optional signal.
   * @returns The entry, or undefined when the key does not exist.
   * @throws {InfraError} `InvalidArgument` for a key that is empty or lacks the leading `/`, or
   * a stored value that is not JSON (`the value of /k is not valid JSON: ...`) or not UTF-8
   * text (`the value of /k is not valid UTF-8: ...`).
   */
  get<T = unknown>(key: string, options?: SignalOptions): Promise<ConfigEntry<T> | undefined>;
  /**
   * Writes a key.
   *
   * @param key The key.
   * @param value A value JSON brings back as it is (see {@link ConfigCenter}).
   * @param options A guard and a signal.
   * @returns The revision of the write.
   * @throws {InfraError} `InvalidArgument` for a bad key, a value JSON would not bring back
   * (the message names its path, e.g. `value.limits.rate`) or a guard that is not a lock or
   * leadership (nothing is written); `LockLost` when the guard no longer holds.
   */
  set(key: string, value: unknown, options?: SetOptions): Promise<number>;
  /**
   * Writes a key only if its last write had revision `expectedRevision`; `0` means "only
   * if the key does not exist" (create).
   *
   * @param key The key.
   * @param value A value JSON brings back as it is (see {@link ConfigCenter}).
   * @param expectedRevision The revision from {@link ConfigCenter.get}, or 0.
   * @param options A guard and a signal.
   * @returns The revision of the write.
   * @throws {InfraError} `Conflict` when the key changed (nothing is written);
   * `InvalidArgument` for a bad key or revision or a value JSON would not bring back (the
   * message names its path): it is refused before anything is sent, so the key and its
   * revision stay as they were and the same compare-and-set with a good value can follow.
   */
  compareAndSet(
    key: string,
    value: unknown,
    expectedRevision: number,
    options?: SetOptions,
  ): Promise<number>;
  /**
   * Writes a key and returns what it replaced, atomically (etcd's `prev_kv`): the entry
   * returned is exactly the one this write overwrote, whatever other writers do.
   *
   * Not retried, unlike {@link ConfigCenter.set}: a retry after a lost answer would report
   * this call's own write as the value it replaced. A `Timeout` or `Unavailable` therefore
   * leaves it open whether the write happened.
   *
   * @param key The key.
   * @param value A value JSON brings back as it is (see {@link ConfigCenter}).
   * @param options A guard and a signal.
   * @returns The revision of the write and the entry it replaced (`previous`, undefined when
   * the write created the key). A replaced value that was not JSON (or not UTF-8 text) is
   * in `invalid` instead: the write has happened, so it is reported, not thrown.
   * @throws {InfraError} As {@link ConfigCenter.set}.
   *
   * @example Take over a setting and learn what it was
   * ```ts
   * import * as coord from "@gochat/infra/coord";
   *
   * await using client = coord.memory();
   * await client.kv.set("/config/dev/global/mode", "a");
   * const { previous } = await client.kv.getAndSet("/config/dev/global/mode", "b");
   * console.assert(previous?.value === "a");
   * ```
   */
  getAndSet<T = unknown>(key: string, value: unknown, options?: SetOptions): Promise<SetResult<T>>;
  /**
   * Deletes a key (or every key under a prefix).
   *
   * @param key The key or prefix.
   * @param options `prefix`, a guard and a signal.
   * @returns How many keys were deleted.
   */
  delete(key: string, options?: DeleteOptions): Promise<number>;
  /**
   * Deletes a key (or every key under a prefix) and returns what it deleted, atomically
   * (etcd's `prev_kv`): only this call gets those entries, so two processes taking the same
   * key never both get its value. Not retried, for the reason given at
   * {@link ConfigCenter.getAndSet}.
   *
   * @param key The key or prefix.
   * @param options `prefix`, a guard and a signal.
   * @returns The revision of the delete and the entries deleted, in key order (those whose
   * value was not JSON, or not UTF-8 text, in `invalid`).
   * @throws {InfraError} As {@link ConfigCenter.delete}.
   *
   * @example Take a pending job exactly once
   * ```ts
   * import * as coord from "@gochat/infra/coord";
   *
   * await using client = coord.memory();
   * await client.kv.set("/jobs/room-1", { reindex: true });
   * const [job] = (await client.kv.getAndDelete("/jobs/room-1")).deleted;
   * console.assert(job?.value !== undefined);
   * console.assert((await client.kv.getAndDelete("/jobs/room-1")).deleted.length === 0);
   * ```
   */
  getAndDelete<T = unknown>(key: string, options?: DeleteOptions): Promise<DeleteResult<T>>;
  /**
   * Reads every key under a prefix.
   *
   * @param prefix The prefix (`""` is not allowed).
   * @param options A limit and a signal.
   * @returns The entries and the revision of the read.
   * @throws {InfraError} `InvalidArgument` when a stored value is not JSON or not UTF-8 text
   * (naming its key).
   */
  list<T = unknown>(prefix: string, options?: ListOptions): Promise<ConfigList<T>>;
  /**
   * Reads and writes several keys atomically, with optimistic concurrency (etcd's software
   * transactional memory, serializable snapshot isolation): `fn`'s reads all see one
   * revision, its writes are applied in one etcd transaction only if none of the keys it read
   * or writes changed since, and otherwise `fn` runs again on a fresh snapshot. So `fn` may
   * run several times: it should only read and write through `tx` (and compute). A function
   * that only reads commits nothing. Nothing is written when `fn` throws.
   *
   * @param fn The transaction.
   * @param options `maxAttempts` (default 10), a guard (write only while a lock or
   * leadership is held) and a signal.
   * @returns What `fn` returned, the commit revision and the attempts.
   * @throws {InfraError} `Conflict` when every attempt conflicted; `LockLost` when the guard no
   * longer holds; `InvalidArgument` for bad keys, values or options; what `fn` threw.
   *
   * @example Move a quota between two services atomically
   * ```ts
   * import * as coord from "@gochat/infra/coord";
   *
   * await using client = coord.memory();
   * await client.kv.set("/quota/a", 10);
   * await client.kv.set("/quota/b", 0);
   * await client.kv.transaction(async (tx) => {
   *   const a = (await tx.get<number>("/quota/a"))?.value ?? 0;
   *   const b = (await tx.get<number>("/quota/b"))?.value ?? 0;
   *   tx.set("/quota/a", a - 3);
   *   tx.set("/quota/b", b + 3);
   * });
   * console.assert((await client.kv.get("/quota/b"))?.value === 3);
   * ```
   */
  transaction<R>(
    fn: (tx: ConfigTransaction) => Promise<R> | R,
    options?: TransactionOptions,
  ): Promise<TransactionResult<R>>;
  /**
   * Watches a key or prefix. The stream survives etcd restarts and connection loss without
   * missing an update (it resumes from the last revision it reported) and recovers from
   * compaction by re-reading (see {@link ConfigEvent}). It holds at most `bufferSize` events
   * for a slow reader, pausing the watch meanwhile (see {@link WatchOptions.bufferSize}). It
   * closes when `signal` fires or the reader cancels (either stops the server-side watch),
   * and errors only on a permanent failure (e.g. `PermissionDenied`).
   *
   * @param key The key or prefix.
   * @param options `prefix`, `fromRevision`, `bufferSize` and a signal.
   * @returns The events, in revision order.
   * @throws {InfraError} `InvalidArgument` for a bad key, `fromRevision` or `bufferSize`.
   */
  watch<T = unknown>(key: string, options?: WatchOptions): ReadableStream<ConfigEvent<T>>;
}

/**
 * A Standard Schema validator (https://standardschema.dev), as zod, valibot, arktype and
 * others implement it: structurally `StandardSchemaV1<unknown, T>` of `@standard-schema/spec`,
 * reduced to what coord calls.
 */
export interface ConfigSchema<T> {
  /** The Standard Schema properties. */
  readonly "~standard": ConfigSchemaProps<T>;
}

/** The `~standard` properties of a {@link ConfigSchema}. */
export interface ConfigSchemaProps<T> {
  /** The Standard Schema version. */
  readonly version: 1;
  /** The library that made the schema. */
  readonly vendor: string;
  /** Validates (and may transform) a value. */
  readonly validate: (value: unknown) => ConfigSchemaResult<T> | Promise<ConfigSchemaResult<T>>;
}

/** What {@link ConfigSchemaProps.validate} returns: the typed value, or the issues. */
export type ConfigSchemaResult<T> =
  | { readonly value: T; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<ConfigSchemaIssue> };

/** One validation problem. */
export interface ConfigSchemaIssue {
  /** What is wrong. */
  readonly message: string;
  /** Where, as a path of keys. */
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>;
}

/** Options of {@link Coord.config}. */
export interface TypedConfigOptions<T> extends SignalOptions {
  /**
   * Any Standard Schema validator (zod, valibot, arktype, ...). A stored value that fails it
   * is rejected: logged, counted (`coord.config.rejected`), and the last good value stays.
   * Values that arrive together (in one watch batch) are each checked, in order, so every
   * rejected one is logged and counted; of the valid ones only the last goes in force
   * (listeners and components see where the batch ends, once). Values that arrive while
   * listeners and components are still taking the previous one join the next batch, so a
   * burst of writes during a slow `hotReload` puts the latest good value in force, not each
   * one in turn (and at most 1 000 wait meanwhile: the watch pauses past that).
   */
  schema?: ConfigSchema<T>;
  /**
   * The value in force while the key is missing. When both are plain objects, a stored
   * value is merged over the defaults (deeply, objects only) before validation, so a
   * stored config may name only what it changes. They stand for a stored value, so they
   * must be one the key could hold (or `undefined`: nothing until a value is stored):
   * defaults JSON would not bring back as they are (see {@link ConfigCenter}) are
   * `InvalidArgument` naming the path (`defaults.rate: NaN ...`).
   * A stored value that is not JSON (or not UTF-8 text) is rejected like one that fails the
   * schema.
   */
  defaults: T;
  /** What a deleted key means: keep the last good value (default) or go back to defaults. */
  onDelete?: "keep" | "defaults";
}

/** Options of {@link TypedConfig.bind}. */
export interface BindOptions<T, C> {
  /** Picks the component's config out of the typed value (default: the value itself). */
  select?: (value: T) => C;
}

/** A typed, validated, hot-reloaded config value; see {@link Coord.config}. */
export interface TypedConfig<T> extends AsyncDisposable {
  /** The watched key (of several layers: the last, most specific one). */
  readonly key: string;
  /** The keys of the layers, from the base to the most specific (one for a single key). */
  readonly keys: readonly string[];
  /** Revision of the stored value in force; 0 while the defaults are in force. */
  readonly revision: number;
  /** The value in force (the last good one). */
  current(): T;
  /**
   * Subscribes to changes of the value in force.
   *
   * @param listener Called with the new and the previous value; its errors are logged.
   * @returns A function that unsubscribes.
   * @throws {InfraError} `InvalidArgument` when `listener` is not a function.
   */
  onChange(listener: (value: T, previous: T) => void): () => void;
  /**
   * Keeps a component's config in step: calls `component.hotReload` now with the value in
   * force and after every accepted change. A reload the component rejects is logged and
   * counted; the component keeps its own previous config (the HotReloadable contract). A
   * reload has the client's request timeout to settle (its `signal` fires then): one that
   * has not is a failed reload like a rejected one, and the config goes on without it (the
   * other components and later changes do not wait for it).
   *
   * @param component The component.
   * @param options How to pick its config out of the value.
   * @returns A function that unbinds.
   * @throws {InfraError} `InvalidArgument` when `component` has no `hotReload` function or
   * `select` is not a function; what the first `hotReload` threw, or `Timeout` when it did
   * not settle in time (the component is then not bound).
   */
  bind<C = T>(component: HotReloadable<C>, options?: BindOptions<T, C>): Promise<() => void>;
  /** Stops watching; idempotent. */
  close(): Promise<void>;
}

/** A service instance in the registry. */
export interface ServiceInstance {
  /** Service name, e.g. `"im-logic"` (no `/`). */
  service: string;
  /** Instance id, unique within the service (no `/`). */
  id: string;
  /** Where to reach it, e.g. `"10.0.0.5:9000"` or `"http://10.0.0.5:8080"`. */
  address: string;
  /**
   * Free-form data: version, zone, weight, ... It must be what JSON brings back as it is
   * (see {@link ConfigCenter}); else `register` is `InvalidArgument` naming the path
   * (`instance.metadata.weight: NaN ...`) and nothing is registered.
   */
  metadata?: Record<string, unknown>;
}

/** Options of {@link ServiceRegistry.register}. */
export interface RegisterOptions extends SignalOptions {
  /** Lease TTL: how long the entry outlives a crashed instance. Default: `sessionTtlMs`. */
  ttlMs?: number;
  /**
   * Register on this session (from {@link Coord.session}) instead of a lease of its own:
   * the entry lives on the session's lease and keepalive, ends when the session ends, and
   * never outlives it. Not together with `ttlMs` (the session's TTL applies). A session of
   * another client is `InvalidArgument`; one that has ended, `LockLost` (lost) or `Closed`.
   */
  session?: Session;
}

/**
 * `registered`: the entry is in etcd (also while the registration cannot watch its own key,
 * e.g. without read permission: it keeps its lease and retries the watch with backoff).
 * `lost`: it is being restored. `expired`: it was on a caller's session (`options.session`)
 * and the session was lost, taking the entry with it; over for good (register anew on a new
 * session). `closed`: deregistered (by `close()`, or with its session's `close()`).
 */
export type RegistrationState = "registered" | "lost" | "expired" | "closed";

/** A live registration; see {@link ServiceRegistry.register}. */
export interface Registration extends AsyncDisposable {
  /** What is registered. */
  readonly instance: ServiceInstance;
  /** The current state. */
  readonly state: RegistrationState;
  /**
   * Fires when the current registration period ends (lease lost or deregistered). After a
   * recovery this returns a fresh signal for the new period.
   */
  readonly signal: AbortSignal;
  /**
   * Subscribes to state changes (`lost`, then `registered` again after recovery, or
   * `expired`; `closed`).
   *
   * @param listener Called on each change; its errors are logged.
   * @returns A function that unsubscribes.
   * @throws {InfraError} `InvalidArgument` when `listener` is not a function.
   */
  onStateChange(listener: (state: RegistrationState) => void): () => void;
  /** Deregisters (deletes the entry, revokes the lease); idempotent. */
  close(): Promise<void>;
}

/** How a {@link ServicePicker} chooses. */
export type PickStrategy = "round-robin" | "random";

/** Options of {@link ServiceRegistry.picker}. */
export interface PickerOptions extends SignalOptions {
  /** Default `"round-robin"`. */
  strategy?: PickStrategy;
}

/** A client-side load balancer over the live instances of one service. */
export interface ServicePicker extends AsyncDisposable {
  /** The next instance, or undefined when none is registered. */
  pick(): ServiceInstance | undefined;
  /** The instances currently known. */
  instances(): readonly ServiceInstance[];
  /** Stops watching; idempotent. */
  close(): Promise<void>;
}

/** Service registration and discovery. */
export interface ServiceRegistry {
  /**
   * Registers an instance under a lease kept alive in the background. The registration
   * restores itself after lease loss (etcd unreachable longer than the TTL) or deletion of
   * its key, and reports both through `signal`/`onStateChange`; whatever step fails (lease,
   * write, reading or watching its key), the next attempt waits a jittered backoff that
   * doubles up to 5 s, and the trouble is logged once per run of failures. On a caller's
   * session (`options.session`) it puts a deleted key back under that session, but it
   * cannot outlive the session: it ends with it (see {@link RegistrationState}).
   *
   * @param instance The instance.
   * @param options TTL or a session, and a signal for the first registration.
   * @returns The registration; close it to deregister.
   * @throws {InfraError} `InvalidArgument` for a bad instance (metadata included) or TTL,
   * before any lease is taken.
   */
  register(instance: ServiceInstance, options?: RegisterOptions): Promise<Registration>;
  /**
   * Lists the live instances of a service. Entries that are not an instance in JSON (put
   * by another tool) are skipped, with a warning in the log; so are they by `watch`.
   *
   * @param service The service name.
   * @param options An optional signal.
   * @returns The instances, by id.
   */
  discover(service: string, options?: SignalOptions): Promise<ServiceInstance[]>;
  /**
   * Watches a service: the first chunk is the current instance list, then the full list
   * again after every change. Survives etcd restarts like {@link ConfigCenter.watch}. Each
   * read gets the list as it is then: a reader slower than the changes skips the lists it
   * missed (never a backlog of stale ones), and the stream holds one list, whatever the pace.
   *
   * @param service The service name.
   * @param options An optional signal that closes the stream.
   * @returns The lists.
   */
  watch(service: string, options?: SignalOptions): ReadableStream<ServiceInstance[]>;
  /**
   * A live picker: watches the service and picks among its instances.
   *
   * @param service The service name.
   * @param options Strategy and a signal.
   * @returns The picker, once the first list is loaded.
   */
  picker(service: string, options?: PickerOptions): Promise<ServicePicker>;
}

/** Options of {@link Coord.lock} and {@link Election.campaign}. */
export interface LockOptions extends SignalOptions {
  /**
   * TTL of the lease behind the queue key. Default: `sessionTtlMs`. Locks and campaigns of
   * one TTL share one lease the client keeps (opened on first use, replaced once lost).
   */
  ttlMs?: number;
  /**
   * Queue on this session (from {@link Coord.session}) instead of the client's shared lease
   * of `ttlMs`: the lock or leadership lives on the session's lease and keepalive, ends when
   * the session ends, and never outlives it; releasing it leaves the session alone. Not together with `ttlMs` (the session's TTL applies). A session of
   * another client is `InvalidArgument`; one that has ended, `LockLost` (lost) or `Closed`.
   */
  session?: Session;
}

/** Options of {@link Coord.session}. */
export interface SessionOptions extends SignalOptions {
  /** TTL of the session's lease. Default: `sessionTtlMs`. */
  ttlMs?: number;
}

/**
 * A session (etcd Go's `concurrency.Session`): one lease, kept alive in the background by
 * one keepalive, that any number of locks, campaigns, registrations and instance ids can
 * share (`{ session }` in their options). A chat backend holding a lock per room needs one
 * lease and one keepalive for all of them, not one each, and everything on a session lives
 * and dies together: a registration and the instance id it advertises, say.
 *
 * - `signal` fires when the lease may be lost (`LockLost`: etcd unreachable for the TTL,
 *   the lease revoked), at the same local deadline as every lease of coord (strictly before
 *   etcd could expire it), or when the session is closed (`Closed`). It never un-fires: a
 *   lost session does not come back; open a new one and bind anew.
 * - When it fires, every primitive bound to the session ends with it, at once: each lock's
 *   and leadership's `signal` fires (`LockLost`, or `Closed` for a closed session),
 *   registrations and instance ids go `lost` for good (`closed` for a closed session) and
 *   never take a lease of their own.
 * - `close()` revokes the lease: etcd deletes every key bound to it in one step (thousands
 *   of locks released by one request). Releasing a lock, resigning, deregistering or
 *   closing an id bound to the session deletes only its own key; the session lives on.
 * - The client closes its sessions when it closes.
 *
 * @example Many locks on one lease
 * ```ts
 * import * as coord from "@gochat/infra/coord";
 *
 * await using client = coord.memory();
 * await using session = await client.session({ ttlMs: 10_000 });
 * const rooms = await Promise.all(
 *   ["room-1", "room-2", "room-3"].map((room) => client.lock(room, { session })),
 * );
 * console.assert(rooms.every((lock) => !lock.signal.aborted));
 * await session.close(); // releases all three at once
 * console.assert(rooms.every((lock) => lock.signal.aborted));
 * ```
 */
export interface Session extends AsyncDisposable {
  /** The etcd lease id, in decimal. */
  readonly leaseId: string;
  /** The TTL asked for, in ms (etcd grants whole seconds, at least this). */
  readonly ttlMs: number;
  /** Fires when the session ends: `LockLost` when the lease may be lost, `Closed` on close. */
  readonly signal: AbortSignal;
  /**
   * Whether the lease is still believed alive. Reading it checks the local deadline at that
   * moment, so it says false once the deadline has passed even when a busy event loop has
   * not yet run the timer that fires `signal` (reading it then fires the signal).
   */
  readonly alive: boolean;
  /**
   * Ends the session: stops the keepalive and revokes the lease, releasing everything bound
   * to it. Idempotent; never throws (an unreachable etcd lets the lease expire instead).
   */
  close(): Promise<void>;
}

/**
 * A held distributed lock. Its `signal` fires when ownership ends: the lease was lost (etcd
 * unreachable for the TTL, or revoked), the key was deleted, or it was released.
 */
export interface Lock extends Fence, AsyncDisposable {
  /** The lock name. */
  readonly name: string;
  /**
   * Fires when ownership ends; the reason is an InfraError (`LockLost`, or `Closed` after a
   * release). The lease is always watched; reading `signal` also starts watching the lock's
   * key, so that its deletion by someone else is noticed too.
   */
  readonly signal: AbortSignal;
  /**
   * Asks etcd whether this lock is still held.
   *
   * @param options An optional signal.
   * @returns True while the queue key still exists with this fencing token.
   */
  isOwner(options?: SignalOptions): Promise<boolean>;
  /** Releases the lock (the next waiter gets it); idempotent. */
  release(): Promise<void>;
}

/** The current leader of an election. */
export interface LeaderInfo<T = unknown> {
  /** The leader's queue key. */
  key: string;
  /**
   * What the leader proclaimed, decoded from JSON; a value that is not JSON (a candidate of
   * another etcd client, such as Go's `concurrency.Election`, stores plain text) is given
   * as its text, and one that is not even UTF-8 text (a binary value) as its bytes, a
   * `Uint8Array`.
   */
  value: T;
  /** The create revision of its key: grows with every new leader (a term number). */
  revision: number;
}

/** Held leadership; see {@link Election.campaign}. */
export interface Leadership extends Fence, AsyncDisposable {
  /** The election name. */
  readonly election: string;
  /** Fires when leadership ends (lease lost, key deleted, resigned). */
  readonly signal: AbortSignal;
  /**
   * Changes the value the leader announces.
   *
   * @param value A value JSON brings back as it is (see {@link ConfigCenter}).
   * @param options An optional signal.
   * @throws {InfraError} `InvalidArgument` for a value JSON would not bring back (the
   * message names its path; the proclaimed value stays); `LockLost` when leadership was
   * lost.
   */
  proclaim(value: unknown, options?: SignalOptions): Promise<void>;
  /** Gives leadership up (the next candidate takes over); idempotent. */
  resign(): Promise<void>;
}

/** A leader election; see {@link Coord.election}. */
export interface Election {
  /** The election name. */
  readonly name: string;
  /**
   * Becomes a candidate and waits until elected (candidates are served in arrival order).
   *
   * @param value What to announce as leader, e.g. the instance address: a value JSON
   * brings back as it is (see {@link ConfigCenter}).
   * @param options TTL and a signal that withdraws the candidacy.
   * @returns The leadership.
   * @throws {InfraError} `InvalidArgument` for a value JSON would not bring back (the
   * message names its path), before the candidate joins the queue.
   */
  campaign(value: unknown, options?: LockOptions): Promise<Leadership>;
  /**
   * Reads the current leader.
   *
   * @param options An optional signal.
   * @returns The leader, or undefined when there is none.
   */
  leader<T = unknown>(options?: SignalOptions): Promise<LeaderInfo<T> | undefined>;
  /**
   * Watches the leader: the current one first, then every change (`undefined` = none). Each
   * read gets the leader as it is then: a reader slower than the changes skips the leaders
   * it missed (never a backlog of stale ones), and the stream holds one, whatever the pace.
   *
   * @param options An optional signal that closes the stream.
   * @returns The leaders.
   */
  observe<T = unknown>(options?: SignalOptions): ReadableStream<LeaderInfo<T> | undefined>;
}

/** Options of {@link Coord.leaseInstanceId}. */
export interface InstanceIdOptions extends SignalOptions {
  /** Largest id (inclusive); ids run from 0. Default 1023 (Snowflake's 10 bits). */
  maxId?: number;
  /** Lease TTL. Default: `sessionTtlMs`. */
  ttlMs?: number;
  /**
   * Hold the id on this session (from {@link Coord.session}) instead of a lease of its own:
   * the id lives on the session's lease and keepalive, ends when the session ends, and
   * never outlives it. Not together with `ttlMs` (the session's TTL applies). A session of
   * another client is `InvalidArgument`; one that has ended, `LockLost` (lost) or `Closed`.
   */
  session?: Session;
  /** Try this id first (e.g. the id of a lost lease, to keep it when it is still free). */
  preferId?: number;
  /** Stored with the id to show who holds it (default: a random token). */
  holder?: string;
}

/**
 * Where an {@link InstanceIdLease} stands:
 *
 * - `held`: the id is this holder's; ids may be issued with it.
 * - `lost`: the lease may be lost (etcd unreachable for the TTL, the lease revoked, the key
 *   deleted or overwritten); issue nothing. As soon as etcd answers, the id is claimed again
 *   under a new lease if it is free (or still attached to this holder's old lease), and the
 *   state is `held` again. On a caller's session (`options.session`) the id is re-claimed
 *   under that session after a deletion; a lost session ends the lease (`expired`).
 * - `taken`: someone else held the id by then; this lease is over for good (lease a new
 *   id).
 * - `expired`: the caller's session it was leased on was lost, and the id went with the
 *   session's lease; this lease is over for good (lease a new id on a new session).
 * - `closed`: released by `close()`, or with its session's `close()`.
 */
export type InstanceIdState = "held" | "lost" | "taken" | "expired" | "closed";

/**
 * A leased instance id, unique among live holders of the same service. Pass it to uid's
 * Snowflake generator. Its `signal` fires as soon as the lease may be lost, before etcd
 * could give the id to anyone else. The lease then re-claims the same id when it is still
 * free, and only then (never while someone else may hold it): the state goes `lost` →
 * `held` and `signal` is a fresh signal for the new holding period. uid's generator reads
 * `signal` and `state` as it goes, so one generator follows the lease across such a loss.
 *
 * @example One Snowflake generator across an etcd outage
 * ```ts ignore
 * import * as coord from "@gochat/infra/coord";
 * import { snowflake } from "@gochat/infra/uid";
 *
 * await using client = await coord.connect(coord.defaultConfig("production"));
 * await using lease = await client.leaseInstanceId("im-logic");
 * const ids = snowflake({}, { lease });
 * ids.next(); // LockLost while the lease is lost (ids again once held), for good once taken
 * ```
 */
export interface InstanceIdLease extends AsyncDisposable {
  /** The service the id belongs to. */
  readonly service: string;
  /** The id, from 0 to `maxId`; the same for the whole life of the lease. */
  readonly id: number;
  /**
   * The current state. Reading it checks the lease's local deadline at that moment, so it
   * says `lost` once the deadline has passed even when a busy event loop has not yet run
   * the timer that fires `signal` (reading it then fires the signal).
   */
  readonly state: InstanceIdState;
  /**
   * Fires when the current holding period ends (reason: `LockLost`, or `Closed` after
   * `close()`). While the lease is not `held` it is an aborted signal; after a re-claim it
   * is a fresh one for the new period.
   */
  readonly signal: AbortSignal;
  /**
   * Subscribes to state changes (`lost`, then `held` again after a re-claim, or `taken` or
   * `expired`; `closed`).
   *
   * @param listener Called on each change; its errors are logged.
   * @returns A function that unsubscribes.
   * @throws {InfraError} `InvalidArgument` when `listener` is not a function.
   */
  onStateChange(listener: (state: InstanceIdState) => void): () => void;
  /** Releases the id; idempotent. */
  close(): Promise<void>;
}

/**
 * A coord client: config center, typed hot-reloaded config, service registry, locks,
 * elections and instance ids over etcd (or the embedded memory driver).
 */
export interface Coord extends AsyncDisposable {
  /** The config center (JSON values by key). */
  readonly kv: ConfigCenter;
  /** Service registration and discovery. */
  readonly registry: ServiceRegistry;
  /**
   * A typed config value, loaded now and hot-reloaded on every change of `key`. When etcd
   * cannot be reached at start the defaults are in force and the watch keeps trying.
   *
   * Given several keys, the value is layered: the defaults, then each key's stored value
   * merged over the ones before it (plain objects deeply, anything else replaces), e.g. the
   * shared `/config/{env}/global/{component}` under the service's own
   * `/config/{env}/{service}/{component}` (see {@link configLayers}). The layers are read
   * in one snapshot, then each is watched; the merge of all of them is what the schema
   * checks, so the value in force is always the last merge that passed it (a layer whose
   * value makes the merge fail holds everything back until it or another layer is fixed).
   * A deleted layer drops out of the merge under `onDelete: "defaults"` and keeps its last
   * value under `"keep"`. `revision` is the highest revision among the layers merged.
   *
   * @param key The key, e.g. `configKey({ env: "dev", component: "clog" })`, or the keys of
   * the layers from the base to the most specific (at least one, none twice).
   * @param options Schema, defaults, delete policy and a signal for the first load.
   * @returns The typed config.
   * @throws {InfraError} `InvalidArgument` for a bad key, an empty or repeating list of keys,
   * or bad options.
   *
   * @example Shared settings with a per-service override
   * ```ts
   * import * as coord from "@gochat/infra/coord";
   *
   * await using client = coord.memory();
   * const parts = { env: "prod", service: "im-logic", component: "cache" };
   * await client.kv.set(coord.configKey({ ...parts, service: "global" }), { ttlMs: 60_000, l1: true });
   * await client.kv.set(coord.configKey(parts), { ttlMs: 5_000 });
   * await using cache = await client.config(coord.configLayers(parts), {
   *   defaults: { ttlMs: 1_000, l1: false },
   * });
   * console.assert(cache.current().ttlMs === 5_000 && cache.current().l1 === true);
   * ```
   */
  config<T>(
    key: string | readonly string[],
    options: TypedConfigOptions<T>,
  ): Promise<TypedConfig<T>>;
  /**
   * Opens a session: a lease kept alive in the background for locks, campaigns,
   * registrations and instance ids to share (see {@link Session}).
   *
   * @param options TTL and a signal that gives up opening.
   * @returns The live session; close it (or `await using`) to release what is bound to it.
   * @throws {InfraError} `InvalidArgument` for a bad TTL; `Aborted`/`Timeout` from the
   * signal; `Closed` once the client is closed.
   */
  session(options?: SessionOptions): Promise<Session>;
  /**
   * Acquires a lock, waiting in FIFO order behind earlier callers (only the immediate
   * predecessor is watched, so a release wakes one waiter).
   *
   * @param name The lock name (no `/`).
   * @param options TTL or a session, and a signal that gives up waiting.
   * @returns The held lock.
   * @throws {InfraError} `Aborted`/`Timeout` from the signal; `LockLost` when the lease was
   * lost while waiting (or the given session has ended).
   */
  lock(name: string, options?: LockOptions): Promise<Lock>;
  /**
   * Acquires a lock only if nobody holds it or waits for it.
   *
   * @param name The lock name.
   * @param options TTL and a signal.
   * @returns The held lock, or undefined when it is taken.
   */
  tryLock(name: string, options?: LockOptions): Promise<Lock | undefined>;
  /**
   * Runs `fn` while holding a lock, then releases it (also when `fn` throws).
   *
   * @param name The lock name.
   * @param fn The critical section; pass `lock.signal` to its I/O to stop on loss.
   * @param options TTL and a signal for the wait.
   * @returns What `fn` returned.
   */
  withLock<R>(name: string, fn: (lock: Lock) => Promise<R> | R, options?: LockOptions): Promise<R>;
  /**
   * A leader election.
   *
   * @param name The election name (no `/`).
   * @returns The election.
   */
  election(name: string): Election;
  /**
   * Leases an instance id (0 to `maxId`) unique among the live holders for `service`.
   *
   * @param service The service name (no `/`).
   * @param options Range, TTL, preferred id and a signal.
   * @returns The lease.
   * @throws {InfraError} `ResourceExhausted` when every id is taken.
   */
  leaseInstanceId(service: string, options?: InstanceIdOptions): Promise<InstanceIdLease>;
  /**
   * Closes everything this client handed out (deregisters, releases locks, ids and
   * leadership, stops watches), then the connection. Idempotent. A call still opening
   * something (a registration, a lock or a campaign, an instance id, a typed config, a
   * picker) is waited for: what it opened is undone (lease revoked, key deleted) and it
   * rejects with `Closed`, so nothing outlives the client.
   */
  close(): Promise<void>;
}
