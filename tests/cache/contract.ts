/**
 * The cache contract: every driver (memory, Redis single node, Redis Cluster) registers
 * these tests with a factory that opens caches on one shared backend. Keys that one call
 * touches together carry a hash tag, so the same tests run on a cluster.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import type {
  Cache,
  CacheConfig,
  ConfigInput,
  GetOrSetOptions,
  Lock,
  ScriptReply,
} from "../../cache/mod.ts";
import { uniqueName } from "../_support/env.ts";
import { waitUntil } from "../_support/process.ts";

/** Opens a cache on the backend under test; every call with the same prefix shares data. */
export type OpenCache = (config: ConfigInput<CacheConfig>) => Promise<Cache>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<InfraError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof InfraError, `expected an InfraError, got ${error}`);
    assert.equal(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
    assert.equal(error.component, "cache");
    return error;
  }
  assert.fail(`expected a ${code} rejection`);
}

/**
 * Registers the contract for one driver. `cleanup(prefix)` runs after each test (delete
 * the test's keys from a shared server).
 */
export function cacheContract(
  name: string,
  open: OpenCache,
  cleanup: (keyPrefix: string) => Promise<void> = () => Promise.resolve(),
): void {
  const prefix = () => uniqueName("cc") + ":";
  const withCache = async (
    fn: (cache: Cache) => Promise<void>,
    config: ConfigInput<CacheConfig> = {},
  ) => {
    const keyPrefix = prefix();
    const cache = await open({ keyPrefix, ...config });
    try {
      await fn(cache);
    } finally {
      await cache.close();
      await cleanup(keyPrefix);
    }
  };
  const it = (
    title: string,
    fn: (cache: Cache) => Promise<void>,
    config?: ConfigInput<CacheConfig>,
  ) => test(`${name}: ${title}`, () => withCache(fn, config));

  // --- strings ---------------------------------------------------------------------------

  it("get of a missing key is undefined, not an error", async (cache) => {
    assert.equal(await cache.get("nothing-here"), undefined);
  });

  it("set then get round-trips JSON values, null included", async (cache) => {
    const values: unknown[] = [
      { id: 1, tags: ["a", "b"], nested: { ok: true } },
      [1, "two", null],
      42,
      1.5,
      "text",
      "",
      true,
      false,
      null,
    ];
    for (const [i, value] of values.entries()) {
      assert.equal(await cache.set(`v${i}`, value), true);
      assert.deepEqual(await cache.get(`v${i}`), value);
    }
  });

  it("values with non-ASCII text round-trip in every codec", async (cache) => {
    await cache.set("json", { text: "héllo 世界 🎉" });
    assert.deepEqual(await cache.get("json"), { text: "héllo 世界 🎉" });
    await cache.set("string", "héllo 世界 🎉", { codec: "string" });
    assert.equal(await cache.get("string", { codec: "string" }), "héllo 世界 🎉");
  });

  it("the string codec stores text as it is", async (cache) => {
    await cache.set("raw", "not json {", { codec: "string" });
    assert.equal(await cache.get("raw", { codec: "string" }), "not json {");
    assert.equal(await cache.raw().call("GET", cache.key("raw")), "not json {");
    await rejectsWith(cache.get("raw"), "InvalidArgument");
  });

  it("the bytes codec round-trips arbitrary bytes", async (cache) => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255, 0, 128]);
    await cache.set("blob", bytes, { codec: "bytes" });
    const back = await cache.get<Uint8Array>("blob", { codec: "bytes" });
    assert.ok(back instanceof Uint8Array);
    assert.deepEqual([...back], [...bytes]);
  });

  it("bytes that are not UTF-8 pass intact through scripts: getOrSet and setMany with a TTL", async (cache) => {
    const bytes = new Uint8Array([0xff, 0x00, 0xc3, 0x28, 0x80, 1]);
    const loaded = await cache.getOrSet("{b}:loaded", () => bytes, { codec: "bytes" });
    assert.deepEqual([...(loaded as Uint8Array)], [...bytes]);
    const stored = await cache.get<Uint8Array>("{b}:loaded", { codec: "bytes" });
    assert.deepEqual([...stored!], [...bytes]);
    await cache.setMany({ "{b}:one": bytes, "{b}:two": bytes.slice(1) }, {
      codec: "bytes",
      ttlMs: 60_000,
    });
    const [one, two] = await cache.getMany<Uint8Array>(["{b}:one", "{b}:two"], { codec: "bytes" });
    assert.deepEqual([...one!], [...bytes]);
    assert.deepEqual([...two!], [...bytes.slice(1)]);
  });

  it("bytes are each caller's own: concurrent getOrSet callers and the loader do not share one Uint8Array", async (cache) => {
    const source = new Uint8Array([5, 5, 5]);
    const [x, y] = await Promise.all([
      cache.getOrSet<Uint8Array>("g", () => source, { codec: "bytes" }),
      cache.getOrSet<Uint8Array>("g", () => new Uint8Array([9]), { codec: "bytes" }),
    ]);
    x![0] = 0;
    source[1] = 0;
    assert.deepEqual([...y!], [5, 5, 5]);
    const again = await cache.getOrSet<Uint8Array>("g", () => new Uint8Array([9]), {
      codec: "bytes",
    });
    assert.deepEqual([...again!], [5, 5, 5]);
    assert.deepEqual([...(await cache.get<Uint8Array>("g", { codec: "bytes" }))!], [5, 5, 5]);
  });

  it("a script's table ends at its first nil (undefined in a twin), false keeps its slot, a table of fields is an empty array", async (cache) => {
    const nil = cache.script("return {1, nil, 3}", {
      keys: 0,
      memory: () => [1, undefined, 3] as unknown as ScriptReply,
    });
    assert.deepEqual(await nil.run([]), [1]);
    const falsy = cache.script("return {1, false, 3}", {
      keys: 0,
      memory: () => [1, false, 3] as unknown as ScriptReply,
    });
    assert.deepEqual(await falsy.run([]), [1, null, 3]);
    const fields = cache.script("return {a = 1}", {
      keys: 0,
      memory: () => ({ a: 1 }) as unknown as ScriptReply,
    });
    assert.deepEqual(await fields.run([]), []);
  });

  it("script.run with binary: true returns plain Uint8Arrays, in nested tables too", async (cache) => {
    const bytes = new Uint8Array([0, 1, 127]); // UTF-8, as a twin sees text
    await cache.set("blob", bytes, { codec: "bytes" });
    const script = cache.script("local v = redis.call('GET', KEYS[1]) return {v, {v}}", {
      keys: 1,
      memory: (redis, keys) => {
        const value = redis.call("GET", keys[0]);
        return [value, [value]];
      },
    });
    const reply = await script.run(["blob"], [], { binary: true }) as [Uint8Array, [Uint8Array]];
    for (const value of [reply[0], reply[1][0]]) {
      assert.equal(value.constructor, Uint8Array);
      assert.deepEqual(value, bytes);
    }
  });

  it("a cache whose codec is string reads and writes strings by default", async (cache) => {
    await cache.set("s", "plain");
    assert.equal(await cache.get("s"), "plain");
    await rejectsWith(cache.set("s", { not: "a string" }), "InvalidArgument");
    assert.equal(await cache.get("s"), "plain");
  }, { codec: "string" });

  it("set with ttlMs expires the key and ttl reports the time left", async (cache) => {
    await cache.set("short", 1, { ttlMs: 150 });
    const left = await cache.ttl("short");
    assert.ok(left !== undefined && left > 0 && left <= 150, `ttl ${left}`);
    await waitUntil(async () => (await cache.get("short")) === undefined, {
      timeoutMs: 3_000,
      what: "expiry",
    });
    assert.equal(await cache.ttl("short"), undefined);
  });

  it("ttlMs 0 stores without expiry and ttl says Infinity", async (cache) => {
    await cache.set("forever", 1, { ttlMs: 0 });
    assert.equal(await cache.ttl("forever"), Infinity);
  });

  it("set without ttlMs uses defaultTtlMs", async (cache) => {
    await cache.set("default", 1);
    const left = await cache.ttl("default");
    assert.ok(left !== undefined && left > 4_000 && left <= 5_000, `ttl ${left}`);
  }, { defaultTtlMs: 5_000 });

  it("set ifAbsent writes only a missing key and ifPresent only an existing one", async (cache) => {
    assert.equal(await cache.set("k", "first", { ifPresent: true }), false);
    assert.equal(await cache.get("k"), undefined);
    assert.equal(await cache.set("k", "first", { ifAbsent: true }), true);
    assert.equal(await cache.set("k", "second", { ifAbsent: true }), false);
    assert.equal(await cache.get("k"), "first");
    assert.equal(await cache.set("k", "third", { ifPresent: true }), true);
    assert.equal(await cache.get("k"), "third");
  });

  it("set keepTtl keeps the current TTL", async (cache) => {
    await cache.set("k", 1, { ttlMs: 60_000 });
    await cache.set("k", 2, { keepTtl: true });
    const left = await cache.ttl("k");
    assert.ok(left !== undefined && left > 50_000 && left <= 60_000, `ttl ${left}`);
    assert.equal(await cache.get("k"), 2);
  });

  it("getMany returns values in order with undefined for misses", async (cache) => {
    await cache.set("a", "A");
    await cache.set("c", { c: 3 });
    assert.deepEqual(await cache.getMany(["a", "b", "c", "a"]), ["A", undefined, { c: 3 }, "A"]);
  });

  it("setMany stores every entry, with and without a TTL", async (cache) => {
    await cache.setMany({ a: 1, b: [2], c: "three" }, { ttlMs: 60_000 });
    assert.deepEqual(await cache.getMany(["a", "b", "c"]), [1, [2], "three"]);
    const left = await cache.ttl("b");
    assert.ok(left !== undefined && left > 50_000, `ttl ${left}`);
    await cache.setMany([["x", 1], ["y", 2]], { ttlMs: 0 });
    assert.equal(await cache.ttl("y"), Infinity);
    assert.deepEqual(await cache.getMany(["x", "y"]), [1, 2]);
  });

  it("delete removes keys and counts the ones that existed", async (cache) => {
    await cache.setMany({ a: 1, b: 2, c: 3 });
    assert.equal(await cache.delete(["a", "b", "missing"]), 2);
    assert.equal(await cache.delete("c"), 1);
    assert.deepEqual(await cache.getMany(["a", "b", "c"]), [undefined, undefined, undefined]);
    assert.equal(await cache.delete("c"), 0);
  });

  it("exists counts existing keys (a repeated key counts twice)", async (cache) => {
    await cache.setMany({ a: 1, b: 2 });
    assert.equal(await cache.exists("a"), 1);
    assert.equal(await cache.exists(["a", "b", "missing", "a"]), 3);
  });

  it("expire sets a TTL, 0 removes it, and a missing key reports false", async (cache) => {
    await cache.set("k", 1, { ttlMs: 0 });
    assert.equal(await cache.expire("k", 30_000), true);
    const left = await cache.ttl("k");
    assert.ok(left !== undefined && left <= 30_000 && left > 20_000);
    assert.equal(await cache.expire("k", 0), true);
    assert.equal(await cache.ttl("k"), Infinity);
    assert.equal(await cache.expire("k", 0), true);
    assert.equal(await cache.expire("missing", 1_000), false);
    assert.equal(await cache.expire("missing", 0), false);
  });

  it("a pipeline expire agrees with expire: 0 on a key without TTL is true, a missing key false", async (cache) => {
    await cache.set("k", 1, { ttlMs: 0 });
    await cache.set("t", 1, { ttlMs: 60_000 });
    const direct = [
      await cache.expire("k", 0),
      await cache.expire("t", 0),
      await cache.expire("missing", 0),
      await cache.expire("k", 60_000),
      await cache.expire("missing", 60_000),
    ];
    assert.deepEqual(direct, [true, true, false, true, false]);
    await cache.set("k", 1, { ttlMs: 0 });
    await cache.set("t", 1, { ttlMs: 60_000 });
    const piped = await cache.pipeline()
      .expire("k", 0)
      .expire("t", 0)
      .expire("missing", 0)
      .expire("k", 60_000)
      .expire("missing", 60_000)
      .ttl("t")
      .exec();
    assert.deepEqual(piped, [...direct, Infinity]);
  });

  it("increment counts by integers and fractions, and get reads the counter", async (cache) => {
    assert.equal(await cache.increment("n"), 1);
    assert.equal(await cache.increment("n", 10), 11);
    assert.equal(await cache.increment("n", -20), -9);
    assert.equal(await cache.get("n"), -9);
    assert.equal(await cache.increment("f", 1.5), 1.5);
    assert.equal(await cache.increment("f", 1.25), 2.75);
  });

  it("a counter that took a fractional step still takes integer steps, direct, with a TTL, in hashes and in pipelines", async (cache) => {
    assert.equal(await cache.increment("f", 1.5), 1.5);
    assert.equal(await cache.increment("f", 1), 2.5);
    assert.equal(await cache.increment("f"), 3.5);
    assert.equal(await cache.get("f"), 3.5);
    assert.equal(await cache.increment("w", 0.5, { ttlMs: 60_000 }), 0.5);
    assert.equal(await cache.increment("w", 1, { ttlMs: 60_000 }), 1.5);
    assert.equal(await cache.hashes.increment("h", "x", 0.5), 0.5);
    assert.equal(await cache.hashes.increment("h", "x", 1), 1.5);
    assert.equal(await cache.hashes.increment("h", "x"), 2.5);
    assert.deepEqual(
      await cache.pipeline().increment("p", 1.5).increment("p", 1).get("p").increment("p").exec(),
      [1.5, 2.5, 2.5, 3.5],
    );
    // Integer counters stay integers.
    assert.deepEqual(await cache.pipeline().increment("i", 2).increment("i").exec(), [2, 3]);
    assert.equal(await cache.raw().call("GET", cache.key("i")), "3");
    // Still a Conflict for what is no number at all.
    await cache.set("word", "abc");
    await rejectsWith(cache.increment("word", 1), "Conflict");
    await rejectsWith(cache.increment("word", 1, { ttlMs: 1_000 }), "Conflict");
    await rejectsWith(cache.pipeline().increment("word").exec(), "Conflict");
    await cache.hashes.set("hw", { x: "abc" }, { codec: "string" });
    await rejectsWith(cache.hashes.increment("hw", "x"), "Conflict");
  });

  it("numbers are read and written as Redis does: integers, long-double floats, scores", async (cache) => {
    const raw = cache.raw();
    const key = cache.key("n");
    const reply = async (...command: (string | number)[]) => {
      try {
        return String(await raw.call(...(command as [string, ...(string | number)[]])));
      } catch (error) {
        assert.ok(InfraError.is(error), String(error));
        return `${error.code}: ${error.message.replace(/^cache: /, "")}`;
      }
    };
    const notInteger = "Conflict: ERR value is not an integer or out of range";
    for (const text of ["007", "-0", "+5", " 5", "5 ", "1e3", "0x10", "", "9223372036854775808"]) {
      await raw.call("SET", key, text);
      assert.equal(await reply("INCR", key), notInteger, JSON.stringify(text));
    }
    await raw.call("SET", key, "9223372036854775807");
    assert.match(await reply("INCR", key), /^Conflict: ERR increment or decrement would overflow/);
    await raw.call("SET", key, "-9223372036854775807");
    assert.equal(await reply("INCR", key), String(-9223372036854775806));
    const floats: [string, string, string][] = [
      ["1000.1", "0.1", "1000.19999999999999996"],
      ["1e3", "0.1", "1000.09999999999999998"],
      ["0.1", "0.2", "0.3"],
      ["0", "1e21", "1000000000000000000000"],
      ["0x10", "0.5", "16.5"],
      ["0x1p-3", "1", "1.125"],
      ["007", "0.1", "7.1"],
      ["5.", ".5", "5.5"],
      ["-0", "0", "0"],
      ["1", "1e-20", "1"],
      ["99999999999999999999", "0.1", "100000000000000000000"],
    ];
    for (const [stored, by, expected] of floats) {
      await raw.call("SET", key, stored);
      assert.equal(await reply("INCRBYFLOAT", key, by), expected, `${stored} + ${by}`);
      assert.equal(await reply("GET", key), expected);
    }
    const notFloat = "Conflict: ERR value is not a valid float";
    for (const stored of [" 5", "nan", "1e5000", "0x", "1e", "abc"]) {
      await raw.call("SET", key, stored);
      assert.equal(await reply("INCRBYFLOAT", key, "1"), notFloat, JSON.stringify(stored));
    }
    await raw.call("SET", key, "inf");
    assert.match(await reply("INCRBYFLOAT", key, "1"), /would produce NaN or Infinity/);
    const hash = cache.key("h");
    assert.equal(await reply("HINCRBYFLOAT", hash, "f", "0.1"), "0.1");
    assert.equal(await reply("HINCRBYFLOAT", hash, "f", "0.2"), "0.3");
    assert.match(await reply("HINCRBYFLOAT", hash, "f", "inf"), /NaN or Infinity/);
    await raw.call("HSET", hash, "g", "007");
    assert.equal(
      await reply("HINCRBY", hash, "g", 1),
      "Conflict: ERR hash value is not an integer",
    );
    const zset = cache.key("z");
    for (
      const [score, expected] of [
        ["0.1", "0.10000000000000001"],
        ["1e20", "1e+20"],
        ["1e-5", "1.0000000000000001e-05"],
        ["123456789.123", "123456789.123"],
        ["0x10", "16"],
        ["-0", "0"],
        ["+inf", "inf"],
      ]
    ) {
      await raw.call("ZADD", zset, score, "m");
      assert.equal(await reply("ZSCORE", zset, "m"), expected, score);
    }
    assert.match(await reply("ZADD", zset, "1e400", "m"), /not a valid float/);
    assert.match(await reply("ZADD", zset, "nan", "m"), /not a valid float/);
    await raw.call("ZADD", zset, "1", "m");
    assert.equal(await reply("ZRANGE", zset, "( 0", "+inf", "BYSCORE"), "m");
    assert.equal(await reply("ZRANGE", zset, "(1e400", "+inf", "BYSCORE"), "");
  });

  it("increment with ttlMs sets the TTL only when it creates the counter", async (cache) => {
    assert.equal(await cache.increment("window", 1, { ttlMs: 60_000 }), 1);
    await cache.expire("window", 120_000);
    assert.equal(await cache.increment("window", 1, { ttlMs: 60_000 }), 2);
    const left = await cache.ttl("window");
    assert.ok(left !== undefined && left > 100_000, `ttl ${left}`);
  });

  it("increment with ttlMs leaves an existing counter without a TTL without one", async (cache) => {
    assert.equal(await cache.increment("total", 1), 1);
    assert.equal(await cache.increment("total", 1, { ttlMs: 1_000 }), 2);
    assert.equal(await cache.increment("total", 0.5, { ttlMs: 1_000 }), 2.5);
    assert.equal(await cache.ttl("total"), Infinity);
  });

  it("increment of a value that is not a number is a Conflict", async (cache) => {
    await cache.set("word", "abc");
    await rejectsWith(cache.increment("word"), "Conflict");
    assert.equal(await cache.get("word"), "abc");
  });

  it("bad input is InvalidArgument and writes nothing", async (cache) => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const value of [undefined, () => 1, Symbol("s"), 10n, circular]) {
      await rejectsWith(cache.set("k", value), "InvalidArgument");
    }
    await rejectsWith(cache.set("", 1), "InvalidArgument");
    await rejectsWith(cache.get(""), "InvalidArgument");
    await rejectsWith(cache.set(42 as unknown as string, 1), "InvalidArgument");
    await rejectsWith(cache.set("k", 1, { ttlMs: -1 }), "InvalidArgument");
    await rejectsWith(cache.set("k", 1, { ttlMs: 1.5 }), "InvalidArgument");
    await rejectsWith(cache.set("k", 1, { ttlMs: NaN }), "InvalidArgument");
    await rejectsWith(cache.set("k", 1, { ifAbsent: true, ifPresent: true }), "InvalidArgument");
    await rejectsWith(cache.set("k", 1, { codec: "yaml" as "json" }), "InvalidArgument");
    await rejectsWith(cache.set("k", 1, { codec: "string" }), "InvalidArgument");
    await rejectsWith(cache.set("k", "text", { codec: "bytes" }), "InvalidArgument");
    await rejectsWith(cache.expire("k", -5), "InvalidArgument");
    await rejectsWith(cache.increment("k", Infinity), "InvalidArgument");
    await rejectsWith(cache.getMany([]), "InvalidArgument");
    await rejectsWith(cache.setMany({ a: 1, b: undefined }), "InvalidArgument");
    await rejectsWith(cache.setMany({}), "InvalidArgument");
    await rejectsWith(cache.delete([]), "InvalidArgument");
    // Options that are not an object (a JavaScript caller's null).
    const none = null as unknown as Record<string, never>;
    const withNull: [string, () => Promise<unknown>][] = [
      ["set", () => cache.set("k", 1, none)],
      ["setMany", () => cache.setMany({ a: 1 }, none)],
      ["increment", () => cache.increment("k", 1, none)],
      ["getOrSet", () => cache.getOrSet("k", () => 1, none)],
      ["sortedSets.add", () => cache.sortedSets.add("z", [{ member: "m", score: 1 }], none)],
      ["sortedSets.range", () => cache.sortedSets.range("z", 0, -1, none)],
      ["sortedSets.rangeByScore", () => cache.sortedSets.rangeByScore("z", 0, 1, none)],
      ["pipeline set", () => cache.pipeline().set("k", 1, none).exec()],
    ];
    for (const [what, call] of withNull) {
      const error = await rejectsWith(Promise.resolve().then(call), "InvalidArgument");
      assert.equal(error.details.field, "options", what);
    }
    assert.equal(await cache.exists(["k", "a", "b", "z"]), 0);
  });

  it("the JSON codec refuses values it cannot bring back, names the path, and writes nothing", async (cache) => {
    class Point {
      x = 1;
    }
    const lossy: [unknown, RegExp][] = [
      [new Uint8Array([1, 2]), /^cache: value: a Uint8Array .*codec "bytes"/],
      [new Int16Array(2), /^cache: value: an Int16Array/],
      [new ArrayBuffer(2), /^cache: value: an ArrayBuffer/],
      [new DataView(new ArrayBuffer(2)), /^cache: value: a DataView/],
      [new Map([["a", 1]]), /^cache: value: a Map/],
      [new Set([1]), /^cache: value: a Set/],
      [NaN, /^cache: value: NaN is not a JSON number/],
      [Infinity, /^cache: value: Infinity/],
      [-Infinity, /^cache: value: -Infinity/],
      [10n, /^cache: value: a bigint/],
      [new Point(), /^cache: value: an instance of Point/],
      [new Error("boom"), /^cache: value: an instance of Error/],
      [new Date(NaN), /^cache: value: an invalid Date/],
      [
        { items: [1, 2, 3, new Map()] },
        /^cache: value\.items\[3\]: a Map cannot be stored as JSON/,
      ],
      [{ "a key": { n: [NaN] } }, /^cache: value\["a key"\]\.n\[0\]: NaN/],
      [[1, undefined], /^cache: value\[1\]: undefined in an array/],
      [{ run: () => 1 }, /^cache: value\.run: a function/],
      [{ id: Symbol("s") }, /^cache: value\.id: a symbol/],
      [{ at: { toJSON: () => new Set() } }, /^cache: value\.at: a Set/],
    ];
    for (const [value, message] of lossy) {
      const error = await rejectsWith(cache.set("k", value), "InvalidArgument");
      assert.match(error.message, message);
    }
    assert.equal(await cache.exists("k"), 0);
    assert.match(
      (await rejectsWith(cache.hashes.set("h", { ok: 1, bad: new Map() }), "InvalidArgument"))
        .message,
      /fields\["bad"\]: a Map/,
    );
    assert.match(
      (await rejectsWith(cache.sets.add("s", ["fine", new Set()]), "InvalidArgument")).message,
      /members\[1\]: a Set/,
    );
    assert.match(
      (await rejectsWith(cache.setMany([["a", 1], ["b", { v: NaN }]]), "InvalidArgument")).message,
      /entries\[1\]\[1\]\.v: NaN/,
    );
    assert.equal(await cache.exists(["h", "s", "a", "b"]), 0);
  });

  it("the JSON codec stores a Date as its ISO string and drops undefined properties, as JSON does", async (cache) => {
    await cache.set("k", { at: new Date(0), gone: undefined, kept: null, nested: [{ x: 1 }] });
    assert.deepEqual(await cache.get("k"), {
      at: "1970-01-01T00:00:00.000Z",
      kept: null,
      nested: [{ x: 1 }],
    });
    const bare = Object.create(null);
    bare.a = 1;
    await cache.set("bare", bare);
    assert.deepEqual(await cache.get("bare"), { a: 1 });
  });

  it("an aborted signal rejects the call with Aborted", async (cache) => {
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(cache.get("k", { signal: controller.signal }), "Aborted");
  });

  it("an already-aborted signal sends nothing: no write, no lock, no load", async (cache) => {
    const controller = new AbortController();
    controller.abort();
    const { signal } = controller;
    await rejectsWith(cache.set("k", 1, { signal }), "Aborted");
    await rejectsWith(cache.setMany({ "{m}:a": 1, "{m}:b": 2 }, { signal }), "Aborted");
    await rejectsWith(cache.pipeline().set("p", 1).exec({ signal }), "Aborted");
    await rejectsWith(cache.tryLock("res", { ttlMs: 60_000, signal }), "Aborted");
    await rejectsWith(cache.lock("res", { ttlMs: 60_000, signal }), "Aborted");
    let loads = 0;
    await rejectsWith(cache.getOrSet("g", () => ++loads, { signal }), "Aborted");
    await sleep(20);
    assert.equal(loads, 0);
    assert.deepEqual(await cache.getMany(["k", "{m}:a", "{m}:b", "p", "g"]), [
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    const lock = await cache.tryLock("res", { ttlMs: 1_000 });
    assert.ok(lock, "the lock is free");
    await lock.release();
  });

  it("lock: a lock taken for a caller whose signal fired meanwhile is released", async (cache) => {
    const controller = new AbortController();
    const taking = cache.tryLock("res", { ttlMs: 60_000, signal: controller.signal });
    controller.abort();
    await rejectsWith(taking, "Aborted");
    const lock = await cache.tryLock("res", { ttlMs: 1_000 });
    assert.ok(lock, "the lock is free");
    await lock.release();
  });

  it("keys carry the prefix everywhere and prefixes isolate caches", async (cache) => {
    assert.equal(cache.key("user:1"), `${cache.keyPrefix}user:1`);
    await cache.set("user:1", { id: 1 });
    assert.equal(await cache.raw().call("GET", cache.key("user:1")), '{"id":1}');
    const other = await open({ keyPrefix: prefix() });
    try {
      assert.equal(await other.get("user:1"), undefined);
    } finally {
      await other.close();
    }
  });

  it("a key holding another type is a Conflict", async (cache) => {
    await cache.set("s", "x");
    await rejectsWith(cache.hashes.get("s", "f"), "Conflict");
    await rejectsWith(cache.sortedSets.add("s", [{ member: "m", score: 1 }]), "Conflict");
  });

  // --- hashes ----------------------------------------------------------------------------

  it("hashes: a field named __proto__ is a field like any other, in getAll and a pipeline's hashGetAll", async (cache) => {
    const fields = JSON.parse('{"__proto__": {"polluted": true}, "a": 2}');
    assert.equal(await cache.hashes.set("h", fields), 2);
    const [piped] = await cache.pipeline().hashGetAll("h").exec();
    for (const all of [await cache.hashes.getAll("h"), piped as Record<string, unknown>]) {
      assert.deepEqual(Object.keys(all), ["__proto__", "a"]);
      assert.deepEqual(Object.getOwnPropertyDescriptor(all, "__proto__")?.value, {
        polluted: true,
      });
      assert.equal(Object.getPrototypeOf(all), Object.prototype);
      assert.equal((all as { polluted?: unknown }).polluted, undefined);
    }
  });

  it("hashes: set, get, getMany, getAll, has, size, delete", async (cache) => {
    assert.equal(await cache.hashes.get("h", "f"), undefined);
    assert.deepEqual(await cache.hashes.getAll("h"), {});
    assert.equal(await cache.hashes.set("h", { name: "Ada", roles: ["admin"], "": 0 }), 3);
    assert.equal(await cache.hashes.set("h", { name: "Grace", age: 36 }), 1);
    assert.equal(await cache.hashes.get("h", "name"), "Grace");
    assert.deepEqual(await cache.hashes.getMany("h", ["roles", "nope", "age"]), [
      ["admin"],
      undefined,
      36,
    ]);
    assert.deepEqual(await cache.hashes.getAll("h"), {
      name: "Grace",
      roles: ["admin"],
      "": 0,
      age: 36,
    });
    assert.equal(await cache.hashes.has("h", "age"), true);
    assert.equal(await cache.hashes.has("h", "nope"), false);
    assert.equal(await cache.hashes.size("h"), 4);
    assert.equal(await cache.hashes.delete("h", ["age", "nope"]), 1);
    assert.equal(await cache.hashes.delete("h", "name"), 1);
    assert.equal(await cache.hashes.size("h"), 2);
    assert.equal(await cache.hashes.size("missing"), 0);
  });

  it("hashes: increment counts integer and fractional fields", async (cache) => {
    assert.equal(await cache.hashes.increment("h", "n"), 1);
    assert.equal(await cache.hashes.increment("h", "n", 41), 42);
    assert.equal(await cache.hashes.increment("h", "x", 0.5), 0.5);
    assert.equal(await cache.hashes.get("h", "n"), 42);
  });

  it("hashes: bad input is InvalidArgument", async (cache) => {
    await rejectsWith(cache.hashes.set("h", {}), "InvalidArgument");
    await rejectsWith(cache.hashes.set("h", { f: undefined }), "InvalidArgument");
    await rejectsWith(cache.hashes.getMany("h", []), "InvalidArgument");
    assert.equal(await cache.exists("h"), 0);
  });

  // --- sets ------------------------------------------------------------------------------

  it("sets: add, remove, members, has, size", async (cache) => {
    assert.deepEqual(await cache.sets.members("s"), []);
    assert.equal(await cache.sets.add("s", ["a", "b", { id: 1 }]), 3);
    assert.equal(await cache.sets.add("s", ["a", "c"]), 1);
    assert.deepEqual((await cache.sets.members("s")).map((m) => JSON.stringify(m)).sort(), [
      '"a"',
      '"b"',
      '"c"',
      '{"id":1}',
    ]);
    assert.equal(await cache.sets.has("s", { id: 1 }), true);
    assert.equal(await cache.sets.has("s", "z"), false);
    assert.equal(await cache.sets.remove("s", ["a", "z"]), 1);
    assert.equal(await cache.sets.size("s"), 3);
    assert.equal(await cache.sets.size("missing"), 0);
    await rejectsWith(cache.sets.add("s", []), "InvalidArgument");
  });

  // --- sorted sets -----------------------------------------------------------------------

  const scores = [
    { member: "a", score: 1 },
    { member: "b", score: 2 },
    { member: "c", score: 3 },
    { member: "d", score: 4.5 },
    { member: "e", score: 10 },
  ];

  it("sorted sets: range by rank returns members with scores, forward, reversed and negative", async (cache) => {
    assert.deepEqual(await cache.sortedSets.range("z", 0, -1), []);
    assert.equal(await cache.sortedSets.add("z", scores), 5);
    assert.deepEqual(await cache.sortedSets.range("z", 0, -1), scores);
    assert.deepEqual(await cache.sortedSets.range("z", 0, 1, { reverse: true }), [
      scores[4],
      scores[3],
    ]);
    assert.deepEqual(await cache.sortedSets.range("z", -2, -1), [scores[3], scores[4]]);
    assert.deepEqual(await cache.sortedSets.range("z", 10, 20), []);
  });

  it("sorted sets: range by score honours bounds, exclusivity, reverse and limits", async (cache) => {
    await cache.sortedSets.add("z", scores);
    const members = (list: { member: unknown }[]) => list.map((e) => e.member);
    assert.deepEqual(members(await cache.sortedSets.rangeByScore("z", 2, 4.5)), ["b", "c", "d"]);
    assert.deepEqual(
      members(
        await cache.sortedSets.rangeByScore("z", 2, 4.5, {
          minExclusive: true,
          maxExclusive: true,
        }),
      ),
      ["c"],
    );
    assert.deepEqual(
      members(await cache.sortedSets.rangeByScore("z", -Infinity, Infinity, { reverse: true })),
      ["e", "d", "c", "b", "a"],
    );
    assert.deepEqual(
      members(await cache.sortedSets.rangeByScore("z", 1, 10, { offset: 1, count: 2 })),
      ["b", "c"],
    );
    assert.deepEqual(
      await cache.sortedSets.rangeByScore("z", 4, 100, { reverse: true, count: 1 }),
      [scores[4]],
    );
    assert.deepEqual(await cache.sortedSets.rangeByScore("z", 20, 30), []);
  });

  it("sorted sets: score, rank, size, count, increment, remove", async (cache) => {
    await cache.sortedSets.add("z", scores);
    assert.equal(await cache.sortedSets.score("z", "d"), 4.5);
    assert.equal(await cache.sortedSets.score("z", "nope"), undefined);
    assert.equal(await cache.sortedSets.score("missing", "a"), undefined);
    assert.equal(await cache.sortedSets.rank("z", "a"), 0);
    assert.equal(await cache.sortedSets.rank("z", "a", { reverse: true }), 4);
    assert.equal(await cache.sortedSets.rank("z", "nope"), undefined);
    assert.equal(await cache.sortedSets.size("z"), 5);
    assert.equal(await cache.sortedSets.count("z", 2, 4.5), 3);
    assert.equal(await cache.sortedSets.increment("z", "a", 100), 101);
    assert.equal(await cache.sortedSets.increment("z", "new", -1.5), -1.5);
    assert.equal(await cache.sortedSets.remove("z", ["a", "new", "nope"]), 2);
    assert.equal(await cache.sortedSets.size("z"), 4);
  });

  it("sorted sets: add options (ifAbsent, ifPresent, onlyGreater) and infinite scores", async (cache) => {
    await cache.sortedSets.add("z", [{ member: "a", score: 5 }]);
    assert.equal(
      await cache.sortedSets.add("z", [{ member: "a", score: 1 }, { member: "b", score: 1 }], {
        ifAbsent: true,
      }),
      1,
    );
    assert.equal(await cache.sortedSets.score("z", "a"), 5);
    assert.equal(
      await cache.sortedSets.add("z", [{ member: "a", score: 7 }, { member: "c", score: 1 }], {
        ifPresent: true,
      }),
      0,
    );
    assert.equal(await cache.sortedSets.score("z", "a"), 7);
    assert.equal(await cache.sortedSets.score("z", "c"), undefined);
    await cache.sortedSets.add("z", [{ member: "a", score: 3 }], { onlyGreater: true });
    assert.equal(await cache.sortedSets.score("z", "a"), 7);
    await cache.sortedSets.add("z", [{ member: "inf", score: Infinity }, {
      member: "-inf",
      score: -Infinity,
    }]);
    assert.deepEqual(await cache.sortedSets.range("z", 0, 0), [{
      member: "-inf",
      score: -Infinity,
    }]);
    assert.deepEqual(await cache.sortedSets.range("z", -1, -1), [{
      member: "inf",
      score: Infinity,
    }]);
    await rejectsWith(cache.sortedSets.add("z", [{ member: "x", score: NaN }]), "InvalidArgument");
    await rejectsWith(
      cache.sortedSets.add("z", [{ member: "x", score: 1 }], { ifAbsent: true, onlyGreater: true }),
      "InvalidArgument",
    );
  });

  it("sorted sets: removeByRank, removeByScore and trim keep the wanted window", async (cache) => {
    await cache.sortedSets.add("z", scores);
    assert.equal(await cache.sortedSets.removeByRank("z", 0, 0), 1);
    assert.equal(await cache.sortedSets.removeByScore("z", 4, 5), 1);
    assert.deepEqual((await cache.sortedSets.range("z", 0, -1)).map((e) => e.member), [
      "b",
      "c",
      "e",
    ]);
    await cache.sortedSets.add("z", scores);
    assert.equal(await cache.sortedSets.trim("z", 2), 3);
    assert.deepEqual((await cache.sortedSets.range("z", 0, -1)).map((e) => e.member), ["d", "e"]);
    await cache.sortedSets.add("z", scores);
    assert.equal(await cache.sortedSets.trim("z", 2, { lowest: true }), 3);
    assert.deepEqual((await cache.sortedSets.range("z", 0, -1)).map((e) => e.member), ["a", "b"]);
    assert.equal(await cache.sortedSets.trim("z", 0), 2);
    assert.equal(await cache.exists("z"), 0);
  });

  // --- scripts ---------------------------------------------------------------------------

  it("scripts get prefixed KEYS and raw ARGV, and their writes are visible", async (cache) => {
    const swap = cache.script(
      `local a = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], redis.call('GET', KEYS[2]))
redis.call('SET', KEYS[2], a)
return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}`,
      {
        keys: 2,
        memory: (redis, keys, args) => {
          const a = redis.call("GET", keys[0]);
          redis.call("SET", keys[0], redis.call("GET", keys[1]) as string);
          redis.call("SET", keys[1], a as string);
          return [keys[0], args[0], Number(args[1]) + 1];
        },
      },
    );
    assert.match(swap.sha, /^[0-9a-f]{40}$/);
    await cache.set("{pair}:a", "A", { ttlMs: 0 });
    await cache.set("{pair}:b", "B", { ttlMs: 0 });
    const reply = await swap.run(["{pair}:a", "{pair}:b"], ["hello", 41]);
    assert.deepEqual(reply, [cache.key("{pair}:a"), "hello", 42]);
    assert.deepEqual(await cache.getMany(["{pair}:a", "{pair}:b"]), ["B", "A"]);
  });

  it("scripts return null for nil and false, and integers for numbers", async (cache) => {
    const script = cache.script("return {1, redis.call('GET', KEYS[1]), 'x', 2.9}", {
      keys: 1,
      memory: (redis, keys) => [1, redis.call("GET", keys[0]), "x", 2.9],
    });
    assert.deepEqual(await script.run(["missing"]), [1, null, "x", 2]);
  });

  it("scripts check their key count and arguments", async (cache) => {
    const script = cache.script("return 1", { keys: 1, memory: () => 1 });
    await rejectsWith(script.run([]), "InvalidArgument");
    await rejectsWith(script.run(["a", "b"]), "InvalidArgument");
    await rejectsWith(script.run([""]), "InvalidArgument");
    await rejectsWith(script.run(["a"], [{} as unknown as string]), "InvalidArgument");
    assert.throws(
      () => cache.script("", { keys: 0 }),
      (e: unknown) => InfraError.is(e, "InvalidArgument"),
    );
    assert.throws(
      () => cache.script("return 1", { keys: -1 }),
      (e: unknown) => InfraError.is(e, "InvalidArgument"),
    );
  });

  it("a script that raises an error reply rejects with the mapped code", async (cache) => {
    const script = cache.script("return redis.error_reply('ERR bad things')", {
      keys: 0,
      memory: () => {
        throw new Error("ERR bad things");
      },
    });
    const error = await rejectsWith(script.run([]), "InvalidArgument");
    assert.match(error.message, /bad things/);
  });

  it("a script that fails at run time (Lua's error(), a twin's throw) is InvalidArgument", async (cache) => {
    const script = cache.script("error('boom')", {
      keys: 0,
      memory: () => {
        throw new Error("boom");
      },
    });
    const error = await rejectsWith(script.run([]), "InvalidArgument");
    assert.match(error.message, /boom/);
  });

  // --- pipelines -------------------------------------------------------------------------

  it("a pipeline runs its commands and returns their results in order", async (cache) => {
    const script = cache.script("return redis.call('INCRBY', KEYS[1], ARGV[1])", {
      keys: 1,
      memory: (redis, keys, args) => redis.call("INCRBY", keys[0], args[0]),
    });
    const pipeline = cache.pipeline()
      .set("a", { n: 1 })
      .get("a")
      .get("missing")
      .increment("counter", 5)
      .run(script, ["counter"], [10])
      .hashSet("h", { f: "v" })
      .hashGet("h", "f")
      .hashGetAll("h")
      .setAdd("s", ["m"])
      .sortedSetAdd("z", [{ member: "x", score: 2 }, { member: "y", score: 1 }])
      .sortedSetRange("z", 0, -1, { reverse: true })
      .sortedSetTrim("z", 1)
      .expire("a", 60_000)
      .ttl("counter")
      .exists("a")
      .delete("s");
    assert.equal(pipeline.length, 16);
    const results = await pipeline.exec();
    assert.deepEqual(results, [
      true,
      { n: 1 },
      undefined,
      5,
      15,
      1,
      "v",
      { f: "v" },
      1,
      2,
      [{ member: "x", score: 2 }, { member: "y", score: 1 }],
      1,
      true,
      Infinity,
      true,
      1,
    ]);
    assert.equal(pipeline.length, 0);
    assert.deepEqual(await pipeline.exec(), []);
  });

  it("a pipeline with a failing command rejects with every outcome, and the rest ran", async (cache) => {
    await cache.set("text", "abc");
    const error = await rejectsWith(
      cache.pipeline().set("ok", 1).increment("text").set("after", 2).exec(),
      "Conflict",
    );
    const results = error.details.results as { ok: boolean }[];
    assert.deepEqual(results.map((r) => r.ok), [true, false, true]);
    assert.equal(error.details.index, 1);
    assert.deepEqual(await cache.getMany(["ok", "after"]), [1, 2]);
  });

  // --- lock ------------------------------------------------------------------------------

  it("lock: tryLock takes a free lock and refuses a held one until release", async (cache) => {
    const first = await cache.tryLock("res", { ttlMs: 10_000 });
    assert.ok(first);
    assert.match(first.token, /^[0-9a-f]{32}$/);
    assert.equal(await cache.tryLock("res", { ttlMs: 10_000 }), undefined);
    assert.equal(await first.release(), true);
    assert.equal(first.signal.aborted, true);
    const second = await cache.tryLock("res", { ttlMs: 10_000 });
    assert.ok(second);
    await second.release();
  });

  it("lock: extend and release only act for the owner after the lock was lost", async (cache) => {
    const mine = await cache.tryLock("res", { ttlMs: 100 });
    assert.ok(mine);
    let theirs: Lock | undefined;
    await waitUntil(
      async () => (theirs = await cache.tryLock("res", { ttlMs: 60_000 })) !== undefined,
      {
        timeoutMs: 3_000,
        what: "the lock to expire",
      },
    );
    await rejectsWith(mine.extend(), "LockLost");
    assert.equal(await mine.release(), false);
    // The new owner's lock is untouched.
    assert.equal(await cache.tryLock("res", { ttlMs: 1_000 }), undefined);
    assert.equal(await theirs!.release(), true);
  });

  it("lock: extend pushes the expiry forward for the owner", async (cache) => {
    const lock = await cache.tryLock("res", { ttlMs: 200 });
    assert.ok(lock);
    const before = lock.expiresAt;
    await lock.extend(60_000);
    assert.ok(lock.expiresAt > before + 50_000);
    await sleep(300);
    assert.equal(await cache.tryLock("res", { ttlMs: 1_000 }), undefined);
    assert.equal(lock.signal.aborted, false);
    assert.equal(await lock.release(), true);
  });

  it("lock: the lock expires by itself and its signal says LockLost", async (cache) => {
    const lock = await cache.tryLock("res", { ttlMs: 100 });
    assert.ok(lock);
    await waitUntil(() => lock.signal.aborted, { timeoutMs: 3_000, what: "the lock signal" });
    assert.ok(InfraError.is(lock.signal.reason, "LockLost"));
    await waitUntil(async () => {
      const next = await cache.tryLock("res", { ttlMs: 1_000 });
      if (next) await next.release();
      return next !== undefined;
    }, { timeoutMs: 3_000, what: "the lock to be free" });
  });

  it("lock: a blocking lock waits for the holder to release", async (cache) => {
    const holder = await cache.lock("res", { ttlMs: 10_000 });
    const order: string[] = [];
    const waiting = cache.lock("res", { ttlMs: 10_000, timeoutMs: 5_000 }).then((lock) => {
      order.push("acquired");
      return lock;
    });
    await sleep(100);
    order.push("releasing");
    await holder.release();
    const second = await waiting;
    assert.deepEqual(order, ["releasing", "acquired"]);
    await second.release();
  });

  it("lock: a blocking lock gives up with Timeout or Aborted", async (cache) => {
    const holder = await cache.lock("res", { ttlMs: 10_000 });
    await rejectsWith(cache.lock("res", { ttlMs: 1_000, timeoutMs: 150 }), "Timeout");
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await rejectsWith(cache.lock("res", { ttlMs: 1_000, signal: controller.signal }), "Aborted");
    await holder.release();
  });

  it("lock: autoExtend keeps the lock past its TTL until release", async (cache) => {
    const lock = await cache.lock("res", { ttlMs: 150, autoExtend: true });
    await sleep(500);
    assert.equal(lock.signal.aborted, false);
    assert.equal(await cache.tryLock("res", { ttlMs: 1_000 }), undefined);
    assert.equal(await lock.release(), true);
  });

  it("lock: a tryLock in flight when its cache closes is Closed, and the lock it took is released", async (cache) => {
    const other = await open({ keyPrefix: cache.keyPrefix });
    const refused = rejectsWith(other.tryLock("res", { ttlMs: 60_000 }), "Closed");
    await other.close(); // the same tick: the acquire is on its way
    await refused;
    const lock = await cache.tryLock("res", { ttlMs: 1_000 });
    assert.ok(lock, "the lock taken for the closed cache was released");
    await lock.release();
  });

  it("lock: close ends a blocking lock() with Closed at once, without waiting for the drain", async (cache) => {
    const holder = await cache.lock("res", { ttlMs: 10_000 });
    const other = await open({
      keyPrefix: cache.keyPrefix,
      getOrSet: { lockTtlMs: 5_000 }, // how long close drains at most
    });
    const refused = rejectsWith(other.lock("res", { ttlMs: 1_000 }), "Closed");
    await sleep(50); // waiting for the holder now
    const started = Date.now();
    await other.close();
    await refused;
    assert.ok(Date.now() - started < 2_000, `close took ${Date.now() - started} ms`);
    await holder.release();
  });

  it("lock: closing the cache aborts the signal of the locks it holds", async (cache) => {
    const lock = (await cache.tryLock("res", { ttlMs: 60_000, autoExtend: true }))!;
    assert.equal(lock.signal.aborted, false);
    await cache.close();
    assert.equal(lock.signal.aborted, true);
    assert.ok(InfraError.is(lock.signal.reason, "LockLost"), String(lock.signal.reason));
  });

  it("lock: await using releases the lock at the end of the scope", async (cache) => {
    {
      await using lock = await cache.lock("res", { ttlMs: 10_000 });
      assert.equal(lock.signal.aborted, false);
    }
    const again = await cache.tryLock("res", { ttlMs: 1_000 });
    assert.ok(again);
    await again.release();
  });

  it("lock: a release that fails leaves the lock held: still extended, and its signal fires once it expires", async (cache) => {
    const lock = await cache.tryLock("res", { ttlMs: 100 });
    assert.ok(lock);
    await rejectsWith(lock.release({ signal: AbortSignal.abort() }), "Aborted");
    assert.equal(lock.signal.aborted, false);
    assert.equal(await cache.tryLock("res", { ttlMs: 1_000 }), undefined, "still held");
    await waitUntil(() => lock.signal.aborted, { timeoutMs: 3_000, what: "the lock signal" });
    assert.ok(InfraError.is(lock.signal.reason, "LockLost"));
    const extended = await cache.tryLock("{x}res", { ttlMs: 60, autoExtend: true });
    assert.ok(extended);
    await rejectsWith(extended.release({ signal: AbortSignal.abort() }), "Aborted");
    await sleep(200);
    assert.equal(extended.signal.aborted, false, "auto-extension goes on");
    assert.equal(await cache.tryLock("{x}res", { ttlMs: 1_000 }), undefined);
    assert.equal(await extended.release(), true);
    assert.ok(extended.signal.aborted);
  });

  it("lock: with timeoutMs, nothing of the wait outlives the acquire: its timer is cleared, the caller's signal left without listeners", async (cache) => {
    const timeoutMs = 600_017; // a delay no one else arms
    const armed = new Set<unknown>();
    const { setTimeout: set, clearTimeout: clear } = globalThis;
    const caller = new AbortController().signal;
    let listeners = 0;
    const { addEventListener: add, removeEventListener: remove } = caller;
    caller.addEventListener = (...args: Parameters<typeof add>) => {
      listeners++;
      return add.apply(caller, args);
    };
    caller.removeEventListener = (...args: Parameters<typeof remove>) => {
      listeners--;
      return remove.apply(caller, args);
    };
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      const timer = set(fn, ms);
      if (ms === timeoutMs) armed.add(timer);
      return timer;
    }) as typeof setTimeout;
    globalThis.clearTimeout = ((timer: Parameters<typeof clearTimeout>[0]) => {
      armed.delete(timer);
      return clear(timer);
    }) as typeof clearTimeout;
    try {
      const lock = await cache.lock("res", { ttlMs: 1_000, timeoutMs, signal: caller });
      assert.equal(armed.size, 0, "the timeout timer is cleared once the lock is taken");
      assert.equal(listeners, 0, "no listener stays on the caller's signal");
      await lock.release();
    } finally {
      for (const timer of armed) clear(timer as Parameters<typeof clearTimeout>[0]);
      globalThis.setTimeout = set;
      globalThis.clearTimeout = clear;
    }
  });

  it("lock: bad options are InvalidArgument", async (cache) => {
    await rejectsWith(cache.tryLock("res", { ttlMs: 0 }), "InvalidArgument");
    await rejectsWith(cache.tryLock("res", { ttlMs: -1 }), "InvalidArgument");
    await rejectsWith(cache.lock("", { ttlMs: 100 }), "InvalidArgument");
  });

  it("lock: a duration longer than a timer holds (2^31 ms) is InvalidArgument naming it, before anything is sent", async (cache) => {
    const tooLong = 2 ** 31;
    for (
      const [call, field] of [
        [() => cache.tryLock("res", { ttlMs: tooLong }), "ttlMs"],
        [() => cache.lock("res", { ttlMs: tooLong }), "ttlMs"],
        [() => cache.lock("res", { ttlMs: 1_000, timeoutMs: tooLong }), "timeoutMs"],
      ] as const
    ) {
      const error = await rejectsWith(call(), "InvalidArgument");
      assert.equal(error.details.field, field, error.message);
    }
    assert.equal(await cache.exists("res"), 0);
    const lock = await cache.tryLock("res", { ttlMs: 2 ** 31 - 1 });
    assert.ok(lock);
    await sleep(20);
    assert.equal(lock.signal.aborted, false, "the longest TTL is held, not lost at once");
    const error = await rejectsWith(lock.extend(tooLong), "InvalidArgument");
    assert.equal(error.details.field, "ttlMs");
    assert.equal(await lock.release(), true);
  });

  // --- bloom -----------------------------------------------------------------------------

  it("bloom: added items are found, others mostly not, with no reserve step", async (cache) => {
    const filter = cache.bloom("seen", { expectedItems: 2_000, falsePositiveRate: 0.01 });
    assert.equal(filter.bits, 19_171);
    assert.equal(filter.hashes, 7);
    assert.equal(await filter.has("never"), false);
    assert.equal(await filter.add("m1"), true);
    assert.equal(await filter.add("m1"), false);
    const items = Array.from({ length: 1_000 }, (_, i) => `item-${i}`);
    const fresh = await filter.addMany(items);
    assert.ok(fresh.filter(Boolean).length >= 990);
    assert.deepEqual(await filter.hasMany(items), items.map(() => true));
    const strangers = Array.from({ length: 2_000 }, (_, i) => `stranger-${i}`);
    const falsePositives = (await filter.hasMany(strangers)).filter(Boolean).length;
    assert.ok(falsePositives < 60, `false positives ${falsePositives}/2000`);
    assert.equal(await filter.has(new TextEncoder().encode("m1")), true);
    await filter.clear();
    assert.equal(await filter.has("m1"), false);
  });

  it("bloom: a filter reused with other sizing is a Conflict, bad sizing InvalidArgument", async (cache) => {
    await cache.bloom("seen", { expectedItems: 100, falsePositiveRate: 0.01 }).add("x");
    await rejectsWith(
      cache.bloom("seen", { expectedItems: 1_000, falsePositiveRate: 0.01 }).has("x"),
      "Conflict",
    );
    assert.throws(
      () => cache.bloom("seen", { expectedItems: 0, falsePositiveRate: 0.01 }),
      (e: unknown) => InfraError.is(e, "InvalidArgument"),
    );
    assert.throws(
      () => cache.bloom("seen", { expectedItems: 10, falsePositiveRate: 1 }),
      (e: unknown) => InfraError.is(e, "InvalidArgument"),
    );
    await rejectsWith(
      cache.bloom("seen", { expectedItems: 100, falsePositiveRate: 0.01 }).addMany([]),
      "InvalidArgument",
    );
  });

  it("bloom: ttlMs expires the filter and every add renews it", async (cache) => {
    const filter = cache.bloom("{seen}", {
      expectedItems: 100,
      falsePositiveRate: 0.01,
      ttlMs: 60_000,
    });
    await filter.add("x");
    const bitmap = `${cache.keyPrefix}__gochat_cache:{seen}${cache.key("{seen}")}:bloom`;
    const left = await cache.raw().call("PTTL", bitmap);
    assert.ok(typeof left === "number" && left > 50_000, `pttl ${left}`);
  });

  // --- getOrSet --------------------------------------------------------------------------

  it("getOrSet loads once on a miss and serves the cached value after", async (cache) => {
    let loads = 0;
    const loader = () => {
      loads++;
      return Promise.resolve({ id: 7, loads });
    };
    assert.deepEqual(await cache.getOrSet("user:7", loader, { ttlMs: 60_000 }), {
      id: 7,
      loads: 1,
    });
    assert.deepEqual(await cache.getOrSet("user:7", loader, { ttlMs: 60_000 }), {
      id: 7,
      loads: 1,
    });
    assert.equal(loads, 1);
    assert.deepEqual(await cache.get("user:7"), { id: 7, loads: 1 });
    await cache.set("user:7", { id: 7, loads: 99 });
    assert.deepEqual(await cache.getOrSet("user:7", loader), { id: 7, loads: 99 });
    assert.equal(loads, 1);
  });

  /** A loader that counts its calls and returns `value` after `ms`. */
  const slowLoader = <T>(ms: number, value: T) => {
    const counted = {
      loads: 0,
      loader: async () => {
        counted.loads++;
        await sleep(ms);
        return value;
      },
    };
    return counted;
  };

  it("getOrSet, locks, Bloom filters and deletes work on keys with a } but no hash tag", async (cache) => {
    for (const key of ["a}b", "x{}y", "}{z}"]) {
      const options = { ttlMs: 60_000, graceMs: 60_000, negativeTtlMs: 60_000 };
      assert.equal(await cache.getOrSet(key, () => `v ${key}`, options), `v ${key}`);
      assert.equal(await cache.getOrSet(key, () => "again", options), `v ${key}`);
      assert.equal(await cache.delete(key), 1);
      assert.equal(await cache.getOrSet(key, () => undefined, options), undefined);
      const lock = await cache.tryLock(key, { ttlMs: 10_000 });
      assert.ok(lock, key);
      assert.equal(await lock.release(), true);
      const filter = cache.bloom(key, { expectedItems: 10, falsePositiveRate: 0.01 });
      await filter.add("item");
      assert.equal(await filter.has("item"), true);
      await filter.clear();
    }
  });

  it("getOrSet: 1,000 concurrent callers on a cold key call the loader once", async (cache) => {
    const slow = slowLoader(50, { hot: true });
    const results = await Promise.all(
      Array.from({ length: 1_000 }, () => cache.getOrSet("hot", slow.loader, { ttlMs: 60_000 })),
    );
    assert.equal(slow.loads, 1);
    assert.equal(results.length, 1_000);
    assert.ok(results.every((r) => (r as { hot: boolean }).hot === true));
    // Every caller gets its own copy.
    assert.notEqual(results[0], results[1]);
  });

  it("getOrSet: two instances racing on one key call the loader once", async (cache) => {
    const other = await open({ keyPrefix: cache.keyPrefix });
    try {
      const slow = slowLoader(100, "value");
      const calls = [];
      for (let i = 0; i < 50; i++) {
        calls.push(cache.getOrSet("shared", slow.loader, { ttlMs: 60_000 }));
        calls.push(other.getOrSet("shared", slow.loader, { ttlMs: 60_000 }));
      }
      const results = await Promise.all(calls);
      assert.equal(slow.loads, 1);
      assert.ok(results.every((r) => r === "value"));
    } finally {
      await other.close();
    }
  });

  it("getOrSet: 1,000 callers over four instances on a cold key call the loader once", async (cache) => {
    const others = await Promise.all([1, 2, 3].map(() => open({ keyPrefix: cache.keyPrefix })));
    try {
      const instances = [cache, ...others];
      const slow = slowLoader(50, { hot: true });
      const results = await Promise.all(
        Array.from(
          { length: 1_000 },
          (_, i) => instances[i % 4].getOrSet("hot", slow.loader, { ttlMs: 60_000 }),
        ),
      );
      assert.equal(slow.loads, 1);
      assert.ok(results.every((r) => (r as { hot: boolean }).hot === true));
    } finally {
      for (const other of others) await other.close();
    }
  });

  it("getOrSet: a loader slower than lockTtlMs keeps its fill lock: another instance waits, no second load", async (cache) => {
    const other = await open({ keyPrefix: cache.keyPrefix });
    try {
      const slow = slowLoader(600, "slow");
      const options = { lockTtlMs: 150, ttlMs: 60_000 };
      const first = cache.getOrSet("slow", slow.loader, options);
      await sleep(20);
      const results = await Promise.all([first, other.getOrSet("slow", slow.loader, options)]);
      assert.deepEqual(results, ["slow", "slow"]);
      assert.equal(slow.loads, 1);
    } finally {
      await other.close();
    }
  });

  it("getOrSet caches not-found for negativeTtlMs and delete clears it", async (cache) => {
    let loads = 0;
    const loader = () => {
      loads++;
      return undefined;
    };
    assert.equal(await cache.getOrSet("ghost", loader, { negativeTtlMs: 60_000 }), undefined);
    assert.equal(await cache.getOrSet("ghost", loader, { negativeTtlMs: 60_000 }), undefined);
    assert.equal(loads, 1);
    assert.equal(await cache.get("ghost"), undefined);
    assert.equal(await cache.exists("ghost"), 0);
    await cache.delete("ghost");
    assert.equal(await cache.getOrSet("ghost", () => "found now"), "found now");
    assert.equal(loads, 1);
  });

  it("a cached not-found ends with any write that gives the key a value, even once that value is gone", async (cache) => {
    // At the root and in a (nested) namespace.
    for (const target of [cache, cache.namespace("users").namespace("admins")]) {
      const script = target.script("return redis.call('SET', KEYS[1], ARGV[1])", {
        keys: 1,
        memory: (redis, keys, args) => redis.call("SET", keys[0], args[0]),
      });
      const writes: [string, (key: string) => Promise<unknown>][] = [
        ["set", (key) => target.set(key, "x", { ttlMs: 100 })],
        ["setMany", (key) => target.setMany({ [key]: "x" })],
        ["increment", (key) => target.increment(key, 1, { ttlMs: 100 })],
        ["a script", (key) => script.run([key], ['"x"'])],
        ["pipeline set", (key) => target.pipeline().set(key, "x").exec()],
        ["pipeline increment", (key) => target.pipeline().increment(key).exec()],
        ["pipeline script", (key) => target.pipeline().run(script, [key], ['"x"']).exec()],
      ];
      for (const [what, write] of writes) {
        const key = `ghost-${what}`;
        let loads = 0;
        const loader = () => ++loads === 1 ? undefined : "loaded";
        assert.equal(await target.getOrSet(key, loader, { negativeTtlMs: 60_000 }), undefined);
        await write(key);
        // The value goes away without the cache's delete: expiry, eviction, another client.
        await cache.raw().call("DEL", target.key(key));
        const again = await target.getOrSet(key, loader, { negativeTtlMs: 60_000 });
        assert.equal(again, "loaded", `${target.keyPrefix} ${what}`);
        assert.equal(loads, 2, what);
      }
    }
    // And once a value set after it expired.
    assert.equal(
      await cache.getOrSet("gone", () => undefined, { negativeTtlMs: 60_000 }),
      undefined,
    );
    await cache.set("gone", "exists now", { ttlMs: 100 });
    await waitUntil(async () => (await cache.get("gone")) === undefined, {
      timeoutMs: 3_000,
      what: "expiry",
    });
    assert.equal(await cache.getOrSet("gone", () => "loaded"), "loaded");
  });

  it("a pipeline delete clears a cached not-found too, as delete does", async (cache) => {
    assert.equal(
      await cache.getOrSet("ghost", () => undefined, { negativeTtlMs: 60_000 }),
      undefined,
    );
    assert.deepEqual(await cache.pipeline().delete("ghost").exec(), [0]);
    assert.equal(await cache.getOrSet("ghost", () => "found now"), "found now");
  });

  it("getOrSet with negativeTtlMs 0 does not cache not-found", async (cache) => {
    let loads = 0;
    const loader = () => {
      loads++;
      return undefined;
    };
    await cache.getOrSet("ghost", loader, { negativeTtlMs: 0 });
    await cache.getOrSet("ghost", loader, { negativeTtlMs: 0 });
    assert.equal(loads, 2);
  });

  it("getOrSet: a loader error reaches every waiting caller and the next call retries", async (cache) => {
    let loads = 0;
    const failing = async () => {
      loads++;
      await sleep(30);
      throw new Error("database down");
    };
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => cache.getOrSet("flaky", failing)),
    );
    assert.equal(loads, 1);
    assert.ok(
      results.every((r) =>
        r.status === "rejected" && (r.reason as Error).message === "database down"
      ),
    );
    assert.equal(await cache.getOrSet("flaky", () => "recovered"), "recovered");
  });

  it("getOrSet: a value the codec cannot store is InvalidArgument and the key stays loadable", async (cache) => {
    await rejectsWith(cache.getOrSet("bad", () => 10n as unknown), "InvalidArgument");
    assert.equal(await cache.getOrSet("bad", () => "good"), "good");
    const error = await rejectsWith(
      cache.getOrSet("map", () => ({ byId: new Map([[1, "a"]]) })),
      "InvalidArgument",
    );
    assert.match(error.message, /^cache: loaded value\.byId: a Map/);
    assert.equal(await cache.exists("map"), 0);
    assert.deepEqual(await cache.getOrSet("map", () => ({ byId: { 1: "a" } })), {
      byId: { 1: "a" },
    });
    await rejectsWith(cache.getOrSet("", () => 1), "InvalidArgument");
    await rejectsWith(cache.getOrSet("k", () => 1, { ttlMs: -1 }), "InvalidArgument");
    await rejectsWith(cache.getOrSet("k", () => 1, { jitter: 2 }), "InvalidArgument");
    await rejectsWith(
      cache.getOrSet("k", "not a function" as unknown as () => number),
      "InvalidArgument",
    );
  });

  it("getOrSet jitters the TTL down by at most the jitter fraction", async (cache) => {
    const ttls: number[] = [];
    for (let i = 0; i < 20; i++) {
      await cache.getOrSet(`j${i}`, () => i, { ttlMs: 100_000, jitter: 0.5 });
      ttls.push((await cache.ttl(`j${i}`))!);
    }
    assert.ok(ttls.every((t) => t <= 100_000 && t > 49_000), ttls.join());
    assert.ok(new Set(ttls.map((t) => Math.round(t / 1000))).size > 3, "TTLs spread out");
  });

  it("getOrSet serves a stale value while one caller refreshes it", async (cache) => {
    let version = 0;
    let refreshes = 0;
    const loader = async () => {
      refreshes++;
      await sleep(50);
      return ++version;
    };
    const options = { ttlMs: 100, staleWhileRevalidateMs: 10_000, jitter: 0 };
    assert.equal(await cache.getOrSet("news", loader, options), 1);
    await sleep(200);
    // Stale now: every caller gets version 1 at once, one refresh runs.
    const stale = await Promise.all(
      Array.from({ length: 10 }, () => cache.getOrSet("news", loader, options)),
    );
    assert.ok(stale.every((v) => v === 1), stale.join());
    await waitUntil(async () => (await cache.getOrSet("news", loader, options)) === 2, {
      timeoutMs: 3_000,
      what: "the refresh",
    });
    assert.equal(refreshes, 2);
  });

  /** The fill lock a loader of `key` holds (as `KeySpace.companion` names it). */
  const fillKey = (cache: Cache, key: string) =>
    `${cache.keyPrefix}__gochat_cache:{${cache.key(key)}}:fill`;
  const gate = () => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return { open, opened };
  };
  const whileLoading = (cache: Cache, key: string) =>
    waitUntil(async () => Number(await cache.raw().call("EXISTS", fillKey(cache, key))) === 1, {
      timeoutMs: 5_000,
      intervalMs: 5,
      what: "the loader to hold the fill lock",
    });

  it("getOrSet: a loader whose fill lock was lost does not overwrite the newer value", async (cache) => {
    const other = await open({ keyPrefix: cache.keyPrefix });
    try {
      const slow = gate();
      const first = cache.getOrSet("fenced", async () => {
        await slow.opened;
        return "old";
      }, { ttlMs: 60_000 });
      await whileLoading(cache, "fenced");
      // The first loader stalls past its lock (a long pause): the lock is gone.
      await cache.raw().call("DEL", fillKey(cache, "fenced"));
      assert.equal(await other.getOrSet("fenced", () => "new", { ttlMs: 60_000 }), "new");
      slow.open();
      assert.equal(await first, "old");
      assert.equal(await cache.get("fenced"), "new");
      assert.equal(await other.getOrSet("fenced", () => "never"), "new");
    } finally {
      await other.close();
    }
  });

  it("getOrSet: a delete during a load keeps what the loader read before it out of the cache", async (cache) => {
    const slow = gate();
    const before = cache.getOrSet("deleted", async () => {
      await slow.opened;
      return "read before the delete";
    });
    await whileLoading(cache, "deleted");
    await cache.delete("deleted");
    // A caller after the delete does not join the old load.
    const after = cache.getOrSet("deleted", () => "read after the delete");
    slow.open();
    assert.equal(await after, "read after the delete");
    assert.equal(await before, "read before the delete");
    assert.equal(await cache.get("deleted"), "read after the delete");
  });

  it("getOrSet: a set during a load or a refresh wins over the loaded value", async (cache) => {
    const slow = gate();
    const loading = cache.getOrSet("written", async () => {
      await slow.opened;
      return "loaded";
    });
    await whileLoading(cache, "written");
    await cache.set("written", "explicit");
    slow.open();
    assert.equal(await loading, "loaded");
    assert.equal(await cache.get("written"), "explicit");

    const options = { ttlMs: 100, staleWhileRevalidateMs: 60_000, jitter: 0 };
    assert.equal(await cache.getOrSet("news", () => "v1", options), "v1");
    await sleep(150);
    const refresh = gate();
    const stale = await cache.getOrSet("news", async () => {
      await refresh.opened;
      return "refreshed";
    }, options);
    assert.equal(stale, "v1");
    await whileLoading(cache, "news");
    await cache.set("news", "explicit");
    refresh.open();
    await waitUntil(
      async () => Number(await cache.raw().call("EXISTS", fillKey(cache, "news"))) === 0,
      {
        timeoutMs: 5_000,
        what: "the refresh to finish",
      },
    );
    assert.equal(await cache.get("news"), "explicit");
  });

  it("getOrSet: a script writing the key during a load is a write: later callers do not join the load", async (cache) => {
    const script = cache.script("return redis.call('SET', KEYS[1], ARGV[1])", {
      keys: 1,
      memory: (redis, keys, args) => redis.call("SET", keys[0], args[0]),
    });
    const slow = gate();
    const loading = cache.getOrSet("scripted", async () => {
      await slow.opened;
      return "loaded";
    });
    await whileLoading(cache, "scripted");
    await script.run(["scripted"], ['"explicit"']);
    const later = cache.getOrSet("scripted", () => "never");
    slow.open();
    assert.equal(await loading, "loaded");
    assert.equal(await later, "explicit");
    assert.equal(await cache.get("scripted"), "explicit");
  });

  it("getOrSet: waiting longer than waitTimeoutMs for another process's load is a Timeout", async (cache) => {
    // Another process holds the fill lock (and died, or is slow): it lives 3 s.
    await cache.raw().call("SET", fillKey(cache, "held"), "someone-else", "PX", 3_000);
    let loads = 0;
    const started = Date.now();
    const error = await rejectsWith(
      cache.getOrSet("held", () => ++loads, { waitTimeoutMs: 300 }),
      "Timeout",
    );
    const waited = Date.now() - started;
    assert.ok(waited >= 300 && waited < 2_000, `waited ${waited} ms`);
    assert.match(error.message, /300 ms/);
    assert.equal(loads, 0);
  });

  it("getOrSet with an aborted signal rejects that caller only", async (cache) => {
    const controller = new AbortController();
    const slow = async () => {
      await sleep(100);
      return "v";
    };
    const aborted = cache.getOrSet("k", slow, { signal: controller.signal });
    const other = cache.getOrSet("k", slow);
    controller.abort();
    await rejectsWith(aborted, "Aborted");
    assert.equal(await other, "v");
  });

  // --- getOrSet fail-safe: grace, back-off, soft and hard timeouts, per-caller abort -----

  /** Options under which "v1" is loaded and expires after 100 ms, then stays in grace. */
  const graced = { ttlMs: 100, graceMs: 60_000, jitter: 0 };
  const failing = (counter: { loads: number }) => () => {
    counter.loads++;
    return Promise.reject(new Error("database down"));
  };
  /** Loads "v1" under `options` and waits until it expired. */
  const expiredInGrace = async (cache: Cache, key: string, options: GetOrSetOptions = graced) => {
    assert.equal(await cache.getOrSet(key, () => "v1", options), "v1");
    await sleep(150);
  };

  it("getOrSet with graceMs: a loader failing after expiry, within grace, gives the expired value", async (cache) => {
    await expiredInGrace(cache, "user:1");
    const counter = { loads: 0 };
    assert.equal(await cache.getOrSet("user:1", failing(counter), graced), "v1");
    assert.equal(counter.loads, 1, "the expired value was loaded again first");
  });

  it("getOrSet with graceMs: a loader failing once the grace period is over rejects with its error", async (cache) => {
    const options = { ttlMs: 100, graceMs: 150, jitter: 0 };
    await expiredInGrace(cache, "user:1", options);
    await sleep(200); // 350 ms after the load: 100 ms of TTL and 150 of grace are over
    await assert.rejects(
      cache.getOrSet("user:1", failing({ loads: 0 }), options),
      /database down/,
    );
  });

  it("getOrSet: a caller's own graceMs bounds how long ago a fallback may have expired", async (cache) => {
    await expiredInGrace(cache, "user:1");
    await assert.rejects(
      cache.getOrSet("user:1", failing({ loads: 0 }), { ...graced, graceMs: 20 }),
      /database down/,
    );
    assert.equal(await cache.getOrSet("user:1", failing({ loads: 0 }), graced), "v1");
  });

  it("getOrSet without graceMs gets the loader's error even while a value is in another caller's grace", async (cache) => {
    await expiredInGrace(cache, "user:1");
    await assert.rejects(
      cache.getOrSet("user:1", failing({ loads: 0 }), { ttlMs: 100, jitter: 0 }),
      /database down/,
    );
  });

  it("getOrSet: after a failure answered from grace, no process calls the loader for graceBackoffMs", async (cache) => {
    const other = await open({ keyPrefix: cache.keyPrefix });
    try {
      const options = { ...graced, graceBackoffMs: 1_000 };
      await expiredInGrace(cache, "user:1", options);
      const counter = { loads: 0 };
      assert.equal(await cache.getOrSet("user:1", failing(counter), options), "v1");
      const backingOff = await Promise.all([
        cache.getOrSet("user:1", failing(counter), options),
        other.getOrSet("user:1", failing(counter), options),
        other.getOrSet("user:1", () => "v2", options),
      ]);
      assert.deepEqual(backingOff, ["v1", "v1", "v1"]);
      assert.equal(counter.loads, 1);
      await waitUntil(async () => (await other.getOrSet("user:1", () => "v2", options)) === "v2", {
        timeoutMs: 5_000,
        what: "the back-off to end",
      });
      assert.equal(counter.loads, 1);
    } finally {
      await other.close();
    }
  });

  it("getOrSet: past softTimeoutMs the callers get the value in grace and the slow load lands in the background", async (cache) => {
    const options = { ...graced, softTimeoutMs: 50 };
    await expiredInGrace(cache, "news", options);
    const slow = slowLoader(1_000, "v2");
    const started = Date.now();
    const results = await Promise.all([
      cache.getOrSet("news", slow.loader, options),
      cache.getOrSet("news", slow.loader, options),
    ]);
    const waited = Date.now() - started;
    assert.deepEqual(results, ["v1", "v1"]);
    assert.ok(waited < 800, `answered after ${waited} ms`);
    await waitUntil(async () => (await cache.get("news")) === "v2", {
      timeoutMs: 5_000,
      what: "the background load to land",
    });
    assert.equal(slow.loads, 1);
  });

  it("getOrSet: softTimeoutMs does not apply without a value in grace: the callers wait for the load", async (cache) => {
    const slow = slowLoader(200, "v1");
    assert.equal(await cache.getOrSet("news", slow.loader, { ...graced, softTimeoutMs: 20 }), "v1");
  });

  it("getOrSet: a loader past hardTimeoutMs is abandoned: Timeout, its signal aborts, nothing is stored", async (cache) => {
    let signal: AbortSignal | undefined;
    let finished = false;
    const loader = async (context: { signal: AbortSignal }) => {
      signal = context.signal;
      await sleep(400);
      finished = true;
      return "late";
    };
    const started = Date.now();
    const error = await rejectsWith(
      cache.getOrSet("slow", loader, { hardTimeoutMs: 100 }),
      "Timeout",
    );
    assert.ok(Date.now() - started < 350, `failed after ${Date.now() - started} ms`);
    assert.match(error.message, /hardTimeoutMs/);
    assert.equal(signal?.aborted, true);
    await waitUntil(() => finished, { timeoutMs: 5_000, what: "the abandoned loader to end" });
    await sleep(20);
    assert.equal(await cache.exists("slow"), 0);
    assert.equal(await cache.getOrSet("slow", () => "next"), "next", "the lock was released");
  });

  it("getOrSet: a loader past hardTimeoutMs within grace gives the value in grace", async (cache) => {
    const options = { ...graced, hardTimeoutMs: 100 };
    await expiredInGrace(cache, "slow", options);
    assert.equal(await cache.getOrSet("slow", slowLoader(1_000, "late").loader, options), "v1");
  });

  /** A loader that returns "shared" once opened, recording its calls and its signal. */
  const gatedLoader = () => {
    const slow = gate();
    const held = {
      loads: 0,
      signal: undefined as AbortSignal | undefined,
      open: slow.open,
      loader: async (context: { signal: AbortSignal }) => {
        held.loads++;
        held.signal = context.signal;
        await slow.opened;
        return "shared";
      },
    };
    return held;
  };

  it("getOrSet: a caller's signal aborting mid-load stops only its wait; the shared load serves the others and is stored", async (cache) => {
    const other = await open({ keyPrefix: cache.keyPrefix });
    try {
      const controller = new AbortController();
      const held = gatedLoader();
      const aborted = cache.getOrSet("k", held.loader, { signal: controller.signal });
      await whileLoading(cache, "k");
      const sameProcess = cache.getOrSet("k", held.loader);
      const otherProcess = other.getOrSet("k", held.loader);
      controller.abort();
      await rejectsWith(aborted, "Aborted");
      assert.equal(held.signal?.aborted, false);
      held.open();
      assert.deepEqual(await Promise.all([sameProcess, otherProcess]), ["shared", "shared"]);
      assert.equal(held.loads, 1);
      assert.equal(await cache.get("k"), "shared");
    } finally {
      await other.close();
    }
  });

  /** How `promise` settled within `ms`: its value, its error, or "pending". */
  const settledWithin = (promise: Promise<unknown>, ms: number) =>
    Promise.race([
      promise.then((value) => ({ value }), (error) => ({ error })),
      sleep(ms).then(() => "pending" as const),
    ]);

  it("getOrSet: a caller joining a load with a shorter hardTimeoutMs gives up alone; the load goes on", async (cache) => {
    const held = gatedLoader();
    const first = cache.getOrSet("k", held.loader);
    await whileLoading(cache, "k");
    const started = Date.now();
    const joined = await settledWithin(
      cache.getOrSet("k", held.loader, { hardTimeoutMs: 100 }),
      2_000,
    );
    assert.ok(typeof joined === "object" && "error" in joined, `the joiner ${String(joined)}`);
    assert.ok(InfraError.is(joined.error, "Timeout"), String(joined.error));
    assert.match((joined.error as Error).message, /hardTimeoutMs/);
    assert.ok(Date.now() - started < 1_000, `gave up after ${Date.now() - started} ms`);
    assert.equal(held.signal?.aborted, false, "the shared loader goes on");
    held.open();
    assert.equal(await first, "shared");
    assert.equal(held.loads, 1);
    assert.equal(await cache.get("k"), "shared");
  });

  it("getOrSet: a caller with its own graceMs gets the fallback while one without grace gets the error", async (cache) => {
    await expiredInGrace(cache, "user:1");
    const slow = gate();
    const failingLater = async () => {
      await slow.opened;
      throw new Error("database down");
    };
    const withoutGrace = cache.getOrSet("user:1", failingLater, { ttlMs: 100, jitter: 0 });
    await whileLoading(cache, "user:1");
    const withGrace = cache.getOrSet("user:1", failingLater, graced);
    slow.open();
    await assert.rejects(withoutGrace, /database down/);
    assert.equal(await withGrace, "v1");
  });

  it("getOrSet: a caller with its own softTimeoutMs gets the value in grace while others wait for the slow load", async (cache) => {
    await expiredInGrace(cache, "news");
    const slow = slowLoader(600, "v2");
    const patient = cache.getOrSet("news", slow.loader, graced);
    await whileLoading(cache, "news");
    const started = Date.now();
    const hurried = await settledWithin(
      cache.getOrSet("news", slow.loader, { ...graced, softTimeoutMs: 50 }),
      450,
    );
    assert.deepEqual(hurried, { value: "v1" }, `after ${Date.now() - started} ms`);
    assert.equal(await patient, "v2");
    assert.equal(slow.loads, 1);
  });

  it("getOrSet: a loader returning not-found during grace replaces the expired value with a cached not-found", async (cache) => {
    const options = { ...graced, negativeTtlMs: 60_000 };
    await expiredInGrace(cache, "ghost", options);
    assert.equal(await cache.getOrSet("ghost", () => undefined, options), undefined);
    assert.equal(await cache.get("ghost"), undefined);
    assert.equal(await cache.getOrSet("ghost", () => "never", options), undefined);
  });

  it("delete ends grace: a deleted value is never served as a fallback", async (cache) => {
    await expiredInGrace(cache, "user:1");
    assert.equal(await cache.delete("user:1"), 1);
    await assert.rejects(cache.getOrSet("user:1", failing({ loads: 0 }), graced), /database down/);
    assert.equal(await cache.getOrSet("fresh", () => "v1", graced), "v1");
    assert.deepEqual(await cache.pipeline().delete("fresh").exec(), [1]);
    await sleep(150);
    await assert.rejects(cache.getOrSet("fresh", failing({ loads: 0 }), graced), /database down/);
  });

  it("expire ends grace: the value is fresh for the new TTL, then gone without a fallback", async (cache) => {
    const options = { ttlMs: 60_000, graceMs: 60_000, jitter: 0 };
    assert.equal(await cache.getOrSet("user:1", () => "v1", options), "v1");
    assert.equal(await cache.expire("user:1", 200), true);
    const left = (await cache.ttl("user:1"))!;
    assert.ok(left > 0 && left <= 200, `the key's whole life is the new TTL: ${left}`);
    const counter = { loads: 0 };
    assert.equal(await cache.getOrSet("user:1", failing(counter), options), "v1", "fresh");
    assert.equal(counter.loads, 0);
    await sleep(300);
    await assert.rejects(cache.getOrSet("user:1", failing(counter), options), /database down/);
    // The same through a pipeline, and for a value already in grace.
    await expiredInGrace(cache, "user:2");
    assert.deepEqual(await cache.pipeline().expire("user:2", 100).exec(), [true]);
    await sleep(200);
    await assert.rejects(cache.getOrSet("user:2", failing(counter), graced), /database down/);
  });

  it("a value written by set is fresh for its whole TTL to getOrSet with graceMs", async (cache) => {
    const options = { ttlMs: 60_000, graceMs: 3_600_000, jitter: 0 };
    assert.equal(await cache.getOrSet("user:1", () => "loaded", options), "loaded");
    await cache.set("user:1", "explicit", { ttlMs: 60_000 });
    let loads = 0;
    assert.equal(await cache.getOrSet("user:1", () => ++loads, options), "explicit");
    assert.equal(loads, 0);
  });

  it("a write that leaves a value in grace as it was keeps its grace: a set ifAbsent, a failed increment, a read-only script", async (cache) => {
    const read = cache.script("return redis.call('GET', KEYS[1])", {
      keys: 1,
      memory: (redis, keys) => redis.call("GET", keys[0]),
    });
    const writes: [string, () => Promise<unknown>][] = [
      ["{g}:ifAbsent", () => cache.set("{g}:ifAbsent", "other", { ifAbsent: true })],
      ["{g}:increment", () => cache.increment("{g}:increment").catch(() => {})],
      ["{g}:script", () => read.run(["{g}:script"])],
      ["{g}:pipeline", () => cache.pipeline().set("{g}:pipeline", 1, { ifAbsent: true }).exec()],
    ];
    for (const [key] of writes) assert.equal(await cache.getOrSet(key, () => "v1", graced), "v1");
    await sleep(150);
    for (const [key, write] of writes) {
      await write();
      await sleep(5); // anything the write sent behind it has landed
      const counter = { loads: 0 };
      assert.equal(await cache.getOrSet(key, failing(counter), graced), "v1", key);
      assert.equal(counter.loads, 1, `${key}: the expired value is not served as fresh`);
    }
  });

  it("a conditional set that writes ends grace: the value is fresh for its whole TTL", async (cache) => {
    await expiredInGrace(cache, "user:1");
    assert.equal(await cache.set("user:1", "explicit", { ifPresent: true, ttlMs: 60_000 }), true);
    let loads = 0;
    assert.equal(await cache.getOrSet("user:1", () => ++loads, graced), "explicit");
    assert.equal(loads, 0);
  });

  it("getOrSet with graceMs keeps the value in Redis for its TTL plus the grace period", async (cache) => {
    await cache.getOrSet("user:1", () => "v1", { ttlMs: 10_000, graceMs: 50_000, jitter: 0 });
    const left = (await cache.ttl("user:1"))!;
    assert.ok(left > 59_000 && left <= 60_000, `ttl ${left}`);
  });

  it("getOrSet's fail-safe options are checked: InvalidArgument names the field", async (cache) => {
    const refused: [GetOrSetOptions, string][] = [
      [{ graceMs: -1 }, "graceMs"],
      [{ graceBackoffMs: 1.5 }, "graceBackoffMs"],
      [{ softTimeoutMs: -5 }, "softTimeoutMs"],
      [{ hardTimeoutMs: Number.NaN }, "hardTimeoutMs"],
      [{ softTimeoutMs: 200, hardTimeoutMs: 100 }, "hardTimeoutMs"],
      // Longer than a timer holds, as in the config.
      [{ softTimeoutMs: 2 ** 31 }, "softTimeoutMs"],
      [{ lockTtlMs: 2 ** 31 * 3 }, "lockTtlMs"],
      [{ graceMs: 2 ** 31 }, "graceMs"],
    ];
    let loads = 0;
    for (const [options, field] of refused) {
      const error = await rejectsWith(
        cache.getOrSet("k", () => ++loads, options),
        "InvalidArgument",
      );
      assert.equal(error.details.field, field, error.message);
    }
    assert.equal(loads, 0);
    for (
      const [getOrSet, field] of [
        [{ graceMs: -1 }, "getOrSet.graceMs"],
        [{ softTimeoutMs: 200, hardTimeoutMs: 200 }, "getOrSet.hardTimeoutMs"],
      ] as const
    ) {
      const error = await rejectsWith(cache.hotReload({ getOrSet }), "InvalidArgument");
      assert.equal(error.details.field, field, error.message);
    }
  });

  it("hotReload of the getOrSet fail-safe defaults applies to the next calls", async (cache) => {
    await cache.hotReload({ getOrSet: { graceMs: 60_000, jitter: 0 } });
    await expiredInGrace(cache, "user:1", { ttlMs: 100 });
    assert.equal(await cache.getOrSet("user:1", failing({ loads: 0 }), { ttlMs: 100 }), "v1");
  });

  // --- hot reload ------------------------------------------------------------------------

  it(
    "hotReload applies new TTLs and getOrSet defaults at once and keeps the data",
    async (cache) => {
      await cache.set("before", "kept");
      const lock = await cache.tryLock("res", { ttlMs: 60_000 });
      assert.ok(lock);
      await cache.hotReload({ defaultTtlMs: 5_000, getOrSet: { negativeTtlMs: 0, jitter: 0 } });
      await cache.set("after", 1);
      const left = await cache.ttl("after");
      assert.ok(left !== undefined && left > 4_000 && left <= 5_000, `ttl ${left}`);
      assert.equal(await cache.get("before"), "kept");
      assert.equal(
        await cache.tryLock("res", { ttlMs: 1_000 }),
        undefined,
        "the lock is still held",
      );
      let loads = 0;
      await cache.getOrSet("ghost", () => void loads++);
      await cache.getOrSet("ghost", () => void loads++);
      assert.equal(loads, 2, "negativeTtlMs 0 now: not-found is not cached");
      for (let i = 0; i < 5; i++) {
        await cache.getOrSet(`loaded${i}`, () => i, { ttlMs: 1_000_000 });
        const ttl = (await cache.ttl(`loaded${i}`))!;
        assert.ok(ttl > 999_000, `jitter 0 now: ${ttl} is the full TTL (it was up to 5 % less)`);
      }
      // Fields left out keep their values.
      await cache.hotReload({ getOrSet: { jitter: 0.5 } });
      await cache.set("later", 1);
      assert.ok((await cache.ttl("later"))! <= 5_000);
      assert.equal(await lock.release(), true);
    },
    { defaultTtlMs: 60_000 },
  );

  it(
    "hotReload refuses a new prefix, codec or bad value with InvalidArgument naming it, and changes nothing",
    async (cache) => {
      const refused: [Record<string, unknown>, string][] = [
        [{ keyPrefix: "elsewhere:", defaultTtlMs: 5_000 }, "keyPrefix"],
        [{ codec: "string", defaultTtlMs: 5_000 }, "codec"],
        [{ defaultTtlMs: -1 }, "defaultTtlMs"],
        [{ defaultTtlMs: 5_000, getOrSet: { jitter: 2 } }, "getOrSet.jitter"],
        [{ defaultTtlMs: 5_000, ttl: 5 }, "ttl"],
      ];
      for (const [config, field] of refused) {
        const error = await rejectsWith(cache.hotReload(config), "InvalidArgument");
        assert.equal(error.details.field, field, error.message);
      }
      // The old config is in force.
      await cache.set("k", 1);
      const left = await cache.ttl("k");
      assert.ok(left !== undefined && left > 50_000, `ttl ${left}`);
      assert.equal(cache.key("k"), `${cache.keyPrefix}k`);
      const controller = new AbortController();
      controller.abort();
      await rejectsWith(
        cache.hotReload({ defaultTtlMs: 5_000 }, { signal: controller.signal }),
        "Aborted",
      );
      await cache.set("k", 1);
      assert.ok((await cache.ttl("k"))! > 50_000);
      await cache.close();
      await rejectsWith(cache.hotReload({ defaultTtlMs: 5_000 }), "Closed");
    },
    { defaultTtlMs: 60_000 },
  );

  // --- tags ------------------------------------------------------------------------------

  const tagged = (tags: string[]) => ({ ttlMs: 60_000, tags });

  it("deleteByTag makes get of an entry set with that tag a miss and spares other tags", async (cache) => {
    await cache.set("profile", { id: 42 }, tagged(["user:42"]));
    await cache.set("other", { id: 7 }, tagged(["user:7"]));
    assert.deepEqual(await cache.get("profile"), { id: 42 });
    await cache.deleteByTag(["user:42"]);
    assert.equal(await cache.get("profile"), undefined);
    assert.deepEqual(await cache.get("other"), { id: 7 });
  });

  it("deleteByTag of any one of an entry's tags invalidates it", async (cache) => {
    await cache.set("post", "hello", tagged(["user:42", "feed"]));
    await cache.deleteByTag("feed");
    assert.equal(await cache.get("post"), undefined);
  });

  it("a tag-invalidated entry is missing to exists, ttl, expire and delete, though still in Redis", async (cache) => {
    await cache.set("{x}:a", 1, tagged(["t"]));
    await cache.set("{x}:b", 2, tagged(["u"]));
    await cache.set("{x}:c", 3);
    await cache.deleteByTag(["t"]);
    assert.equal(await cache.exists(["{x}:a", "{x}:b", "{x}:c", "{x}:a"]), 2);
    assert.equal(await cache.exists("{x}:a"), 0);
    assert.equal(await cache.ttl("{x}:a"), undefined);
    assert.ok((await cache.ttl("{x}:b"))! > 50_000);
    assert.equal(await cache.expire("{x}:a", 30_000), false);
    assert.equal(await cache.expire("{x}:b", 30_000), true);
    // Lazy: the entry stays in Redis until it expires (raw reads see it).
    assert.equal(await cache.raw().call("EXISTS", cache.key("{x}:a")), 1);
    const results = await cache.pipeline()
      .exists("{x}:a").exists("{x}:b").ttl("{x}:a").expire("{x}:a", 1_000).exec();
    assert.deepEqual(results, [false, true, undefined, false]);
    assert.equal(await cache.delete(["{x}:a", "{x}:b", "{x}:c"]), 2);
    assert.equal(await cache.raw().call("EXISTS", cache.key("{x}:a")), 0, "delete removed it");
    await cache.set("{x}:d", 4, tagged(["t"]));
    await cache.deleteByTag("t");
    assert.deepEqual(await cache.pipeline().delete("{x}:d").exec(), [0]);
  });

  it("a conditional set takes a tag-invalidated entry for a missing one, directly and in pipelines", async (cache) => {
    await cache.set("k", "old", tagged(["t"]));
    assert.equal(await cache.set("k", "x", { ifAbsent: true }), false, "valid: present");
    assert.equal(await cache.set("k", "y", { ifPresent: true, ttlMs: 60_000 }), true);
    assert.equal(await cache.get("k"), "y");
    await cache.set("k", "old", tagged(["t"]));
    await cache.deleteByTag(["t"]);
    assert.equal(await cache.set("k", "z", { ifPresent: true }), false, "invalidated: missing");
    assert.equal(await cache.raw().call("GET", cache.key("k")) !== '"z"', true);
    assert.equal(await cache.set("k", "new", { ifAbsent: true, ttlMs: 60_000 }), true);
    assert.equal(await cache.get("k"), "new");
    // A tagged conditional set over an invalidated entry of the same tag.
    await cache.set("k2", "old", tagged(["t"]));
    await cache.deleteByTag(["t"]);
    assert.equal(await cache.set("k2", "new", { ...tagged(["t"]), ifAbsent: true }), true);
    assert.equal(await cache.get("k2"), "new");
    await cache.deleteByTag(["t"]);
    const results = await cache.pipeline()
      .set("k2", "p1", { ifPresent: true })
      .set("k2", "p2", { ifAbsent: true, ttlMs: 60_000 })
      .get("k2")
      .exec();
    assert.equal(results[0], false);
    assert.equal(results[1], true);
    assert.equal(await cache.get("k2"), "p2");
  });

  it("expire refuses a TTL that would let a tagged entry outlive its tags", async (cache) => {
    await cache.set("k", 1, tagged(["t"]));
    for (const ttl of [0, 31 * 24 * 3_600_000]) {
      const error = await rejectsWith(cache.expire("k", ttl), "InvalidArgument");
      assert.equal(error.details.field, "ttlMs");
      await assert.rejects(cache.pipeline().expire("k", ttl).exec(), (e: unknown) => {
        assert.ok(InfraError.is(e, "InvalidArgument"), String(e));
        return true;
      });
    }
    const left = (await cache.ttl("k"))!;
    assert.ok(left > 50_000 && left <= 60_000, `unchanged: ${left}`);
    assert.equal(await cache.expire("k", 10_000), true);
    // Once invalidated it is missing: nothing to refuse.
    await cache.deleteByTag("t");
    assert.equal(await cache.expire("k", 0), false);
  });

  it("an entry written after deleteByTag of its tag is valid", async (cache) => {
    await cache.set("k", "old", tagged(["t"]));
    await cache.deleteByTag(["t"]);
    await cache.set("k", "new", tagged(["t"]));
    assert.equal(await cache.get("k"), "new");
  });

  it("a set without tags over a tagged entry is not invalidated by its old tags", async (cache) => {
    await cache.set("k", "tagged", tagged(["t"]));
    await cache.set("k", "plain", { ttlMs: 60_000 });
    await cache.deleteByTag(["t"]);
    assert.equal(await cache.get("k"), "plain");
  });

  it("getMany and pipeline get read tag-invalidated entries as misses", async (cache) => {
    await cache.set("{g}:a", "a", tagged(["t"]));
    await cache.set("{g}:b", "b", tagged(["u"]));
    await cache.set("{g}:c", "c");
    await cache.deleteByTag(["t"]);
    assert.deepEqual(await cache.getMany(["{g}:a", "{g}:b", "{g}:c"]), [undefined, "b", "c"]);
    const results = await cache.pipeline().get("{g}:a").get("{g}:b").get("{g}:c").exec();
    assert.deepEqual(results, [undefined, "b", "c"]);
  });

  it("getOrSet loads a tag-invalidated entry again, once for concurrent callers", async (cache) => {
    let loads = 0;
    const load = () => ({ version: ++loads });
    assert.deepEqual(await cache.getOrSet("user", load, tagged(["user:1"])), { version: 1 });
    await cache.deleteByTag(["user:1"]);
    const values = await Promise.all(
      Array.from({ length: 20 }, () => cache.getOrSet("user", load, tagged(["user:1"]))),
    );
    assert.ok(values.every((value) => (value as { version: number }).version === 2));
    assert.equal(loads, 2);
    assert.deepEqual(await cache.get("user"), { version: 2 });
  });

  it("getOrSet: an entry loaded while deleteByTag ran counts as written before it", async (cache) => {
    let loads = 0;
    const options = tagged(["t"]);
    const first = await cache.getOrSet("k", async () => {
      loads++;
      await cache.deleteByTag(["t"]); // the data changed while it was being read
      return "read before the invalidation";
    }, options);
    assert.equal(first, "read before the invalidation");
    assert.equal(await cache.getOrSet("k", () => (loads++, "fresh"), options), "fresh");
    assert.equal(loads, 2);
  });

  it("getOrSet: after deleteByTag, callers in two processes load the entry once", async (cache) => {
    const other = await open({ keyPrefix: cache.keyPrefix });
    try {
      let loads = 0;
      const load = async () => {
        loads++;
        await sleep(50);
        return "new";
      };
      await cache.getOrSet("k", () => "old", tagged(["t"]));
      await cache.deleteByTag(["t"]);
      const values = await Promise.all([
        cache.getOrSet("k", load, tagged(["t"])),
        other.getOrSet("k", load, tagged(["t"])),
      ]);
      assert.deepEqual(values, ["new", "new"]);
      assert.equal(loads, 1);
    } finally {
      await other.close();
    }
  });

  it("getOrSet after deleteByTag does not join a load of that tag that began before it", async (cache) => {
    const slow = gate();
    const before = cache.getOrSet("k", async () => {
      await slow.opened;
      return "read before the invalidation";
    }, tagged(["t"]));
    await whileLoading(cache, "k");
    await cache.deleteByTag(["t"]);
    const after = cache.getOrSet("k", () => "read after it", tagged(["t"]));
    slow.open();
    assert.equal(await before, "read before the invalidation");
    assert.equal(await after, "read after it");
    assert.equal(await cache.get("k"), "read after it");
  });

  it("getOrSet: a cached not-found of a tagged call ends with deleteByTag of its tag", async (cache) => {
    const options = { ...tagged(["user:9"]), negativeTtlMs: 60_000 };
    assert.equal(await cache.getOrSet("user:9", () => undefined, options), undefined);
    assert.equal(await cache.getOrSet("user:9", () => "created", options), undefined);
    await cache.deleteByTag(["user:9"]);
    assert.equal(await cache.getOrSet("user:9", () => "created", options), "created");
  });

  it("getOrSet with graceMs serves a tag-invalidated entry when the loader fails", async (cache) => {
    const options = { ttlMs: 60_000, graceMs: 60_000, tags: ["t"] };
    await cache.getOrSet("k", () => "kept", options);
    await cache.deleteByTag(["t"]);
    assert.equal(
      await cache.getOrSet("k", () => {
        throw new Error("database down");
      }, options),
      "kept",
    );
  });

  it("getOrSet without grace rejects with the loader's error for a tag-invalidated entry", async (cache) => {
    await cache.getOrSet("k", () => "old", tagged(["t"]));
    await cache.deleteByTag(["t"]);
    await assert.rejects(
      cache.getOrSet("k", () => {
        throw new Error("database down");
      }, tagged(["t"])),
      /database down/,
    );
  });

  it("deleteByTag on one cache instance invalidates the entries another one reads", async (cache) => {
    const other = await open({ keyPrefix: cache.keyPrefix });
    try {
      await cache.set("k", "v", tagged(["t"]));
      assert.equal(await other.get("k"), "v");
      await other.deleteByTag(["t"]);
      assert.equal(await cache.get("k"), undefined);
      assert.equal(await cache.getOrSet("k", () => "reloaded", tagged(["t"])), "reloaded");
      assert.equal(await other.get("k"), "reloaded");
    } finally {
      await other.close();
    }
  });

  it("untagged string and bytes values that begin with the tag mark byte round-trip", async (cache) => {
    await cache.set("s", "\x01[]\x01looks tagged", { codec: "string" });
    assert.equal(await cache.get("s", { codec: "string" }), "\x01[]\x01looks tagged");
    const bytes = new Uint8Array([1, 0x5b, 0x5d, 1, 9]);
    await cache.set("b", bytes, { codec: "bytes" });
    assert.deepEqual([...(await cache.get<Uint8Array>("b", { codec: "bytes" }))!], [...bytes]);
    await cache.setMany({ "{m}:s": "\x01x" }, { codec: "string" });
    assert.deepEqual(await cache.getMany(["{m}:s"], { codec: "string" }), ["\x01x"]);
  });

  it("tagged values round-trip in the bytes and string codecs", async (cache) => {
    const bytes = new Uint8Array([0, 1, 255]);
    await cache.set("b", bytes, { ...tagged(["t"]), codec: "bytes" });
    assert.deepEqual([...(await cache.get<Uint8Array>("b", { codec: "bytes" }))!], [...bytes]);
    const loaded = await cache.getOrSet("s", () => "text", { ...tagged(["t"]), codec: "string" });
    assert.equal(loaded, "text");
    assert.equal(await cache.get("s", { codec: "string" }), "text");
    await cache.deleteByTag(["t"]);
    assert.equal(await cache.get("b", { codec: "bytes" }), undefined);
    assert.equal(await cache.get("s", { codec: "string" }), undefined);
    const reloaded = await cache.getOrSet("b", () => new Uint8Array([7]), {
      ...tagged(["t"]),
      codec: "bytes",
    });
    assert.deepEqual([...reloaded!], [7]);
  });

  it("deleteByTag with an aborted signal invalidates nothing", async (cache) => {
    await cache.set("k", "v", tagged(["t"]));
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(cache.deleteByTag(["t"], { signal: controller.signal }), "Aborted");
    assert.equal(await cache.get("k"), "v");
  });

  it("bad tags are InvalidArgument and write nothing", async (cache) => {
    const bad: unknown[] = [
      [],
      [""],
      [42],
      "not an array",
      Array.from({ length: 65 }, (_, i) => `t${i}`),
      [
        "x".repeat(257),
      ],
    ];
    for (const tags of bad) {
      await rejectsWith(
        cache.set("k", 1, { ttlMs: 1_000, tags: tags as string[] }),
        "InvalidArgument",
      );
      await rejectsWith(
        cache.getOrSet("k", () => 1, { ttlMs: 1_000, tags: tags as string[] }),
        "InvalidArgument",
      );
      if (typeof tags !== "string") {
        await rejectsWith(cache.deleteByTag(tags as string[]), "InvalidArgument");
      }
    }
    await rejectsWith(cache.set("k", 1, { ttlMs: 0, tags: ["t"] }), "InvalidArgument");
    await rejectsWith(cache.set("k", 1, { keepTtl: true, tags: ["t"] }), "InvalidArgument");
    await rejectsWith(
      cache.getOrSet("k", () => 1, { ttlMs: 31 * 24 * 3_600_000, tags: ["t"] }),
      "InvalidArgument",
    );
    assert.throws(
      () => cache.pipeline().set("k", 1, { tags: ["t"] } as unknown as { ttlMs: number }),
      (error: unknown) => InfraError.is(error, "InvalidArgument"),
    );
    assert.equal(await cache.exists("k"), 0);
    await rejectsWith(cache.deleteByTag(undefined as unknown as string[]), "InvalidArgument");
  });

  it("setMany takes tags for every entry, across slots", async (cache) => {
    await cache.setMany({ a: 1, b: 2, c: 3 }, tagged(["batch"]));
    await cache.setMany({ d: 4 }, tagged(["other"]));
    assert.deepEqual(await cache.getMany(["a", "b", "c", "d"]), [1, 2, 3, 4]);
    await cache.deleteByTag("batch");
    assert.deepEqual(await cache.getMany(["a", "b", "c", "d"]), [
      undefined,
      undefined,
      undefined,
      4,
    ]);
    assert.equal(await cache.exists(["a", "b", "c", "d"]), 1);
    await cache.setMany([["a", "again"]], tagged(["batch"]));
    assert.equal(await cache.get("a"), "again");
    for (const options of [{ ttlMs: 0, tags: ["t"] }, { ttlMs: 1_000, tags: [] }]) {
      await rejectsWith(cache.setMany({ e: 5 }, options), "InvalidArgument");
    }
    assert.equal(await cache.exists("e"), 0);
  });

  it("collections and counters refuse tags with InvalidArgument and write nothing", async (cache) => {
    const tags = { tags: ["t"] } as Record<string, unknown>;
    const calls: [string, () => Promise<unknown>][] = [
      ["hashes.set", () => cache.hashes.set("h", { f: 1 }, tags)],
      ["hashes.increment", () => cache.hashes.increment("h", "f", 1, tags)],
      ["sets.add", () => cache.sets.add("s", ["m"], tags)],
      ["sortedSets.add", () => cache.sortedSets.add("z", [{ member: "m", score: 1 }], tags)],
      ["sortedSets.increment", () => cache.sortedSets.increment("z", "m", 1, tags)],
      ["increment", () => cache.increment("n", 1, tags)],
      ["pipeline.hashSet", () => cache.pipeline().hashSet("h", { f: 1 }, tags).exec()],
      ["pipeline.setAdd", () => cache.pipeline().setAdd("s", ["m"], tags).exec()],
      [
        "pipeline.sortedSetAdd",
        () => cache.pipeline().sortedSetAdd("z", [{ member: "m", score: 1 }], tags).exec(),
      ],
    ];
    for (const [what, call] of calls) {
      let error: unknown;
      try {
        await call();
      } catch (e) {
        error = e;
      }
      assert.ok(InfraError.is(error, "InvalidArgument"), `${what}: ${error}`);
      assert.equal((error as InfraError).details.field, "tags", what);
    }
    assert.equal(await cache.exists(["h", "s", "z", "n"]), 0);
  });

  it("tags belong to a namespace: deleteByTag elsewhere leaves its entries alone", async (cache) => {
    const users = cache.namespace("users");
    await users.set("1", "ada", tagged(["t"]));
    await cache.set("1", "root", tagged(["t"]));
    await cache.deleteByTag(["t"]);
    assert.equal(await users.get("1"), "ada");
    assert.equal(await cache.get("1"), undefined);
    await users.deleteByTag(["t"]);
    assert.equal(await users.get("1"), undefined);
  });

  // --- namespaces ------------------------------------------------------------------------

  it("a namespace's keys are its own: a root key named name:key is another key", async (cache) => {
    const users = cache.namespace("users");
    assert.equal(users.name, "users");
    assert.ok(users.key("1").startsWith(cache.keyPrefix), users.key("1"));
    assert.notEqual(users.key("1"), cache.key("users:1"));
    await users.set("1", { name: "Ada" });
    await cache.set("users:1", "root");
    assert.deepEqual(await users.get("1"), { name: "Ada" });
    assert.equal(await cache.get("users:1"), "root");
    const admins = users.namespace("admins");
    assert.equal(admins.name, "users:admins");
    await admins.set("2", "Grace");
    await users.set("admins:2", "not nested");
    assert.equal(await admins.get("2"), "Grace");
    assert.equal(await users.get("admins:2"), "not nested");
  });

  it("clear drops every key of the namespace and of its nested namespaces, and nothing else", async (cache) => {
    const users = cache.namespace("users");
    await users.set("1", "ada", { ttlMs: 60_000 });
    await users.hashes.set("h", { a: 1 });
    await users.increment("count");
    await users.namespace("admins").set("2", "grace");
    const lock = await users.tryLock("1", { ttlMs: 60_000 });
    assert.ok(lock);
    await cache.set("users2:1", "not in the namespace");
    await cache.namespace("users2").set("1", "another namespace");
    await cache.set("other", "kept");
    // Root keys that look like the namespace's, and a root lock on one of them.
    await cache.set("users:1", "root");
    await cache.set("users:admins:2", "root too");
    const rootLock = await cache.tryLock("users:1", { ttlMs: 60_000 });
    assert.ok(rootLock);
    await users.clear();
    assert.equal(await users.exists(["1", "h", "count"]), 0);
    assert.equal(await users.namespace("admins").exists("2"), 0);
    assert.ok(await users.tryLock("1", { ttlMs: 1_000 }), "the namespace's lock went too");
    assert.equal(await cache.get("users2:1"), "not in the namespace");
    assert.equal(await cache.namespace("users2").get("1"), "another namespace");
    assert.equal(await cache.get("other"), "kept");
    assert.equal(await cache.get("users:1"), "root");
    assert.equal(await cache.get("users:admins:2"), "root too");
    assert.equal(await cache.tryLock("users:1", { ttlMs: 1_000 }), undefined, "root lock kept");
    assert.equal(await rootLock.release(), true);
  });

  it("keys starting with the cache's reserved mark are InvalidArgument, in namespaces too", async (cache) => {
    for (const target of [cache, cache.namespace("users")]) {
      const error = await rejectsWith(target.set("__gochat_cache:tag:|t", 1), "InvalidArgument");
      assert.equal(error.details.field, "key");
      await rejectsWith(target.get("__gochat_cache:x"), "InvalidArgument");
      await rejectsWith(target.getMany(["a", "__gochat_cache:x"]), "InvalidArgument");
    }
    assert.equal(await cache.set("x__gochat_cache:", 1), true);
  });

  it("clear also ends the namespace's cached not-found entries", async (cache) => {
    const users = cache.namespace("users");
    const options = { ttlMs: 60_000, negativeTtlMs: 60_000 };
    assert.equal(await users.getOrSet("9", () => undefined, options), undefined);
    assert.equal(await users.getOrSet("9", () => "created", options), undefined);
    await users.clear();
    assert.equal(await users.getOrSet("9", () => "created", options), "created");
  });

  it("bad namespace names are InvalidArgument", (cache) => {
    for (const name of ["", "a:b", "{a}", "a*", "x".repeat(65), 42]) {
      assert.throws(
        () => cache.namespace(name as string),
        (error: unknown) => InfraError.is(error, "InvalidArgument"),
        String(name),
      );
    }
    return Promise.resolve();
  });

  // --- lifecycle -------------------------------------------------------------------------

  it("ping answers, and after close every call is Closed and close is idempotent", async (cache) => {
    await cache.ping();
    await cache.close();
    await cache.close();
    await rejectsWith(cache.get("k"), "Closed");
    await rejectsWith(cache.set("k", 1), "Closed");
    await rejectsWith(cache.getOrSet("k", () => 1), "Closed");
    await rejectsWith(cache.ping(), "Closed");
  });
}
