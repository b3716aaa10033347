import { test } from "node:test";
import assert from "node:assert/strict";
import { create, type LogRecord, type RootLogger } from "../../clog/mod.ts";

test("a sink that logs about every record it is handed writes one nested record, and the call returns", () => {
  const seen: LogRecord[] = [];
  // Assigned below; the sink reads it when it is called.
  let root: RootLogger | undefined = undefined;
  root = create({ sinks: [{ type: "custom", name: "shipper" }] }, {
    sinks: {
      shipper: (record) => {
        seen.push(record);
        root!.warn("delivery failed", { about: record.message });
      },
    },
  });
  root.info("hello");
  assert.deepEqual(seen.map((r) => [r.message, r.fields.about]), [
    ["hello", undefined],
    ["delivery failed", "hello"],
  ]);
  root.info("again"); // the guard is reset once the call is over
  assert.equal(seen.length, 4);
});

test("a record a sink logs reaches the other sinks too, after the outer record", () => {
  const lines: string[] = [];
  // Assigned below; the sink reads it when it is called.
  let root: RootLogger | undefined = undefined;
  root = create({
    sinks: [{ type: "custom", name: "shipper", level: "info" }, { type: "stream", name: "s" }],
  }, {
    streams: { s: { write: (line: string) => void lines.push(line) } },
    sinks: {
      shipper: (record) => {
        if (record.level === "info") root!.warn("delivery failed");
      },
    },
  });
  root.info("hello");
  assert.deepEqual(lines.map((line) => JSON.parse(line).msg), ["delivery failed", "hello"]);
});

test("a sink that logs does not break the stack cooldown of the record it was handed", () => {
  const lines: string[] = [];
  const now = Date.parse("2026-01-01T00:00:00.000Z");
  // Assigned below; the sink reads it when it is called.
  let root: RootLogger | undefined = undefined;
  root = create({
    stackCooldownMs: 1_000,
    sinks: [{ type: "custom", name: "shipper", level: "error" }, { type: "stream", name: "s" }],
  }, {
    streams: { s: { write: (line: string) => void lines.push(line) } },
    sinks: { shipper: () => root!.warn("delivery failed") },
    now: () => now,
  });
  const errors = Array.from({ length: 2 }, () => new Error("refused")); // one stack
  root.error("query failed", { err: errors[0] });
  root.error("query failed", { err: errors[1] });
  const stacks = lines.map((line) => JSON.parse(line)).filter((line) => line.err)
    .map((line) => line.err.stack);
  assert.equal(stacks[0], errors[0].stack);
  assert.equal(stacks[1], "[same stack as the line at 2026-01-01T00:00:00.000Z]");
});
