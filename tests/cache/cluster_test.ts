/**
 * The Redis driver on a private Redis Cluster of three masters (redis-server in cluster
 * mode joined with `redis-cli --cluster create`): the whole contract, and what only a
 * cluster shows: hash tags through the prefix, scripts on every master with NOSCRIPT
 * recovered per node, CROSSSLOT reported as InvalidArgument.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { InfraError } from "../../base/mod.ts";
import { connect } from "../../cache/mod.ts";
import { clusterSlot } from "../../cache/keys.ts";
import { uniqueName } from "../_support/env.ts";
import { type PrivateRedisCluster, startRedisCluster } from "../_support/redis_server.ts";
import { cacheContract } from "./contract.ts";

let cluster: PrivateRedisCluster | undefined;
before(async () => {
  cluster = await startRedisCluster(3);
});
after(async () => {
  await cluster?.stop();
});

const nodes = () => cluster!.nodes;

cacheContract("cluster", (config) => connect({ mode: "cluster", nodes: nodes(), ...config }));

/** A direct connection to each master, for SCRIPT EXISTS / SCRIPT FLUSH. */
async function eachMaster<T>(fn: (node: Redis) => Promise<T>): Promise<T[]> {
  return await Promise.all(cluster!.servers.map(async (server) => {
    const node = new Redis({ port: server.port, host: "127.0.0.1", lazyConnect: true });
    try {
      return await fn(node);
    } finally {
      node.disconnect();
    }
  }));
}

/** The master port owning `slot`. */
async function ownerOf(slot: number): Promise<number> {
  const node = new Redis({ port: cluster!.servers[0].port, host: "127.0.0.1", lazyConnect: true });
  try {
    const ranges = await node.call("CLUSTER", "SLOTS") as [number, number, [string, number]][];
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)!;
    return range[2][1];
  } finally {
    node.disconnect();
  }
}

/** One hash tag per master: tags whose slots are served by different masters. */
async function tagPerMaster(): Promise<string[]> {
  const byOwner = new Map<number, string>();
  for (let i = 0; byOwner.size < 3 && i < 1_000; i++) {
    const tag = `t${i}`;
    const owner = await ownerOf(clusterSlot(`{${tag}}`));
    if (!byOwner.has(owner)) byOwner.set(owner, tag);
  }
  assert.equal(byOwner.size, 3, "found a tag on each master");
  return [...byOwner.values()];
}

test("cluster: the slot of a prefixed key is decided by its hash tag, as CLUSTER KEYSLOT says", async () => {
  await using cache = await connect({
    mode: "cluster",
    nodes: nodes(),
    keyPrefix: uniqueName("slot") + ":",
  });
  for (
    const key of ["plain", "{user:1}:profile", "{user:1}:messages", "a{}b", "x}{y}", "{room:9}"]
  ) {
    const expected = await cache.raw().call("CLUSTER", "KEYSLOT", cache.key(key));
    assert.equal(clusterSlot(cache.key(key)), expected, key);
  }
  assert.equal(
    clusterSlot(cache.key("{user:1}:profile")),
    clusterSlot(cache.key("{user:1}:messages")),
  );
  assert.equal(clusterSlot(cache.key("{user:1}:profile")), clusterSlot("{user:1}"));
});

test("cluster: multi-key scripts run on every master through hash tags, NOSCRIPT recovered per node", async () => {
  await using cache = await connect({
    mode: "cluster",
    nodes: nodes(),
    keyPrefix: uniqueName("scr") + ":",
  });
  // A script no node has seen yet: every master answers NOSCRIPT first.
  const lua = `-- ${uniqueName("fresh")}
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[1] .. '!')
return redis.call('MGET', KEYS[1], KEYS[2])`;
  const script = cache.script(lua, { keys: 2 });
  const tags = await tagPerMaster();
  assert.deepEqual(await eachMaster((node) => node.call("SCRIPT", "EXISTS", script.sha)), [
    [0],
    [0],
    [0],
  ]);
  for (const tag of tags) {
    assert.deepEqual(await script.run([`{${tag}}:a`, `{${tag}}:b`], [tag]), [tag, `${tag}!`]);
  }
  // EVAL on NOSCRIPT cached it on each master (never a SCRIPT LOAD broadcast).
  assert.deepEqual(await eachMaster((node) => node.call("SCRIPT", "EXISTS", script.sha)), [
    [1],
    [1],
    [1],
  ]);

  await eachMaster((node) => node.call("SCRIPT", "FLUSH"));
  for (const tag of tags) {
    assert.deepEqual(await script.run([`{${tag}}:a`, `{${tag}}:b`], ["again"]), [
      "again",
      "again!",
    ]);
  }

  // In pipelines spanning all masters, after another flush.
  const pipeline = () => {
    const p = cache.pipeline();
    for (const tag of tags) p.run(script, [`{${tag}}:a`, `{${tag}}:b`], [`p-${tag}`]);
    return p;
  };
  assert.equal((await pipeline().exec()).length, 3);
  await eachMaster((node) => node.call("SCRIPT", "FLUSH"));
  assert.deepEqual(await pipeline().exec(), tags.map((tag) => [`p-${tag}`, `p-${tag}!`]));
});

test("cluster: a script over keys of different slots is InvalidArgument (CROSSSLOT)", async () => {
  await using cache = await connect({
    mode: "cluster",
    nodes: nodes(),
    keyPrefix: uniqueName("xs") + ":",
  });
  const script = cache.script("return redis.call('MGET', KEYS[1], KEYS[2])", { keys: 2 });
  const [a, b] = await tagPerMaster();
  await assert.rejects(script.run([`{${a}}:k`, `{${b}}:k`]), (error: unknown) => {
    assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
    assert.match((error as Error).message, /hash tag/);
    return true;
  });
});

test("cluster: getMany, setMany, delete and exists split across slots by themselves", async () => {
  await using cache = await connect({
    mode: "cluster",
    nodes: nodes(),
    keyPrefix: uniqueName("mk") + ":",
  });
  const keys = Array.from({ length: 30 }, (_, i) => `key-${i}`);
  const owners = new Set(await Promise.all(keys.map((k) => ownerOf(clusterSlot(cache.key(k))))));
  assert.equal(owners.size, 3, "the keys live on all three masters");
  await cache.setMany(keys.map((k, i): [string, unknown] => [k, i]));
  assert.deepEqual(await cache.getMany(keys), keys.map((_, i) => i));
  await cache.setMany(keys.map((k, i): [string, unknown] => [k, i * 2]), { ttlMs: 60_000 });
  assert.deepEqual(await cache.getMany(keys), keys.map((_, i) => i * 2));
  assert.equal(await cache.exists(keys), 30);
  assert.equal(await cache.delete(keys), 30);
  assert.equal(await cache.exists(keys), 0);
});

test("cluster: L1 drops what it holds when its subscriber moves to another connection, so an invalidation sent meanwhile is not missed", async () => {
  const keyPrefix = uniqueName("l1move") + ":";
  const l1 = { enabled: true, maxEntries: 100, maxBytes: 1_000_000, ttlMs: 60_000 };
  await using a = await connect({ mode: "cluster", nodes: nodes(), keyPrefix, l1 });
  await using b = await connect({ mode: "cluster", nodes: nodes(), keyPrefix, l1 });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  for (let round = 0; round < 5; round++) {
    await a.set("k", `old-${round}`);
    await sleep(50); // the invalidation of the set reaches b
    assert.equal(await b.get("k"), `old-${round}`);
    // b serves it from L1 now: a change behind its back goes unseen.
    await a.raw().call("SET", a.key("k"), JSON.stringify("behind"));
    assert.equal(await b.get("k"), `old-${round}`, "b's L1 holds the value");
    // Every pub/sub connection is dropped; ioredis moves b's subscriber to a new
    // connection (maybe another node) by itself, and a's invalidation may come before it.
    await eachMaster((node) => node.call("CLIENT", "KILL", "TYPE", "pubsub"));
    await a.set("k", `new-${round}`);
    await sleep(300);
    assert.equal(await b.get("k"), `new-${round}`, `round ${round}: b's L1 kept a stale value`);
  }
});
