/**
 * The cache's OpenTelemetry counters, read through a recording MeterProvider installed as
 * the global one (standing in for an SDK, which the component never depends on).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { memory } from "../../cache/mod.ts";
import { recordMetrics, totals } from "../_support/meter.ts";

test("metrics: getOrSet results and loader calls are counted", async () => {
  const since = recordMetrics().length;
  {
    await using cache = memory();
    await Promise.all(Array.from({ length: 100 }, () => cache.getOrSet("k", () => "v")));
    await cache.getOrSet("k", () => "never");
    await cache.getOrSet("ghost", () => undefined);
    await cache.getOrSet("ghost", () => "never");
    await assert.rejects(cache.getOrSet("bad", () => Promise.reject(new Error("boom"))));
    const counts = totals(since);
    assert.equal(counts.get('cache.get_or_set.calls {"result":"loaded"}'), 101);
    assert.equal(counts.get('cache.get_or_set.calls {"result":"hit"}'), 1);
    assert.equal(counts.get('cache.get_or_set.calls {"result":"negative"}'), 1);
    assert.equal(counts.get('cache.loader.calls {"outcome":"value"}'), 1);
    assert.equal(counts.get('cache.loader.calls {"outcome":"not_found"}'), 1);
    assert.equal(counts.get('cache.loader.calls {"outcome":"error"}'), 1);
  }
});
