/**
 * Where the chat service keeps its state: etcd and Redis when their addresses are given,
 * the embedded memory drivers of coord and cache otherwise (nothing to install, one
 * process).
 *
 * @module
 */

import { InfraError, ResourceStack } from "../../base/mod.ts";
import * as cache from "../../cache/mod.ts";
import type { Logger } from "../../clog/mod.ts";
import * as coord from "../../coord/mod.ts";
import { SERVICE } from "./config.ts";

/** Options of {@link openBackends}. */
export interface BackendOptions {
  /** etcd client URLs; absent or empty: the embedded coord. */
  etcdEndpoints?: string[];
  /** A `redis://[user:password@]host:port[/db]` URL; absent: the embedded cache. */
  redisUrl?: string;
  /** Root of every coord key, e.g. `/gochat-demo`. */
  coordNamespace: string;
  /** Prefix of every cache key, e.g. `gochat-demo:`. */
  cacheKeyPrefix: string;
}

/** The opened backends. Closing closes both. */
export interface Backends extends AsyncDisposable {
  /** The coord client. */
  readonly coord: coord.Coord;
  /** The cache. */
  readonly cache: cache.Cache;
  /** Which coord, for people: `etcd http://127.0.0.1:2379` or `memory (embedded)`. */
  readonly coordName: string;
  /** Which cache, for people: `redis 127.0.0.1:6379` or `memory (embedded)`. */
  readonly cacheName: string;
  /** Closes the cache, then coord. Idempotent. */
  close(): Promise<void>;
}

/**
 * The backends the environment asks for: `GOCHAT_ETCD_ENDPOINTS` (comma-separated) and
 * `GOCHAT_REDIS_URL`, the variables `deno task services` and the tests read.
 *
 * @param env The environment, e.g. `process.env`.
 * @returns The addresses that are set.
 */
export function backendsFromEnv(
  env: Record<string, string | undefined>,
): Pick<BackendOptions, "etcdEndpoints" | "redisUrl"> {
  const endpoints = (env.GOCHAT_ETCD_ENDPOINTS ?? "").split(",").map((s) => s.trim())
    .filter(Boolean);
  const redisUrl = env.GOCHAT_REDIS_URL?.trim();
  return {
    ...(endpoints.length > 0 ? { etcdEndpoints: endpoints } : {}),
    ...(redisUrl ? { redisUrl } : {}),
  };
}

/**
 * The cache config of a Redis URL (`redis://` or `rediss://`, user, password, db).
 *
 * @param url The URL.
 * @returns The connection part of a cache config.
 * @throws {InfraError} `InvalidArgument` for a URL that is not a Redis URL.
 */
export function redisConfig(url: string): cache.ConfigInput<cache.CacheConfig> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    parsed = new URL("invalid:");
  }
  if ((parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") || !parsed.host) {
    throw new InfraError(
      "InvalidArgument",
      `GOCHAT_REDIS_URL must be redis://host:port, got ${url}`,
      {
        component: SERVICE,
        details: { field: "redisUrl" },
      },
    );
  }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  return {
    nodes: [parsed.port ? parsed.host : `${parsed.host}:6379`],
    username: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    db,
    ...(parsed.protocol === "rediss:" ? { tls: { enabled: true } } : {}),
  };
}

/**
 * Opens coord and the cache. Each one is real when its address is given, embedded
 * otherwise; components log through namespaces of `logger`.
 *
 * @param options Addresses, namespace and key prefix.
 * @param logger The parent logger (`.coord` and `.cache` below it).
 * @returns The backends.
 * @throws {InfraError} `Unavailable` when a given server does not answer.
 */
export async function openBackends(options: BackendOptions, logger: Logger): Promise<Backends> {
  const stack = new ResourceStack();
  try {
    const endpoints = options.etcdEndpoints ?? [];
    const coordClient = stack.use(
      endpoints.length > 0
        ? await coord.connect({
          ...coord.defaultConfig("development"),
          endpoints,
          namespace: options.coordNamespace,
        }, { logger: logger.namespace("coord") })
        : coord.memory({ namespace: options.coordNamespace }, {
          logger: logger.namespace("coord"),
        }),
    );
    const cacheClient = stack.use(
      options.redisUrl
        ? await cache.connect({
          ...redisConfig(options.redisUrl),
          keyPrefix: options.cacheKeyPrefix,
        }, { logger: logger.namespace("cache") })
        : cache.memory({ keyPrefix: options.cacheKeyPrefix }, {
          logger: logger.namespace("cache"),
        }),
    );
    const redisNode = options.redisUrl ? redisConfig(options.redisUrl).nodes?.[0] : undefined;
    return {
      coord: coordClient,
      cache: cacheClient,
      coordName: endpoints.length > 0 ? `etcd ${endpoints.join(",")}` : "memory (embedded)",
      cacheName: redisNode ? `redis ${redisNode}` : "memory (embedded)",
      close: () => stack.close(),
      [Symbol.asyncDispose]: () => stack.close(),
    };
  } catch (error) {
    await stack.close().catch(() => {});
    throw error;
  }
}
