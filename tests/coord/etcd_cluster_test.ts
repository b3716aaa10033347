/**
 * A private three-member etcd cluster whose leader is SIGKILLed mid-run: config, registry
 * and locks keep working on the two members left.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as coord from "../../coord/mod.ts";
import { leaderOf, startEtcd } from "../_support/etcd_server.ts";
import { waitUntil } from "../_support/process.ts";
import { nextChunk } from "./contract.ts";
import { etcdHarness } from "./_harness.ts";

test("killing the leader of a three-member cluster leaves config, registry and locks working", async () => {
  const server = await startEtcd({ size: 3 });
  const h = await etcdHarness(server.endpoints, { config: { sessionTtlMs: 5_000 } });
  try {
    const c = await h.client();
    const other = await h.client();
    const key = coord.configKey({ env: "test", component: "cluster" });
    await c.kv.set(key, { step: 0 });
    await using cfg = await other.config(key, { defaults: { step: -1 } });
    assert.equal(cfg.current().step, 0);
    const registration = await c.registry.register({ service: "svc", id: "one", address: "a:1" });
    const services = other.registry.watch("svc").getReader();
    assert.deepEqual((await nextChunk(services)).map((i) => i.id), ["one"]);
    const held = await c.lock("cluster");
    const waiting = other.lock("cluster");
    waiting.catch(() => {}); // awaited below; do not let an early failure go unhandled

    const leader = await leaderOf(server);
    await leader.process.kill();

    // Writes and reads go to the members left once they elect a new leader.
    await c.kv.set(key, { step: 1 });
    await waitUntil(() => cfg.current().step === 1, { timeoutMs: 20_000, what: "hot reload" });
    assert.deepEqual((await other.kv.get(key))?.value, { step: 1 });

    // The registration stays (or comes back), and watchers see newcomers.
    const second = await other.registry.register({ service: "svc", id: "two", address: "b:1" });
    const both = await (async () => {
      for (;;) {
        const list = await nextChunk(services, 20_000);
        if (list.length === 2) return list;
      }
    })();
    assert.deepEqual(both.map((i) => i.id), ["one", "two"]);
    await waitUntil(() => registration.state === "registered", {
      timeoutMs: 20_000,
      what: "registered",
    });

    // The lock passes to the waiter, FIFO, and new locks work.
    assert.equal(await held.isOwner(), true);
    await held.release();
    const next = await waiting;
    assert.ok(next.fencingToken > held.fencingToken);
    assert.equal(await c.tryLock("cluster"), undefined);
    await next.release();
    const again = await c.tryLock("cluster");
    assert.ok(again);
    await again.release();

    await services.cancel();
    await second.close();
    await registration.close();
  } finally {
    await h.close().catch(() => {});
    await server.close();
  }
});
