/**
 * Private three-member etcd clusters: one whose leader is SIGKILLed mid-run (config, registry
 * and locks keep working on the two members left), one whose member under a watch loses its
 * leader (the watch is cancelled, not left silent).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { InfraError } from "../../base/mod.ts";
import * as coord from "../../coord/mod.ts";
import type { WatchEnd } from "../../coord/transport.ts";
import { recordingWatchEnds } from "../_support/coord_transport.ts";
import { leaderOf, startEtcd } from "../_support/etcd_server.ts";
import { stopProcess, waitUntil } from "../_support/process.ts";
import { chunkWhere, nextChunk } from "./contract.ts";
import { etcdHarness } from "./_harness.ts";

// Over each transport: gRPC (etcd3) and the JSON gateway (fetch).
for (const transport of ["grpc", "gateway"] as const) {
  const label = transport === "grpc" ? "" : "gateway: ";

  test(
    label +
      "killing the leader of a three-member cluster leaves config, registry and locks working",
    async () => {
      const server = await startEtcd({ size: 3 });
      const h = await etcdHarness(server.endpoints, { config: { sessionTtlMs: 5_000, transport } });
      try {
        const c = await h.client();
        const other = await h.client();
        const key = coord.configKey({ env: "test", component: "cluster" });
        await c.kv.set(key, { step: 0 });
        await using cfg = await other.config(key, { defaults: { step: -1 } });
        assert.equal(cfg.current().step, 0);
        const registration = await c.registry.register({
          service: "svc",
          id: "one",
          address: "a:1",
        });
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
    },
  );

  test(
    label +
      "a watch on a member that has lost its leader is cancelled instead of staying silent, and resumes without a gap once there is a leader again",
    async () => {
      const server = await startEtcd({ size: 3 });
      const [member, ...others] = server.members;
      // Every client talks to this one member only.
      const h = await etcdHarness([member.endpoint], {
        config: { sessionTtlMs: 5_000, transport },
      });
      try {
        const ends: WatchEnd[] = [];
        const watcher = await h.client({
          wrap: (transport) => recordingWatchEnds(transport, ends),
        });
        const writer = await h.client();
        const reader = watcher.kv.watch<number>("/isolated/", { prefix: true }).getReader();
        try {
          await new Promise((resolve) => setTimeout(resolve, 200));
          await writer.kv.set("/isolated/n", 1);
          const first = await nextChunk(reader);
          assert.equal(first.type === "put" && first.value, 1);

          await Promise.all(others.map((other) => other.process.kill()));
          // etcd cancels streams that require a leader after about three election timeouts
          // (500 ms here) without one; an ordinary watch would stay open and hear nothing.
          await waitUntil(() => ends.length > 0, {
            timeoutMs: 15_000,
            what: "the watch on the leaderless member to be cancelled",
          });
          const end = ends[0];
          assert.equal(end.reason, "error");
          assert.ok(
            end.reason === "error" && InfraError.is(end.error, "Unavailable"),
            JSON.stringify(end),
          );
          assert.match(end.reason === "error" ? String(end.error) : "", /no leader/);

          await Promise.all(others.map((other) => other.process.start()));
          await waitUntil(async () => {
            await writer.kv.set("/isolated/n", 2);
            return true;
          }, { timeoutMs: 30_000, what: "a write once the cluster has a leader again" });
          const next = await chunkWhere(
            reader,
            (event) => event.type === "put" && event.value === 2,
            30_000,
          );
          assert.equal(next.key, "/isolated/n");
        } finally {
          await reader.cancel();
        }
      } finally {
        await h.close().catch(() => {});
        await server.close();
      }
    },
  );

  test(
    label +
      "with one member stopped (it takes requests and never answers), reads and writes go on through the others",
    async () => {
      const server = await startEtcd({ size: 3 });
      const h = await etcdHarness(server.endpoints, { config: { transport } });
      const stopped: number[] = [];
      try {
        const c = await h.client({ requestTimeoutMs: 1_000 });
        await c.kv.set("/hung/k", 0);
        // The gateway starts on the first endpoint; gRPC picks one at random: stop each in
        // turn, so that the one in use is stopped at some point.
        for (const [i, member] of server.members.entries()) {
          if (i > 0) process.kill(stopped.pop()!, "SIGCONT");
          stopped.push(member.process.pid!);
          await stopProcess(member.process.pid!);
          for (let n = 1; n <= 3; n++) {
            await c.kv.set("/hung/k", i * 10 + n);
            assert.equal((await c.kv.get<number>("/hung/k"))?.value, i * 10 + n);
          }
        }
      } finally {
        for (const pid of stopped) process.kill(pid, "SIGCONT");
        await h.close().catch(() => {});
        await server.close();
      }
    },
  );
}
