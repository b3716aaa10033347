/**
 * The cache's metrics, through the OpenTelemetry API only (no-op until the application
 * installs an SDK). Counted off the plain get/set path: getOrSet results, loader calls,
 * fills that failed, and L1 lookups.
 *
 * @module
 */

import { type Attributes, type Counter, metrics } from "@opentelemetry/api";

/** Counters of one cache. */
export interface CacheMetrics {
  /**
   * getOrSet calls by `result`: `l1_hit`, `hit`, `stale`, `negative`, `loaded`, `waited`,
   * `grace` (a fallback served: the loader failed or timed out, or Redis was unreachable).
   */
  getOrSet: Counter;
  /** Loader calls by `outcome`: `value`, `not_found`, `error`. */
  loads: Counter;
  /** L1 lookups by `result`: `hit`, `miss`. */
  l1: Counter;
  /** Loaded values getOrSet could not store (Redis failed after the loader ran). */
  fillFailures: Counter;
}

/**
 * The counters, from the meter provider installed now (the OpenTelemetry metrics API has
 * no proxy: a cache created before the SDK counts nothing).
 */
export function cacheMetrics(): CacheMetrics {
  const meter = metrics.getMeter("@gochat/infra/cache");
  return {
    getOrSet: meter.createCounter("cache.get_or_set.calls", {
      description: "getOrSet calls by result",
    }),
    loads: meter.createCounter("cache.loader.calls", { description: "Loader calls by outcome" }),
    l1: meter.createCounter("cache.l1.lookups", { description: "L1 lookups by result" }),
    fillFailures: meter.createCounter("cache.get_or_set.fill_failures", {
      description: "Loaded values getOrSet could not store (returned uncached)",
    }),
  };
}

const attributes = <K extends string>(key: string, values: readonly K[]) =>
  Object.fromEntries(values.map((v) => [v, Object.freeze({ [key]: v })])) as Record<K, Attributes>;

/** Shared attribute objects (no allocation per count). */
export const RESULT = attributes(
  "result",
  [
    "l1_hit",
    "hit",
    "stale",
    "negative",
    "loaded",
    "waited",
    "grace",
    "miss",
  ] as const,
);

/** Shared attribute objects of loader outcomes. */
export const OUTCOME = attributes("outcome", ["value", "not_found", "error"] as const);
