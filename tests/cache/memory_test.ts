/**
 * The memory driver: the whole contract, plus what only an embedded store can show (an
 * injected clock, scripts without a JavaScript twin).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { memory, memoryStore } from "../../cache/mod.ts";
import { cacheContract } from "./contract.ts";

const store = memoryStore();
cacheContract("memory", (config) => Promise.resolve(memory(config, { store })));

test("memory: TTLs follow the injected clock", async () => {
  let now = 1_000_000;
  await using cache = memory({}, { store: memoryStore({ now: () => now }) });
  await cache.set("k", "v", { ttlMs: 1_000 });
  now += 999;
  assert.equal(await cache.get("k"), "v");
  assert.equal(await cache.ttl("k"), 1);
  now += 1;
  assert.equal(await cache.get("k"), undefined);
});

test("memory: a script without a JavaScript twin is InvalidArgument when run", async () => {
  await using cache = memory();
  const script = cache.script("return 1", { keys: 0 });
  await assert.rejects(script.run([]), (error: unknown) => InfraError.is(error, "InvalidArgument"));
  await assert.rejects(
    cache.raw().call("EVAL", "return 1", 0),
    (error: unknown) => InfraError.is(error, "InvalidArgument"),
  );
});

test("memory: caches sharing a store see each other's data and messages, private ones do not", async () => {
  const shared = memoryStore();
  await using a = memory({}, { store: shared });
  await using b = memory({}, { store: shared });
  await using c = memory();
  await a.set("k", 1);
  assert.equal(await b.get("k"), 1);
  assert.equal(await c.get("k"), undefined);
  assert.equal(shared.size, 1);
  shared.clear();
  assert.equal(await b.get("k"), undefined);
});

test("memory: the config is validated", () => {
  assert.throws(
    () => memory({ keyPrefix: "{x}" }),
    (e: unknown) => InfraError.is(e, "InvalidArgument"),
  );
  assert.throws(
    () => memory({ codec: "xml" as "json" }),
    (e: unknown) => InfraError.is(e, "InvalidArgument"),
  );
  assert.throws(
    () => memory({ getOrSet: { jitter: -1 } }),
    (e: unknown) => InfraError.is(e, "InvalidArgument"),
  );
});

test("memory: hotReload refuses the Redis driver's fields as unknown, naming them", async () => {
  await using cache = memory({ defaultTtlMs: 60_000 });
  for (const field of ["nodes", "commandTimeoutMs", "l1"]) {
    await assert.rejects(
      cache.hotReload({ defaultTtlMs: 5_000, [field]: field === "l1" ? {} : 1 }),
      (error: unknown) => {
        assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
        assert.equal(error.details.field, field);
        return true;
      },
    );
  }
  await cache.set("k", 1);
  assert.ok((await cache.ttl("k"))! > 5_000);
});
