/**
 * coord's instance-id lease drives uid's Snowflake generator: ids carry the leased id, the
 * generator stops with LockLost once the lease is lost, and one rebuilt after the lease
 * re-claimed its id carries on.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { decompose, snowflake } from "../../uid/mod.ts";
import { etcdEndpoints } from "../_support/env.ts";
import { waitUntil } from "../_support/process.ts";
import { aborted, type HarnessFactory, leaseOf, TTL, withHarness } from "./contract.ts";
import { etcdHarness, memoryHarness } from "./_harness.ts";

const drivers: [string, HarnessFactory][] = [
  ["memory", memoryHarness],
  ["etcd", () => etcdHarness(etcdEndpoints)],
];

for (const [name, factory] of drivers) {
  test(`${name}: a Snowflake generator on a leased instance id stops with LockLost when the lease is lost`, () =>
    withHarness(factory, async (h) => {
      const c = await h.client();
      await c.leaseInstanceId("im-logic", { ttlMs: TTL }); // take id 0, so the next is 1
      const lease = await c.leaseInstanceId("im-logic", { ttlMs: TTL });
      assert.equal(lease.id, 1);
      const ids = snowflake({}, { lease });
      const first = ids.next();
      assert.equal(decompose(first).instanceId, 1);
      assert.ok(ids.next() > first);
      await c.transport.leaseRevoke(await leaseOf(c, `/ids/im-logic/${lease.id}`));
      await aborted(lease.signal);
      assert.throws(() => ids.next(), (error) => InfraError.is(error, "LockLost"));
      assert.throws(() => ids.nextString(), (error) => InfraError.is(error, "LockLost"));
    }));

  test(`${name}: a Snowflake generator rebuilt when the lease re-claims its id issues larger ids with the same instance id`, () =>
    withHarness(factory, async (h) => {
      const c = await h.client();
      const lease = await c.leaseInstanceId("im-chat", { ttlMs: TTL });
      let ids = snowflake({}, { lease });
      lease.onStateChange((state) => {
        if (state === "held") ids = snowflake({}, { lease });
      });
      const before = ids;
      const firstPeriod = lease.signal;
      const last = before.next();
      await c.transport.leaseRevoke(await leaseOf(c, `/ids/im-chat/${lease.id}`));
      await aborted(firstPeriod);
      await waitUntil(() => lease.state === "held", { what: "the re-claim" });
      assert.throws(() => before.next(), (error) => InfraError.is(error, "LockLost"));
      const next = ids.next();
      assert.ok(next > last);
      assert.equal(decompose(next).instanceId, lease.id);
      await lease.close();
      assert.throws(() => ids.next(), (error) => InfraError.is(error, "LockLost"));
    }));

  test(`${name}: a Snowflake generator stops when its lease is closed`, () =>
    withHarness(factory, async (h) => {
      const c = await h.client();
      const lease = await c.leaseInstanceId("im-task", { ttlMs: TTL });
      const ids = snowflake({}, { lease });
      ids.next();
      await lease.close();
      assert.throws(() => ids.next(), (error) => InfraError.is(error, "LockLost"));
    }));
}
