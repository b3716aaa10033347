/**
 * Harnesses of the coord contract: the embedded store, and etcd (shared or private) under a
 * unique namespace per test.
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { Etcd3 } from "etcd3";
import { getLogger, type Logger } from "../../clog/mod.ts";
import { CoordClient } from "../../coord/client.ts";
import { openTransport } from "../../coord/connect.ts";
import { MemoryStore, MemoryTransport } from "../../coord/memory_store.ts";
import * as coord from "../../coord/mod.ts";
import type { Transport } from "../../coord/transport.ts";
import { uniqueName } from "../_support/env.ts";
import { type ClientOptions, type CoordHarness, lineLogger, TTL } from "./contract.ts";

/** Logs to the console when COORD_TEST_LOG=1, silent otherwise. */
export function testLogger(name = "coord"): Logger {
  if (process.env.COORD_TEST_LOG !== "1") return getLogger(name);
  return lineLogger(({ logger, level, message, fields }) => {
    if (level === "trace") return;
    console.log(`${new Date().toISOString()} ${level} ${logger}: ${message}`, fields ?? "");
  }, name);
}

/** A harness on a fresh embedded store. */
export function memoryHarness(): Promise<CoordHarness> {
  const store = new MemoryStore();
  const clients: CoordClient[] = [];
  const namespace = "/contract";
  return Promise.resolve({
    client(options: ClientOptions = {}) {
      const custom = options.wrap || options.requestTimeoutMs || options.logger;
      const client = custom
        ? new CoordClient((options.wrap ?? ((t) => t))(new MemoryTransport(store)), {
          namespace,
          requestTimeoutMs: options.requestTimeoutMs ?? 3_000,
          sessionTtlMs: TTL,
        }, options.logger ?? testLogger())
        : coord.memory({ namespace, sessionTtlMs: TTL }, {
          store,
          logger: testLogger(),
        }) as CoordClient;
      clients.push(client);
      return Promise.resolve(client);
    },
    compact(revision: number) {
      store.compact(revision);
      return Promise.resolve();
    },
    putBytes(key: string, bytes: Uint8Array) {
      return Promise.resolve(store.putBytes(namespace + key, bytes));
    },
    async close() {
      await Promise.all(clients.map((client) => client.close()));
    },
  });
}

/**
 * A harness on an etcd (the shared one by default) under a unique namespace; `compact` only
 * when `compactable` (a private server).
 */
export function etcdHarness(
  endpoints: string[],
  options: { compactable?: boolean; config?: Partial<coord.CoordConfig> } = {},
): Promise<CoordHarness> {
  const namespace = `/test/${uniqueName("coord")}`;
  const config: coord.CoordConfig = {
    ...coord.defaultConfig("development"),
    endpoints,
    namespace,
    sessionTtlMs: TTL,
    ...options.config,
  };
  const clients: CoordClient[] = [];
  const harness: CoordHarness = {
    async client(clientOptions: ClientOptions = {}) {
      let client: CoordClient;
      if (clientOptions.wrap || clientOptions.requestTimeoutMs || clientOptions.logger) {
        const settings = {
          ...config,
          requestTimeoutMs: clientOptions.requestTimeoutMs ?? config.requestTimeoutMs,
        };
        const transport = await openTransport(settings);
        const wrap = clientOptions.wrap ?? ((t: Transport) => t);
        client = new CoordClient(wrap(transport), settings, clientOptions.logger ?? testLogger());
      } else {
        client = await coord.connect(config, { logger: testLogger() }) as CoordClient;
      }
      clients.push(client);
      return client;
    },
    async putBytes(key: string, bytes: Uint8Array) {
      // etcd3 itself, not coord's transports: what coord reads back is another client's.
      const raw = new Etcd3({ hosts: endpoints });
      try {
        const response = await raw.put(namespace + key).value(Buffer.from(bytes)).exec();
        return Number(response.header.revision);
      } finally {
        raw.close();
      }
    },
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      const cleanup = await coord.connect(config);
      try {
        await cleanup.kv.delete("/", { prefix: true });
      } finally {
        await cleanup.close();
      }
    },
  };
  if (options.compactable) {
    harness.compact = async (revision: number) => {
      const transport = await openTransport(config);
      try {
        await transport.compact(revision);
      } finally {
        await transport.close();
      }
    };
  }
  return Promise.resolve(harness);
}
