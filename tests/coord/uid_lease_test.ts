/**
 * coord's instance-id lease drives uid's Snowflake generator: ids carry the leased id, and
 * the generator stops with LockLost once the lease is lost.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { decompose, snowflake } from "../../uid/mod.ts";
import { etcdEndpoints } from "../_support/env.ts";
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
