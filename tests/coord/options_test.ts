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
