/**
 * The embedded driver: coord without a server, for unit tests, local development and
 * single-process deployments. It passes the same contract suite as etcd: revisions, leases
 * that expire on time, watches with history and compaction, FIFO locks, elections, the
 * registry and the instance-id allocator all behave the same.
 *
 * @module
 */

import { getLogger, type Logger } from "../clog/mod.ts";
import { CoordClient } from "./client.ts";
import { checkNamespace, checkTimeout, checkTtl } from "./config.ts";
import { checkOptions, configCheck } from "../base/mod.ts";
import { MemoryStore, MemoryTransport } from "./memory_store.ts";
import type { Coord } from "./types.ts";

/** A store that several memory clients share, the way processes share an etcd. */
export interface SharedMemoryStore {
  /** The store's current revision. */
  readonly revision: number;
}

/** Settings of {@link memory}. Durations are milliseconds. */
export interface MemoryConfig {
  /** Root prefix of every key (see {@link CoordConfig.namespace}). Default `""`. */
  namespace?: string;
  /** Default lease TTL of locks, elections, registrations and ids. Default 10 000. */
  sessionTtlMs?: number;
  /** Bounds internal retries, as with etcd. Default 3 000. */
  requestTimeoutMs?: number;
}

/** Dependencies of {@link memory}. */
export interface MemoryDependencies {
  /** Where coord logs; default `getLogger("coord")`. */
  logger?: Logger;
  /** A store shared with other clients; default a new private one. */
  store?: SharedMemoryStore;
}

/**
 * Creates a store for several {@link memory} clients to share.
 *
 * @param options `historyLimit`: revisions kept for watches (older ones are compacted), an
 * integer ≥ 1 (default 10,000).
 * @returns The store.
 * @throws {InfraError} `InvalidArgument` for a bad option.
 */
export function createMemoryStore(options: { historyLimit?: number } = {}): SharedMemoryStore {
  const check = configCheck("coord");
  const raw = check.object(options, "");
  check.knownKeys(raw, "", ["historyLimit"]);
  if (options.historyLimit !== undefined) {
    check.integer(options.historyLimit, "historyLimit", { min: 1 });
  }
  return new MemoryStore(options);
}

/**
 * A coord client on the embedded store.
 *
 * @param config Namespace and TTLs.
 * @param dependencies Logger and a shared store.
 * @returns The client.
 * @throws {InfraError} `InvalidArgument` for a bad setting.
 *
 * @example Two clients sharing one store compete for a lock
 * ```ts
 * import * as coord from "@gochat/infra/coord";
 *
 * const store = coord.createMemoryStore();
 * await using a = coord.memory({}, { store });
 * await using b = coord.memory({}, { store });
 * const lock = await a.lock("billing");
 * console.assert((await b.tryLock("billing")) === undefined);
 * await lock.release();
 * ```
 */
export function memory(config: MemoryConfig = {}, dependencies: MemoryDependencies = {}): Coord {
  const check = configCheck("coord");
  const raw = check.object(config, "");
  check.knownKeys(raw, "", ["namespace", "sessionTtlMs", "requestTimeoutMs"]);
  const deps = checkOptions(dependencies, "coord", "memory");
  const settings = {
    namespace: checkNamespace(config.namespace ?? ""),
    sessionTtlMs: checkTtl(config.sessionTtlMs ?? 10_000, "sessionTtlMs"),
    requestTimeoutMs: checkTimeout(config.requestTimeoutMs ?? 3_000, "requestTimeoutMs"),
  };
  const store = deps.store ?? new MemoryStore();
  if (!(store instanceof MemoryStore)) {
    throw check.fail("store", "must come from createMemoryStore()");
  }
  return new CoordClient(
    new MemoryTransport(store),
    settings,
    deps.logger ?? getLogger("coord"),
  );
}
