import { test } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import { create, LEVELS, type LogRecord, pinoSink } from "../../clog/mod.ts";

/** A real pino logger whose lines land in an array, parsed. */
function pinoLines(level = "trace") {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

test("records reach a pino logger at their level, with their fields, namespace and message", async () => {
  const { logger, lines } = pinoLines();
  const root = create(
    { level: "trace", service: "im-logic", sinks: [{ type: "custom", name: "pino" }] },
    { sinks: { pino: pinoSink(logger) } },
  );
  const users = root.namespace("get_user").with({ region: "eu" });
  for (const level of LEVELS) users[level](`at ${level}`, { userId: 42, password: "hunter2" });
  await root.close();
  assert.deepEqual(
    lines.map((line) => [line.level, line.msg, line.namespace, line.region, line.userId]),
    [10, 20, 30, 40, 50, 60].map((value, i) => [
      value,
      `at ${LEVELS[i]}`,
      "im-logic.get_user",
      "eu",
      42,
    ]),
  );
  assert.equal(lines[0].password, "[REDACTED]");
});

test("the active span's ids reach pino as trace_id and span_id, as in clog's JSON lines", () => {
  const { logger, lines } = pinoLines();
  const record: LogRecord = {
    time: 0,
    level: "info",
    namespace: "",
    message: "in a span",
    fields: {},
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "00f067aa0ba902b7",
  };
  pinoSink(logger)(record);
  assert.equal(lines[0].trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.equal(lines[0].span_id, "00f067aa0ba902b7");
  assert.equal("namespace" in lines[0], false);
});

test("pino's own level still filters the records the sink hands it", async () => {
  const { logger, lines } = pinoLines("warn");
  const root = create(
    { level: "trace", sinks: [{ type: "custom", name: "pino" }] },
    { sinks: { pino: pinoSink(logger) } },
  );
  root.info("below pino's level");
  root.warn("at pino's level");
  await root.close();
  assert.deepEqual(lines.map((line) => line.msg), ["at pino's level"]);
});
