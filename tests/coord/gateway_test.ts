/**
 * The coord contract over etcd's JSON gateway (`transport: "gateway"`, plain `fetch`), on
 * the shared etcd: the same suite the gRPC transport and the memory driver pass. And, over
 * both network transports, a connection that dies without a word (through a stalled proxy).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as coord from "../../coord/mod.ts";
import { etcdEndpoints, uniqueName } from "../_support/env.ts";
import { startTcpProxy } from "../_support/tcp_proxy.ts";
import { coordContract, nextChunk } from "./contract.ts";
import { etcdHarness } from "./_harness.ts";

coordContract(
  "etcd gateway",
  () => etcdHarness(etcdEndpoints, { config: { transport: "gateway" } }),
);

// gRPC finds a dead connection by HTTP/2 pings (etcd refuses them more often than every 5 s),
// the gateway by opening a silent watch again: both within keepAliveTimeMs (+ timeout).
for (const transport of ["gateway", "grpc"] as const) {
  test(`a ${transport} watch whose connection went silent is opened again and misses no update`, async () => {
    const proxy = await startTcpProxy(etcdEndpoints[0]);
    const namespace = `/test/${uniqueName("gateway")}`;
    const config = { ...coord.defaultConfig(), namespace, transport };
    const watcher = await coord.connect({
      ...config,
      endpoints: [proxy.endpoint],
      keepAliveTimeMs: transport === "grpc" ? 5_000 : 1_000,
      keepAliveTimeoutMs: 1_000,
    });
    const writer = await coord.connect({ ...config, endpoints: etcdEndpoints });
    const reader = watcher.kv.watch<number>("/silent/", { prefix: true }).getReader();
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      await writer.kv.set("/silent/n", 1);
      const first = await nextChunk(reader);
      assert.equal(first.type === "put" && first.value, 1);
      // The watch's connection now carries nothing, and no FIN or RST will ever come.
      proxy.stall();
      await writer.kv.set("/silent/n", 2);
      await writer.kv.set("/silent/n", 3);
      const seen: number[] = [];
      for (let i = 0; i < 2; i++) {
        const event = await nextChunk(reader, 15_000);
        if (event.type === "put") seen.push(event.value);
      }
      assert.deepEqual(seen, [2, 3]);
    } finally {
      await reader.cancel();
      await writer.kv.delete("/", { prefix: true }).catch(() => {});
      await watcher.close();
      await writer.close();
      await proxy.close();
    }
  });
}
