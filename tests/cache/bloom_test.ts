/**
 * Bloom filter sizing and hashing (the Redis-side behaviour is in the contract).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { bloomSize, memory } from "../../cache/mod.ts";
import { bloomPositions, murmur3 } from "../../cache/bloom.ts";

const encode = (text: string) => new TextEncoder().encode(text);

test("bloom: m and k follow the textbook formulas", () => {
  assert.deepEqual(bloomSize(1_000, 0.01), { bits: 9_586, hashes: 7 });
  assert.deepEqual(bloomSize(1_000_000, 0.001), { bits: 14_377_588, hashes: 10 });
  assert.deepEqual(bloomSize(1, 0.5), { bits: 2, hashes: 1 });
});

test("bloom: sizes beyond a Redis string and bad rates are InvalidArgument", () => {
  for (const [n, p] of [[0, 0.01], [1.5, 0.01], [10, 0], [10, 1], [10, NaN], [1e12, 1e-9]]) {
    assert.throws(
      () => bloomSize(n, p),
      (e: unknown) => InfraError.is(e, "InvalidArgument"),
      `${n} ${p}`,
    );
  }
});

test("bloom: murmur3 matches the reference vectors", () => {
  assert.equal(murmur3(encode(""), 0), 0);
  assert.equal(murmur3(encode(""), 1), 0x514e28b7);
  assert.equal(murmur3(encode("hello"), 0), 0x248bfa47);
  assert.equal(murmur3(encode("The quick brown fox jumps over the lazy dog"), 0), 0x2e4ff723);
});

test("bloom: positions are k distinct-enough offsets below m, the same for text and its bytes", () => {
  const positions = bloomPositions("message-42", 9_586, 7);
  assert.equal(positions.length, 7);
  assert.ok(positions.every((p) => Number.isInteger(p) && p >= 0 && p < 9_586));
  assert.ok(new Set(positions).size >= 6);
  assert.deepEqual(bloomPositions(encode("message-42"), 9_586, 7), positions);
});

test("bloom: positions spread evenly over the bitmap", () => {
  const buckets = new Array(10).fill(0);
  for (let i = 0; i < 10_000; i++) {
    for (const p of bloomPositions(`item-${i}`, 100_000, 3)) buckets[Math.floor(p / 10_000)]++;
  }
  for (const count of buckets) assert.ok(count > 2_700 && count < 3_300, buckets.join());
});

test("bloom: filled to its expected items, the false-positive rate is the configured one", async () => {
  await using cache = memory();
  for (const [n, p] of [[5_000, 0.01], [2_000, 0.001]]) {
    const filter = cache.bloom(`fpr-${n}`, { expectedItems: n, falsePositiveRate: p });
    const added = Array.from({ length: n }, (_, i) => `user:${i}:message:${i * 7919}`);
    for (let i = 0; i < n; i += 500) await filter.addMany(added.slice(i, i + 500));
    assert.ok((await filter.hasMany(added)).every(Boolean), "no false negatives");
    const trials = 200_000;
    let positives = 0;
    for (let i = 0; i < trials; i += 10_000) {
      const strangers = Array.from({ length: 10_000 }, (_, j) => `stranger-${i + j}`);
      positives += (await filter.hasMany(strangers)).filter(Boolean).length;
    }
    const rate = positives / trials;
    // The textbook sizing gives p at n items; allow the sampling noise (a few σ), no more.
    assert.ok(rate > p * 0.7 && rate < p * 1.3, `rate ${rate} for p ${p} (${positives}/${trials})`);
  }
});
