import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import {
  type FingersCrossedConfig,
  type SinkConfig,
  validateConfig,
  withContext,
} from "../../clog/mod.ts";
import { activeContext, type LogContext } from "../../clog/context.ts";
import { FingersCrossed } from "../../clog/fingers_crossed.ts";
import { LEVEL_VALUES } from "../../clog/levels.ts";
import { capture } from "./_capture.ts";
import { collectGarbage } from "./_gc.ts";

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

/** A root at trace level whose one JSON stream sink is gated by `fingersCrossed`. */
function gated(fingersCrossed: FingersCrossedConfig = {}, extra: SinkConfig[] = []) {
  const sinks: SinkConfig[] = [{ type: "stream", name: "lines", fingersCrossed }, ...extra];
  const captured = capture({ sinks });
  const messages = () => captured.json().map((line) => line.msg);
  return { ...captured, sinks, messages };
}

/**
 * A `withContext` scope that stays open: `run` calls a function inside it (the same scope
 * each time), `close` ends it.
 */
function scope(fields: Record<string, unknown>) {
  const mailbox: { fn: () => void; done: () => void }[] = [];
  let wake: (() => void) | undefined;
  let open = true;
  void withContext(fields, async () => {
    while (open) {
      for (let next = mailbox.shift(); next !== undefined; next = mailbox.shift()) {
        next.fn();
        next.done();
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  });
  return {
    run: (fn: () => void) =>
      new Promise<void>((done) => {
        mailbox.push({ fn, done });
        wake?.();
      }),
    close: () => {
      open = false;
      wake?.();
    },
  };
}

test("a fingersCrossed sink writes nothing below the trigger level", () => {
  const { root, lines } = gated();
  root.trace("t");
  root.debug("d");
  root.info("i");
  root.warn("w");
  assert.deepEqual(lines, []);
});

test("a record at exactly the trigger level writes the held records in order, then itself", () => {
  const { root, messages } = gated({ triggerLevel: "warn" });
  root.debug("first");
  root.namespace("db").info("second", { n: 2 });
  root.info("just below the trigger");
  assert.deepEqual(messages(), []);
  root.warn("at the trigger");
  assert.deepEqual(messages(), ["first", "second", "just below the trigger", "at the trigger"]);
});

test("held lines keep what they were logged with: fields, namespace and context", () => {
  const { root, json } = gated();
  const logger = root.namespace("get_user").with({ bound: 1 });
  withContext({ requestId: "r-1" }, () => logger.debug("held", { n: 1 }));
  const fields = { n: 2 };
  logger.debug("changed after the call", fields);
  fields.n = 3;
  root.error("now");
  assert.deepEqual(
    json().slice(0, 2).map(({ namespace, msg, bound, requestId, n }) => ({
      namespace,
      msg,
      bound,
      requestId,
      n,
    })),
    [
      { namespace: "get_user", msg: "held", bound: 1, requestId: "r-1", n: 1 },
      {
        namespace: "get_user",
        msg: "changed after the call",
        bound: 1,
        requestId: undefined,
        n: 2,
      },
    ],
  );
});

test("a held line keeps its own time: the trigger does not stamp it again", () => {
  let now = Date.UTC(2025, 0, 1, 12, 0, 0);
  const { root, json } = capture(
    { sinks: [{ type: "stream", name: "lines", fingersCrossed: {} }] },
    () => now,
  );
  root.debug("early");
  now += 60_000;
  root.error("late");
  assert.deepEqual(json().map((line) => line.time), [
    "2025-01-01T12:00:00.000Z",
    "2025-01-01T12:01:00.000Z",
  ]);
});

test("other sinks get every record at once; only the gated one waits", () => {
  const { root, lines, records, messages } = gated({}, [{ type: "custom", name: "records" }]);
  root.debug("d");
  root.info("i");
  assert.deepEqual(records.map((record) => record.message), ["d", "i"]);
  assert.deepEqual(lines, []);
  root.error("e");
  assert.deepEqual(records.map((record) => record.message), ["d", "i", "e"]);
  assert.deepEqual(messages(), ["d", "i", "e"]);
  assert.equal(lines.length, 1, "the trigger writes what it releases in one write");
});

test("the sink's own level applies first: what it rejects is never held", () => {
  const { root, json } = capture({
    sinks: [{ type: "stream", name: "lines", level: "info", fingersCrossed: {} }],
  });
  root.debug("rejected by the sink");
  root.info("held");
  root.error("trigger");
  root.debug("still rejected after the trigger");
  assert.deepEqual(json().map((line) => line.msg), ["held", "trigger"]);
});

test("a full buffer drops its oldest records, and the trigger says how many first", () => {
  const { root, json } = gated({ bufferSize: 3 });
  for (let i = 1; i <= 5; i++) root.debug(`d${i}`);
  root.error("failed");
  const written = json();
  assert.deepEqual(written.map((line) => line.msg), [
    "fingersCrossed: 2 earlier records were dropped from the buffer",
    "d3",
    "d4",
    "d5",
    "failed",
  ]);
  assert.equal(written[0].level, "warn");
  assert.equal(written[0].clog_dropped, 2);
  assert.equal(written[0].time, written[1].time);
});

test("the drop notice is written in each sink's own format", () => {
  const fingersCrossed = { bufferSize: 1 };
  const { root, written, records } = capture({
    service: "svc",
    sinks: [
      { type: "stream", name: "lines", format: "text", fingersCrossed },
      { type: "stream", name: "lines", format: "logfmt", fingersCrossed },
      { type: "custom", name: "records", fingersCrossed },
    ],
  });
  root.debug("one");
  root.debug("two");
  root.namespace("db").error("boom");
  const lines = written();
  assert.match(
    lines[0],
    / WARN {2}svc\.db fingersCrossed: 1 earlier record was dropped .* clog_dropped=1\n$/,
  );
  assert.match(lines[1], / DEBUG svc two\n$/);
  assert.match(lines[2], / ERROR svc\.db boom\n$/);
  assert.match(
    lines[3],
    / level=warn namespace=svc\.db msg="fingersCrossed: 1 earlier record was dropped from the buffer" clog_dropped=1\n$/,
  );
  assert.match(lines[4], / level=debug namespace=svc msg=two\n$/);
  assert.deepEqual(records.map((r) => [r.level, r.namespace, r.message, r.fields]), [
    ["warn", "svc.db", "fingersCrossed: 1 earlier record was dropped from the buffer", {
      clog_dropped: 1,
    }],
    ["debug", "svc", "two", {}],
    ["error", "svc.db", "boom", {}],
  ]);
});

test("after a trigger everything passes through by default (afterTrigger: passThrough)", () => {
  const { root, messages } = gated();
  root.debug("before");
  root.error("trigger");
  root.debug("after");
  root.trace("and more");
  assert.deepEqual(messages(), ["before", "trigger", "after", "and more"]);
});

test("afterTrigger buffer holds again, and each trigger writes what came since the last", () => {
  const { root, messages } = gated({ afterTrigger: "buffer" });
  root.debug("a");
  root.error("first");
  root.debug("b");
  root.debug("c");
  assert.deepEqual(messages(), ["a", "first"]);
  root.fatal("second");
  root.debug("d");
  assert.deepEqual(messages(), ["a", "first", "b", "c", "second"]);
});

test("with isolate context, a failing request writes only its own lines", async () => {
  const { root, messages } = gated({ isolate: "context" });
  const request = (id: string, fail: boolean) =>
    withContext({ requestId: id }, async () => {
      root.debug(`${id} start`);
      await tick();
      root.debug(`${id} middle`);
      await tick();
      if (fail) root.error(`${id} failed`);
      else root.info(`${id} done`);
    });
  await Promise.all([request("a", false), request("b", true), request("c", false)]);
  assert.deepEqual(messages(), ["b start", "b middle", "b failed"]);
  await withContext({ requestId: "a" }, () => root.error("a is another scope now"));
  assert.deepEqual(messages().slice(3), ["a is another scope now"]);
});

test("with isolate context, a trigger writes the scopes around it and inside it, not siblings", async () => {
  const { root, messages } = gated({ isolate: "context" });
  await withContext({ connection: 1 }, async () => {
    root.debug("connection opened");
    const message = (id: number, body: () => void) =>
      withContext({ message: id }, async () => {
        root.debug(`message ${id} received`);
        await tick();
        body();
      });
    await Promise.all([
      message(1, () => root.debug("message 1 stored")),
      message(2, () => {
        withContext({ step: "store" }, () => root.debug("message 2 store step"));
        root.error("message 2 failed");
      }),
    ]);
  });
  assert.deepEqual(messages(), [
    "connection opened",
    "message 2 received",
    "message 2 store step",
    "message 2 failed",
  ]);
});

test("with isolate context, the failing scope passes through, and scopes opened inside it", async () => {
  const { root, messages } = gated({ isolate: "context" });
  await withContext({ connection: 1 }, async () => {
    root.debug("connection opened");
    withContext({ message: 1 }, () => {
      root.error("message 1 failed");
      root.debug("message 1 after the failure");
      withContext({ step: "retry" }, () => root.debug("message 1 retry, a scope inside"));
    });
    root.debug("connection after: holds again");
    await withContext({ message: 2 }, () => root.debug("message 2: held"));
  });
  assert.deepEqual(messages(), [
    "connection opened",
    "message 1 failed",
    "message 1 after the failure",
    "message 1 retry, a scope inside",
  ]);
});

test("records released from several scopes are written in the order they were logged", async () => {
  const { root, messages } = gated({ isolate: "context" });
  await withContext({ connection: 1 }, async () => {
    root.debug("outer 1");
    const inner = scope({ message: 1 });
    await inner.run(() => root.debug("inner 2"));
    root.debug("outer 3");
    await inner.run(() => root.debug("inner 4"));
    root.debug("outer 5");
    await inner.run(() => root.error("inner failed"));
    inner.close();
  });
  assert.deepEqual(messages(), [
    "outer 1",
    "inner 2",
    "outer 3",
    "inner 4",
    "outer 5",
    "inner failed",
  ]);
});

test("a trigger inside a scope that already passes through leaves it passing", async () => {
  const { root, messages } = gated({ isolate: "context" });
  await withContext({ connection: 1 }, async () => {
    root.error("connection failed");
    await withContext({ message: 1 }, () => {
      root.debug("message 1, inside: passes");
      root.error("message 1 failed");
    });
    root.debug("the connection still passes");
    await withContext({ message: 2 }, () => root.debug("message 2, inside: passes"));
  });
  assert.deepEqual(messages(), [
    "connection failed",
    "message 1, inside: passes",
    "message 1 failed",
    "the connection still passes",
    "message 2, inside: passes",
  ]);
});

test("with isolate context, lines outside any scope are their own buffer", async () => {
  const { root, messages } = gated({ isolate: "context" });
  root.debug("background");
  await withContext({ requestId: "r" }, () => root.error("request failed"));
  assert.deepEqual(messages(), ["request failed"]);
  root.error("background failed");
  assert.deepEqual(messages(), ["request failed", "background", "background failed"]);
});

test("a chain of scopes that each start the next (a poller) does not keep the first ones", async () => {
  let first: WeakRef<LogContext> | undefined;
  let last: LogContext | undefined;
  await new Promise<void>((done) => {
    const poll = (n: number): void =>
      withContext({ poll: n }, () => {
        if (n === 0) first = new WeakRef(activeContext()!);
        if (n < 200) setTimeout(() => poll(n + 1), 0);
        else {
          last = activeContext();
          done();
        }
      });
    poll(0);
  });
  await collectGarbage();
  assert.equal(last?.fields.poll, 200);
  assert.equal(first?.deref(), undefined);
});

test("with isolate context, a scope nested past 32 deep is a scope of its own", async () => {
  const { root, messages } = gated({ isolate: "context" });
  const nest = (level: number, fn: () => void): void =>
    level > 32 ? fn() : withContext({ level }, () => nest(level + 1, fn));
  nest(1, () => {
    root.debug("32 deep");
    withContext({ level: 33 }, () => {
      root.debug("33 deep");
      root.error("failed 33 deep");
    });
  });
  await tick();
  assert.deepEqual(messages(), ["33 deep", "failed 33 deep"]);
});

test("with isolate namespace, a trigger writes its namespace, those above and below it", () => {
  const { root, messages } = gated({ isolate: "namespace" });
  const logic = root.namespace("im-logic");
  root.debug("root");
  logic.debug("logic");
  logic.namespace("get_user").debug("get_user");
  logic.namespace("get_user").namespace("db").debug("get_user.db");
  logic.namespace("send").debug("send");
  logic.namespace("get_user").error("get_user failed");
  assert.deepEqual(messages(), ["root", "logic", "get_user", "get_user.db", "get_user failed"]);
  logic.namespace("get_user").namespace("cache").debug("below: passes through");
  logic.debug("above: held again");
  assert.deepEqual(messages().slice(5), ["below: passes through"]);
  logic.namespace("send").error("send failed");
  assert.deepEqual(messages().slice(6), ["send", "above: held again", "send failed"]);
});

test("with isolation, at most maxBuffers are kept: the least recently written one goes", async () => {
  const { root, messages } = gated({ isolate: "context", maxBuffers: 2 });
  const [a, b, c] = ["a", "b", "c"].map((id) => scope({ id }));
  await a.run(() => root.debug("a1"));
  await b.run(() => root.debug("b1"));
  await a.run(() => root.debug("a2")); // b is now the least recently written
  await c.run(() => root.debug("c1")); // a third buffer: b's goes, with b1
  await a.run(() => root.error("a failed"));
  assert.deepEqual(messages(), ["a1", "a2", "a failed"]);
  // What a discarded buffer held is counted when its scope triggers.
  const lost = "fingersCrossed: 1 earlier record was dropped from the buffer";
  await b.run(() => root.error("b failed")); // b passes through now: c's buffer goes
  await c.run(() => root.error("c failed"));
  assert.deepEqual(messages().slice(3), [lost, "b failed", lost, "c failed"]);
  for (const open of [a, b, c]) open.close();
});

test("a scope whose discarded buffer holds again counts what it lost at its next trigger, once", async () => {
  const { root, json } = gated({ isolate: "context", maxBuffers: 1 });
  const [a, b] = [scope({ id: "a" }), scope({ id: "b" })];
  await a.run(() => ["a1", "a2", "a3"].forEach((m) => root.debug(m)));
  await b.run(() => root.debug("b1")); // a's buffer goes, with three records
  await a.run(() => root.debug("a4")); // b's goes, with one
  await a.run(() => root.error("a failed"));
  const written = json();
  assert.deepEqual(written.map((line) => line.msg), [
    "fingersCrossed: 3 earlier records were dropped from the buffer",
    "a4",
    "a failed",
  ]);
  assert.equal(written[0].clog_dropped, 3);
  await a.run(() => root.error("a failed again")); // passes through, nothing more to tell
  assert.deepEqual(json().slice(3).map((line) => line.msg), ["a failed again"]);
  for (const open of [a, b]) open.close();
});

test("with namespace isolation a discarded buffer is counted at its namespace's next trigger", () => {
  const { root, json } = gated({ isolate: "namespace", maxBuffers: 1 });
  const [send, recv] = [root.namespace("send"), root.namespace("recv")];
  send.debug("s1");
  recv.debug("r1"); // send's buffer goes
  recv.debug("r2");
  send.error("send failed");
  assert.deepEqual(json().map((line) => [line.msg, line.clog_dropped]), [
    ["fingersCrossed: 1 earlier record was dropped from the buffer", 1],
    ["send failed", undefined],
  ]);
});

test("the buffers of one sink hold a bounded number of characters, dropping and counting", async () => {
  const big = "x".repeat(100_000);
  const { root, json } = capture({
    maxValueLength: 200_000,
    sinks: [{ type: "stream", name: "lines", fingersCrossed: { isolate: "context" } }],
  });
  const [a, b] = [scope({ id: "a" }), scope({ id: "b" })];
  await a.run(() => {
    for (let i = 0; i < 50; i++) root.debug(`a${i}`, { big });
  });
  // 100 lines of 100 kB are more than 8 Mi characters: a, written to least recently, loses
  // its oldest.
  await b.run(() => {
    for (let i = 0; i < 50; i++) root.debug(`b${i}`, { big });
  });
  await a.run(() => root.error("a failed"));
  await b.run(() => root.error("b failed"));
  const written = json();
  const [notice, ...rest] = written;
  const keptA = rest.filter((line) => /^a\d+$/.test(line.msg as string));
  const keptB = rest.filter((line) => /^b\d+$/.test(line.msg as string));
  assert.equal(notice.level, "warn");
  const dropped = notice.clog_dropped as number;
  assert.ok(dropped > 0 && keptA.length > 0, `${dropped} dropped, ${keptA.length} kept`);
  assert.equal(dropped + keptA.length, 50);
  assert.equal(keptA[0].msg, `a${dropped}`, "the oldest went first");
  assert.equal(keptB.length, 50);
  assert.ok((keptA.length + keptB.length) * (100_000 + 60) <= 8 * 1024 * 1024);
  a.close();
  b.close();
});

test("a record dropped from a full buffer is no longer kept in memory", async () => {
  const gate = new FingersCrossed<object>({ bufferSize: 1 });
  const debug = LEVEL_VALUES.debug;
  const dropped = (() => {
    const record = { msg: "dropped" };
    gate.offer(record, 0, debug, undefined, "", 1);
    return new WeakRef(record);
  })();
  gate.offer({ msg: "kept" }, 1, debug, undefined, "", 1);
  await collectGarbage();
  assert.equal(dropped.deref(), undefined);
});

test("close() discards the held records; flush() does not write them", async () => {
  const { root, lines } = gated({}, [{ type: "stream", name: "lines", buffered: {} }]);
  root.debug("held by the gate, buffered by the other sink");
  root.flush();
  assert.equal(lines.length, 1);
  await root.close();
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]).msg, "held by the gate, buffered by the other sink");
});

test("fatal is a trigger and writes a buffered gated sink out at once", () => {
  const { root, json } = capture({
    sinks: [{
      type: "stream",
      name: "lines",
      buffered: { bufferSize: 100, flushIntervalMs: 60_000 },
      fingersCrossed: { triggerLevel: "fatal" },
    }],
  });
  root.error("held: below fatal");
  root.fatal("crash");
  assert.deepEqual(json().map((line) => line.msg), ["held: below fatal", "crash"]);
});

test("a hot reload with the same fingersCrossed settings keeps what is held", async () => {
  const { root, messages, sinks } = gated({ bufferSize: 10, isolate: "context" });
  await withContext({ id: 1 }, async () => {
    root.debug("before the reload");
    await root.hotReload({ level: "debug", service: "", sinks });
    root.error("after the reload");
  });
  assert.deepEqual(messages(), ["before the reload", "after the reload"]);
});

test("a hot reload that changes the settings, or removes them, discards what is held", async () => {
  const { root, messages } = gated({ bufferSize: 10 });
  root.debug("held, then discarded by the new settings");
  const sinks = (fingersCrossed?: FingersCrossedConfig): SinkConfig[] => [
    { type: "stream", name: "lines", fingersCrossed },
  ];
  await root.hotReload({ level: "trace", sinks: sinks({ bufferSize: 11 }) });
  root.error("first trigger");
  assert.deepEqual(messages(), ["first trigger"]);
  await root.hotReload({ level: "trace", sinks: sinks({ afterTrigger: "buffer" }) });
  root.debug("held, then discarded when the option goes");
  await root.hotReload({ level: "trace", sinks: sinks() });
  root.debug("written at once");
  assert.deepEqual(messages(), ["first trigger", "written at once"]);
});

test("a gated custom sink gets the held records, each its own object, in order", () => {
  const { root, records } = capture({
    sinks: [{ type: "custom", name: "records", fingersCrossed: { triggerLevel: "warn" } }],
  });
  root.debug("one", { n: 1 });
  root.info("two", { n: 2 });
  assert.equal(records.length, 0);
  root.warn("three");
  assert.deepEqual(records.map((r) => [r.level, r.message, r.fields]), [
    ["debug", "one", { n: 1 }],
    ["info", "two", { n: 2 }],
    ["warn", "three", {}],
  ]);
});

test("fingersCrossed settings are checked, naming the bad field", () => {
  const invalid = (fingersCrossed: unknown, field: string, pattern: RegExp) => {
    for (const type of ["console", "custom"]) {
      const sink = type === "custom"
        ? { type, name: "x", fingersCrossed }
        : { type, fingersCrossed };
      assert.throws(() => validateConfig({ sinks: [sink] }), (error: unknown) => {
        assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
        assert.equal(error.component, "clog");
        assert.equal(error.details.field, `sinks[0].${field}`);
        assert.match(error.message, pattern);
        return true;
      });
    }
  };
  invalid(true, "fingersCrossed", /must be an object, got true/);
  invalid(
    { triggerLevel: "warning" },
    "fingersCrossed.triggerLevel",
    /must be one of "trace", .*"fatal", got "warning"/,
  );
  invalid({ bufferSize: 0 }, "fingersCrossed.bufferSize", /between 1 and 1000000, got 0/);
  invalid({ bufferSize: 1.5 }, "fingersCrossed.bufferSize", /must be an integer/);
  invalid(
    { isolate: "request" },
    "fingersCrossed.isolate",
    /"context", "namespace", got "request"/,
  );
  invalid({ isolate: "context", maxBuffers: 0 }, "fingersCrossed.maxBuffers", /between 1 and/);
  invalid({ maxBuffers: 10 }, "fingersCrossed.maxBuffers", /only allowed with isolate/);
  invalid({ bufferSize: -1 }, "fingersCrossed.bufferSize", /between 1 and 1000000, got -1/);
  invalid({ afterTrigger: "stop" }, "fingersCrossed.afterTrigger", /"passThrough", "buffer"/);
  invalid(
    { bufferSize: 10, flushIntervalMs: 5 },
    "fingersCrossed.flushIntervalMs",
    /is not a known setting/,
  );
  validateConfig({
    sinks: [{
      type: "file",
      path: "/tmp/clog-fingers-crossed-valid.log",
      fingersCrossed: {
        triggerLevel: "warn",
        bufferSize: 1,
        isolate: "namespace",
        maxBuffers: 100_000,
        afterTrigger: "buffer",
      },
    }],
  });
});

test("a hot reload with bad fingersCrossed settings is rejected and the gate goes on", async () => {
  const { root, messages } = gated();
  root.debug("held");
  await assert.rejects(
    root.hotReload({
      level: "trace",
      sinks: [{ type: "stream", name: "lines", fingersCrossed: { bufferSize: -1 } }],
    }),
    (error: unknown) => InfraError.is(error, "InvalidArgument"),
  );
  root.error("trigger");
  assert.deepEqual(messages(), ["held", "trigger"]);
});
