/**
 * `deno task demo`: the chat service, driving itself.
 *
 * With no environment it runs on the embedded drivers (coord and cache in memory). With
 * `GOCHAT_ETCD_ENDPOINTS` and/or `GOCHAT_REDIS_URL` set it runs on etcd and/or Redis,
 * under the namespace `/gochat-demo` and the key prefix `gochat-demo:`, and removes its
 * settings and rooms when done.
 *
 * @example
 * ```sh
 * npx deno task demo
 * GOCHAT_ETCD_ENDPOINTS=http://127.0.0.1:2379 GOCHAT_REDIS_URL=redis://127.0.0.1:6379 \
 *   npx deno task demo
 * ```
 *
 * @module
 */

import process from "node:process";
import { backendsFromEnv } from "./backends.ts";
import { defaultChatConfig } from "./config.ts";
import { runDemo } from "./demo.ts";
import { formatSummary } from "./summary.ts";

const backends = backendsFromEnv(process.env);
console.log(
  `chat demo: coord on ${backends.etcdEndpoints ? `etcd ${backends.etcdEndpoints}` : "memory"}, ` +
    `cache on ${backends.redisUrl ? `Redis ${backends.redisUrl}` : "memory"}` +
    (backends.etcdEndpoints && backends.redisUrl
      ? ""
      : " (set GOCHAT_ETCD_ENDPOINTS / GOCHAT_REDIS_URL for the real services)"),
);

const started = performance.now();
try {
  const report = await runDemo({
    ...backends,
    coordNamespace: "/gochat-demo",
    cacheKeyPrefix: "gochat-demo:",
    env: "demo",
    clients: 8,
    messagesPerClient: 25,
    rooms: ["general", "random", "dev"],
    initial: { ...defaultChatConfig, maxMessageLength: 500, recentWindow: 50, logLevel: "info" },
    change: { maxMessageLength: 120, recentWindow: 20, logLevel: "warn" },
    log: "console",
  });
  console.log(formatSummary(report));
  console.log(
    `done in ${((performance.now() - started) / 1000).toFixed(2)} s, shut down gracefully`,
  );
  process.exitCode = report.problems.length === 0 ? 0 : 1;
} catch (error) {
  console.error("chat demo failed:", error);
  process.exitCode = 1;
}
