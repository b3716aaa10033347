import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { context, trace } from "@opentelemetry/api";
import { InfraError } from "../../base/mod.ts";
import { type ClogConfig, validateConfig, withContext } from "../../clog/mod.ts";
import { capture } from "./_capture.ts";
import { TestContextManager } from "./_span.ts";

const NOW = Date.UTC(2025, 10, 23, 20, 48, 0, 123);
const ISO = "2025-11-23T20:48:00.123Z";
const LOGFMT: ClogConfig = { format: "logfmt" };

/**
 * A logfmt reader, strict about what clog promises: pairs separated by one space, keys
 * percent-encoded, values bare or JSON string literals; one line, ending in a newline.
 */
function parse(line: string): [string, string][] {
  assert.ok(line.endsWith("\n"), "a line ends with a newline");
  const body = line.slice(0, -1);
  assert.doesNotMatch(body, /[\n\r\u2028\u2029\u0085]/, "one line");
  const pairs: [string, string][] = [];
  let i = 0;
  while (i < body.length) {
    const eq = body.indexOf("=", i);
    assert.ok(eq > i, `a key at ${i} of ${body}`);
    const key = decodeURIComponent(body.slice(i, eq));
    let value: string;
    if (body[eq + 1] === '"') {
      let end = eq + 2;
      while (body[end] !== '"') end += body[end] === "\\" ? 2 : 1;
      value = JSON.parse(body.slice(eq + 1, end + 1));
      i = end + 1;
    } else {
      const end = body.indexOf(" ", eq);
      value = body.slice(eq + 1, end < 0 ? body.length : end);
      assert.doesNotMatch(value, /["=\\\s]/, `bare value ${value}`);
      i = end < 0 ? body.length : end;
    }
    pairs.push([key, value]);
    if (i < body.length) {
      assert.equal(body[i], " ");
      i++;
    }
  }
  return pairs;
}

/** The pairs of a line as an object (each key once). */
function pairsOf(line: string): Record<string, string> {
  const pairs = parse(line);
  const object = Object.fromEntries(pairs);
  assert.equal(Object.keys(object).length, pairs.length, "each key once");
  return object;
}

test("a logfmt line has time, level, namespace and message, then the fields", () => {
  const { root, lines } = capture({ ...LOGFMT, service: "im-logic" }, () => NOW);
  root.namespace("get_user").with({ region: "eu" }).info("user loaded", { user_id: 42, ok: true });
  assert.deepEqual(lines, [
    `time=${ISO} level=info namespace=im-logic.get_user msg="user loaded" region=eu user_id=42 ` +
    "ok=true\n",
  ]);
});

test("the root logger's logfmt line has no namespace", () => {
  const { root, lines } = capture(LOGFMT, () => NOW);
  root.warn("disk", { free: 0.5 });
  assert.equal(lines[0], `time=${ISO} level=warn msg=disk free=0.5\n`);
});

test("logfmt values are bare when one plain word, else quoted and escaped like JSON strings", () => {
  const { root, lines } = capture(LOGFMT, () => NOW);
  const values: Record<string, string> = {
    empty: "",
    space: "a b",
    quote: 'say "hi"',
    backslash: "C:\\temp",
    equals: "a=b",
    newline: "one\ntwo",
    crlf: "one\r\ntwo",
    tab: "a\tb",
    nul: "a\u0000b",
    escape: "red \u001b[31m",
    csi: "c1 \u009b[31m",
    del: "del\u007f",
    separator: "ls\u2028ps\u2029",
    nbsp: "no\u00a0break",
    lone: "half \ud800 pair",
    loneWord: "x\udc00",
    unicode: "Zoë😀中文",
  };
  root.info("m", values);
  const written = lines[0];
  assert.match(written, / empty="" space="a b" quote="say \\"hi\\"" backslash="C:\\\\temp" /);
  assert.match(written, / equals="a=b" newline="one\\ntwo" crlf="one\\r\\ntwo" tab="a\\tb" /);
  assert.match(written, / nul="a\\u0000b" escape="red \\u001b\[31m" csi="c1 \\u009b\[31m" /);
  assert.match(written, / del="del\\u007f" separator="ls\\u2028ps\\u2029" /);
  assert.match(
    written,
    / nbsp="no\u00a0break" lone="half \\ud800 pair" loneWord="x\\udc00" unicode=Zoë😀中文\n$/,
  );
  // deno-lint-ignore no-control-regex -- no control character may be left raw
  assert.doesNotMatch(written, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/);
  const read = pairsOf(written);
  for (const [key, value] of Object.entries(values)) assert.equal(read[key], value, key);
});

test("a logfmt message is quoted when it is not one word, so a call is always one line", () => {
  const { root, lines } = capture(LOGFMT, () => NOW);
  root.info("user loaded");
  root.info("loaded");
  root.info("");
  root.info("half\ud800");
  root.error('forged\ntime=x level=fatal msg="root"');
  assert.deepEqual(lines.slice(0, 4), [
    `time=${ISO} level=info msg="user loaded"\n`,
    `time=${ISO} level=info msg=loaded\n`,
    `time=${ISO} level=info msg=""\n`,
    `time=${ISO} level=info msg="half\\ud800"\n`,
  ]);
  assert.deepEqual(parse(lines[4]), [
    ["time", ISO],
    ["level", "error"],
    ["msg", 'forged\ntime=x level=fatal msg="root"'],
  ]);
});

test("logfmt keys are percent-encoded where a character would end them, never quoted", () => {
  const { root, lines } = capture(LOGFMT, () => NOW);
  root.info("m", {
    "user id": 1,
    "a=b": 2,
    'q"k': 3,
    "100%": 4,
    "line\nbreak": 5,
    "": 6,
    "zoë.😀": 7,
  });
  assert.match(
    lines[0],
    / user%20id=1 a%3Db=2 q%22k=3 100%25=4 line%0Abreak=5 fields\.=6 zoë\.😀=7\n$/,
  );
  assert.deepEqual(parse(lines[0]).slice(3).map(([key]) => key), [
    "user id",
    "a=b",
    'q"k',
    "100%",
    "line\nbreak",
    "fields.",
    "zoë.😀",
  ]);
});

test("whatever the strings, a logfmt reader reads back the message, namespace, keys and values", () => {
  // A small seeded generator (the same strings on every run) over what logfmt must escape.
  const pieces = [
    '"',
    "\\",
    "=",
    " ",
    "\n",
    "\r",
    "\t",
    "\u0000",
    "\u001b",
    "\u007f",
    "\u0085",
    "\u009b",
    "\u00a0",
    "\u2028",
    "\u2029",
    "\ufeff",
    "%",
    "%41",
    ".",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "é",
    "😀",
    "\ud800",
    "\udfff",
    "a",
    "b",
    "1",
    "-",
    "true",
    "null",
  ];
  let seed = 7;
  const random = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % n;
  };
  const randomString = () => {
    let s = "";
    for (let n = random(8); n > 0; n--) s += pieces[random(pieces.length)];
    return s;
  };
  const lineNames = ["time", "level", "namespace", "msg", "trace_id", "span_id"];
  const { root, lines } = capture({ ...LOGFMT, maxValueLength: 1_000 }, () => NOW);
  for (let run = 0; run < 2_000; run++) {
    const [message, name, value, namespace] = [1, 2, 3, 4].map(randomString);
    (namespace === "" ? root : root.namespace(namespace)).info(message, {
      [name]: value,
      nested: { [name]: value },
    });
    const line = lines[lines.length - 1];
    const pairs = pairsOf(line);
    // A key is percent-encoded UTF-8, which has no bytes for a lone surrogate: it reads
    // back as U+FFFD. Values are JSON string literals and keep it.
    const key = name === "" || lineNames.includes(name) ? `fields.${name}` : name;
    const expected: Record<string, string> = {
      time: ISO,
      level: "info",
      ...(namespace === "" ? {} : { namespace }),
      msg: message,
      [key.toWellFormed()]: value,
      [`nested.${name}`.toWellFormed()]: value,
    };
    assert.deepEqual(pairs, expected, line);
  }
});

test("nested objects are flattened into dotted keys; arrays and empty objects are JSON", () => {
  const { root, lines } = capture(LOGFMT, () => NOW);
  root.info("m", {
    user: { id: 7, role: "admin", address: { city: "Oslo" } },
    ids: [1, 2, 3],
    tags: ["a", "b c"],
    empty: {},
    none: null,
    skipped: undefined,
    list: [{ a: 1 }],
  });
  assert.equal(
    lines[0],
    `time=${ISO} level=info msg=m user.id=7 user.role=admin user.address.city=Oslo ` +
      'ids=[1,2,3] tags="[\\"a\\",\\"b c\\"]" empty={} none=null list="[{\\"a\\":1}]"\n',
  );
  assert.deepEqual(JSON.parse(pairsOf(lines[0]).tags), ["a", "b c"]);
});

test("logfmt redacts and truncates exactly as the JSON line of the same record", () => {
  const { root, lines } = capture({
    maxValueLength: 32,
    sinks: [{ type: "stream", name: "lines" }, { type: "stream", name: "lines", format: "logfmt" }],
  }, () => NOW);
  const long = "x".repeat(100);
  root.with({ token: "bound secret" }).info(long, {
    password: "hunter2",
    nested: { Authorization: "Bearer abc", deeper: { apiKey: "k", keep: long } },
    list: [{ secret: "s" }],
    [long]: "long key",
  });
  const json = JSON.parse(lines[0]);
  const logfmt = pairsOf(lines[1]);
  assert.equal(logfmt.msg, json.msg);
  assert.match(logfmt.msg, /^x{32}…\[truncated 68 chars\]$/);
  assert.equal(logfmt.token, "[REDACTED]");
  assert.equal(logfmt.password, "[REDACTED]");
  assert.equal(logfmt["nested.Authorization"], "[REDACTED]");
  assert.equal(logfmt["nested.deeper.apiKey"], "[REDACTED]");
  assert.equal(logfmt["nested.deeper.keep"], json.nested.deeper.keep);
  assert.deepEqual(JSON.parse(logfmt.list), json.list);
  const longKey = Object.keys(json).find((key) => key.startsWith("xxx"))!;
  assert.match(longKey, /truncated/);
  assert.equal(logfmt[longKey], "long key");
  assert.doesNotMatch(lines[1], /hunter2|Bearer|bound secret/);
});

test("a very long logfmt value is cut, saying how much, and the line stays bounded", () => {
  const { root, lines } = capture({ ...LOGFMT, maxValueLength: 100 }, () => NOW);
  const huge = "a b ".repeat(1_000_000);
  root.info("m", { huge, shared: Array.from({ length: 100 }, () => huge) });
  assert.ok(lines[0].length < 64 * 100 * 2, `${lines[0].length} characters`);
  const read = pairsOf(lines[0]);
  assert.equal(read.huge, `${"a b ".repeat(25)}…[truncated 3999900 chars]`);
  const shared = JSON.parse(read.shared) as string[];
  assert.ok(shared.length < 100);
  assert.equal(shared.at(-1), "[truncated: line size limit]");
});

test("circular objects, BigInt, symbols, functions and odd numbers are written readably", () => {
  const { root, lines } = capture(LOGFMT, () => NOW);
  const loop: Record<string, unknown> = { name: "loop" };
  loop.self = loop;
  root.info("m", {
    loop,
    big: 2n ** 70n,
    sym: Symbol("s"),
    fn: function handler() {},
    nan: NaN,
    inf: -Infinity,
    date: new Date(NOW),
    map: new Map([["k", { v: 1 }]]),
  });
  assert.match(
    lines[0],
    / loop\.name=loop loop\.self=\[Circular\] big=1180591620717411303424 sym=Symbol\(s\) /,
  );
  assert.match(lines[0], / fn="\[Function handler\]" nan=NaN inf=-Infinity date=2025-11-23T/);
  assert.match(lines[0], / map\.k\.v=1\n$/);
});

test("an error is flattened with its name, message, code, stack and cause chain", () => {
  const { root, lines } = capture({ ...LOGFMT, stackCooldownMs: 0 }, () => NOW);
  const cause = Object.assign(new TypeError("socket closed"), { code: "ECONNRESET" });
  const error = new Error("query failed", { cause });
  root.error("db", { err: error });
  const read = pairsOf(lines[0]);
  assert.equal(read["err.name"], "Error");
  assert.equal(read["err.message"], "query failed");
  assert.match(read["err.stack"], /^Error: query failed\n {4}at /);
  assert.equal(read["err.cause.name"], "TypeError");
  assert.equal(read["err.cause.message"], "socket closed");
  assert.equal(read["err.cause.code"], "ECONNRESET");
  assert.match(read["err.cause.stack"], /^TypeError: socket closed\n/);
});

test("jsonKeys rename the keys of logfmt lines; a field with such a name becomes fields.<name>", () => {
  const jsonKeys = { time: "@timestamp", message: "content", namespace: "logger" };
  const { root, lines } = capture({ ...LOGFMT, jsonKeys, service: "svc" }, () => NOW);
  root.namespace("db").info("slow", { content: "field", msg: "free", ms: 900 });
  assert.equal(
    lines[0],
    `@timestamp=${ISO} level=info logger=svc.db content=slow fields.content=field msg=free ` +
      "ms=900\n",
  );
});

test("context and bound fields are in logfmt lines, each once, the call's winning", () => {
  const { root, lines } = capture(LOGFMT, () => NOW);
  withContext({ request_id: "r-1", user_id: 1 }, () => {
    root.with({ region: "eu", user_id: 0 }).info("m", { user_id: 42 });
  });
  assert.equal(lines[0], `time=${ISO} level=info msg=m region=eu request_id=r-1 user_id=42\n`);
});

test("the trace and span ids end a logfmt line, under the jsonKeys names", () => {
  assert.ok(context.setGlobalContextManager(new TestContextManager()));
  try {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const spanId = "00f067aa0ba902b7";
    const span = trace.wrapSpanContext({ traceId, spanId, traceFlags: 1 });
    const plain = capture(LOGFMT, () => NOW);
    const renamed = capture({ ...LOGFMT, jsonKeys: { traceId: "trace", spanId: "span" } });
    context.with(trace.setSpan(context.active(), span), () => {
      plain.root.info("m", { a: 1 });
      renamed.root.info("m");
    });
    assert.equal(
      plain.lines[0],
      `time=${ISO} level=info msg=m a=1 trace_id=${traceId} span_id=${spanId}\n`,
    );
    assert.match(renamed.lines[0], new RegExp(` trace=${traceId} span=${spanId}\n$`));
  } finally {
    context.disable();
  }
});

test("a namespace that is not one word is quoted in logfmt lines", () => {
  const { root, lines } = capture(LOGFMT, () => NOW);
  root.namespace("odd name").info("m");
  assert.equal(lines[0], `time=${ISO} level=info namespace="odd name" msg=m\n`);
});

test("a sink's own logfmt format overrides the config's, and a hot reload switches to it", async () => {
  const { root, lines } = capture({
    sinks: [{ type: "stream", name: "lines" }, { type: "stream", name: "lines", format: "logfmt" }],
  }, () => NOW);
  root.info("both");
  assert.deepEqual(JSON.parse(lines[0]).msg, "both");
  assert.equal(lines[1], `time=${ISO} level=info msg=both\n`);
  await root.hotReload({ format: "logfmt", sinks: [{ type: "stream", name: "lines" }] });
  root.info("after");
  await root.hotReload({ format: "text", sinks: [{ type: "stream", name: "lines" }] });
  root.info("text");
  assert.equal(lines[2], `time=${ISO} level=info msg=after\n`);
  assert.equal(lines[3], `${ISO} INFO  text\n`);
});

test("a file sink writes logfmt lines too", async () => {
  const dir = mkdtempSync(join(tmpdir(), "clog-logfmt-"));
  try {
    const { root } = capture({
      format: "logfmt",
      sinks: [{ type: "file", path: join(dir, "app.log") }],
    }, () => NOW);
    root.info("to file", { n: 1 });
    await root.close();
    assert.equal(
      readFileSync(join(dir, "app.log"), "utf8"),
      `time=${ISO} level=info msg="to file" n=1\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an unknown format, at the root or on a sink, is InvalidArgument naming the field", () => {
  const check = (config: unknown, field: string) =>
    assert.throws(() => validateConfig(config), (error: unknown) => {
      assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
      assert.equal(error.details.field, field);
      assert.match(error.message, /must be one of "json", "text", "logfmt", got "logfm"/);
      return true;
    });
  check({ format: "logfm" }, "format");
  check({ sinks: [{ type: "console", format: "logfm" }] }, "sinks[0].format");
  validateConfig({ format: "logfmt", sinks: [{ type: "file", path: "/tmp/x", format: "logfmt" }] });
});

test("a hot reload to an unknown format is rejected and the logfmt lines go on", async () => {
  const { root, lines } = capture(LOGFMT, () => NOW);
  await assert.rejects(
    root.hotReload({ format: "xml" as "json", sinks: [{ type: "stream", name: "lines" }] }),
    (error: unknown) => InfraError.is(error, "InvalidArgument"),
  );
  root.info("still");
  assert.equal(lines[0], `time=${ISO} level=info msg=still\n`);
});

test("a flattened key that another field of the line already has gets one more fields. in front", () => {
  const { root, lines } = capture({ format: "logfmt" });
  root.info("m", { level: "renamed", fields: { level: "nested" } });
  root.info("m", { "a.b": 1, a: { b: 2 } });
  const keys = lines.map((line) => line.trimEnd().split(" msg=m ")[1].split(" "));
  assert.deepEqual(keys, [
    ["fields.level=renamed", "fields.fields.level=nested"],
    ["a.b=1", "fields.a.b=2"],
  ]);
});

test("a flattened field does not pass for a line key with a dot that jsonKeys gives", () => {
  const { root, lines } = capture({ format: "logfmt", jsonKeys: { level: "log.level" } });
  root.info("m", { log: { level: "mine" } });
  assert.match(lines[0], / log\.level=info .* fields\.log\.level=mine\n$/);
});
