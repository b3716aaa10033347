/**
 * The cache contract: the {@link Cache} interface every driver implements, its options and
 * its config.
 *
 * @module
 */

import type { HotReloadable, HotReloadOptions } from "../base/mod.ts";
import type { Logger } from "../clog/mod.ts";

/**
 * How values are stored: `"json"` (the default), `"string"` (strings as they are) or
 * `"bytes"` (`Uint8Array`s as they are).
 *
 * The JSON codec stores only what comes back as it went in (base's `jsonProblem` rule):
 * strings, finite numbers, booleans, `null`, and arrays and plain objects of them.
 * Anything else is refused with `InvalidArgument` naming the path of the offending part
 * (`value.items[3]: a Map cannot be stored as JSON ...`) and nothing is written: typed
 * arrays and buffers (use `"bytes"`), `Map`, `Set`, `NaN`, `±Infinity`, bigints,
 * functions, symbols (also as property keys), `undefined` in arrays and holes of sparse
 * arrays, boxed primitives, class instances and other objects with a prototype, circular
 * references and nesting deeper than 1,000 levels. A value with a `toJSON` method is
 * stored as what that returns (a `Date` comes back as its ISO string). Properties whose
 * value is `undefined` are dropped, as JSON drops them; `-0` comes back as `0`.
 */
export type Codec = "json" | "string" | "bytes";

/** Where the data lives: one Redis node, a Sentinel-managed master, a Cluster, or memory. */
export type CacheMode = "single" | "sentinel" | "cluster" | "memory";

/** TLS settings (PEM text, so the config stays plain JSON). */
export interface TlsConfig {
  /** Connect with TLS (`rediss`). */
  enabled: boolean;
  /** CA certificate(s) to trust, PEM; empty = the runtime's default roots. */
  caPem: string;
  /** Client certificate for mutual TLS, PEM; empty = none. */
  certPem: string;
  /** Client private key for mutual TLS, PEM; empty = none. */
  keyPem: string;
  /** Server name to verify (SNI); empty = the host of the node. */
  serverName: string;
  /** Verify the server certificate. Only turn off against a local test server. */
  verify: boolean;
}

/** Sentinel settings (mode `"sentinel"`; `nodes` are then the Sentinels). */
export interface SentinelConfig {
  /** The master group name the Sentinels monitor. */
  masterName: string;
  /** ACL user for the Sentinels; empty = none. */
  username: string;
  /** Password for the Sentinels; empty = none. */
  password: string;
}

/** The optional in-process tier in front of Redis. */
export interface L1Config {
  /**
   * Keep an L1 and broadcast invalidations to the other instances' L1. While this
   * instance's subscription to the invalidations is down, L1 serves and keeps nothing, and
   * it starts empty once resubscribed. Limit: in a cluster, ioredis moves a lost
   * subscription to another node without telling; invalidations sent during that switch
   * are lost, and the entries they concerned live at most `ttlMs`.
   *
   * Consistency across instances is eventual, with a short window: the writing instance
   * drops its own entry before the write is sent (it reads its writes), but another
   * instance hears of the write by pub/sub once Redis answered it, so its reads in the
   * first milliseconds after the write may still get the old value from its L1 (on
   * loopback, 1 of 50 reads issued right after another instance's `set` resolved). Keys
   * that must be read fresh the moment another instance wrote them belong in a cache
   * without L1.
   */
  enabled: boolean;
  /** Most entries kept (least recently used evicted first). */
  maxEntries: number;
  /** Most bytes of encoded values kept (estimated; UTF-16 for text). */
  maxBytes: number;
  /**
   * Longest time an entry stays in L1; never longer than its TTL in Redis. getOrSet takes
   * an L1 entry only while it is fresh (before its `staleWhileRevalidateMs` window): a stale
   * one is read from Redis, which serves it and has it refreshed.
   */
  ttlMs: number;
  /**
   * Publish an invalidation for every write even though this instance keeps no L1. An
   * instance with L1 always publishes; an instance without one (a worker, a job) must turn
   * this on when other instances hold the keys it writes in their L1, or their L1 keeps
   * serving the old values for up to their `ttlMs`.
   */
  publishInvalidations: boolean;
}

/** Defaults of {@link Cache.getOrSet} (each one can be overridden per call). */
export interface GetOrSetConfig {
  /** How long "not found" (the loader returned `undefined`) is cached; 0 = not cached. */
  negativeTtlMs: number;
  /** TTL jitter as a fraction: the TTL is drawn uniformly from [ttl·(1−jitter), ttl]. */
  jitter: number;
  /** How long after its TTL a value may still be served while one caller refreshes it. */
  staleWhileRevalidateMs: number;
  /** TTL of the per-key loader lock; it is extended while the loader runs. */
  lockTtlMs: number;
  /** How long a caller waits for another process's loader before a `Timeout`. */
  waitTimeoutMs: number;
  /**
   * Fail-safe: how long after its TTL (and stale window) a value is kept as a fallback,
   * served instead of an error when the loader fails or times out, or while Redis cannot
   * be reached; 0 = off.
   *
   * The value lives this much longer in Redis, and a marker beside it records its grace
   * period, so every reader agrees when it expired (a later `set` that writes, or a
   * `delete`, ends the marker with the value it replaces; `expire` ends it and leaves the
   * value: a value deleted or given a TTL by `expire` is never served from grace; a `set`
   * that does not write, an `increment`, which keeps the TTL, and a script, which the
   * cache cannot tell from a read, leave it). An expired value is loaded again
   * as on a miss, one loader across processes; the callers get the fallback only if the
   * loader fails, hits `hardTimeoutMs` or takes longer than `softTimeoutMs`, and only if
   * the value expired no more than their own `graceMs` ago. Plain `get` and `ttl` see the
   * value for its whole life in Redis, grace included.
   *
   * While Redis cannot be reached, a caller that already read the value in grace gets it;
   * other callers get this process's last copy only with L1 on: the copies are kept beside
   * L1 (within its bounds, kept until their grace ends, and not dropped while L1 is
   * suspended; writes in this process and invalidations heard drop them), so they may miss
   * writes other instances made while this one could not hear of them. Without L1 the call
   * fails `Unavailable` as without grace. The loader is not called then: what it returned
   * could be neither stored nor shared.
   *
   * @example
   * ```ts
   * import { memory } from "@gochat/infra/cache";
   *
   * await using cache = memory({ getOrSet: { graceMs: 6 * 3_600_000, softTimeoutMs: 200 } });
   * const user = await cache.getOrSet("user:1", () => ({ id: 1 }), { ttlMs: 600_000 });
   * console.assert(user?.id === 1);
   * ```
   */
  graceMs: number;
  /**
   * After a loader failure answered from grace, how long the loader of that key is not
   * called again (every process serves the fallback meanwhile); 0 = retry on every call.
   */
  graceBackoffMs: number;
  /**
   * When a fallback (grace) value exists and the loader takes longer than this, the
   * callers get the fallback now and the load finishes in the background; 0 = off.
   */
  softTimeoutMs: number;
  /**
   * A loader still running after this long is abandoned (its signal aborts, nothing is
   * stored) and the callers get `Timeout` (or the fallback, within grace); 0 = off. A
   * caller waiting for another loader (of another process, or of a caller here with other
   * options) gives up after this long too, with the same outcome, and that loader goes on.
   * Must be longer than `softTimeoutMs` when both are set.
   */
  hardTimeoutMs: number;
}

/** Configuration of {@link Cache} on Redis: plain JSON, validated by `connect`. */
export interface CacheConfig {
  /** `"single"`, `"sentinel"` or `"cluster"`. */
  mode: "single" | "sentinel" | "cluster";
  /**
   * `host:port` of the server (single), of the Sentinels (sentinel) or of some cluster
   * nodes (cluster; the rest are discovered). IPv6 as `[::1]:6379`.
   */
  nodes: string[];
  /** ACL user; empty = the default user. */
  username: string;
  /** Password; empty = none. */
  password: string;
  /** Database number (single and sentinel; a cluster has only 0). */
  db: number;
  /** TLS. */
  tls: TlsConfig;
  /** Sentinel settings (mode `"sentinel"`). */
  sentinel: SentinelConfig;
  /**
   * Prepended to every key (also the keys passed to scripts) and to the cache's pub/sub
   * channels. Must not contain `{` or `}` so that hash tags in keys keep deciding the slot.
   */
  keyPrefix: string;
  /** How values are stored unless a call says otherwise. */
  codec: Codec;
  /** TTL of `set` and `getOrSet` when the call gives none; 0 = no expiry. */
  defaultTtlMs: number;
  /** Deadline of the initial connection. */
  connectTimeoutMs: number;
  /**
   * Deadline of each command sent to Redis: no reply within it is a `Timeout` (checked by
   * one sweeper, so up to a tenth later). Commands queued while reconnecting fail
   * `Unavailable` after `maxRetriesPerRequest` attempts instead. Per call, pass a `signal`.
   */
  commandTimeoutMs: number;
  /**
   * Queue commands while reconnecting (each waits for at most `maxRetriesPerRequest`
   * reconnection attempts, then fails `Unavailable`); false = fail at once while down.
   */
  offlineQueue: boolean;
  /** Reconnection attempts a queued command waits for before failing `Unavailable`. */
  maxRetriesPerRequest: number;
  /** First reconnection delay. */
  reconnectMinDelayMs: number;
  /** Longest reconnection delay (the delay doubles up to it). */
  reconnectMaxDelayMs: number;
  /**
   * Send the commands issued in one burst of microtasks in one socket write (each still
   * settles on its own). Default true; it is what makes the cache faster than plain ioredis.
   */
  autoPipelining: boolean;
  /** `CLIENT SETNAME` of the connections; empty = none. */
  connectionName: string;
  /** The in-process L1 tier. */
  l1: L1Config;
  /** Defaults of getOrSet. */
  getOrSet: GetOrSetConfig;
}

/** Configuration of the memory driver: the part of {@link CacheConfig} that applies to it. */
export interface MemoryCacheConfig {
  /** Prepended to every key, as on Redis. */
  keyPrefix: string;
  /** How values are stored unless a call says otherwise. */
  codec: Codec;
  /** TTL of `set` and `getOrSet` when the call gives none; 0 = no expiry. */
  defaultTtlMs: number;
  /** Defaults of getOrSet. */
  getOrSet: GetOrSetConfig;
}

/** A config where every field, at any depth, may be left out (defaults fill it in). */
export type ConfigInput<C> = {
  [K in keyof C]?: C[K] extends readonly unknown[] ? C[K]
    : C[K] extends object ? ConfigInput<C[K]>
    : C[K];
};

/** Dependencies of `connect`. */
export interface CacheDependencies {
  /** Where the cache logs; default `getLogger("cache")`. */
  logger?: Logger;
}

/**
 * The keyspace of the memory driver. Several memory caches given the same store see the
 * same data and each other's pub/sub messages, like processes sharing one Redis.
 */
export interface MemoryStore {
  /** Keys currently stored (expired ones not counted). */
  readonly size: number;
  /** Removes every key. */
  clear(): void;
}

/** Options of a memory store. */
export interface MemoryStoreOptions {
  /** The clock TTLs are measured with, in ms; default `Date.now` (inject one in tests). */
  now?: () => number;
}

/** Dependencies of the memory driver. */
export interface MemoryCacheDependencies extends CacheDependencies {
  /** The keyspace; default a fresh private one. */
  store?: MemoryStore;
}

/** Options every call accepts. */
export interface CallOptions {
  /** Stops waiting: the call rejects with `Aborted` (or `Timeout` for a timeout signal). */
  signal?: AbortSignal;
}

/** Options of calls that read or write values. */
export interface ValueOptions extends CallOptions {
  /** The codec of this call; default `config.codec`. */
  codec?: Codec;
}

/** Options of {@link Cache.set}. */
export interface SetOptions extends ValueOptions {
  /** Time to live in ms; 0 = no expiry; default `config.defaultTtlMs`. */
  ttlMs?: number;
  /** Write only when the key does not exist (`NX`; a tag-invalidated entry does not). */
  ifAbsent?: boolean;
  /** Write only when the key exists (`XX`; a tag-invalidated entry does not). */
  ifPresent?: boolean;
  /** Keep the key's current TTL instead of setting one (`KEEPTTL`). */
  keepTtl?: boolean;
  /**
   * Tags of the entry, for {@link Cache.deleteByTag} (see there): 1 to 64 non-empty
   * strings of at most 256 characters. A tagged entry must expire within 30 days (`ttlMs`
   * 0 and `keepTtl` are refused). The current state of the tags is read before the write,
   * one more round trip without L1 (with L1, from L1 when it holds it).
   */
  tags?: string[];
}

/** Options of {@link Cache.setMany}. */
export interface SetManyOptions extends ValueOptions {
  /** Time to live in ms of every entry; 0 = no expiry; default `config.defaultTtlMs`. */
  ttlMs?: number;
  /**
   * Tags of every entry, as {@link SetOptions.tags} (a tagged entry must expire within 30
   * days: `ttlMs` 0 is refused). Their state is read once before the write.
   */
  tags?: string[];
}

/** Options of {@link Cache.increment}. */
export interface IncrementOptions extends CallOptions {
  /** TTL given to the counter when this call creates it (a window counter); 0 = none. */
  ttlMs?: number;
}

/** A sorted-set member with its score. */
export interface ScoredMember<T = unknown> {
  /** The member (decoded with the codec). */
  member: T;
  /** Its score. */
  score: number;
}

/** Options of sorted-set range reads. */
export interface RangeOptions extends ValueOptions {
  /** Highest score first. */
  reverse?: boolean;
}

/** Options of {@link SortedSets.rangeByScore}. */
export interface ScoreRangeOptions extends RangeOptions {
  /** Exclude members whose score equals `min`. */
  minExclusive?: boolean;
  /** Exclude members whose score equals `max`. */
  maxExclusive?: boolean;
  /** Skip this many matching members (with `count`). */
  offset?: number;
  /** Return at most this many members. */
  count?: number;
}

/** Options of {@link SortedSets.add}. */
export interface SortedSetAddOptions extends ValueOptions {
  /** Only add new members; never update scores (`NX`). */
  ifAbsent?: boolean;
  /** Only update existing members (`XX`). */
  ifPresent?: boolean;
  /** Only update a score when the new one is greater (`GT`). */
  onlyGreater?: boolean;
  /** Only update a score when the new one is less (`LT`). */
  onlyLess?: boolean;
}

/**
 * Hash operations. Field names are strings; field values go through the codec. Hashes take
 * no `tags` (nor do sets, sorted sets and counters): passing them is `InvalidArgument`.
 */
export interface Hashes {
  /** The value of `field`, or `undefined` when the key or field is missing. */
  get<T = unknown>(key: string, field: string, options?: ValueOptions): Promise<T | undefined>;
  /** The values of `fields`, `undefined` for each missing one, in order. */
  getMany<T = unknown>(
    key: string,
    fields: string[],
    options?: ValueOptions,
  ): Promise<(T | undefined)[]>;
  /** All fields; `{}` when the key is missing. */
  getAll<T = unknown>(key: string, options?: ValueOptions): Promise<Record<string, T>>;
  /** Sets fields; resolves to the number of fields that were new. */
  set(key: string, fields: Record<string, unknown>, options?: ValueOptions): Promise<number>;
  /** Deletes fields; resolves to how many existed. */
  delete(key: string, fields: string | string[], options?: CallOptions): Promise<number>;
  /** Whether `field` exists. */
  has(key: string, field: string, options?: CallOptions): Promise<boolean>;
  /** The number of fields (0 when the key is missing). */
  size(key: string, options?: CallOptions): Promise<number>;
  /**
   * Adds `by` (default 1) to an integer (or, with a fraction, float) field; returns the new
   * value. A field that holds a float takes integer steps as floats, as counters do.
   */
  increment(key: string, field: string, by?: number, options?: CallOptions): Promise<number>;
}

/** Set operations. Members go through the codec. */
export interface Sets {
  /** Adds members; resolves to how many were new. */
  add(key: string, members: unknown[], options?: ValueOptions): Promise<number>;
  /** Removes members; resolves to how many were present. */
  remove(key: string, members: unknown[], options?: ValueOptions): Promise<number>;
  /** All members (unordered); `[]` when the key is missing. */
  members<T = unknown>(key: string, options?: ValueOptions): Promise<T[]>;
  /** Whether `member` is in the set. */
  has(key: string, member: unknown, options?: ValueOptions): Promise<boolean>;
  /** The number of members (0 when the key is missing). */
  size(key: string, options?: CallOptions): Promise<number>;
}

/** Sorted-set operations. Members go through the codec; reads return scores in the same reply. */
export interface SortedSets {
  /** Adds or updates members; resolves to how many were new. */
  add(key: string, members: ScoredMember[], options?: SortedSetAddOptions): Promise<number>;
  /**
   * Members by rank (0 = lowest score, or highest with `reverse`), `start` to `stop`
   * inclusive; negative ranks count from the end (-1 = last). One round trip, with scores.
   */
  range<T = unknown>(
    key: string,
    start: number,
    stop: number,
    options?: RangeOptions,
  ): Promise<ScoredMember<T>[]>;
  /**
   * Members with `min ≤ score ≤ max` (±Infinity allowed), lowest first (highest first with
   * `reverse`; `min` and `max` keep their meaning). One round trip, with scores.
   */
  rangeByScore<T = unknown>(
    key: string,
    min: number,
    max: number,
    options?: ScoreRangeOptions,
  ): Promise<ScoredMember<T>[]>;
  /** The score of `member`, or `undefined` when it is not in the set. */
  score(key: string, member: unknown, options?: ValueOptions): Promise<number | undefined>;
  /** The 0-based rank of `member` (lowest first, highest first with `reverse`), or `undefined`. */
  rank(key: string, member: unknown, options?: RangeOptions): Promise<number | undefined>;
  /** Removes members; resolves to how many were present. */
  remove(key: string, members: unknown[], options?: ValueOptions): Promise<number>;
  /** The number of members (0 when the key is missing). */
  size(key: string, options?: CallOptions): Promise<number>;
  /** How many members have `min ≤ score ≤ max`. */
  count(key: string, min: number, max: number, options?: CallOptions): Promise<number>;
  /** Adds `by` to the score of `member` (adding it at `by` when absent); returns the new score. */
  increment(key: string, member: unknown, by: number, options?: ValueOptions): Promise<number>;
  /** Removes members ranked `start` to `stop` (inclusive, negative from the end); returns how many. */
  removeByRank(key: string, start: number, stop: number, options?: CallOptions): Promise<number>;
  /** Removes members with `min ≤ score ≤ max`; returns how many. */
  removeByScore(key: string, min: number, max: number, options?: CallOptions): Promise<number>;
  /**
   * Keeps only the `keep` highest-scored members (or lowest with `{ lowest: true }`): the
   * "last N messages" window. Returns how many were removed.
   */
  trim(
    key: string,
    keep: number,
    options?: CallOptions & { lowest?: boolean },
  ): Promise<number>;
}

/** What a script returns: Lua values as JavaScript values (Lua `false` and nil → `null`). */
export type ScriptReply = null | number | string | Uint8Array | ScriptReply[];

/** `redis.call` as a script's JavaScript twin sees it (memory driver). */
export interface ScriptCommands {
  /** Runs one command inside the script; throws Redis's error reply. */
  call(command: string, ...args: (string | number | Uint8Array)[]): ScriptReply;
}

/**
 * The JavaScript twin of a Lua script for the memory driver: it receives the same KEYS
 * (prefixed) and ARGV (as strings) and runs atomically. `true` → 1, `false`/`undefined` →
 * `null`, numbers are truncated to integers, as Redis converts Lua values. An Error it
 * throws whose message starts with an error code (`"ERR …"`, `"WRONGTYPE …"`) stands for
 * that error reply (`redis.error_reply`); anything else it throws for Lua's `error()`,
 * `InvalidArgument` on both drivers.
 */
export type MemoryScriptFunction = (
  redis: ScriptCommands,
  keys: string[],
  args: string[],
) => ScriptReply | boolean | undefined;

/** Options of {@link Cache.script}. */
export interface ScriptOptions {
  /** How many keys every call passes (KEYS); the script must touch only those keys. */
  keys: number;
  /**
   * The script's JavaScript twin, run by the memory driver (which has no Lua). Without
   * one, running the script on the memory driver is an `InvalidArgument` error.
   */
  memory?: MemoryScriptFunction;
}

/** Options of {@link Script.run}. */
export interface ScriptRunOptions extends CallOptions {
  /** Bulk replies as `Uint8Array` instead of strings. */
  binary?: boolean;
}

/**
 * A Lua script defined once: its SHA1 is computed locally and it runs with `EVALSHA`,
 * falling back to `EVAL` on the node that answered `NOSCRIPT` (after a restart,
 * `SCRIPT FLUSH`, or on a cluster node that has not seen it yet).
 */
export interface Script {
  /** The SHA1 (hex) of the source. */
  readonly sha: string;
  /** The number of keys every call passes. */
  readonly keys: number;
  /**
   * Runs the script. `keys` are prefixed like every other key; `args` go as they are.
   * In a cluster every key must share one hash tag.
   */
  run(keys: string[], args?: (string | number)[], options?: ScriptRunOptions): Promise<ScriptReply>;
}

/**
 * Commands queued and sent in one round trip (one per slot in a cluster, in parallel; the
 * order is kept within a slot). Not a transaction: each command succeeds or fails alone.
 * Every method returns the pipeline, for chaining.
 */
export interface Pipeline {
  /** Queues {@link Cache.get}. */
  get(key: string, options?: { codec?: Codec }): Pipeline;
  /**
   * Queues {@link Cache.set} (without tags: `tags` is refused here). A conditional set
   * (`ifAbsent` / `ifPresent`) that meets a tagged entry at its key is decided once the
   * batch is back (its tags checked, then one more round trip), so it lands after the
   * commands queued behind it.
   */
  set(key: string, value: unknown, options?: Omit<SetOptions, "signal" | "tags">): Pipeline;
  /** Queues {@link Cache.delete}. */
  delete(key: string): Pipeline;
  /** Queues {@link Cache.exists} for one key (a boolean). */
  exists(key: string): Pipeline;
  /** Queues {@link Cache.expire}. */
  expire(key: string, ttlMs: number): Pipeline;
  /** Queues {@link Cache.ttl}. */
  ttl(key: string): Pipeline;
  /** Queues {@link Cache.increment} (without a TTL). */
  increment(key: string, by?: number): Pipeline;
  /** Queues {@link Hashes.set}. */
  hashSet(key: string, fields: Record<string, unknown>, options?: { codec?: Codec }): Pipeline;
  /** Queues {@link Hashes.get}. */
  hashGet(key: string, field: string, options?: { codec?: Codec }): Pipeline;
  /** Queues {@link Hashes.getAll}. */
  hashGetAll(key: string, options?: { codec?: Codec }): Pipeline;
  /** Queues {@link Sets.add}. */
  setAdd(key: string, members: unknown[], options?: { codec?: Codec }): Pipeline;
  /** Queues {@link SortedSets.add}. */
  sortedSetAdd(key: string, members: ScoredMember[], options?: { codec?: Codec }): Pipeline;
  /** Queues {@link SortedSets.range}. */
  sortedSetRange(
    key: string,
    start: number,
    stop: number,
    options?: { codec?: Codec; reverse?: boolean },
  ): Pipeline;
  /** Queues {@link SortedSets.trim}. */
  sortedSetTrim(key: string, keep: number, options?: { lowest?: boolean }): Pipeline;
  /**
   * Queues a script run. It goes as EVAL (the source, not the SHA): a pipeline never meets
   * NOSCRIPT, so its commands always run in the order they were queued.
   */
  run(script: Script, keys: string[], args?: (string | number)[]): Pipeline;
  /** How many commands are queued. */
  readonly length: number;
  /**
   * Sends the queued commands and resolves to their results in order. When some failed,
   * rejects with the first failure's `InfraError` (the others still ran), whose
   * `details.results` holds every outcome as `{ ok, value | error }`.
   */
  exec(options?: CallOptions): Promise<unknown[]>;
}

/** A namespace of a cache ({@link Cache.namespace}). */
export interface CacheNamespace extends Cache {
  /** The namespace path, `users` or `users:admins` when nested. */
  readonly name: string;
  /**
   * Deletes every key of the namespace (values, collections, counters, locks, getOrSet's
   * companions, nested namespaces) and drops them from every instance's L1. Nothing else
   * goes: not the cache's own keys that merely look alike (`cache.set("users:1")` is no key
   * of `namespace("users")`), not other namespaces, and not tag records (they are not keys
   * of the namespace).
   *
   * It runs `SCAN MATCH` over the namespace's part of the key layout (see
   * {@link Cache.namespace}) on every master, deleting what each batch found: the keys
   * themselves are removed, so nothing is left behind for Redis to hold, and other calls
   * pay nothing for namespaces. The cost is a scan of each master's whole keyspace (`SCAN`
   * filters server-side), so clear is for rare, administrative invalidation; for frequent
   * group invalidation use tags. A key written while clear runs may survive it; an aborted
   * signal stops it between batches (what was deleted stays deleted).
   *
   * @throws {InfraError} `Unavailable`, `Timeout`, `Aborted`, `Closed`.
   */
  clear(options?: CallOptions): Promise<void>;
}

/** Options of {@link Cache.tryLock}. */
export interface TryLockOptions extends CallOptions {
  /** How long the lock lives unless extended or released: 1 ms to 2^31 − 1 ms (24.8 days). */
  ttlMs: number;
  /**
   * Extend the lock every `ttlMs / 3` until released; when an extension fails, the lock's
   * `signal` aborts with `LockLost`.
   */
  autoExtend?: boolean;
}

/** Options of {@link Cache.lock}. */
export interface LockOptions extends TryLockOptions {
  /**
   * Give up after this long with `Timeout` (1 ms to 2^31 − 1 ms); default: wait until
   * `signal` fires.
   */
  timeoutMs?: number;
}

/** A held lock. `await using lock = await cache.lock(...)` releases it at scope end. */
export interface Lock extends AsyncDisposable {
  /** The key (as the caller gave it). */
  readonly key: string;
  /** The random owner token stored in Redis. */
  readonly token: string;
  /** When the lock expires unless extended (local clock, ms since the epoch). */
  readonly expiresAt: number;
  /**
   * Aborts with `LockLost` when ownership is known to be gone: the TTL passed without an
   * extension, an extension found another owner, the lock was released, or the cache was
   * closed (nothing extends it any more; it expires in Redis by its TTL).
   */
  readonly signal: AbortSignal;
  /** Sets the TTL to `ttlMs` (default the acquire TTL); `LockLost` when no longer the owner. */
  extend(ttlMs?: number, options?: CallOptions): Promise<void>;
  /**
   * Deletes the lock if still the owner (atomically); resolves to false when ownership had
   * already been lost (nothing is deleted then). A release that fails (an aborted `signal`,
   * Redis unreachable or closed) leaves the lock as it was, held: it is still extended (with
   * `autoExtend`) and its `signal` still fires when it is lost, so the holder may call
   * `release` again or let it expire.
   */
  release(options?: CallOptions): Promise<boolean>;
}

/** Options of {@link Cache.bloom}. */
export interface BloomOptions {
  /** How many distinct items the filter is sized for. */
  expectedItems: number;
  /** The false-positive rate at that many items, in (0, 1). */
  falsePositiveRate: number;
  /** TTL of the filter, renewed by every `add`; 0 or absent = no expiry. */
  ttlMs?: number;
}

/**
 * A Bloom filter on a Redis bitmap (no module needed): `has` is never false for an item
 * that was added, and true for an item never added with about the configured rate. The
 * filter is created by the first `add`; reading an absent filter finds nothing.
 */
export interface BloomFilter {
  /** The key (as the caller gave it). */
  readonly key: string;
  /** Bits in the bitmap (m). */
  readonly bits: number;
  /** Bits set per item (k). */
  readonly hashes: number;
  /** Adds an item; true when it was (certainly) not there before. One round trip. */
  add(item: string | Uint8Array, options?: CallOptions): Promise<boolean>;
  /** Adds items in one round trip; per item, whether it was new. */
  addMany(items: (string | Uint8Array)[], options?: CallOptions): Promise<boolean[]>;
  /** Whether the item may have been added (false = certainly not). One round trip. */
  has(item: string | Uint8Array, options?: CallOptions): Promise<boolean>;
  /** {@link BloomFilter.has} for many items in one round trip. */
  hasMany(items: (string | Uint8Array)[], options?: CallOptions): Promise<boolean[]>;
  /** Deletes the filter. */
  clear(options?: CallOptions): Promise<void>;
}

/** What a loader receives. */
export interface LoaderContext {
  /** The key being loaded (as the caller gave it). */
  key: string;
  /**
   * Aborts when the cache closes or the load is abandoned after `hardTimeoutMs`; never
   * for one caller's signal: a loader serves every waiting caller, not only one.
   */
  signal: AbortSignal;
}

/**
 * Loads a value on a miss. Return `undefined` for "not found" (cached for
 * `negativeTtlMs`); any other value (including `null`) is cached for the TTL.
 */
export type Loader<T> = (context: LoaderContext) => Promise<T | undefined> | T | undefined;

/**
 * Options of {@link Cache.getOrSet}; unset ones come from `config.getOrSet`. Its durations
 * other than `ttlMs` are bounded as in the config: at most 2^31 − 1 ms (24.8 days).
 */
export interface GetOrSetOptions extends ValueOptions {
  /** How long a loaded value is fresh; 0 = no expiry; default `config.defaultTtlMs`. */
  ttlMs?: number;
  /** How long "not found" is cached; 0 = not cached. */
  negativeTtlMs?: number;
  /** TTL jitter fraction in [0, 1]: the TTL is drawn from [ttl·(1−jitter), ttl]. */
  jitter?: number;
  /** How long after `ttlMs` a value is still served while one caller refreshes it. */
  staleWhileRevalidateMs?: number;
  /** TTL of the per-key loader lock (extended while the loader runs). */
  lockTtlMs?: number;
  /** How long to wait for another process's loader before a `Timeout`. */
  waitTimeoutMs?: number;
  /**
   * Fail-safe window (see {@link GetOrSetConfig.graceMs}): a value that expired no more
   * than this long ago is served instead of an error when the loader fails, times out or
   * Redis cannot be reached (the last needs L1); 0 = off.
   */
  graceMs?: number;
  /** How long a failed loader is not retried while grace serves (see {@link GetOrSetConfig.graceBackoffMs}). */
  graceBackoffMs?: number;
  /** With a fallback at hand, how long to wait for the loader before serving the fallback. */
  softTimeoutMs?: number;
  /**
   * How long the loader may run before it is abandoned with `Timeout`, and how long this
   * caller waits for another one (see {@link GetOrSetConfig.hardTimeoutMs}); 0 = no limit.
   */
  hardTimeoutMs?: number;
  /**
   * Tags of the loaded entry (and of its cached "not found"), for
   * {@link Cache.deleteByTag}: 1 to 64 non-empty strings of at most 256 characters. The
   * entry must expire within 30 days (`ttlMs` + `staleWhileRevalidateMs` + `graceMs`, and
   * `negativeTtlMs`; `ttlMs` 0 is refused). The tags are those of the call that loads:
   * callers joining a load in flight share its entry (see {@link Cache.getOrSet}).
   */
  tags?: string[];
}

/**
 * The escape hatch: commands the cache does not wrap. Keys are NOT prefixed here; use
 * {@link Cache.key} to build them.
 */
export interface RawClient {
  /** Sends any command; bulk replies as strings. */
  call(command: string, ...args: (string | number | Uint8Array)[]): Promise<unknown>;
  /** Sends any command; bulk replies as bytes. */
  callBuffer(command: string, ...args: (string | number | Uint8Array)[]): Promise<unknown>;
  /**
   * The driver's own client: the ioredis `Redis` or `Cluster` instance for the Redis
   * driver (cast it at your own risk; closing it closes the cache), `undefined` for memory.
   */
  readonly native: unknown;
}

/**
 * A cache on Redis (or in memory, with the same semantics).
 *
 * **The miss rule.** A read of one value resolves to `undefined` when there is nothing
 * (`get`, `hashes.get`, `sortedSets.score`, `sortedSets.rank`, `ttl`, `getOrSet` for a
 * cached "not found"); reads of collections resolve to an empty collection (Redis does not
 * tell an empty collection from a missing key). No read throws `NotFound`. A stored `null`
 * is a value, not a miss.
 *
 * **Errors** are `InfraError`s: `InvalidArgument` for bad input (nothing is written),
 * `Unavailable` when Redis cannot be reached, `Timeout` for a late reply, `Conflict` when
 * the key holds another type, `Aborted` when the signal fires, `Closed` after `close()`.
 */
export interface Cache extends AsyncDisposable, HotReloadable<ConfigInput<CacheConfig>> {
  /** The driver: `"redis"` or `"memory"`. */
  readonly driver: "redis" | "memory";
  /** The topology. */
  readonly mode: CacheMode;
  /** The key prefix. */
  readonly keyPrefix: string;
  /** Hash operations. */
  readonly hashes: Hashes;
  /** Set operations. */
  readonly sets: Sets;
  /** Sorted-set operations. */
  readonly sortedSets: SortedSets;

  /**
   * The full key Redis sees for `key` (the prefix applied), for use with {@link Cache.raw}.
   * Every call checks its keys alike: a key must be a non-empty string that does not start
   * with `__gochat_cache:` (where the cache keeps its own keys), else `InvalidArgument`.
   */
  key(key: string): string;
  /** The value of `key`, or `undefined` on a miss. */
  get<T = unknown>(key: string, options?: ValueOptions): Promise<T | undefined>;
  /** Stores a value; resolves to false when `ifAbsent`/`ifPresent` prevented the write. */
  set(key: string, value: unknown, options?: SetOptions): Promise<boolean>;
  /**
   * The values of `keys` in order, `undefined` for each miss (split by slot in a cluster). A
   * key that holds another type (a hash, a set) reads as a miss here, as Redis's MGET has
   * it, where `get` is a `Conflict`.
   */
  getMany<T = unknown>(keys: string[], options?: ValueOptions): Promise<(T | undefined)[]>;
  /**
   * Stores several values (atomically on one node or within one slot; a cluster splits the
   * call by slot).
   */
  setMany(
    entries: Record<string, unknown> | [string, unknown][],
    options?: SetManyOptions,
  ): Promise<void>;
  /**
   * Deletes keys; resolves to how many existed (a tag-invalidated entry did not, though it
   * is deleted too). getOrSet's companions go with each key in one atomic step: a cached
   * "not found", the grace period (a deleted value is never served as a fallback), and the
   * fill lock (a getOrSet load in flight for the key will not store what it read before).
   */
  delete(keys: string | string[], options?: CallOptions): Promise<number>;
  /** How many of `keys` exist (a key given twice counts twice; a tag-invalidated entry does not). */
  exists(keys: string | string[], options?: CallOptions): Promise<number>;
  /**
   * Sets the TTL of a key (0 removes it); resolves to false when the key does not exist (a
   * tag-invalidated entry does not). The key then lives exactly that long: a value getOrSet
   * stored with `graceMs` loses its grace period (nothing serves it once the TTL ran out).
   * A tagged entry must still expire within 30 days: 0 or more is `InvalidArgument` for it
   * (nothing changes).
   */
  expire(key: string, ttlMs: number, options?: CallOptions): Promise<boolean>;
  /**
   * The remaining TTL in ms, `Infinity` when the key has none, `undefined` when it is missing
   * (or holds a tag-invalidated entry). For a value getOrSet stored with `graceMs`, its whole
   * life in Redis, grace included.
   */
  ttl(key: string, options?: CallOptions): Promise<number | undefined>;
  /**
   * Adds `by` (default 1; may be negative or fractional) to a counter; returns the new value.
   * Integer steps keep an integer counter an integer; once a counter took a fractional step
   * it holds a float, and integer steps are then added as floats (in pipelines too).
   */
  increment(key: string, by?: number, options?: IncrementOptions): Promise<number>;

  /**
   * Cache-aside with stampede protection: returns the cached value, or calls `loader` once
   * for all concurrent callers of all processes (a per-key lock in Redis; the others wait
   * for its value), caches the result with a jittered TTL, caches "not found" for
   * `negativeTtlMs` (until then, or until a write gives the key a value), and with `staleWhileRevalidateMs` serves the stale value while one
   * caller refreshes it in the background. The fill is fenced: a loader stores only while it
   * still holds the per-key lock and the key did not change meanwhile, so a slow loader never
   * overwrites a newer value, a `set` during a load wins, and a `delete` during a load keeps
   * the older read out (the callers of that load still get what it returned). When Redis
   * fails after the loader ran, the callers get the loaded value all the same (uncached;
   * logged and counted as `cache.get_or_set.fill_failures`).
   *
   * What concurrent callers share: the load, and so the loaded value and how it is stored
   * (`ttlMs`, `negativeTtlMs`, `jitter`, `staleWhileRevalidateMs`, `lockTtlMs`,
   * `graceBackoffMs`, `tags`: those of the call that runs the loader, in whatever
   * process). What stays each caller's own: its `signal` (it ends that caller's wait, never
   * the load), `codec`, and how it waits: `graceMs` (which fallback it accepts),
   * `softTimeoutMs`, `hardTimeoutMs` and `waitTimeoutMs`. Callers in one process that agree
   * on these share one flight (one script call for all; a joiner's timeouts run from the
   * flight's start, so it never waits longer than they allow); a caller that differs flies
   * apart and waits for the load as another process would, so it gets its own fallback or
   * `Timeout` without cancelling the load.
   */
  getOrSet<T>(key: string, loader: Loader<T>, options?: GetOrSetOptions): Promise<T | undefined>;

  /**
   * Invalidates every entry carrying any of `tags` (given to `set`, `setMany` or
   * `getOrSet`), in every process: from now on a read of such an entry written before this call is a miss
   * (`get`, `getMany` and pipeline `get` resolve to `undefined`, `getOrSet` loads it again,
   * one loader across processes), and so is its cached "not found". An entry whose value
   * was being loaded or written while this call ran counts as written before it (the
   * callers of that load still get what it returned; a getOrSet with one of the tags called
   * after this one resolved starts a load of its own).
   *
   * The work is one small write per tag, whatever the number of entries (lazy
   * invalidation): each tag has a record in Redis holding a random token that this call
   * replaces; an entry keeps the tokens its tags had when it was written and is valid while
   * they are still current. No clock is read, so clock skew between processes cannot
   * matter.
   *
   * Every read of the cache takes an invalidated entry for a missing one: `get`, `getMany`,
   * `exists`, `ttl`, `expire` (false, nothing to extend), the count of `delete`, the
   * conditions of `set` (`ifAbsent` writes, `ifPresent` does not), and their pipeline forms.
   * The entries stay in Redis until they expire, are written again or deleted; they are not
   * removed when read (that would cost every such read a compare-and-delete, and would drop
   * the fallback a getOrSet with grace keeps). So what reads Redis past the cache's codec
   * still sees them: `raw()`, scripts, and writes that need a number or a collection at the
   * key (`increment`, `hashes`, `sets`, `sortedSets` meet a string there: `Conflict`, as
   * for any value that is not theirs).
   *
   * Fail-safe: an invalidated entry counts as expired, not deleted. A `getOrSet` with
   * `graceMs` keeps it as its fallback if it was stored with grace (it then lives in Redis
   * for its grace period): it serves it when the loader fails, times out or is slower than
   * `softTimeoutMs`, as bentocache does. Use `delete` for data that must never be served
   * again.
   *
   * L1: the other instances hear of the call on the invalidation channel once Redis
   * answered, and drop the tags' state they keep; until then (a few milliseconds) their L1
   * may serve the entries (see {@link L1Config.enabled}). An instance without L1 must set
   * `l1.publishInvalidations` for the others to hear of it, as for any write.
   *
   * Tags belong to a namespace: `cache.namespace("users").deleteByTag(["x"])` invalidates
   * the entries tagged `"x"` through that namespace, not those tagged `"x"` elsewhere.
   *
   * @param tags A tag or 1 to 64 tags (non-empty strings of at most 256 characters).
   * @param options A signal (an aborted one invalidates nothing).
   * @throws {InfraError} `InvalidArgument` for bad tags (nothing is invalidated),
   *   `Unavailable`, `Timeout`, `Aborted`, `Closed`.
   *
   * @example
   * ```ts
   * import { memory } from "@gochat/infra/cache";
   *
   * await using cache = memory();
   * const load = () => ({ id: 42, name: "Ada" });
   * await cache.getOrSet("user:42", load, { ttlMs: 60_000, tags: ["user:42"] });
   * await cache.set("feed:42", ["post 1"], { ttlMs: 60_000, tags: ["user:42", "feed"] });
   * await cache.deleteByTag(["user:42"]);
   * console.assert((await cache.get("feed:42")) === undefined);
   * ```
   */
  deleteByTag(tags: string | string[], options?: CallOptions): Promise<void>;

  /**
   * A view of this cache with keys of its own: `key` of the view and `name:key` of the
   * cache are different keys, and so are the keys of two namespaces. In Redis they live
   * under the prefix, then `__gochat_cache:ns:name:` (`users/admins` when nested: `users`
   * then `admins`); a caller's key may not start with `__gochat_cache:` (`InvalidArgument`),
   * so none can meet them. Namespaces nest. The view shares everything else with the cache
   * (connection, L1, config, locks, metrics): its `hotReload` and `close` act on the whole
   * cache. Tags are per namespace (see {@link Cache.deleteByTag}).
   *
   * @param name 1 to 64 letters, digits, `_`, `-` or `.` (no `:`: nest instead).
   * @throws {InfraError} `InvalidArgument` for a bad name; `Closed` after close.
   *
   * @example
   * ```ts
   * import { memory } from "@gochat/infra/cache";
   *
   * await using cache = memory();
   * const users = cache.namespace("users");
   * await users.set("1", { name: "Ada" });
   * await cache.set("products", []);
   * console.assert((await cache.get("users:1")) === undefined); // another key
   * await users.clear();
   * console.assert((await users.get("1")) === undefined && (await cache.get("products")) !== undefined);
   * ```
   */
  namespace(name: string): CacheNamespace;

  /** Takes the lock on `key` if free; `undefined` when another owner holds it. */
  tryLock(key: string, options: TryLockOptions): Promise<Lock | undefined>;
  /** Waits until the lock on `key` is taken (or `signal`/`timeoutMs` ends the wait). */
  lock(key: string, options: LockOptions): Promise<Lock>;
  /** A Bloom filter at `key`, sized for `expectedItems` at `falsePositiveRate`. */
  bloom(key: string, options: BloomOptions): BloomFilter;
  /** Defines a Lua script once (see {@link Script}). */
  script(lua: string, options: ScriptOptions): Script;
  /** A new pipeline. */
  pipeline(): Pipeline;

  /** Checks that Redis answers. */
  ping(options?: CallOptions): Promise<void>;
  /** The raw client (keys not prefixed). */
  raw(): RawClient;
  /**
   * Applies a new config while the cache runs, without dropping anything (data, L1
   * entries, connections, locks, loads in flight). `config` is resolved over the current
   * config (fields left out keep their values) and validated; these apply at once:
   * `defaultTtlMs`, every `getOrSet` default, `l1.maxEntries`, `l1.maxBytes`, `l1.ttlMs`
   * (entries beyond the new bounds go, least recently used first), `l1.publishInvalidations`,
   * `commandTimeoutMs`, `reconnectMinDelayMs`, `reconnectMaxDelayMs` and `autoPipelining`.
   * A change of a field that decides which data the cache addresses or needs new connections
   * (`keyPrefix`, `codec`, `mode`, `nodes`, `username`, `password`, `db`, `tls`, `sentinel`,
   * `connectTimeoutMs`, `offlineQueue`, `maxRetriesPerRequest`, `connectionName`,
   * `l1.enabled`) is refused: connect a new cache for it.
   *
   * @param config A partial or complete config of this cache's driver.
   * @param options A signal (an aborted one changes nothing).
   * @throws {InfraError} `InvalidArgument` naming the field for an invalid value or a field
   *   that cannot change (nothing changes then, the current config stays in force);
   *   `Closed` after close.
   *
   * @example
   * ```ts
   * import { memory } from "@gochat/infra/cache";
   *
   * await using cache = memory({ defaultTtlMs: 60_000 });
   * await cache.hotReload({ defaultTtlMs: 5_000, getOrSet: { jitter: 0.1 } });
   * ```
   */
  hotReload(config: ConfigInput<CacheConfig>, options?: HotReloadOptions): Promise<void>;
  /** Closes the connections after in-flight calls; idempotent. Later calls fail `Closed`. */
  close(): Promise<void>;
}
