/**
 * L1 over a scripted connection: what the cache keeps in process when Redis answers in ways
 * a live server produces only in rare races.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { getLogger } from "../../clog/mod.ts";
import { createCache } from "../../cache/cache.ts";
import { L1Cache } from "../../cache/l1.ts";
import type { BatchOutcome, Command, Connection, Reply } from "../../cache/connection.ts";

/** A connection whose GET and PTTL replies come from `replies`, in turn. */
function scripted(replies: [Reply, Reply][]): Connection & { reads: number } {
  const connection = {
    driver: "redis" as const,
    mode: "single" as const,
    reads: 0,
    call: () => Promise.resolve(null),
    batch(commands: readonly Command[]): Promise<BatchOutcome[]> {
      const [value, pttl] = replies[Math.min(connection.reads++, replies.length - 1)];
      return Promise.resolve(commands.map((command) => ({
        ok: true as const,
        reply: command.kind === "command" && command.name === "PTTL" ? pttl : value,
      })));
    },
    slotOf: () => 0,
    async *scanPrefix() {},
    publish: () => Promise.resolve(),
    subscribe: () => Promise.resolve({ unsubscribe: () => Promise.resolve() }),
    ping: () => Promise.resolve(),
    raw: () => ({
      call: () => Promise.resolve(null),
      callBuffer: () => Promise.resolve(null),
      native: undefined,
    }),
    close: () => Promise.resolve(),
  };
  return connection;
}

const settings = () => ({
  keyPrefix: "",
  codec: "json" as const,
  defaultTtlMs: 0,
  getOrSet: {
    negativeTtlMs: 0,
    jitter: 0,
    staleWhileRevalidateMs: 0,
    lockTtlMs: 1_000,
    waitTimeoutMs: 1_000,
    graceMs: 0,
    graceBackoffMs: 0,
    softTimeoutMs: 0,
    hardTimeoutMs: 0,
  },
  l1: {
    enabled: true,
    maxEntries: 100,
    maxBytes: 1_000_000,
    ttlMs: 60_000,
    publishInvalidations: false,
  },
});

test("l1: a value that was gone by the time its TTL was read is not kept", async () => {
  // GET found the value, then it expired (or was evicted) before PTTL: -2.
  const connection = scripted([['"old"', -2], [null, -2]]);
  await using cache = await createCache(connection, settings(), getLogger("cache"), () => {
    throw new Error("no reload here");
  });
  assert.equal(await cache.get("k"), "old");
  assert.equal(await cache.get("k"), undefined, "read from Redis again, not from L1");
  assert.equal(connection.reads, 2);
});

test("l1: a value with a TTL is kept, and one without TTL too (within l1.ttlMs)", async () => {
  const connection = scripted([['"v"', 30_000], ['"w"', -1]]);
  await using cache = await createCache(connection, settings(), getLogger("cache"), () => {
    throw new Error("no reload here");
  });
  assert.equal(await cache.get("a"), "v");
  assert.equal(await cache.get("a"), "v");
  assert.equal(await cache.get("b"), "w");
  assert.equal(await cache.get("b"), "w");
  assert.equal(connection.reads, 2);
});

test("l1: bytes are kept as an exact-size copy, not as a view into the reply's memory", () => {
  const l1 = new L1Cache(settings().l1);
  // ioredis hands out bytes as a view into the socket chunk they arrived in.
  const chunk = new Uint8Array(64 * 1024);
  chunk.set([1, 2, 3], 100);
  l1.set("k", chunk.subarray(100, 103), true, 60_000, l1.epoch);
  chunk.fill(0);
  const data = l1.get("k")!.data as Uint8Array;
  assert.deepEqual([...data], [1, 2, 3]);
  assert.equal(data.buffer.byteLength, 3);
});

test("l1: a bytes hit decodes to a copy of its own each time", async () => {
  const chunk = new Uint8Array(64 * 1024);
  chunk.set([1, 2, 3], 100);
  const connection = scripted([[chunk.subarray(100, 103), 30_000]]);
  const config = { ...settings(), codec: "bytes" as const };
  await using cache = await createCache(connection, config, getLogger("cache"), () => {
    throw new Error("no reload here");
  });
  const first = (await cache.get<Uint8Array>("k"))!;
  assert.equal(first.buffer.byteLength, 3);
  first[0] = 99;
  chunk.fill(0);
  assert.deepEqual([...(await cache.get<Uint8Array>("k"))!], [1, 2, 3]);
  assert.equal(connection.reads, 1, "the second read was an L1 hit");
});
