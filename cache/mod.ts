/**
 * A Redis cache (through ioredis: single node, Sentinel, Cluster) and an embedded memory
 * twin with the same semantics.
 *
 * - Strings, counters, hashes, sets and sorted sets (ranges by rank or score return the
 *   scores in the same round trip), expiry and TTLs, pipelines.
 * - Values are JSON by default (`codec: "string"` or `"bytes"` per cache or per call);
 *   a value with no form in the codec is `InvalidArgument` and nothing is written. The JSON
 *   codec also refuses what JSON would silently change (a `Map`, a `Uint8Array`, `NaN`, a
 *   class instance), naming the path (`value.items[3]: a Map ...`); a `Date` is stored as
 *   its ISO string and `undefined` properties are dropped, as in JSON.
 * - One key prefix for every key, also the keys passed to scripts. A script must touch
 *   only the keys passed in KEYS; in a cluster, keys of one call must share a hash tag
 *   (`{room:1}:members`, `{room:1}:messages`). The prefix may not contain braces, so the
 *   tag in your key always decides the slot. `getMany`, `setMany`, `delete` and `exists`
 *   split across slots by themselves.
 * - Lua scripts defined once (`cache.script`) run by EVALSHA and recover from NOSCRIPT
 *   with EVAL on the node that answered (after a restart, SCRIPT FLUSH, or on a cluster
 *   node that has not seen the script); in pipelines they go as EVAL, so a pipeline keeps
 *   its order even right after a flush.
 * - A lock with an owner token: extend and release act only for the owner (atomically)
 *   and say so; blocking acquire with a signal; optional auto-extension.
 * - A Bloom filter on a plain bitmap, sized from expected items and false-positive rate.
 * - `getOrSet`: cache-aside with stampede protection across processes, negative caching,
 *   TTL jitter and stale-while-revalidate; fills are fenced (a loader stores only while it
 *   holds the per-key lock and the key did not change meanwhile). Fail-safe: with
 *   `graceMs`, a value that expired no more than that long ago answers instead of the
 *   loader's error or hard timeout, and the loader backs off for `graceBackoffMs` in every
 *   process (`delete` and `expire` end a value's grace: it is never served back);
 *   `softTimeoutMs` answers a slow load with that value while the load lands in the
 *   background; `hardTimeoutMs` abandons a loader (`Timeout`, its signal aborted, nothing
 *   stored); a caller's `signal`, grace and timeouts govern only its own wait (callers
 *   share the load, its value, TTL and tags; see {@link Cache.getOrSet}). While Redis
 *   cannot be reached, values in grace are served from this process's copies only with L1
 *   on (see {@link GetOrSetConfig.graceMs}). An optional in-process L1 with invalidation
 *   of the other instances' L1 over pub/sub, bypassed while this instance cannot hear the
 *   invalidations; another instance's L1 may serve the old value for the few milliseconds
 *   an invalidation takes (see `L1Config.enabled`).
 *
 * - Tags: `set`, `setMany` and `getOrSet` take `tags` (hashes, sets, sorted sets and
 *   counters refuse them with `InvalidArgument`: they have no envelope to keep them in),
 *   and `cache.deleteByTag(tags)` invalidates every entry carrying one of them in every
 *   process, with one small write per tag
 *   (lazy: a tag's record holds a random token each invalidation replaces, an entry keeps
 *   the tokens its tags had when it was written, a read whose tokens are stale is a miss;
 *   no clock is read). An invalidated entry counts as expired: getOrSet loads it again,
 *   and with `graceMs` serves it if the loader fails; every other read of the cache
 *   (`exists`, `ttl`, `expire`, `delete`'s count, `set`'s conditions) takes it for a
 *   missing one. Untagged values pay one byte check
 *   per read; tagged reads one MGET of their tag records, or nothing with L1, which keeps
 *   the tokens (see {@link Cache.deleteByTag}).
 * - Namespaces: `cache.namespace("users")` is a view with keys of its own (its `"1"` is
 *   not the cache's `"users:1"`); `clear()` deletes them, and only them, by `SCAN MATCH` on
 *   every master and drops them from every L1 (see {@link CacheNamespace.clear}). The scan
 *   was chosen over a generation number in the keys: a generation would make every
 *   namespaced call read (or cache, and so serve stale) the current generation, and would
 *   leave the old generation's keys in Redis until they expire (forever without a TTL);
 *   the scan costs other calls nothing, at one walk of each master's keyspace per `clear`,
 *   meant to be rare (for frequent group invalidation, use tags). The
 *   cache keeps its own keys (namespaces, getOrSet's companions, locks, tag records) under
 *   `__gochat_cache:` after the prefix: a key starting so is `InvalidArgument`.
 *
 * - Fast and bounded: commands issued in one burst of microtasks leave in one socket write
 *   (`autoPipelining`, on by default; each command still settles alone), every command has
 *   a deadline (`commandTimeoutMs`) without a timer per command, and calls fail
 *   `Unavailable` quickly while Redis is down, then work again once it is back.
 *
 * **Hot reload**: `cache.hotReload(config)` ({@link HotReloadable}; bind it to a coord
 * config) applies TTLs, getOrSet defaults, L1 bounds, publishing, timeouts, reconnection
 * delays and auto-pipelining without dropping state, and refuses a new prefix, codec,
 * `l1.enabled` or connection field with `InvalidArgument` naming it.
 *
 * **The miss rule**: a read of one value resolves to `undefined` on a miss (`get`,
 * `hashes.get`, `sortedSets.score`, `sortedSets.rank`, `ttl`, `getOrSet` of a cached
 * "not found"); reads of collections resolve to an empty collection. Reads never throw
 * `NotFound`. A stored `null` is a value.
 *
 * **Errors** are `InfraError`s: `InvalidArgument` (bad input, nothing changed),
 * `Unavailable` (Redis unreachable; the client reconnects by itself), `Timeout`,
 * `Conflict` (the key holds another type), `LockLost`, `Aborted`, `Closed`.
 *
 * **Memory driver**: `memory()` runs the same contract in process. Scripts need a
 * JavaScript twin, `cache.script(lua, { keys, memory: (redis, keys, args) => ... })`,
 * where `redis.call` runs commands on the memory keyspace; a script without one fails
 * with `InvalidArgument` on the memory driver.
 *
 * @example Cache-aside with stampede protection
 * ```ts
 * import { memory } from "@gochat/infra/cache";
 *
 * await using cache = memory(); // or: await connect({ nodes: ["127.0.0.1:6379"] })
 * let loads = 0;
 * const loadUser = async () => {
 *   loads++;
 *   return { id: 1, name: "Ada" };
 * };
 * const users = await Promise.all(
 *   Array.from({ length: 100 }, () => cache.getOrSet("user:1", loadUser, { ttlMs: 60_000 })),
 * );
 * console.assert(users.every((user) => user?.name === "Ada") && loads === 1);
 * ```
 *
 * @example The recent-messages window of a chat session
 * ```ts
 * import { memory } from "@gochat/infra/cache";
 *
 * await using cache = memory();
 * const key = "session:{42}:messages";
 * await cache.sortedSets.add(key, [{ member: "m1", score: 1 }, { member: "m2", score: 2 }]);
 * await cache.sortedSets.trim(key, 50);
 * await cache.expire(key, 2 * 60 * 60 * 1000);
 * const latest = await cache.sortedSets.range<string>(key, 0, 9, { reverse: true });
 * console.assert(latest[0].member === "m2" && latest[0].score === 2);
 * ```
 *
 * @example Tags and namespaces
 * ```ts
 * import { memory } from "@gochat/infra/cache";
 *
 * await using cache = memory();
 * const users = cache.namespace("users");
 * await users.getOrSet("42", () => ({ id: 42 }), { ttlMs: 60_000, tags: ["org:7"] });
 * await cache.set("org:7:name", "Acme", { ttlMs: 60_000, tags: ["org:7"] });
 * await users.deleteByTag(["org:7"]); // tags are per namespace: the root's entry stays
 * console.assert((await users.get("42")) === undefined);
 * console.assert((await cache.get("org:7:name")) === "Acme");
 * await users.clear();
 * ```
 *
 * @example A lock
 * ```ts
 * import { memory } from "@gochat/infra/cache";
 *
 * await using cache = memory();
 * {
 *   await using lock = await cache.lock("order:7", { ttlMs: 5_000, timeoutMs: 1_000 });
 *   console.assert(!lock.signal.aborted);
 * } // released here
 * ```
 *
 * @module
 */

export type {
  BloomFilter,
  BloomOptions,
  Cache,
  CacheConfig,
  CacheDependencies,
  CacheMode,
  CacheNamespace,
  CallOptions,
  Codec,
  ConfigInput,
  GetOrSetConfig,
  GetOrSetOptions,
  Hashes,
  IncrementOptions,
  L1Config,
  Loader,
  LoaderContext,
  Lock,
  LockOptions,
  MemoryCacheConfig,
  MemoryCacheDependencies,
  MemoryScriptFunction,
  MemoryStore,
  MemoryStoreOptions,
  Pipeline,
  RangeOptions,
  RawClient,
  ScoredMember,
  ScoreRangeOptions,
  Script,
  ScriptCommands,
  ScriptOptions,
  ScriptReply,
  ScriptRunOptions,
  SentinelConfig,
  SetManyOptions,
  SetOptions,
  Sets,
  SortedSetAddOptions,
  SortedSets,
  TlsConfig,
  TryLockOptions,
  ValueOptions,
} from "./types.ts";
// Named in the cache's signatures; re-exported so that this entry point documents alone.
export type { HotReloadable, HotReloadOptions } from "../base/mod.ts";
export type { Fields, LazyFields, Logger, LogLevel } from "../clog/mod.ts";
export {
  defaultConfig,
  defaultMemoryConfig,
  resolveConfig,
  resolveMemoryConfig,
} from "./config.ts";
export { connect } from "./redis.ts";
export { memory, memoryStore } from "./memory.ts";
export { bloomSize } from "./bloom.ts";
