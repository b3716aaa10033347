/**
 * The cache's OpenTelemetry counters, read through a recording MeterProvider installed as
 * the global one (standing in for an SDK, which the component never depends on).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Attributes,
  type Counter,
  type Meter,
  type MeterProvider,
  metrics,
} from "@opentelemetry/api";
import { memory } from "../../cache/mod.ts";

function recordingProvider(): { provider: MeterProvider; counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const counter = (name: string) =>
    ({
      add(value: number, attributes: Attributes = {}) {
        const key = `${name} ${JSON.stringify(attributes)}`;
        counts.set(key, (counts.get(key) ?? 0) + value);
      },
    }) as Counter;
  const meter = { createCounter: counter } as unknown as Meter;
  return { provider: { getMeter: () => meter }, counts };
}

test("metrics: getOrSet results and loader calls are counted", async () => {
  const { provider, counts } = recordingProvider();
  metrics.setGlobalMeterProvider(provider);
  try {
    await using cache = memory();
    await Promise.all(Array.from({ length: 100 }, () => cache.getOrSet("k", () => "v")));
    await cache.getOrSet("k", () => "never");
    await cache.getOrSet("ghost", () => undefined);
    await cache.getOrSet("ghost", () => "never");
    await assert.rejects(cache.getOrSet("bad", () => Promise.reject(new Error("boom"))));
    assert.equal(counts.get('cache.get_or_set.calls {"result":"loaded"}'), 101);
    assert.equal(counts.get('cache.get_or_set.calls {"result":"hit"}'), 1);
    assert.equal(counts.get('cache.get_or_set.calls {"result":"negative"}'), 1);
    assert.equal(counts.get('cache.loader.calls {"outcome":"value"}'), 1);
    assert.equal(counts.get('cache.loader.calls {"outcome":"not_found"}'), 1);
    assert.equal(counts.get('cache.loader.calls {"outcome":"error"}'), 1);
  } finally {
    metrics.disable();
  }
});
