/**
 * A Bloom filter on a plain Redis bitmap (no RedisBloom module). The bit count m and hash
 * count k follow from the expected items n and false-positive rate p
 * (m = ⌈−n·ln p / ln²2⌉, k = round(m/n · ln 2)); the k positions of an item come from two
 * murmur3 hashes by enhanced double hashing, computed here, so `add` and `has` of any
 * number of items are one script call each. The filter needs no prior "reserve": the first
 * `add` creates it and records (m, k) beside the bitmap, and a later use with other
 * parameters is a `Conflict` instead of silent garbage. Both keys share a hash tag.
 *
 * @module
 */

import type { CacheCore } from "./core.ts";
import { describeValue } from "../base/mod.ts";
import { invalidArgument } from "./errors.ts";
import { BLOOM_ADD, BLOOM_HAS } from "./scripts.ts";
import type { BloomFilter, BloomOptions, CallOptions } from "./types.ts";
import { checkNonEmpty, checkTtl, optionsOf } from "./validate.ts";

const MAX_BITS = 2 ** 32;
const MAX_HASHES = 64;
const encoder = new TextEncoder();

/**
 * The optimal bit count m and hash count k for `expectedItems` at `falsePositiveRate`.
 *
 * @throws {InfraError} `InvalidArgument` for n < 1, p outside (0, 1), or m beyond 2³² bits
 * (Redis's largest string).
 */
export function bloomSize(
  expectedItems: number,
  falsePositiveRate: number,
): { bits: number; hashes: number } {
  if (!Number.isSafeInteger(expectedItems) || expectedItems < 1) {
    throw invalidArgument(
      `expectedItems must be an integer ≥ 1, got ${describeValue(expectedItems)}`,
      "expectedItems",
    );
  }
  if (typeof falsePositiveRate !== "number" || !(falsePositiveRate > 0 && falsePositiveRate < 1)) {
    throw invalidArgument(
      `falsePositiveRate must be a number in (0, 1), got ${describeValue(falsePositiveRate)}`,
      "falsePositiveRate",
    );
  }
  const bits = Math.ceil((-expectedItems * Math.log(falsePositiveRate)) / (Math.LN2 * Math.LN2));
  if (bits > MAX_BITS) {
    throw invalidArgument(
      `a filter for ${expectedItems} items at ${falsePositiveRate} needs ${bits} bits, above Redis's 2^32`,
      "expectedItems",
    );
  }
  const hashes = Math.min(MAX_HASHES, Math.max(1, Math.round((bits / expectedItems) * Math.LN2)));
  return { bits, hashes };
}

/** MurmurHash3 x86 32-bit. */
export function murmur3(bytes: Uint8Array, seed: number): number {
  let h = seed >>> 0;
  const length = bytes.length;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (length & 3) {
    case 3:
      k ^= bytes[blocks + 2] << 16;
    // falls through
    case 2:
      k ^= bytes[blocks + 1] << 8;
    // falls through
    case 1:
      k ^= bytes[blocks];
      k = Math.imul(k, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The k bit positions of `item` in a filter of `bits` bits. */
export function bloomPositions(item: string | Uint8Array, bits: number, hashes: number): number[] {
  const bytes = typeof item === "string" ? encoder.encode(item) : item;
  const h1 = murmur3(bytes, 0x9747b28c);
  const h2 = murmur3(bytes, 0x5bd1e995);
  const positions: number[] = [];
  for (let i = 0; i < hashes; i++) {
    // Enhanced double hashing (Dillinger & Manolios): h1 + i·h2 + (i³ − i)/6, mod m.
    positions.push((h1 + i * h2 + (i * i * i - i) / 6) % bits);
  }
  return positions;
}

function checkItems(items: (string | Uint8Array)[]): (string | Uint8Array)[] {
  checkNonEmpty(items, "items").forEach((item, i) => {
    if (typeof item !== "string" && !(item instanceof Uint8Array)) {
      throw invalidArgument(`items[${i}] must be a string or a Uint8Array`, `items[${i}]`);
    }
  });
  return items;
}

/** {@link Cache.bloom}. */
export function createBloom(core: CacheCore, key: string, options: BloomOptions): BloomFilter {
  if (options === null || typeof options !== "object") {
    throw invalidArgument(
      "bloom options { expectedItems, falsePositiveRate } are required",
      "options",
    );
  }
  const full = core.keys.full(key);
  const { bits, hashes } = bloomSize(options.expectedItems, options.falsePositiveRate);
  const ttlMs = checkTtl(options.ttlMs ?? 0);
  const keys = [core.keys.companion(full, ":bloom"), core.keys.companion(full, ":bloom-meta")];
  const meta = `${bits}:${hashes}`;
  const positionsOf = (items: (string | Uint8Array)[]) =>
    checkItems(items).flatMap((item) => bloomPositions(item, bits, hashes));

  const send = async (
    script: typeof BLOOM_ADD,
    args: (string | number)[],
    options: CallOptions | undefined,
    method: string,
  ) => {
    const { signal } = optionsOf(options, method);
    const reply = await core.send({ kind: "script", script, keys, args, binary: false }, signal);
    return (reply as number[]).map((flag) => flag === 1);
  };
  const addMany = async (
    items: (string | Uint8Array)[],
    options?: CallOptions,
    method = "bloom.addMany",
  ) => await send(BLOOM_ADD, [meta, hashes, ttlMs, ...positionsOf(items)], options, method);
  const hasMany = async (
    items: (string | Uint8Array)[],
    options?: CallOptions,
    method = "bloom.hasMany",
  ) => await send(BLOOM_HAS, [meta, hashes, ...positionsOf(items)], options, method);
  return {
    key,
    bits,
    hashes,
    addMany: (items, options) => addMany(items, options),
    hasMany: (items, options) => hasMany(items, options),
    add: async (item, options) => (await addMany([item], options, "bloom.add"))[0],
    has: async (item, options) => (await hasMany([item], options, "bloom.has"))[0],
    async clear(options) {
      options = optionsOf(options, "bloom.clear");
      await core.send(
        { kind: "command", name: "DEL", args: keys, key: keys[0], binary: false },
        options?.signal,
      );
    },
  };
}
