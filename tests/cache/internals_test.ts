/**
 * The Redis driver leans on ioredis internals for speed (the queue sweeper that gives
 * every command its deadline, corked sockets for auto-pipelining). When they are not as
 * expected, at connect or later, it must fall back to ioredis's public API and its own
 * per-command timer: slower, but never hanging, never throwing from a timer.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { InfraError } from "../../base/mod.ts";
import type { Logger } from "../../clog/mod.ts";
import type { Cache } from "../../cache/mod.ts";
import {
  CacheCommand,
  CommandDeadlines,
  probeCommandInternals,
  queueHolds,
} from "../../cache/deadlines.ts";
import { connectWith } from "../../cache/redis.ts";
import { redisCli, startRedis } from "../_support/redis_server.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A logger that keeps its warnings. */
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const logger = {
    name: "cache",
    warnings,
    trace() {},
    debug() {},
    info() {},
    warn(message: string, fields?: unknown) {
      warnings.push(`${message} ${JSON.stringify(fields ?? {})}`);
    },
    error() {},
    fatal() {},
    with: () => logger,
    namespace: () => logger,
    isEnabled: () => true,
  };
  return logger;
}

async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (error) {
    return InfraError.is(error) ? error.code : `not an InfraError: ${error}`;
  }
}

test("internals: the installed ioredis has what the sweeper relies on", () => {
  assert.equal(probeCommandInternals(), undefined);
  const client = new Redis({ lazyConnect: true });
  assert.equal(
    queueHolds([client], new CacheCommand("ping", [], { replyEncoding: "utf8" })),
    false,
  );
  assert.equal(queueHolds([{}], new CacheCommand("ping", [], { replyEncoding: "utf8" })), false);
});

test("internals: a sweeper that meets a changed queue stops, reports once and never throws", () => {
  const shapes: unknown[] = [
    {}, // no commandQueue
    { commandQueue: { length: 1 } }, // no peekAt
    { commandQueue: { length: 1, peekAt: () => "a command, not { command }" } },
    { commandQueue: { length: 1, peekAt: () => ({ cmd: {} }) } },
    {
      commandQueue: {
        length: 1,
        peekAt: () => {
          throw new TypeError("renamed");
        },
      },
    },
  ];
  for (const client of shapes) {
    const reasons: string[] = [];
    const deadlines = new CommandDeadlines(1_000, () => [client], (reason) => reasons.push(reason));
    try {
      deadlines.sweep();
      deadlines.sweep();
      assert.equal(reasons.length, 1, JSON.stringify(client));
    } finally {
      deadlines.stop();
    }
  }
});

async function exercise(cache: Cache, port: number): Promise<void> {
  await cache.set("k", { v: 1 });
  assert.deepEqual(await cache.get("k"), { v: 1 });
  assert.equal(await cache.get("missing"), undefined);
  assert.deepEqual(await cache.get("k", { codec: "bytes" }), new TextEncoder().encode('{"v":1}'));
  const counts = await Promise.all(Array.from({ length: 500 }, () => cache.increment("n")));
  assert.deepEqual(counts, Array.from({ length: 500 }, (_, i) => i + 1));
  assert.equal(await cache.getOrSet("g", () => "loaded"), "loaded");
  const script = cache.script("return redis.call('INCRBY', KEYS[1], ARGV[1])", { keys: 1 });
  assert.equal(await script.run(["s"], [2]), 2);
  assert.deepEqual(await cache.pipeline().get("k").increment("n").exec(), [{ v: 1 }, 501]);
  await cache.set("word", "abc");
  assert.equal(await codeOf(cache.increment("word")), "Conflict");
  // The deadline still holds: a server busy for 1.5 s gives Timeout, not a hang.
  const busy = redisCli(["-p", String(port), "DEBUG", "SLEEP", "1.5"]);
  await sleep(100);
  assert.equal(await codeOf(cache.get("k")), "Timeout");
  await busy;
  assert.deepEqual(await cache.get("k"), { v: 1 });
}

test("internals: with the internals missing at connect, every call works through ioredis's own API and timeouts", async () => {
  const server = await startRedis({ args: ["--enable-debug-command", "yes"] });
  const logger = recordingLogger();
  let cache: Cache | undefined;
  try {
    cache = await connectWith(
      { nodes: [server.node], keyPrefix: "fallback:", commandTimeoutMs: 300 },
      { logger },
      { deadlines: "test: no commandQueue", corking: "test: no stream" },
    );
    assert.equal(logger.warnings.length, 1, logger.warnings.join("\n"));
    assert.match(logger.warnings[0], /commandTimeout.*no commandQueue.*no auto-pipelining/);
    await exercise(cache, server.port);
    assert.equal(logger.warnings.length, 1, "logged once");
  } finally {
    await cache?.close();
    await server.stop();
  }
});

test("internals: a queue that changes shape under a running cache switches it to ioredis's timeouts", async () => {
  const server = await startRedis({ args: ["--enable-debug-command", "yes"] });
  const logger = recordingLogger();
  let cache: Cache | undefined;
  try {
    cache = await connectWith(
      { nodes: [server.node], keyPrefix: "drift:", commandTimeoutMs: 300 },
      { logger },
      {},
    );
    assert.deepEqual(logger.warnings, []);
    // What a patch release could do: queue entries no longer `{ command }`.
    const queue = (cache.raw().native as { commandQueue: { peekAt(i: number): unknown } })
      .commandQueue;
    queue.peekAt = () => "changed";
    const busy = redisCli(["-p", String(server.port), "DEBUG", "SLEEP", "0.5"]);
    await sleep(50);
    // In flight while the sweeper finds out: answered once the server is back.
    assert.equal(await codeOf(cache.get("k")), "ok");
    await busy;
    assert.equal(logger.warnings.length, 1, logger.warnings.join("\n"));
    assert.match(logger.warnings[0], /commandTimeout.*not \{ command \}/);
    await exercise(cache, server.port);
  } finally {
    await cache?.close();
    await server.stop();
  }
});
