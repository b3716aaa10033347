/**
 * coord's instance-id lease drives uid's Snowflake generator: ids carry the leased id, the
 * generator stops with LockLost while the lease is lost, carries on by itself once the lease
 * re-claimed its id, and stops for good once the id is taken, its session expired or the
 * lease closed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { decompose, snowflake } from "../../uid/mod.ts";
import { type Outage, outage } from "../_support/coord_transport.ts";
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

  test(`${name}: one Snowflake generator stops during an outage and carries on with larger ids once the lease re-claims its id`, () =>
    withHarness(factory, async (h) => {
      const links = { current: undefined as Outage | undefined };
      const c = await h.client({
        wrap: (transport) => (links.current = outage(transport)).transport,
      });
      const lease = await c.leaseInstanceId("im-chat", { ttlMs: TTL });
      const ids = snowflake({}, { lease });
      const before = Array.from({ length: 5_000 }, () => ids.next());
      await links.current!.begin();
      try {
        await aborted(lease.signal);
        assert.throws(() => ids.next(), (error) => InfraError.is(error, "LockLost"));
      } finally {
        links.current!.end();
      }
      await waitUntil(() => lease.state === "held", { timeoutMs: 15_000, what: "the re-claim" });
      const after = Array.from({ length: 5_000 }, () => ids.next());
      const all = [...before, ...after];
      assert.ok(all.every((id, i) => i === 0 || id > all[i - 1]), "strictly increasing");
      assert.equal(new Set(all).size, all.length);
      assert.ok(all.every((id) => decompose(id).instanceId === lease.id));
      assert.ok(
        decompose(after[0]).timestampMs > decompose(before.at(-1)!).timestampMs,
        "the new period starts on a later millisecond",
      );
    }));

  test(`${name}: a Snowflake generator stops for good when another holder takes its id`, () =>
    withHarness(factory, async (h) => {
      const c = await h.client();
      const other = await h.client();
      const lease = await c.leaseInstanceId("im-push", { ttlMs: TTL });
      const ids = snowflake({}, { lease });
      ids.next();
      const theirs = await other.transport.leaseGrant(TTL / 1000);
      await other.transport.txn({
        compare: [],
        success: [{
          type: "put",
          key: `/ids/im-push/${lease.id}`,
          value: '{"holder":"other"}',
          lease: theirs.id,
        }],
        failure: [],
      });
      await waitUntil(() => lease.state === "taken", { what: "the lease to give up" });
      assert.throws(
        () => ids.next(),
        (error) => InfraError.is(error, "LockLost") && error.details.state === "taken",
      );
      await lease.close();
      await other.transport.leaseRevoke(theirs.id);
    }));

  test(`${name}: a Snowflake generator on an id leased on a session stops for good, saying so, when the session is lost`, () =>
    withHarness(factory, async (h) => {
      const c = await h.client();
      const session = await c.session({ ttlMs: TTL });
      try {
        const lease = await c.leaseInstanceId("im-session", { session });
        const ids = snowflake({}, { lease });
        ids.next();
        await c.transport.leaseRevoke(session.leaseId);
        await aborted(lease.signal);
        // Lost at once (the key went with the lease); expired once the session knows.
        assert.throws(() => ids.next(), (error) => InfraError.is(error, "LockLost"));
        await waitUntil(() => lease.state === "expired", { what: "the session's loss" });
        const expired = (error: unknown) =>
          InfraError.is(error, "LockLost") && error.details.state === "expired" &&
          /expired with its session; no more ids/.test(error.message);
        assert.throws(() => ids.next(), expired);
        // Over for good, however long the generator is asked.
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.throws(() => ids.next(), expired);
        await lease.close();
        assert.equal(lease.state, "closed");
      } finally {
        await session.close();
      }
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
