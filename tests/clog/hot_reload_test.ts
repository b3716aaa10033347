import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { create } from "../../clog/mod.ts";
import { capture } from "./_capture.ts";

test("a hot reload changes the level of loggers obtained before it", async () => {
  const { root, json } = capture({ level: "info" });
  const child = root.namespace("coord").with({ a: 1 });
  child.debug("hidden");
  await root.hotReload({ level: "debug", sinks: [{ type: "stream", name: "lines" }] });
  child.debug("shown");
  await root.hotReload({ level: "error", sinks: [{ type: "stream", name: "lines" }] });
  child.warn("hidden again");
  assert.deepEqual(json().map((l) => [l.msg, l.a, l.namespace]), [["shown", 1, "coord"]]);
  assert.equal(child.isEnabled("warn"), false);
});

test("a hot reload changes per-namespace levels for loggers obtained before it", async () => {
  const sinks = [{ type: "stream" as const, name: "lines" }];
  const { root, json } = capture({ service: "im-logic", level: "info", sinks });
  const db = root.namespace("db").namespace("pool").with({ pool: 1 });
  const cache = root.namespace("cache");
  db.debug("hidden");
  await root.hotReload({
    service: "im-logic",
    level: "info",
    levels: { "im-logic.db": "debug" },
    sinks,
  });
  db.debug("db debug shown");
  cache.debug("cache still at info");
  assert.equal(db.isEnabled("debug"), true);
  await root.hotReload({ service: "im-logic", level: "info", levels: { db: "error" }, sinks });
  db.warn("db warn hidden");
  assert.deepEqual(json().map((l) => [l.msg, l.namespace, l.pool]), [
    ["db debug shown", "im-logic.db.pool", 1],
  ]);
});

test("a hot reload changes the format", async () => {
  const { root, lines } = capture();
  const logger = root.with({ k: "v" });
  logger.info("as json");
  await root.hotReload({ format: "text", sinks: [{ type: "stream", name: "lines" }] });
  logger.info("as text");
  assert.equal(JSON.parse(lines[0]).k, "v");
  assert.match(lines[1], /INFO {2}as text k=v\n$/);
});

test("a hot reload changes the service root, redaction and truncation", async () => {
  const { root, json } = capture();
  const logger = root.namespace("db");
  logger.info("before", { secret: "s", ssn: "1" });
  await root.hotReload({
    service: "im-repo",
    redactKeys: ["ssn"],
    maxValueLength: 16,
    sinks: [{ type: "stream", name: "lines" }],
  });
  logger.info("after", { secret: "s", ssn: "1", long: "x".repeat(20) });
  const [before, after] = json();
  assert.deepEqual([before.namespace, before.secret, before.ssn], ["db", "[REDACTED]", "1"]);
  assert.deepEqual([after.namespace, after.secret, after.ssn], ["im-repo.db", "s", "[REDACTED]"]);
  assert.equal(after.long, "x".repeat(16) + "…[truncated 4 chars]");
  assert.equal(logger.name, "im-repo.db");
});

test("an invalid config is rejected and the old one stays in force", async () => {
  const { root, json } = capture({ level: "info" });
  await assert.rejects(
    root.hotReload({ level: "loud" as "info", sinks: [{ type: "stream", name: "lines" }] }),
    (error: unknown) => InfraError.is(error, "InvalidArgument"),
  );
  await assert.rejects(
    root.hotReload({ level: "debug", sinks: [{ type: "stream", name: "missing" }] }),
    (error: unknown) => InfraError.is(error, "InvalidArgument"),
  );
  root.debug("hidden");
  root.info("still here");
  assert.deepEqual(json().map((l) => l.msg), ["still here"]);
  assert.equal(root.config?.level, "info");
});

test("a sink kept across a reload keeps its buffered lines, a removed one is flushed", async () => {
  const kept: string[] = [];
  const removed: string[] = [];
  const buffered = { bufferSize: 1000, flushIntervalMs: 60_000 };
  const root = create({
    sinks: [
      { type: "stream", name: "kept", buffered },
      { type: "stream", name: "removed", buffered },
    ],
  }, {
    streams: {
      kept: { write: (text: string) => void kept.push(text) },
      removed: { write: (text: string) => void removed.push(text) },
    },
  });
  root.info("one");
  await root.hotReload({
    level: "debug",
    sinks: [{ type: "stream", name: "kept", buffered, level: "debug" }],
  });
  assert.equal(removed.join("").trimEnd().split("\n").length, 1);
  assert.equal(kept.length, 0);
  root.debug("two");
  await root.close();
  const lines = kept.join("").trimEnd().split("\n").map((l) => JSON.parse(l).msg);
  assert.deepEqual(lines, ["one", "two"]);
});

test("hotReload with options that are not an object, or a signal that is not an AbortSignal, is InvalidArgument naming the option", async () => {
  const { root } = capture();
  try {
    for (
      const [options, field] of [
        [null, "options"],
        [5, "options"],
        [{ signal: 5 }, "options.signal"],
      ] as const
    ) {
      await assert.rejects(
        root.hotReload({ level: "debug" }, options as never),
        (error: unknown) =>
          InfraError.is(error, "InvalidArgument") && error.details?.field === field &&
          /hotReload/.test(error.message),
        `options ${JSON.stringify(options)}`,
      );
    }
    assert.equal(root.config?.level, "trace");
  } finally {
    await root.close();
  }
});

test("hotReload honours an aborted signal and fails after close", async () => {
  const { root } = capture();
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    root.hotReload({ level: "debug" }, { signal: controller.signal }),
    (error: unknown) => InfraError.is(error, "Aborted"),
  );
  await root.close();
  await assert.rejects(
    root.hotReload({ level: "debug" }),
    (error: unknown) => InfraError.is(error, "Closed"),
  );
  assert.equal(root.config, undefined);
});

test("config returns a copy of the config in force", async () => {
  const { root } = capture({ level: "warn" });
  const config = root.config!;
  config.level = "trace";
  assert.equal(root.config!.level, "warn");
  await root.hotReload({ ...root.config, level: "error" });
  assert.equal(root.config!.level, "error");
});
