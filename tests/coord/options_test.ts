/**
 * Every public coord method that takes options, on the memory driver: `null` options and a
 * signal that is not an AbortSignal are `InvalidArgument` naming the method and the option
 * (not a TypeError from deep inside), and nothing is written.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { failure } from "../_support/failure.ts";
import { InfraError } from "../../base/mod.ts";
import * as coord from "../../coord/mod.ts";
import { MemoryStore, MemoryTransport } from "../../coord/memory_store.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

interface Held {
  lock: coord.Lock;
  leadership: coord.Leadership;
}

type Call = (client: coord.Coord, options: Loose, held: Held) => unknown;

const instance = { service: "svc", id: "i-1", address: "10.0.0.1:80" };

const methods: [string, Call][] = [
  ["kv.get", (c, o) => c.kv.get("/k", o)],
  ["kv.set", (c, o) => c.kv.set("/k", 1, o)],
  ["kv.getAndSet", (c, o) => c.kv.getAndSet("/k", 1, o)],
  ["kv.compareAndSet", (c, o) => c.kv.compareAndSet("/k", 1, 0, o)],
  ["kv.delete", (c, o) => c.kv.delete("/k", o)],
  ["kv.getAndDelete", (c, o) => c.kv.getAndDelete("/k", o)],
  ["kv.list", (c, o) => c.kv.list("/", o)],
  ["kv.transaction", (c, o) => c.kv.transaction((tx) => tx.set("/k", 1), o)],
  ["kv.watch", (c, o) => c.kv.watch("/k", o)],
  ["config", (c, o) => c.config("/k", o)],
  ["session", (c, o) => c.session(o)],
  ["lock", (c, o) => c.lock("l2", o)],
  ["tryLock", (c, o) => c.tryLock("l2", o)],
  ["withLock", (c, o) => c.withLock("l2", () => 1, o)],
  ["isOwner", (_c, o, held) => held.lock.isOwner(o)],
  ["election.campaign", (c, o) => c.election("e2").campaign("v", o)],
  ["election.leader", (c, o) => c.election("e").leader(o)],
  ["election.observe", (c, o) => c.election("e").observe(o)],
  ["leadership.proclaim", (_c, o, held) => held.leadership.proclaim("w", o)],
  ["registry.register", (c, o) => c.registry.register(instance, o)],
  ["registry.discover", (c, o) => c.registry.discover("svc", o)],
  ["registry.watch", (c, o) => c.registry.watch("svc", o)],
  ["registry.picker", (c, o) => c.registry.picker("svc", o)],
  ["leaseInstanceId", (c, o) => c.leaseInstanceId("svc", o)],
];

function assertInvalid(error: unknown, message: string, field: string): void {
  assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
  assert.equal((error as InfraError).message, message);
  assert.equal((error as InfraError).details.field, field);
}

async function withClient(fn: (client: coord.Coord, held: Held) => Promise<void>) {
  const client = coord.memory();
  try {
    const lock = await client.lock("l");
    const leadership = await client.election("e").campaign("v");
    await fn(client, { lock, leadership });
  } finally {
    await client.close();
  }
}

test("coord: every method with null options is InvalidArgument naming the method", async () => {
  await withClient(async (client, held) => {
    for (const [method, call] of methods) {
      const error = await failure(() => call(client, null, held));
      assertInvalid(error, `coord: ${method} options must be an object, got null`, "options");
    }
  });
});

test("coord: every method with a signal that is not an AbortSignal is InvalidArgument", async () => {
  await withClient(async (client, held) => {
    for (const [signal, kind] of [[5_000, "number"], [{}, "object"], [null, "null"]] as const) {
      for (const [method, call] of methods) {
        const error = await failure(() => call(client, { signal }, held));
        assertInvalid(
          error,
          `coord: ${method} options.signal must be an AbortSignal, got ${kind}`,
          "options.signal",
        );
      }
    }
  });
});

test("coord: a write or a claim with bad options leaves nothing behind", async () => {
  await withClient(async (client, held) => {
    await failure(() => client.kv.set("/k", 1, null as Loose));
    await failure(() => client.kv.set("/k", 1, { signal: 5_000 as Loose }));
    await failure(() => client.kv.transaction((tx) => tx.set("/k", 1), { signal: {} as Loose }));
    await failure(() => client.registry.register(instance, null as Loose));
    await failure(() => client.lock("l2", { signal: 1 as Loose }));
    assert.equal(await client.kv.get("/k"), undefined);
    assert.deepEqual(await client.registry.discover("svc"), []);
    const other = await client.tryLock("l2");
    assert.ok(other, "nobody holds l2");
    await other.release();
    assert.equal(await held.lock.isOwner(), true);
  });
});

test("coord: a Symbol where a number or a choice belongs is InvalidArgument naming the option", async () => {
  await withClient(async (client, held) => {
    const s = Symbol("x");
    const cases: [string, () => unknown][] = [
      ["expectedRevision", () => client.kv.compareAndSet("/k", 1, s as Loose)],
      ["limit", () => client.kv.list("/", { limit: s as Loose })],
      ["fromRevision", () => client.kv.watch("/k", { fromRevision: s as Loose })],
      ["maxAttempts", () => client.kv.transaction(() => {}, { maxAttempts: s as Loose })],
      ["strategy", () => client.registry.picker("svc", { strategy: s as Loose })],
      ["onDelete", () => client.config("/k", { defaults: 1, onDelete: s as Loose })],
      [
        "guard.fencingToken",
        () => client.kv.set("/k", 1, { guard: { key: held.lock.key, fencingToken: s as Loose } }),
      ],
    ];
    for (const [field, call] of cases) {
      const error = await failure(call);
      assert.ok(InfraError.is(error, "InvalidArgument"), `${field}: ${String(error)}`);
      assert.match((error as InfraError).message, /got Symbol\(x\)$/, field);
    }
    assert.equal(await client.kv.get("/k"), undefined);
  });
});

test("coord: configKey, parseConfigKey, memory and createMemoryStore refuse what is not theirs", async () => {
  const invalid = (call: () => unknown, field: string) => {
    assert.throws(call, (error) => {
      assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
      assert.equal(error.details.field, field);
      return true;
    });
  };
  invalid(() => coord.configKey(null as Loose), "parts");
  invalid(() => coord.configKey("dev" as Loose), "parts");
  assert.equal(coord.parseConfigKey(5 as Loose), undefined);
  invalid(() => coord.memory({}, null as Loose), "options");
  invalid(() => coord.createMemoryStore(null as Loose), "");
  invalid(() => coord.createMemoryStore({ historyLmit: 5 } as Loose), "historyLmit");
  for (const historyLimit of [0, -1, 1.5, Number.NaN, "5"]) {
    invalid(() => coord.createMemoryStore({ historyLimit: historyLimit as Loose }), "historyLimit");
  }
  // The smallest history still works: every write is watched, older ones compacted.
  await using client = coord.memory({}, { store: coord.createMemoryStore({ historyLimit: 1 }) });
  const reader = client.kv.watch<number>("/h").getReader();
  try {
    for (let n = 1; n <= 3; n++) {
      await client.kv.set("/h", n);
      const { value } = await reader.read();
      assert.equal(value?.type === "put" ? value.value : undefined, n);
    }
  } finally {
    await reader.cancel();
  }
});

test("coord: the memory transport's watch from a future revision delivers nothing before it, as etcd", async () => {
  const transport = new MemoryTransport(new MemoryStore());
  const put = (value: string) =>
    transport.txn({ compare: [], success: [{ type: "put", key: "/x", value }], failure: [] });
  const now = (await transport.range({ key: "/x" })).revision;
  const seen: number[] = [];
  const subscription = transport.watch({ key: "/x" }, now + 5, {
    onEvents: (events) => seen.push(...events.map((event) => event.kv.modRevision)),
    onEnd: () => {},
  });
  try {
    for (let i = 0; i < 8; i++) {
      await put(String(i));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    await subscription.cancel();
    await transport.close();
  }
  assert.deepEqual(seen, [now + 5, now + 6, now + 7, now + 8]);
});

test("coord: config with a caller's signal that fired rejects with its Timeout or Aborted, never opens on defaults", async () => {
  await using client = coord.memory();
  await client.kv.set("/k", 5);
  const timeout = AbortSignal.abort(new DOMException("late", "TimeoutError"));
  for (const [signal, code] of [[AbortSignal.abort(), "Aborted"], [timeout, "Timeout"]] as const) {
    const error = await failure(() => client.config("/k", { defaults: 1, signal }));
    assert.ok(InfraError.is(error, code), `${code}: ${String(error)}`);
  }
});
