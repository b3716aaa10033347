/**
 * Faults on a private etcd that the tests SIGKILL and restart (never the shared one).
 */
import { test } from "node:test";
import process from "node:process";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import type { CoordClient } from "../../coord/client.ts";
import * as coord from "../../coord/mod.ts";
import type { Transport, WatchEnd } from "../../coord/transport.ts";
import { type EtcdServer, startEtcd } from "../_support/etcd_server.ts";
import { stopProcess, waitUntil } from "../_support/process.ts";
import { recordingWatchEnds } from "../_support/coord_transport.ts";
import {
  aborted,
  chunkWhere,
  compactionContract,
  type CoordHarness,
  nextChunk,
  rejectsWith,
  TTL,
} from "./contract.ts";
import { etcdHarness } from "./_harness.ts";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `fn` with a private single-member etcd (started with `args`) and a harness on it. */
async function withPrivateEtcd(
  transport: coord.CoordTransportKind,
  fn: (server: EtcdServer, harness: CoordHarness) => Promise<void>,
  args: string[] = [],
): Promise<void> {
  const server = await startEtcd({ args });
  const harness = await etcdHarness(server.endpoints, { compactable: true, config: { transport } });
  try {
    await fn(server, harness);
  } finally {
    await harness.close().catch(() => {});
    await server.close();
  }
}

/** Kills the member, waits `downMs`, starts it again. */
async function restart(server: EtcdServer, downMs: number): Promise<void> {
  await server.members[0].process.kill();
  await new Promise((resolve) => setTimeout(resolve, downMs));
  await server.members[0].process.start();
}

test(
  "a connection etcd ends for pinging too often (its --grpc-keepalive-min-time above our interval) is resumed, not failed as the caller's error",
  async () => {
    const server = await startEtcd({ args: ["--grpc-keepalive-min-time", "60s"] });
    const h = await etcdHarness(server.endpoints, { config: { keepAliveTimeMs: 5_000 } });
    try {
      const ends: WatchEnd[] = [];
      const c = await h.client({
        wrap: (transport) => recordingWatchEnds(transport, ends),
      });
      const reader = c.kv.watch<number>("/pings/k").getReader();
      try {
        // Pings at 5, 10, 15, 20 s with nothing else sent: the third too early one gets
        // GOAWAY (too_many_pings), which grpc-js reports on the open watch as
        // RESOURCE_EXHAUSTED; it then pings half as often.
        await waitUntil(() => ends.length > 0, { timeoutMs: 30_000, what: "the GOAWAY" });
        assert.ok(
          ends[0].reason === "error" && InfraError.is(ends[0].error, "Unavailable"),
          String(ends[0].reason === "error" ? ends[0].error : ends[0].reason),
        );
        await c.kv.set("/pings/k", 1);
        const event = await nextChunk(reader, 10_000);
        assert.equal(event.type === "put" && event.value, 1);
      } finally {
        await reader.cancel();
      }
    } finally {
      await h.close().catch(() => {});
      await server.close();
    }
  },
);

// Every fault, over each transport: gRPC (etcd3) and the JSON gateway (fetch).
for (const transport of ["grpc", "gateway"] as const) {
  const label = transport === "grpc" ? "" : "gateway: ";

  compactionContract(`etcd (private${transport === "grpc" ? "" : ", gateway"})`, async () => {
    const server = await startEtcd();
    const harness = await etcdHarness(server.endpoints, {
      compactable: true,
      config: { transport },
    });
    return {
      ...harness,
      async close() {
        await harness.close().catch(() => {});
        await server.close();
      },
    };
  });

  test(
    label +
      "a watch survives an etcd SIGKILL and restart and sees every later update once, in order",
    () =>
      withPrivateEtcd(transport, async (server, h) => {
        const watcher = await h.client();
        const writer = await h.client();
        const reader = watcher.kv.watch<number>("/fault/", { prefix: true }).getReader();
        try {
          await new Promise((resolve) => setTimeout(resolve, 200));
          await writer.kv.set("/fault/n", 0);
          const first = await nextChunk(reader);
          assert.equal(first.type === "put" && first.value, 0);
          await restart(server, 500);
          // Written as soon as etcd is back, possibly before the watch has resubscribed.
          for (let i = 1; i <= 5; i++) await writer.kv.set("/fault/n", i);
          await writer.kv.set("/fault/other", "x");
          const seen: number[] = [];
          for (let i = 0; i < 5; i++) {
            const event = await nextChunk(reader, 20_000);
            assert.equal(event.type, "put");
            if (event.type === "put") seen.push(event.value);
          }
          assert.deepEqual(seen, [1, 2, 3, 4, 5]);
          assert.equal((await nextChunk(reader)).key, "/fault/other");
        } finally {
          await reader.cancel();
        }
      }),
  );

  test(
    label + "typed config keeps hot-reloading after an etcd restart",
    () =>
      withPrivateEtcd(transport, async (server, h) => {
        const c = await h.client();
        const key = coord.configKey({ env: "test", component: "fault" });
        await using cfg = await c.config(key, { defaults: { level: "info" } });
        const applied: string[] = [];
        await cfg.bind({
          hotReload: (value: { level: string }) => Promise.resolve(void applied.push(value.level)),
        });
        await restart(server, 300);
        await c.kv.set(key, { level: "debug" });
        await waitUntil(() => cfg.current().level === "debug", {
          timeoutMs: 20_000,
          what: "reload",
        });
        assert.deepEqual(applied, ["info", "debug"]);
      }),
  );

  test(
    label + "a registration survives a short etcd restart without being lost",
    () =>
      withPrivateEtcd(transport, async (server, h) => {
        const c = await h.client();
        await using registration = await c.registry.register(
          { service: "svc", id: "short", address: "a:1" },
          { ttlMs: 4_000 },
        );
        const states: string[] = [];
        registration.onStateChange((state) => states.push(state));
        await restart(server, 300);
        // Several keepalive rounds after the restart.
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        assert.deepEqual(states, []);
        assert.deepEqual((await c.registry.discover("svc")).map((i) => i.id), ["short"]);
      }),
  );

  test(
    label + "a registration lost during a long etcd outage comes back after the restart",
    () =>
      withPrivateEtcd(transport, async (server, h) => {
        const c = await h.client();
        const observer = await h.client();
        await using registration = await c.registry.register(
          { service: "svc", id: "long", address: "a:1" },
          { ttlMs: TTL },
        );
        const firstPeriod = registration.signal;
        await server.members[0].process.kill();
        try {
          // Lost locally before etcd could expire it (it is down: it cannot expire anything).
          const reason = await aborted(firstPeriod, 10_000);
          assert.ok(InfraError.is(reason, "LockLost"));
          assert.equal(registration.state, "lost");
        } finally {
          await server.members[0].process.start();
        }
        await waitUntil(() => registration.state === "registered", {
          timeoutMs: 20_000,
          what: "re-registration",
        });
        assert.deepEqual((await observer.registry.discover("svc")).map((i) => i.id), ["long"]);
        assert.equal(registration.signal.aborted, false);
      }),
  );

  test(
    label +
      "a lock whose lease expires during an outage fires its signal, and the next waiter gets it",
    () =>
      withPrivateEtcd(transport, async (server, h) => {
        const holder = await h.client();
        const waiter = await h.client();
        const held = await holder.lock("fault", { ttlMs: TTL });
        const signal = held.signal;
        const waiting = waiter.lock("fault", { ttlMs: 6_000 });
        await waitUntil(
          async () =>
            (await holder.transport.range({ key: "/locks/fault/", prefix: true })).kvs.length === 2,
          { what: "the waiter to queue" },
        );
        await server.members[0].process.kill();
        let reason: unknown;
        try {
          reason = await aborted(signal, 10_000);
        } finally {
          await server.members[0].process.start();
        }
        assert.ok(InfraError.is(reason, "LockLost"));
        const next = await waiting;
        assert.ok(next.fencingToken > held.fencingToken);
        assert.equal(await next.isOwner(), true);
        assert.equal(await held.isOwner(), false);
        await next.release();
        await held.release();
      }),
  );

  test(
    label +
      "an instance-id lease fires its signal during an outage and re-claims the same id after the restart",
    () =>
      withPrivateEtcd(transport, async (server, h) => {
        const c = await h.client();
        const lease = await c.leaseInstanceId("fault", { ttlMs: TTL });
        const key = `/ids/fault/${lease.id}`;
        const oldLease = (await c.transport.range({ key })).kvs[0].lease;
        const states: coord.InstanceIdState[] = [];
        lease.onStateChange((state) => states.push(state));
        await server.members[0].process.kill();
        try {
          assert.ok(InfraError.is(await aborted(lease.signal, 10_000), "LockLost"));
          assert.equal(lease.state, "lost");
        } finally {
          await server.members[0].process.start();
        }
        await waitUntil(() => lease.state === "held", { timeoutMs: 20_000, what: "the re-claim" });
        assert.deepEqual(states, ["lost", "held"]);
        assert.equal(lease.signal.aborted, false);
        const kvs = (await c.transport.range({ key: "/ids/fault/", prefix: true })).kvs;
        assert.deepEqual(kvs.map((kv) => kv.key), [key]);
        assert.notEqual(kvs[0].lease, oldLease);
        await lease.close();
      }),
  );

  test(
    label + "cancelled watches leave no watcher behind on the server",
    () =>
      withPrivateEtcd(transport, async (server, h) => {
        const member = server.members[0];
        const watchers = () => member.metric("etcd_debugging_mvcc_watcher_total");
        const c = (await h.client()) as CoordClient;
        const baseline = await watchers();
        const stop = new AbortController();
        const kv = c.kv.watch("/leak/", { prefix: true, signal: stop.signal }).getReader();
        const services = c.registry.watch("svc").getReader();
        const leader = c.election("leak").observe().getReader();
        await nextChunk(services);
        await nextChunk(leader);
        await waitUntil(async () => (await watchers()) >= baseline + 3, { what: "3 watchers" });
        stop.abort();
        await services.cancel();
        await leader.cancel();
        assert.equal((await kv.read()).done, true);
        await waitUntil(async () => (await watchers()) === baseline, {
          what: "the watchers to be gone",
        });
        // A held lock that was watched, then released.
        const lock = await c.lock("leak", { ttlMs: TTL });
        void lock.signal;
        await waitUntil(async () => (await watchers()) === baseline + 1, {
          what: "the lock watch",
        });
        await lock.release();
        await waitUntil(async () => (await watchers()) === baseline, { what: "no lock watch" });
      }),
  );

  test(
    label + "connect fails with Unavailable when etcd does not answer within the dial timeout",
    async () => {
      const server = await startEtcd();
      const endpoints = server.endpoints;
      await server.close();
      await rejectsWith(
        coord.connect({ ...coord.defaultConfig(), transport, endpoints, dialTimeoutMs: 500 }),
        "Unavailable",
      );
      await rejectsWith(
        coord.connect({ ...coord.defaultConfig(), transport, endpoints, dialTimeoutMs: 0 }),
        "InvalidArgument",
      );
    },
  );

  test(
    label +
      "a watch opened on a member that stopped answering ends with Timeout after requestTimeoutMs instead of waiting on it",
    () =>
      withPrivateEtcd(transport, async (server, h) => {
        let raw: Transport | undefined;
        const c = await h.client({ requestTimeoutMs: 1_000, wrap: (t) => (raw = t) });
        await c.kv.set("/hung/k", 1); // the connection is up
        const pid = server.members[0].process.pid!;
        try {
          await stopProcess(pid);
          let created = false;
          const started = Date.now();
          const ended = new Promise<WatchEnd>((resolve) =>
            raw!.watch({ key: "/hung/k" }, undefined, {
              onEvents() {},
              onCreated: () => (created = true),
              onEnd: resolve,
            })
          );
          const why = await Promise.race([ended, sleep(8_000).then(() => "still waiting")]);
          assert.ok(
            typeof why === "object" && why.reason === "error" &&
              InfraError.is(why.error, "Timeout"),
            `${typeof why === "object" && why.reason === "error" ? why.error : why} after ${
              Date.now() - started
            } ms (created: ${created})`,
          );
        } finally {
          process.kill(pid, "SIGCONT");
        }
      }),
  );

  /** A test on a private etcd started with `args`, over this transport. */
  const onPrivateEtcd = (title: string, args: string[], fn: (h: CoordHarness) => Promise<void>) =>
    test(label + title, () => withPrivateEtcd(transport, (_server, h) => fn(h), args));

  onPrivateEtcd(
    "a write to a full etcd (its space quota exceeded) is ResourceExhausted, not the caller's InvalidArgument, and reads go on",
    ["--quota-backend-bytes", String(256 * 1024)],
    async (h) => {
      const c = await h.client();
      let refused: unknown;
      // etcd measures its backend after a commit (every 100 ms), so a fast client's first
      // writes all fit: pace them, so that the quota is seen within a few.
      for (let i = 0; i < 200 && refused === undefined; i++) {
        await c.kv.set(`/full/${i}`, "x".repeat(100_000)).catch((error) => refused = error);
        if (refused === undefined) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      assert.ok(InfraError.is(refused, "ResourceExhausted"), String(refused));
      // Not retried as if etcd were away: every write fails at once until an operator acts.
      const started = Date.now();
      await rejectsWith(c.kv.set("/full/small", 1), "ResourceExhausted");
      assert.ok(Date.now() - started < 1_000);
      // Nor counted against the member: after more refusals than a breaker's threshold, a
      // read straight on the transport (no retries above it) is answered.
      for (let i = 0; i < 5; i++) {
        await rejectsWith(c.kv.set("/full/small", i), "ResourceExhausted");
      }
      assert.ok((await c.transport.range({ key: "/full/", prefix: true })).count > 0);
      assert.equal((await c.kv.get<string>("/full/0"))?.value.length, 100_000);
    },
  );

  test(
    label + "a watch on the election keeps reporting after a restart",
    () =>
      withPrivateEtcd(transport, async (server, h) => {
        const a = await h.client();
        const observer = await h.client();
        const reader = observer.election("restart").observe<string>().getReader();
        try {
          assert.equal(await nextChunk(reader), undefined);
          await restart(server, 300);
          const leadership = await a.election("restart").campaign("a", { ttlMs: 4_000 });
          assert.equal(
            (await chunkWhere(reader, (info) => info?.value === "a", 20_000))?.value,
            "a",
          );
          await leadership.resign();
        } finally {
          await reader.cancel();
        }
      }),
  );
}
