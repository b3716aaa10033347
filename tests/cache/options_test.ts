/**
 * Every public cache method that takes options, on the memory driver: `null` options and a
 * signal that is not an AbortSignal are `InvalidArgument` naming the method and the option,
 * and nothing is written.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { failure } from "../_support/failure.ts";
import { InfraError } from "../../base/mod.ts";
import { type Cache, connect, memory } from "../../cache/mod.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

type Call = (cache: Cache, options: Loose) => unknown;

const lockOptions = (options: Loose) => options === null ? null : { ttlMs: 1_000, ...options };

const methods: [string, Call][] = [
  ["get", (c, o) => c.get("k", o)],
  ["set", (c, o) => c.set("k", "v", o)],
  ["getMany", (c, o) => c.getMany(["k"], o)],
  ["setMany", (c, o) => c.setMany({ k: "v" }, o)],
  ["delete", (c, o) => c.delete("k", o)],
  ["exists", (c, o) => c.exists("k", o)],
  ["expire", (c, o) => c.expire("k", 1_000, o)],
  ["ttl", (c, o) => c.ttl("k", o)],
  ["increment", (c, o) => c.increment("n", 1, o)],
  ["deleteByTag", (c, o) => c.deleteByTag("t", o)],
  ["getOrSet", (c, o) => c.getOrSet("k", () => "v", o)],
  ["tryLock", (c, o) => c.tryLock("k", lockOptions(o))],
  ["lock", (c, o) => c.lock("k", lockOptions(o))],
  ["ping", (c, o) => c.ping(o)],
  ["hotReload", (c, o) => c.hotReload({}, o)],
  ["clear", (c, o) => c.namespace("n").clear(o)],
  ["hashes.get", (c, o) => c.hashes.get("h", "f", o)],
  ["hashes.getMany", (c, o) => c.hashes.getMany("h", ["f"], o)],
  ["hashes.getAll", (c, o) => c.hashes.getAll("h", o)],
  ["hashes.set", (c, o) => c.hashes.set("h", { f: 1 }, o)],
  ["hashes.delete", (c, o) => c.hashes.delete("h", "f", o)],
  ["hashes.has", (c, o) => c.hashes.has("h", "f", o)],
  ["hashes.size", (c, o) => c.hashes.size("h", o)],
  ["hashes.increment", (c, o) => c.hashes.increment("h", "f", 1, o)],
  ["sets.add", (c, o) => c.sets.add("s", ["m"], o)],
  ["sets.remove", (c, o) => c.sets.remove("s", ["m"], o)],
  ["sets.members", (c, o) => c.sets.members("s", o)],
  ["sets.has", (c, o) => c.sets.has("s", "m", o)],
  ["sets.size", (c, o) => c.sets.size("s", o)],
  ["sortedSets.add", (c, o) => c.sortedSets.add("z", [{ member: "m", score: 1 }], o)],
  ["sortedSets.range", (c, o) => c.sortedSets.range("z", 0, -1, o)],
  ["sortedSets.rangeByScore", (c, o) => c.sortedSets.rangeByScore("z", 0, 1, o)],
  ["sortedSets.score", (c, o) => c.sortedSets.score("z", "m", o)],
  ["sortedSets.rank", (c, o) => c.sortedSets.rank("z", "m", o)],
  ["sortedSets.remove", (c, o) => c.sortedSets.remove("z", ["m"], o)],
  ["sortedSets.size", (c, o) => c.sortedSets.size("z", o)],
  ["sortedSets.count", (c, o) => c.sortedSets.count("z", 0, 1, o)],
  ["sortedSets.increment", (c, o) => c.sortedSets.increment("z", "m", 1, o)],
  ["sortedSets.removeByRank", (c, o) => c.sortedSets.removeByRank("z", 0, 1, o)],
  ["sortedSets.removeByScore", (c, o) => c.sortedSets.removeByScore("z", 0, 1, o)],
  ["sortedSets.trim", (c, o) => c.sortedSets.trim("z", 1, o)],
  ["bloom.add", (c, o) => c.bloom("b", bloom).add("x", o)],
  ["bloom.addMany", (c, o) => c.bloom("b", bloom).addMany(["x"], o)],
  ["bloom.has", (c, o) => c.bloom("b", bloom).has("x", o)],
  ["bloom.hasMany", (c, o) => c.bloom("b", bloom).hasMany(["x"], o)],
  ["bloom.clear", (c, o) => c.bloom("b", bloom).clear(o)],
  ["script.run", (c, o) => c.script("return 1", { keys: 0 }).run([], [], o)],
  ["pipeline.exec", (c, o) => c.pipeline().get("k").exec(o)],
];
const bloom = { expectedItems: 100, falsePositiveRate: 0.01 };

// Builders of a pipeline take options without a signal: only null is checked there.
const pipelineBuilders: [string, Call][] = [
  ["pipeline.get", (c, o) => c.pipeline().get("k", o)],
  ["pipeline.set", (c, o) => c.pipeline().set("k", "v", o)],
  ["pipeline.hashSet", (c, o) => c.pipeline().hashSet("h", { f: 1 }, o)],
  ["pipeline.hashGet", (c, o) => c.pipeline().hashGet("h", "f", o)],
  ["pipeline.hashGetAll", (c, o) => c.pipeline().hashGetAll("h", o)],
  ["pipeline.setAdd", (c, o) => c.pipeline().setAdd("s", ["m"], o)],
  ["pipeline.sortedSetAdd", (c, o) => c.pipeline().sortedSetAdd("z", [], o)],
  ["pipeline.sortedSetRange", (c, o) => c.pipeline().sortedSetRange("z", 0, 1, o)],
  ["pipeline.sortedSetTrim", (c, o) => c.pipeline().sortedSetTrim("z", 1, o)],
];

function assertInvalid(error: unknown, message: string, field: string): void {
  assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
  assert.equal((error as InfraError).message, message);
  assert.equal((error as InfraError).details.field, field);
}

test("cache: every method with null options is InvalidArgument naming the method", async () => {
  await using cache = memory();
  for (const [method, call] of [...methods, ...pipelineBuilders]) {
    const error = await failure(() => call(cache, null));
    assertInvalid(error, `cache: ${method} options must be an object, got null`, "options");
  }
});

test("cache: every method with a signal that is not an AbortSignal is InvalidArgument", async () => {
  await using cache = memory();
  for (const [signal, kind] of [[5_000, "number"], [{}, "object"], [null, "null"]] as const) {
    for (const [method, call] of methods) {
      const error = await failure(() => call(cache, { signal }));
      assertInvalid(
        error,
        `cache: ${method} options.signal must be an AbortSignal, got ${kind}`,
        "options.signal",
      );
    }
  }
});

test("cache: a write with bad options writes nothing", async () => {
  await using cache = memory();
  await failure(() => cache.set("k", "v", null as Loose));
  await failure(() => cache.set("k", "v", { signal: 5_000 as Loose }));
  await failure(() => cache.hashes.set("h", { f: 1 }, { signal: {} as Loose }));
  assert.equal(await cache.exists(["k", "h"]), 0);
});

test("cache: memory and connect with dependencies that are not an object are InvalidArgument naming deps", async () => {
  for (const [deps, kind] of [[null, "null"], [5, "number"]] as const) {
    assertInvalid(
      await failure(() => memory({}, deps as Loose)),
      `cache: memory dependencies must be an object, got ${kind}`,
      "deps",
    );
    // Refused before any connection is tried (no server listens on port 1).
    assertInvalid(
      await failure(() => connect({ nodes: ["127.0.0.1:1"] }, deps as Loose)),
      `cache: connect dependencies must be an object, got ${kind}`,
      "deps",
    );
  }
});
