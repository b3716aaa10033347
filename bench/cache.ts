/**
 * `deno task bench:cache`: our cache against raw ioredis, side by side in one run, on the
 * same Redis, with the same concurrency and the same values.
 *
 * - get/set throughput through our public API with default settings (JSON codec, our
 *   auto-pipelining on) against raw ioredis storing the same JSON text (the caller
 *   stringifies and parses, as a user of raw ioredis must), with ioredis's own
 *   `enableAutoPipelining` off (its default) and on; the better ioredis setting counts.
 * - Like for like: ours with `autoPipelining: false` against ioredis's default.
 * - Raw strings: our `codec: "string"` against ioredis with the same strings.
 * - L1 hit throughput, and the loader calls of a 1,000-caller stampede on a cold key.
 *
 * Rounds alternate the order of the sides; the median round counts. Ends with
 * `cache-vs-ioredis: <ratio>`: the geometric mean of the get and set throughput ratios,
 * ours with default settings against the better of ioredis's two settings.
 */
import { Redis } from "ioredis";
import { type Cache, connect } from "../cache/mod.ts";

const redisUrl = (globalThis as { process?: { env: Record<string, string | undefined> } }).process
  ?.env.GOCHAT_REDIS_URL || "redis://127.0.0.1:6379";
const node = new URL(redisUrl).host;
const CONCURRENCY = 50;
const OPS = 20_000;
const ROUNDS = 7;
const KEYS = 1_000;

const prefix = `bench:${Date.now().toString(36)}:`;
const value = {
  id: 12345,
  name: "user-12345",
  roles: ["member", "writer"],
  active: true,
  score: 98.5,
};
const valueText = JSON.stringify(value);
const keyOf = (i: number) => `user:${i % KEYS}`;

/** Runs `ops` calls of `op` with `CONCURRENCY` callers; returns ops per second. */
async function throughput(op: (i: number) => Promise<unknown>, ops = OPS): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let i = next++; i < ops; i = next++) await op(i);
  }));
  return ops / ((performance.now() - started) / 1000);
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

interface Side {
  name: string;
  get: (i: number) => Promise<unknown>;
  set: (i: number) => Promise<unknown>;
}

async function compare(sides: Side[]): Promise<Map<string, { get: number; set: number }>> {
  const results = new Map(sides.map((s) => [s.name, { get: [] as number[], set: [] as number[] }]));
  for (const side of sides) await throughput(side.set, 2_000); // warm up
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order so neither side always runs on a warmer machine.
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      results.get(side.name)!.set.push(await throughput(side.set));
      results.get(side.name)!.get.push(await throughput(side.get));
    }
  }
  return new Map(
    [...results].map(([name, r]) => [name, { get: median(r.get), set: median(r.set) }]),
  );
}

const format = (n: number) => Math.round(n).toLocaleString("en-US").padStart(10);

async function main(): Promise<void> {
  const raw = new Redis(redisUrl);
  const rawAuto = new Redis(redisUrl, { enableAutoPipelining: true });
  const cache: Cache = await connect({ nodes: [node], keyPrefix: prefix });
  const plainCache: Cache = await connect({
    nodes: [node],
    keyPrefix: prefix,
    autoPipelining: false,
  });
  const stringCache: Cache = await connect({ nodes: [node], keyPrefix: prefix, codec: "string" });
  const l1Cache: Cache = await connect({
    nodes: [node],
    keyPrefix: prefix,
    l1: { enabled: true, maxEntries: 10_000, ttlMs: 60_000 },
  });
  const ttlMs = 60_000;
  const full = (i: number) => prefix + keyOf(i);
  const jsonIoredis = (client: Redis, name: string): Side => ({
    name,
    set: (i) => client.set(full(i), JSON.stringify(value), "PX", ttlMs),
    get: async (i) => {
      const text = await client.get(full(i));
      return text === null ? undefined : JSON.parse(text);
    },
  });
  const stringIoredis = (client: Redis, name: string): Side => ({
    name,
    set: (i) => client.set(full(i), valueText, "PX", ttlMs),
    get: (i) => client.get(full(i)),
  });
  try {
    const json = await compare([
      {
        name: "cache (default)",
        set: (i) => cache.set(keyOf(i), value, { ttlMs }),
        get: (i) => cache.get(keyOf(i)),
      },
      {
        name: "cache (autoPipelining off)",
        set: (i) => plainCache.set(keyOf(i), value, { ttlMs }),
        get: (i) => plainCache.get(keyOf(i)),
      },
      jsonIoredis(raw, "ioredis + JSON"),
      jsonIoredis(rawAuto, "ioredis + JSON (autopipe)"),
    ]);
    const strings = await compare([
      {
        name: "cache (string codec)",
        set: (i) => stringCache.set(keyOf(i), valueText, { ttlMs }),
        get: (i) => stringCache.get(keyOf(i)),
      },
      stringIoredis(raw, "ioredis string"),
      stringIoredis(rawAuto, "ioredis string (autopipe)"),
    ]);

    await l1Cache.set("hot", value, { ttlMs });
    await l1Cache.get("hot");
    const l1Rounds: number[] = [];
    for (let round = 0; round < 3; round++) {
      l1Rounds.push(await throughput(() => l1Cache.get("hot"), 500_000));
    }
    const l1Hits = median(l1Rounds);

    let loads = 0;
    const stampede = await Promise.all(
      Array.from({ length: 1_000 }, () =>
        cache.getOrSet("cold", async () => {
          loads++;
          await new Promise((resolve) => setTimeout(resolve, 20));
          return value;
        }, { ttlMs })),
    );
    if (stampede.some((v) => (v as { id: number }).id !== value.id)) {
      throw new Error("stampede returned a wrong value");
    }

    const best = (a: { get: number; set: number }, b: { get: number; set: number }) => ({
      get: Math.max(a.get, b.get),
      set: Math.max(a.set, b.set),
    });
    const ratio = (ours: { get: number; set: number }, theirs: { get: number; set: number }) =>
      Math.sqrt((ours.get / theirs.get) * (ours.set / theirs.set));
    const bestJson = best(json.get("ioredis + JSON")!, json.get("ioredis + JSON (autopipe)")!);
    const bestString = best(
      strings.get("ioredis string")!,
      strings.get("ioredis string (autopipe)")!,
    );
    const ours = json.get("cache (default)")!;

    console.log(
      `cache benchmark: ${CONCURRENCY} concurrent callers, ${OPS} ops per round, median of ${ROUNDS} rounds,`,
    );
    console.log(
      `same Redis (${node}), same values (${valueText.length} bytes of JSON), TTL ${ttlMs} ms`,
    );
    console.log("");
    console.log("side                          get ops/s  set ops/s");
    for (const [name, r] of [...json, ...strings]) {
      console.log(`${name.padEnd(27)} ${format(r.get)} ${format(r.set)}`);
    }
    console.log("");
    console.log(
      `get ratio, default vs best ioredis + JSON:          ${(ours.get / bestJson.get).toFixed(3)}`,
    );
    console.log(
      `set ratio, default vs best ioredis + JSON:          ${(ours.set / bestJson.set).toFixed(3)}`,
    );
    console.log(
      `like for like, autoPipelining off vs ioredis default: ${
        ratio(json.get("cache (autoPipelining off)")!, json.get("ioredis + JSON")!).toFixed(3)
      }`,
    );
    console.log(
      `string codec vs best ioredis string:              ${
        ratio(strings.get("cache (string codec)")!, bestString).toFixed(3)
      }`,
    );
    console.log(
      `L1 hit throughput:   ${format(l1Hits)} gets/s (${CONCURRENCY} callers, one hot key)`,
    );
    console.log(`stampede loader calls: ${loads} (1,000 concurrent getOrSet on a cold key)`);
    console.log(`cache-vs-ioredis: ${ratio(ours, bestJson).toFixed(3)}`);
  } finally {
    await cache.delete(Array.from({ length: KEYS }, (_, i) => keyOf(i)).concat(["hot", "cold"]));
    await Promise.all([cache.close(), plainCache.close(), stringCache.close(), l1Cache.close()]);
    await Promise.all([raw.quit(), rawAuto.quit()]);
  }
}

await main();
