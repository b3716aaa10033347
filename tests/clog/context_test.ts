import { test } from "node:test";
import assert from "node:assert/strict";
import { context, trace } from "@opentelemetry/api";
import { contextFields, withContext } from "../../clog/mod.ts";
import { capture } from "./_capture.ts";
import { TestContextManager } from "./_span.ts";

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("withContext adds its fields to every line logged inside, across awaits", async () => {
  const { root, json } = capture();
  await withContext({ requestId: "r-1", userId: 7 }, async () => {
    root.info("before");
    await tick(1);
    root.namespace("db").info("after", { rows: 3 });
  });
  root.info("outside");
  const lines = json();
  assert.deepEqual(lines.map((l) => [l.requestId, l.userId]), [
    ["r-1", 7],
    ["r-1", 7],
    [undefined, undefined],
  ]);
  assert.equal(lines[1].rows, 3);
});

test("nested scopes add to and override the enclosing fields", () => {
  const { root, json } = capture();
  withContext({ requestId: "r-1", step: "outer" }, () => {
    withContext({ step: "inner" }, () => root.info("in"));
    root.info("out");
  });
  assert.deepEqual(json().map((l) => [l.requestId, l.step]), [["r-1", "inner"], ["r-1", "outer"]]);
});

test("concurrent requests never see each other's fields", async () => {
  const { root, records } = capture({ sinks: [{ type: "custom", name: "records" }] });
  const logger = root.namespace("handler");
  await Promise.all(
    Array.from(
      { length: 50 },
      (_, request) =>
        withContext({ requestId: `r-${request}` }, async () => {
          for (let step = 0; step < 5; step++) {
            await tick(Math.floor(Math.random() * 3));
            logger.info("step", { request, step });
          }
        }),
    ),
  );
  assert.equal(records.length, 250);
  for (const record of records) {
    assert.equal(record.fields.requestId, `r-${record.fields.request}`);
  }
});

test("withContext returns what the function returns", async () => {
  assert.equal(withContext({ a: 1 }, () => 5), 5);
  assert.equal(await withContext({ a: 1 }, () => Promise.resolve(6)), 6);
});

test("contextFields returns a copy of the scope's fields", () => {
  assert.deepEqual(contextFields(), {});
  withContext({ requestId: "r-9" }, () => {
    const fields = contextFields();
    fields.requestId = "changed";
    assert.deepEqual(contextFields(), { requestId: "r-9" });
  });
});

test("context fields are redacted like any other", () => {
  const { root, json } = capture();
  withContext({ authorization: "Bearer abc" }, () => root.info("x"));
  assert.equal(json()[0].authorization, "[REDACTED]");
});

test("the trace and span ids of the active OpenTelemetry span appear in every line", async () => {
  assert.ok(context.setGlobalContextManager(new TestContextManager()));
  try {
    const { root, lines, records } = capture({
      sinks: [
        { type: "stream", name: "lines" },
        { type: "stream", name: "lines", format: "text" },
        { type: "custom", name: "records" },
      ],
    });
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const spanId = "00f067aa0ba902b7";
    const span = trace.wrapSpanContext({ traceId, spanId, traceFlags: 1 });
    await context.with(trace.setSpan(context.active(), span), async () => {
      await tick(1);
      root.info("inside span");
    });
    root.info("no span");
    const inside = JSON.parse(lines[0]);
    assert.equal(inside.trace_id, traceId);
    assert.equal(inside.span_id, spanId);
    assert.match(lines[1], new RegExp(` trace_id=${traceId} span_id=${spanId}\n$`));
    assert.equal(records[0].traceId, traceId);
    assert.equal(records[0].spanId, spanId);
    assert.equal("trace_id" in JSON.parse(lines[2]), false);
    assert.doesNotMatch(lines[3], /trace_id/);
    assert.equal(records[1].traceId, undefined);
  } finally {
    context.disable();
  }
});

test("jsonKeys renames the trace and span ids of JSON lines", () => {
  assert.ok(context.setGlobalContextManager(new TestContextManager()));
  try {
    const { root, json } = capture({ jsonKeys: { traceId: "trace", spanId: "span" } });
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const spanId = "00f067aa0ba902b7";
    const span = trace.wrapSpanContext({ traceId, spanId, traceFlags: 1 });
    context.with(trace.setSpan(context.active(), span), () => root.info("x"));
    const line = json()[0];
    assert.deepEqual([line.trace, line.span, "trace_id" in line], [traceId, spanId, false]);
  } finally {
    context.disable();
  }
});

test("an invalid span context adds no ids", () => {
  assert.ok(context.setGlobalContextManager(new TestContextManager()));
  try {
    const { root, json } = capture();
    const span = trace.wrapSpanContext({
      traceId: "00000000000000000000000000000000",
      spanId: "0000000000000000",
      traceFlags: 0,
    });
    context.with(trace.setSpan(context.active(), span), () => root.info("x"));
    assert.equal("trace_id" in json()[0], false);
  } finally {
    context.disable();
  }
});
