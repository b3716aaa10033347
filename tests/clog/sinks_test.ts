import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { create, type LogRecord } from "../../clog/mod.ts";
import { capture } from "./_capture.ts";

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("several sinks at once, each with its own minimum level", () => {
  const all: string[] = [];
  const errors: string[] = [];
  const records: LogRecord[] = [];
  const root = create({
    level: "debug",
    sinks: [
      { type: "stream", name: "all" },
      { type: "stream", name: "errors", level: "error" },
      { type: "custom", name: "records", level: "warn" },
    ],
  }, {
    streams: {
      all: { write: (line: string) => void all.push(line) },
      errors: { write: (line: string) => void errors.push(line) },
    },
    sinks: { records: (record) => void records.push(record) },
  });
  root.trace("t");
  root.debug("d");
  root.warn("w");
  root.error("e");
  assert.deepEqual(all.map((l) => JSON.parse(l).msg), ["d", "w", "e"]);
  assert.deepEqual(errors.map((l) => JSON.parse(l).msg), ["e"]);
  assert.deepEqual(records.map((r) => r.message), ["w", "e"]);
});

test("a sink's level cannot lower the logger's level", () => {
  const { root, lines } = capture({
    level: "warn",
    sinks: [{ type: "stream", name: "lines", level: "trace" }],
  });
  root.info("no");
  assert.equal(lines.length, 0);
});

test("a web WritableStream receives the lines as UTF-8 bytes", async () => {
  const chunks: Uint8Array[] = [];
  const stream = new WritableStream<Uint8Array>({ write: (chunk) => void chunks.push(chunk) });
  const root = create({ sinks: [{ type: "stream", name: "web" }] }, { streams: { web: stream } });
  root.info("héllo", { n: 1 });
  root.info("second");
  await root.close();
  const text = new TextDecoder().decode(
    new Uint8Array(chunks.flatMap((chunk) => [...chunk])),
  );
  assert.deepEqual(text.trimEnd().split("\n").map((l) => JSON.parse(l).msg), ["héllo", "second"]);
  const writer = stream.getWriter(); // clog released the stream, it did not close it
  await writer.close();
});

/** A web stream that keeps what it receives, as text. */
function webStream(): { stream: WritableStream<Uint8Array>; text: () => string } {
  const chunks: Uint8Array[] = [];
  const stream = new WritableStream<Uint8Array>({ write: (chunk) => void chunks.push(chunk) });
  const decoder = new TextDecoder();
  return { stream, text: () => chunks.map((chunk) => decoder.decode(chunk)).join("") };
}

test("several sinks and several roots may write to one web stream, which is released after", async () => {
  const { stream, text } = webStream();
  const both = create({
    sinks: [{ type: "stream", name: "web" }, { type: "stream", name: "web", format: "text" }],
  }, { streams: { web: stream } });
  const other = create({ sinks: [{ type: "stream", name: "web" }] }, { streams: { web: stream } });
  both.info("from both");
  other.info("from other");
  await both.close();
  other.info("other goes on");
  await other.close();
  const lines = text().trimEnd().split("\n");
  assert.equal(lines.length, 4);
  assert.deepEqual(
    [JSON.parse(lines[0]).msg, JSON.parse(lines[2]).msg, JSON.parse(lines[3]).msg],
    ["from both", "from other", "other goes on"],
  );
  assert.match(lines[1], /INFO {2}from both$/);
  await stream.getWriter().close();
});

test("a reload that buffers a web-stream sink keeps writing to the stream", async () => {
  const { stream, text } = webStream();
  const root = create({ sinks: [{ type: "stream", name: "web" }] }, { streams: { web: stream } });
  root.info("before");
  await root.hotReload({ sinks: [{ type: "stream", name: "web", buffered: { bufferSize: 10 } }] });
  root.info("after");
  await root.close();
  assert.deepEqual(text().trimEnd().split("\n").map((l) => JSON.parse(l).msg), [
    "before",
    "after",
  ]);
  await stream.getWriter().close();
});

test("the same web-stream sink listed twice is released when the reload removes both", async () => {
  const { stream } = webStream();
  const twice = { sinks: [{ type: "stream" as const, name: "web" }] };
  twice.sinks.push(twice.sinks[0]);
  const root = create(twice, { streams: { web: stream } });
  await root.hotReload({ sinks: [] });
  await stream.getWriter().close();
  await root.close();
});

test("a web stream locked outside clog is rejected, naming the sink", () => {
  const { stream } = webStream();
  stream.getWriter();
  assert.throws(
    () => create({ sinks: [{ type: "stream", name: "web" }] }, { streams: { web: stream } }),
    (error: unknown) =>
      InfraError.is(error, "InvalidArgument") && error.details.field === "sinks[0].name" &&
      /locked/.test(error.message),
  );
});

test("a buffered sink writes nothing until its buffer fills, then one batch", () => {
  const writes: string[] = [];
  const root = create({
    sinks: [{ type: "stream", name: "s", buffered: { bufferSize: 3, flushIntervalMs: 60_000 } }],
  }, { streams: { s: { write: (text: string) => void writes.push(text) } } });
  root.info("1");
  root.info("2");
  assert.equal(writes.length, 0);
  root.info("3");
  assert.equal(writes.length, 1);
  assert.deepEqual(writes[0].trimEnd().split("\n").map((l) => JSON.parse(l).msg), ["1", "2", "3"]);
});

test("a buffered sink flushes after its interval", async () => {
  const writes: string[] = [];
  const root = create({
    sinks: [{ type: "stream", name: "s", buffered: { bufferSize: 1000, flushIntervalMs: 10 } }],
  }, { streams: { s: { write: (text: string) => void writes.push(text) } } });
  root.info("1");
  root.info("2");
  assert.equal(writes.length, 0);
  for (let i = 0; i < 200 && writes.length === 0; i++) await tick(5);
  assert.equal(writes.length, 1);
  assert.equal(writes[0].trimEnd().split("\n").length, 2);
  await root.close();
});

test("fatal flushes buffered sinks synchronously", () => {
  const writes: string[] = [];
  const root = create({
    sinks: [{ type: "stream", name: "s", buffered: { bufferSize: 1000, flushIntervalMs: 60_000 } }],
  }, { streams: { s: { write: (text: string) => void writes.push(text) } } });
  root.info("before");
  root.namespace("x").fatal("the end");
  assert.deepEqual(writes.join("").trimEnd().split("\n").map((l) => JSON.parse(l).msg), [
    "before",
    "the end",
  ]);
});

test("close and flush write out buffered lines", async () => {
  const writes: string[] = [];
  const root = create({
    sinks: [{ type: "stream", name: "s", buffered: { bufferSize: 1000, flushIntervalMs: 60_000 } }],
  }, { streams: { s: { write: (text: string) => void writes.push(text) } } });
  root.info("a");
  root.flush();
  assert.equal(writes.length, 1);
  root.info("b");
  await root.close();
  assert.equal(writes.length, 2);
  root.info("after close");
  await root.close();
  assert.equal(writes.length, 2);
});

test("await using closes the root logger", async () => {
  const writes: string[] = [];
  {
    await using root = create({
      sinks: [{
        type: "stream",
        name: "s",
        buffered: { bufferSize: 100, flushIntervalMs: 60_000 },
      }],
    }, { streams: { s: { write: (text: string) => void writes.push(text) } } });
    root.info("x");
  }
  assert.equal(writes.length, 1);
});

test("a custom sink receives JSON-safe records", () => {
  const { root, records } = capture({ sinks: [{ type: "custom", name: "records" }] });
  root.namespace("audit").error("failed", { err: new Error("boom"), n: 10n, token: "t" });
  const record = records[0];
  assert.equal(record.namespace, "audit");
  assert.equal(record.level, "error");
  assert.equal(typeof record.time, "number");
  assert.equal((record.fields.err as { message: string }).message, "boom");
  assert.equal(record.fields.n, "10");
  assert.equal(record.fields.token, "[REDACTED]");
});

test("each custom sink gets its own record, so one that changes it cannot affect another", () => {
  const seen: LogRecord[] = [];
  const root = create({
    sinks: [{ type: "custom", name: "meddler" }, { type: "custom", name: "reader" }],
  }, {
    sinks: {
      meddler: (record) => {
        record.message = "changed";
        record.fields.password = "leaked";
        (record.fields.nested as { n: number }).n = 2;
      },
      reader: (record) => void seen.push(record),
    },
  });
  root.info("original", { password: "p", nested: { n: 1 } });
  assert.equal(seen[0].message, "original");
  assert.deepEqual(seen[0].fields, { password: "[REDACTED]", nested: { n: 1 } });
});

test("a Node stream that emits an error does not crash the process", async () => {
  const { PassThrough } = await import("node:stream");
  const stream = new PassThrough();
  const root = create({ sinks: [{ type: "stream", name: "s" }] }, { streams: { s: stream } });
  root.info("before");
  stream.emit("error", new Error("EPIPE"));
  root.info("after");
  await root.close();
  assert.equal(stream.listenerCount("error"), 0);
});

/**
 * A web stream that takes its first chunk and then nothing until `resume()`, and the `i` of
 * every line it received by then.
 */
function stallingStream(): {
  stream: WritableStream<Uint8Array>;
  resume: () => void;
  numbers: () => number[];
} {
  const chunks: Uint8Array[] = [];
  let resume = () => {};
  const stalled = new Promise<void>((resolve) => (resume = resolve));
  const stream = new WritableStream<Uint8Array>({
    write: (chunk) => {
      chunks.push(chunk);
      return chunks.length === 1 ? stalled : undefined;
    },
  });
  const decoder = new TextDecoder();
  const numbers = () =>
    chunks.map((chunk) => decoder.decode(chunk)).join("").split("\n").filter(Boolean)
      .map((line) => JSON.parse(line).i);
  return { stream, resume, numbers };
}

const PAD = "p".repeat(1000);

test("a web stream that stopped taking lines holds at most 16 MiB of them: later ones are dropped", async () => {
  const { stream, resume, numbers } = stallingStream();
  const root = create({ sinks: [{ type: "stream", name: "web" }] }, { streams: { web: stream } });
  const lines = 30_000; // about 31 MB
  for (let i = 0; i < lines; i++) root.info("line", { i, pad: PAD });
  resume();
  await root.close();
  const received = numbers();
  // The first lines, in order, up to the cap; none of the rest.
  assert.deepEqual(received, Array.from({ length: received.length }, (_, i) => i));
  const lineBytes = JSON.stringify({ i: 10_000 }).length + PAD.length + 60;
  assert.ok(received.length * lineBytes <= 16 * 1024 * 1024 + lineBytes, `${received.length}`);
  assert.ok(received.length > 15_000, `${received.length} lines received`);
});

test("a web stream that catches up takes new lines again after lines were dropped", async () => {
  const { stream, resume, numbers } = stallingStream();
  const root = create({ sinks: [{ type: "stream", name: "web" }] }, { streams: { web: stream } });
  for (let i = 0; i < 20_000; i++) root.info("line", { i, pad: PAD });
  resume();
  await tick(50);
  root.info("after", { i: -1 });
  await root.close();
  assert.equal(numbers().at(-1), -1);
});

test("close() of a sink whose web stream takes nothing settles within flushTimeoutMs and releases the stream", async () => {
  const stream = new WritableStream<Uint8Array>({ write: () => new Promise<void>(() => {}) });
  const root = create({ flushTimeoutMs: 200, sinks: [{ type: "stream", name: "web" }] }, {
    streams: { web: stream },
  });
  root.info("one");
  root.info("two");
  const started = Date.now();
  await root.close();
  const waited = Date.now() - started;
  assert.ok(waited >= 150 && waited < 2_000, `close() took ${waited} ms`);
  stream.getWriter().releaseLock(); // clog no longer holds the lock
});

test("a reload that removes a sink whose web stream takes nothing settles within flushTimeoutMs", async () => {
  const stream = new WritableStream<Uint8Array>({ write: () => new Promise<void>(() => {}) });
  const records: LogRecord[] = [];
  const root = create({ flushTimeoutMs: 200, sinks: [{ type: "stream", name: "web" }] }, {
    streams: { web: stream },
    sinks: { memory: (record) => void records.push(record) },
  });
  root.info("to the stream");
  const started = Date.now();
  await root.hotReload({ sinks: [{ type: "custom", name: "memory" }] });
  assert.ok(Date.now() - started < 2_000, `hotReload took ${Date.now() - started} ms`);
  root.info("to the new sink");
  assert.deepEqual(records.map((r) => r.message), ["to the new sink"]);
  await root.close();
});

test("a Node writable that stopped taking lines holds at most 16 MiB of them", async () => {
  const { Writable } = await import("node:stream");
  const stream = new Writable({ write: () => {} }); // never calls back: a stuck socket
  const root = create({ sinks: [{ type: "stream", name: "s" }] }, { streams: { s: stream } });
  for (let i = 0; i < 30_000; i++) root.info("line", { i, pad: PAD });
  assert.ok(stream.writableLength <= 16 * 1024 * 1024 + 2_000, `${stream.writableLength} held`);
  assert.ok(stream.writableLength > 15 * 1024 * 1024, `${stream.writableLength} held`);
  await root.close();
  stream.destroy();
});
