/**
 * The Redis driver on the shared single node: the whole contract, plus L1 and its
 * invalidation across instances.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { isDeepStrictEqual } from "node:util";
import { type AddressInfo, createServer } from "node:net";
import { InfraError } from "../../base/mod.ts";
import { type Cache, connect } from "../../cache/mod.ts";
import { redisUrl, uniqueName } from "../_support/env.ts";
import { deleteKeysWithPrefix } from "../_support/redis_server.ts";
import { cacheContract } from "./contract.ts";

/** `host:port` of the shared Redis. */
const sharedRedisNode = new URL(redisUrl).host;
const janitor = new Redis(redisUrl, { lazyConnect: true });
const usedPrefixes: string[] = [];
after(async () => {
  for (const prefix of usedPrefixes) await deleteKeysWithPrefix(janitor, prefix);
  await janitor.quit();
});

function freshPrefix(): string {
  const prefix = uniqueName("l1") + ":";
  usedPrefixes.push(prefix);
  return prefix;
}

cacheContract(
  "redis",
  (config) => connect({ nodes: [sharedRedisNode], ...config }),
  async (keyPrefix) => {
    await deleteKeysWithPrefix(janitor, keyPrefix);
  },
);

const l1 = { enabled: true, maxEntries: 100, maxBytes: 1_000_000, ttlMs: 60_000 };

test("redis: L1 serves repeated reads from memory", async () => {
  const keyPrefix = freshPrefix();
  await using cache = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await cache.set("k", { v: 1 });
  assert.deepEqual(await cache.get("k"), { v: 1 });
  // Changed behind the cache's back (no invalidation): L1 still answers.
  await cache.raw().call("SET", cache.key("k"), '{"v":2}');
  assert.deepEqual(await cache.get("k"), { v: 1 });
  // Each hit is a fresh object.
  const [a, b] = [await cache.get("k"), await cache.get("k")];
  assert.notEqual(a, b);
});

test("redis: a write on one instance evicts the other instances' L1", async () => {
  const keyPrefix = freshPrefix();
  await using a = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await using b = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await a.set("k", "old");
  assert.equal(await b.get("k"), "old");
  await a.set("k", "new");
  await waitFor(async () => (await b.get("k")) === "new");
  await a.delete("k");
  await waitFor(async () => (await b.get("k")) === undefined);
  await a.getOrSet("g", () => "v1");
  assert.equal(await b.getOrSet("g", () => "never"), "v1");
  await a.set("g", "v2");
  await waitFor(async () => (await b.getOrSet("g", () => "never")) === "v2");
});

/**
 * Two instances with L1 both hold `key` (`before`); after `write` on the first, the writer
 * serves the new value at once and the other once the invalidation arrived.
 */
async function evictsBothL1(
  key: string,
  before: unknown,
  write: (cache: Cache) => Promise<unknown>,
  after: unknown,
  behind: unknown = "behind",
): Promise<void> {
  const keyPrefix = freshPrefix();
  await using a = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await using b = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await a.set(key, before, { ttlMs: 0 });
  // That set's own invalidation must reach b before b caches the value.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(await a.get(key), before);
  assert.deepEqual(await b.get(key), before);
  // Both L1s hold it now: a change behind their backs goes unseen.
  await a.raw().call("SET", a.key(key), JSON.stringify(behind));
  assert.deepEqual(await a.get(key), before);
  assert.deepEqual(await b.get(key), before);
  await write(a);
  assert.deepEqual(await a.get(key), after, "the writer's own L1");
  await waitFor(async () => isDeepStrictEqual(await b.get(key), after));
}

test("redis: a script's writes evict its keys from every L1", async () => {
  await evictsBothL1("k", "old", async (cache) => {
    const script = cache.script("return redis.call('SET', KEYS[1], ARGV[1])", { keys: 1 });
    await script.run(["k"], ['"new"']);
  }, "new");
});

test("redis: a pipeline script's writes evict its keys from every L1", async () => {
  await evictsBothL1("k", "old", async (cache) => {
    const script = cache.script("return redis.call('SET', KEYS[1], ARGV[1])", { keys: 1 });
    await cache.pipeline().run(script, ["k"], ['"new"']).exec();
  }, "new");
});

test("redis: increment evicts the counter from every L1", async () => {
  await evictsBothL1("n", 1, (cache) => cache.increment("n", 2), 102, 100);
});

test("redis: expire evicts the key from every L1", async () => {
  await evictsBothL1("k", "old", async (cache) => {
    await cache.expire("k", 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }, undefined);
});

test("redis: setMany evicts its keys from every L1", async () => {
  await evictsBothL1("k", "old", (cache) => cache.setMany({ k: "new", other: 1 }), "new");
});

test("redis: a pipeline's writes evict their keys from every L1", async () => {
  await evictsBothL1("k", "old", (cache) => cache.pipeline().set("k", "new").exec(), "new");
});

test("redis: a writer without L1 that publishes invalidations evicts the readers' L1", async () => {
  const keyPrefix = freshPrefix();
  await using reader = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await using worker = await connect({
    nodes: [sharedRedisNode],
    keyPrefix,
    l1: { publishInvalidations: true },
  });
  await worker.set("k", "v1");
  assert.equal(await reader.get("k"), "v1");
  await worker.set("k", "v2");
  await waitFor(async () => (await reader.get("k")) === "v2");
  await worker.increment("n");
  assert.equal(await reader.get("n"), 1);
  await worker.increment("n");
  await waitFor(async () => (await reader.get("n")) === 2);
  await worker.delete("k");
  await waitFor(async () => (await reader.get("k")) === undefined);
  await worker.set("t", "v", { ttlMs: 60_000, tags: ["user:42"] });
  assert.equal(await reader.get("t"), "v");
  await worker.deleteByTag("user:42");
  await waitFor(async () => (await reader.get("t")) === undefined);
});

test("redis: a value a plain get put in L1 is not fresh for getOrSet past its TTL: it is refreshed", async () => {
  const keyPrefix = freshPrefix();
  await using a = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await using b = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  let loads = 0;
  const loader = () => ++loads;
  const options = { ttlMs: 200, staleWhileRevalidateMs: 60_000, jitter: 0 };
  assert.equal(await a.getOrSet("news", loader, options), 1);
  // A plain get keeps it in b's L1 for as long as Redis keeps it (the stale window too).
  assert.equal(await b.get("news"), 1);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(await b.get("news"), 1, "plain reads are served the value Redis still has");
  // Stale now: getOrSet serves it once and has it refreshed.
  assert.equal(await b.getOrSet("news", loader, options), 1);
  await waitFor(async () => (await b.getOrSet("news", loader, options)) === 2);
  assert.equal(loads, 2);
});

test("redis: a value a plain get put in L1 during its grace is not fresh for getOrSet: the loader runs, and its failure gives the value", async () => {
  const keyPrefix = freshPrefix();
  await using a = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await using b = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  const options = { ttlMs: 100, graceMs: 60_000, jitter: 0 };
  assert.equal(await a.getOrSet("news", () => "v1", options), "v1");
  await new Promise((resolve) => setTimeout(resolve, 150));
  // Expired, in grace: Redis still has it, so a plain get keeps it in b's L1.
  assert.equal(await b.get("news"), "v1");
  let loads = 0;
  const failing = () => {
    loads++;
    throw new Error("database down");
  };
  assert.equal(await b.getOrSet("news", failing, options), "v1");
  assert.equal(loads, 1);
});

test("redis: L1 hits of bytes are each caller's own: a caller writing into its result changes no later read", async () => {
  const keyPrefix = freshPrefix();
  await using cache = await connect({ nodes: [sharedRedisNode], keyPrefix, l1, codec: "bytes" });
  await cache.set("k", new Uint8Array([1, 2, 3]));
  (await cache.get<Uint8Array>("k"))![0] = 99; // read from Redis, kept in L1
  (await cache.get<Uint8Array>("k"))![1] = 99; // an L1 hit
  (await cache.getMany<Uint8Array>(["k"]))[0]![2] = 99; // an L1 hit through getMany
  assert.deepEqual([...(await cache.get<Uint8Array>("k"))!], [1, 2, 3]);
  assert.deepEqual([...(await cache.getMany<Uint8Array>(["k"]))[0]!], [1, 2, 3]);
  // getOrSet keeps the loaded value in L1: neither the loader's array nor a caller's result
  // is that entry.
  const source = new Uint8Array([5, 5, 5]);
  (await cache.getOrSet<Uint8Array>("g", () => source))![0] = 0;
  source[1] = 0;
  (await cache.getOrSet<Uint8Array>("g", () => new Uint8Array([9])))![2] = 0; // an L1 hit
  const hit = await cache.getOrSet<Uint8Array>("g", () => new Uint8Array([9]));
  assert.deepEqual([...hit!], [5, 5, 5]);
});

test("redis: a cache closed while a blocking lock() sends its first acquire leaves no connection open", async () => {
  const keyPrefix = freshPrefix();
  const connectionName = uniqueName("lock-close");
  await using holderCache = await connect({ nodes: [sharedRedisNode], keyPrefix });
  const holder = await holderCache.lock("L", { ttlMs: 10_000 });
  const cache = await connect({ nodes: [sharedRedisNode], keyPrefix, connectionName });
  const refused = assert.rejects(
    cache.lock("L", { ttlMs: 1_000 }),
    (error: unknown) => InfraError.is(error, "Closed"),
  );
  await cache.close(); // the same tick: the first acquire is on the wire
  await refused;
  // A subscriber opened after close would be connected by now.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const clients = String(await janitor.call("CLIENT", "LIST")).split("\n");
  assert.deepEqual(clients.filter((line) => line.includes(`name=${connectionName}`)), []);
  await holder.release();
});

test("redis: L1 never keeps an entry longer than its TTL in Redis", async () => {
  const keyPrefix = freshPrefix();
  await using cache = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await cache.set("short", 1, { ttlMs: 100 });
  assert.equal(await cache.get("short"), 1);
  await waitFor(async () => (await cache.get("short")) === undefined);
});

test("redis: hotReload refuses connection fields with InvalidArgument naming them, and the cache goes on", async () => {
  const keyPrefix = freshPrefix();
  await using cache = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  const refused: [Record<string, unknown>, string][] = [
    [{ nodes: ["127.0.0.1:6380"] }, "nodes"],
    [{ mode: "cluster" }, "mode"],
    [{ password: "secret" }, "password"],
    [{ db: 1 }, "db"],
    [{ tls: { enabled: true } }, "tls.enabled"],
    [{ sentinel: { masterName: "other" } }, "sentinel.masterName"],
    [{ connectTimeoutMs: 1_000 }, "connectTimeoutMs"],
    [{ offlineQueue: false }, "offlineQueue"],
    [{ connectionName: "renamed" }, "connectionName"],
    [{ l1: { enabled: false } }, "l1.enabled"],
  ];
  for (const [config, field] of refused) {
    await assert.rejects(cache.hotReload({ defaultTtlMs: 5_000, ...config }), (error: unknown) => {
      assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
      assert.equal(error.details.field, field);
      return true;
    });
  }
  await cache.set("k", "v");
  assert.ok((await cache.ttl("k"))! > 5_000, "the old defaultTtlMs stays");
  assert.equal(await cache.get("k"), "v");
});

test("redis: hotReload applies timeouts, reconnection delays, auto-pipelining and L1 bounds, keeping L1 entries", async () => {
  const keyPrefix = freshPrefix();
  await using cache = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
  for (const key of keys) {
    await cache.set(key, "cached");
    assert.equal(await cache.get(key), "cached");
    await cache.raw().call("SET", cache.key(key), '"behind"');
  }
  await cache.hotReload({
    commandTimeoutMs: 1_000,
    reconnectMinDelayMs: 20,
    reconnectMaxDelayMs: 300,
    autoPipelining: false,
    l1: { maxEntries: 3, ttlMs: 30_000 },
  });
  // The three most recently used entries stay in L1; the others are read again.
  const served = await cache.getMany(keys);
  assert.deepEqual(served, [...Array(7).fill("behind"), ...Array(3).fill("cached")]);
  const results = await Promise.all(Array.from({ length: 100 }, () => cache.increment("n")));
  assert.deepEqual(results, Array.from({ length: 100 }, (_, i) => i + 1));
  await cache.hotReload({ autoPipelining: true });
  assert.equal(await cache.increment("n"), 101);
});

test("redis: hotReload turns invalidation publishing on for a writer without L1", async () => {
  const keyPrefix = freshPrefix();
  await using reader = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await using worker = await connect({ nodes: [sharedRedisNode], keyPrefix });
  await worker.set("k", "v1");
  assert.equal(await reader.get("k"), "v1");
  await worker.set("k", "v2");
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(await reader.get("k"), "v1", "nothing published yet");
  await worker.hotReload({ l1: { publishInvalidations: true } });
  await worker.set("k", "v3");
  await waitFor(async () => (await reader.get("k")) === "v3");
});

test("redis: connecting to a port with no server is Unavailable", async () => {
  await assert.rejects(
    connect({ nodes: ["127.0.0.1:1"], connectTimeoutMs: 2_000 }),
    (error: unknown) => (error as { code?: string }).code === "Unavailable",
  );
});

test("redis: a server that never answers is Unavailable after connectTimeoutMs, named once as the cache's", async () => {
  const silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const { port } = silent.address() as AddressInfo;
  try {
    await assert.rejects(
      connect({ nodes: [`127.0.0.1:${port}`], connectTimeoutMs: 300 }),
      (error: unknown) => {
        assert.ok(InfraError.is(error, "Unavailable"), String(error));
        assert.match((error as Error).message, /^cache: cannot connect to 127\.0\.0\.1:\d+: /);
        assert.doesNotMatch((error as Error).message, /cache: cache:/);
        return true;
      },
    );
  } finally {
    silent.close();
  }
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail("condition not reached in 3 s");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test("redis: commands of one burst keep their order through auto-pipelining", async () => {
  const keyPrefix = freshPrefix();
  await using cache = await connect({ nodes: [sharedRedisNode], keyPrefix });
  const results = await Promise.all(Array.from({ length: 1_000 }, () => cache.increment("n")));
  assert.deepEqual(results, Array.from({ length: 1_000 }, (_, i) => i + 1));
});

test("redis: with autoPipelining off every operation still works", async () => {
  const keyPrefix = freshPrefix();
  await using cache = await connect({ nodes: [sharedRedisNode], keyPrefix, autoPipelining: false });
  await cache.set("k", { v: 1 });
  assert.deepEqual(await cache.get("k"), { v: 1 });
  assert.equal(await cache.getOrSet("g", () => 2), 2);
  const results = await Promise.all(Array.from({ length: 100 }, () => cache.increment("n")));
  assert.deepEqual(results, Array.from({ length: 100 }, (_, i) => i + 1));
});

const tagged = { ttlMs: 60_000, tags: ["user:42"] };

test("redis: L1 serves a tagged entry from memory while its tag stands", async () => {
  const keyPrefix = freshPrefix();
  await using cache = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await cache.set("k", { v: 1 }, tagged);
  assert.deepEqual(await cache.get("k"), { v: 1 });
  // Changed behind the cache's back (no invalidation): L1 still answers, tags and all.
  await cache.raw().call("SET", cache.key("k"), '{"v":2}');
  assert.deepEqual(await cache.get("k"), { v: 1 });
  assert.deepEqual(await cache.getOrSet("g", () => ({ v: 1 }), tagged), { v: 1 });
  await cache.raw().call("SET", cache.key("g"), '{"v":2}');
  assert.deepEqual(await cache.getOrSet("g", () => ({ v: 3 }), tagged), { v: 1 });
});

test("redis: L1: deleteByTag is seen at once by the instance that called it", async () => {
  const keyPrefix = freshPrefix();
  await using cache = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await cache.set("k", "v", tagged);
  assert.equal(await cache.get("k"), "v");
  await cache.deleteByTag(["user:42"]);
  assert.equal(await cache.get("k"), undefined);
});

test("redis: L1: deleteByTag on one instance makes another instance's L1 miss its tagged entries", async () => {
  const keyPrefix = freshPrefix();
  await using a = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await using b = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await a.set("k", "v", tagged);
  assert.equal(await b.get("k"), "v");
  await a.deleteByTag(["user:42"]);
  await waitFor(async () => (await b.get("k")) === undefined);
});

test("redis: L1: an entry held in L1 is a miss once its tag's new state is known there", async () => {
  const keyPrefix = freshPrefix();
  await using a = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await using b = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await a.set("k1", "v1", tagged);
  await a.set("k2", "v2", tagged);
  assert.equal(await b.get("k1"), "v1");
  assert.equal(await b.get("k2"), "v2");
  await a.deleteByTag(["user:42"]);
  // Reading k1 brings the tag's new state into b's L1; k2 is still in b's L1.
  await waitFor(async () => (await b.get("k1")) === undefined);
  assert.equal(await b.get("k2"), undefined);
});

test("redis: L1: getOrSet on another instance loads again after deleteByTag", async () => {
  const keyPrefix = freshPrefix();
  await using a = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await using b = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  assert.equal(await b.getOrSet("k", () => "v1", tagged), "v1");
  assert.equal(await b.getOrSet("k", () => "never", tagged), "v1");
  await a.deleteByTag(["user:42"]);
  await waitFor(async () => (await b.getOrSet("k", () => "v2", tagged)) === "v2");
});

test("redis: L1: clear of a namespace on one instance drops its keys from another instance's L1", async () => {
  const keyPrefix = freshPrefix();
  await using a = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await using b = await connect({ nodes: [sharedRedisNode], keyPrefix, l1 });
  await a.namespace("users").set("1", "ada");
  await a.namespace("users").namespace("admins").set("2", "grace");
  await a.set("other", "kept");
  await a.set("users:1", "root");
  assert.equal(await b.namespace("users").get("1"), "ada");
  assert.equal(await b.namespace("users").namespace("admins").get("2"), "grace");
  assert.equal(await b.get("other"), "kept");
  assert.equal(await b.get("users:1"), "root");
  await a.namespace("users").clear();
  assert.equal(await a.namespace("users").get("1"), undefined);
  assert.equal(await a.namespace("users").namespace("admins").get("2"), undefined);
  await waitFor(async () => (await b.namespace("users").get("1")) === undefined);
  await waitFor(async () =>
    (await b.namespace("users").namespace("admins").get("2")) === undefined
  );
  assert.equal(await b.get("other"), "kept");
  assert.equal(await b.get("users:1"), "root");
});
