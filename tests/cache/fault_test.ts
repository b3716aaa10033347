/**
 * Faults on private Redis servers: the server killed and restarted mid-run, and the
 * script cache flushed under a running cache.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { type Cache, connect } from "../../cache/mod.ts";
import { recordMetrics, totals } from "../_support/meter.ts";
import { waitUntil } from "../_support/process.ts";
import { redisCli, startRedis } from "../_support/redis_server.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (error) {
    return InfraError.is(error) ? error.code : `not an InfraError: ${error}`;
  }
}

test("fault: a killed Redis gives Unavailable, then the cache recovers by itself after a restart", async () => {
  const server = await startRedis();
  let cache: Cache | undefined;
  try {
    cache = await connect({
      nodes: [server.node],
      keyPrefix: "fault:",
      commandTimeoutMs: 2_000,
      reconnectMaxDelayMs: 200,
    });
    await cache.set("k", "before");
    assert.equal(await cache.get("k"), "before");

    await server.process.kill();
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) {
      codes.push(await codeOf(cache.get("k")));
      codes.push(await codeOf(cache.set("k", i)));
      codes.push(await codeOf(cache.getOrSet("g", () => "loaded")));
      await sleep(50);
    }
    assert.deepEqual(new Set(codes), new Set(["Unavailable"]), codes.join());

    await server.process.start();
    // No reconnect call: the cache reconnects by itself.
    await waitUntil(async () => (await codeOf(cache!.set("k", "after"))) === "ok", {
      timeoutMs: 10_000,
      what: "the cache to recover",
    });
    assert.equal(await cache.get("k"), "after");
    assert.equal(await cache.getOrSet("g", () => "loaded"), "loaded");
    // Pub/sub-based waits work again too: a blocking lock wakes on release.
    const holder = await cache.lock("res", { ttlMs: 10_000 });
    const waiting = cache.lock("res", { ttlMs: 10_000, timeoutMs: 5_000 });
    await sleep(50);
    await holder.release();
    await (await waiting).release();
  } finally {
    await cache?.close();
    await server.stop();
  }
});

test("fault: when Redis dies while a getOrSet loader runs, the callers still get the loaded value", async () => {
  const since = recordMetrics().length;
  const server = await startRedis();
  let cache: Cache | undefined;
  try {
    cache = await connect({
      nodes: [server.node],
      keyPrefix: "midload:",
      commandTimeoutMs: 2_000,
      reconnectMaxDelayMs: 200,
    });
    let loads = 0;
    const loading = Promise.all(
      Array.from({ length: 5 }, () =>
        cache!.getOrSet("user:1", async () => {
          loads++;
          await sleep(300);
          return { id: 1 };
        })),
    );
    await sleep(100);
    await server.process.kill();
    assert.deepEqual(await loading, Array(5).fill({ id: 1 }));
    assert.equal(loads, 1);
    assert.equal(totals(since).get("cache.get_or_set.fill_failures {}"), 1);
  } finally {
    await cache?.close();
    await server.stop();
  }
});

test("fault: with graceMs and L1, getOrSet serves this process's last copy while Redis is down, without calling the loader", async () => {
  const server = await startRedis();
  let cache: Cache | undefined;
  try {
    cache = await connect({
      nodes: [server.node],
      keyPrefix: "grace:",
      commandTimeoutMs: 2_000,
      reconnectMaxDelayMs: 200,
      l1: { enabled: true, maxEntries: 100, maxBytes: 1_000_000, ttlMs: 60_000 },
    });
    const fresh = { ttlMs: 60_000, graceMs: 60_000 };
    const expired = { ttlMs: 100, graceMs: 60_000, jitter: 0 };
    assert.equal(await cache.getOrSet("fresh", () => "f1", fresh), "f1");
    assert.equal(await cache.getOrSet("expired", () => "e1", expired), "e1");
    await sleep(150);

    await server.process.kill();
    let loads = 0;
    const loader = () => `loaded ${++loads}`;
    for (let i = 0; i < 3; i++) {
      assert.equal(await cache.getOrSet("fresh", loader, fresh), "f1");
      assert.equal(await cache.getOrSet("expired", loader, expired), "e1");
      await sleep(50);
    }
    assert.equal(loads, 0);
    // Without grace the caller still learns that Redis is down.
    assert.equal(await codeOf(cache.getOrSet("fresh", loader, { ttlMs: 60_000 })), "Unavailable");
  } finally {
    await cache?.close();
    await server.stop();
  }
});

test("fault: a caller waiting within grace for another process's load gets the value in grace when Redis dies, without L1", async () => {
  const server = await startRedis();
  let cache: Cache | undefined;
  try {
    cache = await connect({
      nodes: [server.node],
      keyPrefix: "gracewait:",
      commandTimeoutMs: 2_000,
      reconnectMaxDelayMs: 200,
    });
    const options = { ttlMs: 100, graceMs: 60_000, jitter: 0 };
    assert.equal(await cache.getOrSet("user:1", () => "v1", options), "v1");
    await sleep(150);
    // Another process loads it (and holds the fill lock) for a long while.
    await cache.raw().call(
      "SET",
      "gracewait:__gochat_cache:{gracewait:user:1}:fill",
      "someone-else",
      "PX",
      30_000,
    );
    let loads = 0;
    const waiting = cache.getOrSet("user:1", () => `loaded ${++loads}`, options);
    await sleep(100);
    await server.process.kill();
    assert.equal(await waiting, "v1");
    assert.equal(loads, 0);
  } finally {
    await cache?.close();
    await server.stop();
  }
});

test("fault: calls in flight when Redis dies fail Unavailable instead of hanging", async () => {
  const server = await startRedis();
  let cache: Cache | undefined;
  try {
    cache = await connect({
      nodes: [server.node],
      keyPrefix: "inflight:",
      commandTimeoutMs: 5_000,
    });
    const inflight = Array.from(
      { length: 200 },
      (_, i) => codeOf(cache!.set(`k${i}`, "x".repeat(10_000))),
    );
    await server.process.kill();
    const codes = new Set(await Promise.all(inflight));
    codes.delete("ok");
    assert.deepEqual(codes, new Set(codes.size ? ["Unavailable"] : []));
  } finally {
    await cache?.close();
    await server.stop();
  }
});

test("fault: after SCRIPT FLUSH, scripts recover from NOSCRIPT alone and in pipelines", async () => {
  const server = await startRedis();
  let cache: Cache | undefined;
  try {
    cache = await connect({ nodes: [server.node], keyPrefix: "flush:" });
    const script = cache.script("return redis.call('INCRBY', KEYS[1], ARGV[1])", { keys: 1 });
    assert.equal(await script.run(["n"], [1]), 1);
    assert.equal(await redisCli(["-p", String(server.port), "SCRIPT", "EXISTS", script.sha]), "1");
    await redisCli(["-p", String(server.port), "SCRIPT", "FLUSH"]);
    assert.equal(await script.run(["n"], [1]), 2);
    assert.equal(await redisCli(["-p", String(server.port), "SCRIPT", "EXISTS", script.sha]), "1");

    const pipeline = () => cache!.pipeline().increment("m").run(script, ["n"], [10]).increment("m");
    assert.deepEqual(await pipeline().exec(), [1, 12, 2]);
    // The pipeline now sends EVALSHA; flush again so it meets NOSCRIPT.
    await redisCli(["-p", String(server.port), "SCRIPT", "FLUSH"]);
    assert.deepEqual(await pipeline().exec(), [3, 22, 4]);
    assert.deepEqual(await pipeline().exec(), [5, 32, 6]);

    // The cache's own scripts (locks, getOrSet) recover the same way.
    await redisCli(["-p", String(server.port), "SCRIPT", "FLUSH"]);
    const lock = await cache.tryLock("res", { ttlMs: 1_000 });
    assert.ok(lock);
    assert.equal(await lock.release(), true);
    assert.equal(await cache.getOrSet("g", () => 7), 7);
  } finally {
    await cache?.close();
    await server.stop();
  }
});

test("fault: after SCRIPT FLUSH a pipeline's commands still run in the order they were queued", async () => {
  const server = await startRedis();
  let cache: Cache | undefined;
  try {
    cache = await connect({ nodes: [server.node], keyPrefix: "order:" });
    const script = cache.script("return redis.call('INCRBY', KEYS[1], ARGV[1])", { keys: 1 });
    const pipeline = () =>
      cache!.pipeline().run(script, ["n"], [10]).get("n").increment("n").get("n");
    assert.deepEqual(await pipeline().exec(), [10, 10, 11, 11]);
    assert.deepEqual(await pipeline().exec(), [21, 21, 22, 22]);
    await redisCli(["-p", String(server.port), "SCRIPT", "FLUSH"]);
    assert.deepEqual(await pipeline().exec(), [32, 32, 33, 33]);
    await redisCli(["-p", String(server.port), "SCRIPT", "FLUSH"]);
    // The script alone recovers too (EVALSHA, then EVAL), and pipelines keep their order.
    assert.equal(await script.run(["n"], [1]), 34);
    await redisCli(["-p", String(server.port), "SCRIPT", "FLUSH"]);
    assert.deepEqual(await pipeline().exec(), [44, 44, 45, 45]);
  } finally {
    await cache?.close();
    await server.stop();
  }
});

test("fault: getOrSet takes over when the process holding the fill lock died", async () => {
  const server = await startRedis();
  let cache: Cache | undefined;
  try {
    cache = await connect({ nodes: [server.node], keyPrefix: "dead:" });
    // A loader elsewhere took the fill lock and died: it expires in 300 ms.
    await cache.raw().call(
      "SET",
      "dead:__gochat_cache:{dead:user:1}:fill",
      "someone-else",
      "PX",
      300,
    );
    let loads = 0;
    const holders: unknown[] = [];
    const loader = async () => {
      // The loader runs only once the dead holder's lock is gone (and ours is in place).
      holders.push(await cache!.raw().call("GET", "dead:__gochat_cache:{dead:user:1}:fill"));
      return ++loads;
    };
    const values = await Promise.all(
      Array.from({ length: 10 }, () => cache!.getOrSet("user:1", loader)),
    );
    assert.deepEqual(values, Array(10).fill(1));
    assert.equal(loads, 1);
    assert.equal(holders.length, 1);
    assert.notEqual(holders[0], "someone-else");
    assert.match(String(holders[0]), /^[0-9a-f]{32}$/);
  } finally {
    await cache?.close();
    await server.stop();
  }
});

test("fault: a command with no reply within commandTimeoutMs is a Timeout, and the cache goes on", async () => {
  const server = await startRedis({ args: ["--enable-debug-command", "yes"] });
  let cache: Cache | undefined;
  try {
    cache = await connect({ nodes: [server.node], keyPrefix: "slow:", commandTimeoutMs: 300 });
    await cache.set("k", "v");
    // Another connection blocks the server for 1.5 s.
    const blocking = redisCli(["-p", String(server.port), "DEBUG", "SLEEP", "1.5"]);
    await sleep(100);
    assert.equal(await codeOf(cache.get("k")), "Timeout");
    assert.equal(await codeOf(cache.pipeline().get("k").exec()), "Timeout");
    await blocking;
    assert.equal(await cache.get("k"), "v");
  } finally {
    await cache?.close();
    await server.stop();
  }
});

test("fault: a namespace clear on a server that stopped answering is a Timeout after commandTimeoutMs", async () => {
  const server = await startRedis({ args: ["--enable-debug-command", "yes"] });
  let cache: Cache | undefined;
  try {
    cache = await connect({ nodes: [server.node], keyPrefix: "slow:", commandTimeoutMs: 300 });
    const users = cache.namespace("users");
    await users.set("a", 1);
    const blocking = redisCli(["-p", String(server.port), "DEBUG", "SLEEP", "1.5"]);
    await sleep(100);
    const started = performance.now();
    assert.equal(await codeOf(users.clear()), "Timeout");
    assert.ok(performance.now() - started < 1_200, "the clear waited for the server");
    await blocking;
    await users.clear();
    assert.equal(await users.get("a"), undefined);
  } finally {
    await cache?.close();
    await server.stop();
  }
});

test("fault: a commandTimeoutMs shortened by hotReload applies to the next commands", async () => {
  const server = await startRedis({ args: ["--enable-debug-command", "yes"] });
  let cache: Cache | undefined;
  try {
    cache = await connect({ nodes: [server.node], keyPrefix: "reload:", commandTimeoutMs: 10_000 });
    await cache.set("k", "v");
    await cache.hotReload({ commandTimeoutMs: 300 });
    const blocking = redisCli(["-p", String(server.port), "DEBUG", "SLEEP", "1.5"]);
    await sleep(100);
    const started = Date.now();
    assert.equal(await codeOf(cache.get("k")), "Timeout");
    assert.ok(Date.now() - started < 1_000, `failed after ${Date.now() - started} ms`);
    await blocking;
    assert.equal(await cache.get("k"), "v");
  } finally {
    await cache?.close();
    await server.stop();
  }
});

test("fault: while its invalidation channel is down, an instance's L1 serves nothing, then works again", async () => {
  const server = await startRedis();
  const caches: Cache[] = [];
  try {
    const open = async () => {
      const cache = await connect({
        nodes: [server.node],
        keyPrefix: "l1gap:",
        // A slow reconnection keeps the subscribers away long enough to look at the gap.
        reconnectMinDelayMs: 1_000,
        reconnectMaxDelayMs: 1_000,
        l1: { enabled: true, maxEntries: 100, maxBytes: 1_000_000, ttlMs: 60_000 },
      });
      caches.push(cache);
      return cache;
    };
    const [a, b] = [await open(), await open()];
    /** Whether b's L1 serves `value` for k: a change behind its back goes unseen. */
    const servedFromL1 = async (value: string) => {
      await b.get("k");
      await a.raw().call("SET", a.key("k"), '"behind"');
      const seen = await b.get("k");
      // Put the value back with an invalidation (b's L1 may have kept "behind").
      await a.set("k", value);
      await sleep(20);
      return seen === value;
    };
    await a.set("k", "old");
    await waitUntil(() => servedFromL1("old"), { timeoutMs: 5_000, what: "b's L1 to serve" });
    assert.equal(await b.get("k"), "old"); // in b's L1 now

    // Only the pub/sub connections drop; the command connections stay up.
    await redisCli(["-p", String(server.port), "CLIENT", "KILL", "TYPE", "pubsub"]);
    await sleep(100);
    await a.set("k", "new"); // its invalidation reaches nobody
    assert.equal(await b.get("k"), "new", "b's L1 must not serve what it cannot hear about");

    // Once resubscribed, L1 serves again ...
    await waitUntil(() => servedFromL1("new"), { timeoutMs: 10_000, what: "b's L1 to serve" });
    // ... and hears the other instance's invalidations again.
    await a.set("k", "newer");
    await waitUntil(async () => (await b.get("k")) === "newer", {
      timeoutMs: 5_000,
      what: "the invalidation to reach b",
    });
  } finally {
    for (const cache of caches) await cache.close();
    await server.stop();
  }
});

test("fault: an ACL user without channel rights releases locks and fills getOrSet (their wake-up is a hint); what its ACL refuses is PermissionDenied", async () => {
  const since = recordMetrics().length;
  // Redis 7 gives a new user no channels (acl-pubsub-default resetchannels).
  const server = await startRedis({ config: ["user app on >pw ~app:* +@all"] });
  let cache: Cache | undefined;
  try {
    cache = await connect({
      nodes: [server.node],
      username: "app",
      password: "pw",
      keyPrefix: "app:",
    });
    const held = (await cache.tryLock("L", { ttlMs: 10_000 }))!;
    assert.equal(await held.release(), true);
    assert.ok(InfraError.is(held.signal.reason, "LockLost"), String(held.signal.reason));
    const next = await cache.tryLock("L", { ttlMs: 10_000 });
    assert.ok(next, "the released lock is free");
    assert.equal(await next.release(), true);

    let loads = 0;
    const loader = () => ++loads;
    assert.equal(await cache.getOrSet("g", loader, { ttlMs: 60_000 }), 1);
    assert.equal(await cache.getOrSet("g", loader, { ttlMs: 60_000 }), 1);
    assert.equal(totals(since).get("cache.get_or_set.fill_failures {}") ?? 0, 0);

    const publish = cache.script("return redis.call('PUBLISH', 'elsewhere', 'm')", { keys: 0 });
    assert.equal(await codeOf(publish.run([])), "PermissionDenied");
    const outside = cache.script("return redis.call('GET', 'elsewhere')", { keys: 0 });
    assert.equal(await codeOf(outside.run([])), "PermissionDenied");
    assert.equal(await codeOf(cache.raw().call("GET", "elsewhere")), "PermissionDenied");
  } finally {
    await cache?.close();
    await server.stop();
  }
});
