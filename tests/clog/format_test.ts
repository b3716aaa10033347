import { test } from "node:test";
import assert from "node:assert/strict";
import { type ClogConfig, withContext } from "../../clog/mod.ts";
import { capture } from "./_capture.ts";

const NOW = Date.UTC(2025, 10, 23, 20, 48, 0, 123);
const ISO = "2025-11-23T20:48:00.123Z";

test("a JSON line starts with time, level, namespace and message, then the fields", () => {
  const { root, lines } = capture({ service: "im-logic" }, () => NOW);
  root.namespace("get_user").with({ region: "eu" }).info("user loaded", { userId: 42, ok: true });
  assert.equal(
    lines[0],
    `{"time":"${ISO}","level":"info","namespace":"im-logic.get_user","msg":"user loaded",` +
      `"region":"eu","userId":42,"ok":true}\n`,
  );
});

test("jsonKeys renames the members of a JSON line, and the others keep their names", () => {
  const jsonKeys = { time: "@timestamp", message: "content", namespace: "logger" };
  const { root, lines } = capture({ service: "im-logic", jsonKeys }, () => NOW);
  root.namespace("get_user").warn("slow", { ms: 900 });
  assert.equal(
    lines[0],
    `{"@timestamp":"${ISO}","level":"warn","logger":"im-logic.get_user","content":"slow",` +
      `"ms":900}\n`,
  );
});

test("a field named like a renamed member is written as fields.<name>; the old names are free", () => {
  const { root, json } = capture({ jsonKeys: { time: "@timestamp", level: "severity" } });
  root.info("x", { "@timestamp": 1, severity: 2, time: 3, level: 4 });
  const line = json()[0];
  assert.deepEqual(
    [line["fields.@timestamp"], line["fields.severity"], line.time, line.level],
    [1, 2, 3, 4],
  );
});

test("a hot reload renames the members of JSON lines for loggers obtained before it", async () => {
  const { root, json } = capture({ service: "svc" }, () => NOW);
  const logger = root.namespace("db");
  logger.info("before");
  await root.hotReload({
    service: "svc",
    jsonKeys: { message: "message" },
    sinks: [{ type: "stream", name: "lines" }],
  });
  logger.info("after");
  assert.deepEqual(json().map((line) => [line.msg, line.message]), [
    ["before", undefined],
    [undefined, "after"],
  ]);
});

test("JSON strings are escaped, whatever they contain", () => {
  const { root, json } = capture();
  const nasty = 'quote " backslash \\ newline \n tab \t nul \u0000 lone \ud800 emoji 😀';
  root.info(nasty, { [nasty]: nasty });
  const line = json()[0];
  assert.equal(line.msg, nasty);
  assert.equal(line[nasty], nasty);
});

test("JSON lines leave no DEL, C1 control or line separator raw, and still round-trip", () => {
  const odd = "del \u007f nel \u0085 csi \u009b[31m ls \u2028 ps \u2029 end";
  const raw = /[\u007f-\u009f\u2028\u2029]/;
  const { root, lines, json } = capture();
  root.namespace(odd).with({ [odd]: odd }).info(odd, { nested: { [odd]: [odd] } });
  assert.doesNotMatch(lines[0], raw);
  assert.match(lines[0], /del \\u007f nel \\u0085 csi \\u009b\[31m ls \\u2028 ps \\u2029 end/);
  const line = json()[0] as Record<string, Record<string, string[]>>;
  assert.deepEqual([line.namespace, line.msg, line[odd], line.nested[odd]], [odd, odd, odd, [odd]]);
  // The line written when formatting fails (here: the clock throws).
  const failing = capture({}, () => {
    throw new Error(odd);
  });
  failing.root.info(odd);
  assert.doesNotMatch(failing.lines[0], raw);
  assert.deepEqual(failing.json()[0].msg, odd);
  assert.deepEqual(failing.json()[0].clog_error, `formatting failed: ${odd}`);
});

/** JSON lines, text lines and records, in that order. */
const EVERY_FORMAT: ClogConfig = {
  sinks: [
    { type: "stream", name: "lines" },
    { type: "stream", name: "lines", format: "text" },
    { type: "custom", name: "records" },
  ],
};

test("each field is written once: the call's over the context's over the bound ones", () => {
  const { root, lines, records } = capture(EVERY_FORMAT, () => NOW);
  const child = root.with({ a: "bound", b: "bound", c: "bound" });
  withContext({ b: "context", c: "context", d: "context" }, () => {
    child.info("x", { c: "call", e: "call" });
  });
  assert.deepEqual(lines, [
    `{"time":"${ISO}","level":"info","msg":"x",` +
    `"a":"bound","b":"context","d":"context","c":"call","e":"call"}\n`,
    `${ISO} INFO  x a=bound b=context d=context c=call e=call\n`,
  ]);
  assert.deepEqual(records[0].fields, {
    a: "bound",
    b: "context",
    d: "context",
    c: "call",
    e: "call",
  });
});

test("a field bound again by a child is written once, with the child's value", () => {
  const { root, lines } = capture(EVERY_FORMAT, () => NOW);
  const parent = root.with({ a: 1, b: 1 });
  const child = parent.with({ a: 2 }).namespace("n").with({ c: 3 });
  child.info("child");
  parent.info("parent");
  assert.deepEqual(lines, [
    `{"time":"${ISO}","level":"info","namespace":"n","msg":"child","a":2,"b":1,"c":3}\n`,
    `${ISO} INFO  n child a=2 b=1 c=3\n`,
    `{"time":"${ISO}","level":"info","msg":"parent","a":1,"b":1}\n`,
    `${ISO} INFO  parent a=1 b=1\n`,
  ]);
});

test("a field named like one of the line's own members is written as fields.<name>", () => {
  const { root, lines, records } = capture({ ...EVERY_FORMAT, service: "svc" }, () => NOW);
  root.with({ level: "bound" }).info("real", {
    time: 1,
    level: "call", // overrides the bound one
    namespace: "n",
    msg: "m",
    trace_id: "t",
    span_id: "s",
    "fields.msg": "taken", // moves aside too, so that no two fields share a name
    nested: { level: "kept" }, // inside a value, no name can collide
  });
  const renamed = '"fields.time":1,"fields.level":"call","fields.namespace":"n","fields.msg":"m",' +
    '"fields.trace_id":"t","fields.span_id":"s","fields.fields.msg":"taken"';
  assert.deepEqual(lines, [
    `{"time":"${ISO}","level":"info","namespace":"svc","msg":"real",${renamed},` +
    `"nested":{"level":"kept"}}\n`,
    `${ISO} INFO  svc real fields.time=1 fields.level=call fields.namespace=n fields.msg=m ` +
    `fields.trace_id=t fields.span_id=s fields.fields.msg=taken nested={"level":"kept"}\n`,
  ]);
  assert.deepEqual(records[0].fields, JSON.parse(`{${renamed},"nested":{"level":"kept"}}`));
});

test("a text line reads time, level, namespace, message, then key=value fields", () => {
  const { root, lines } = capture({ format: "text", service: "im-logic" }, () => NOW);
  root.namespace("get_user").with({ region: "eu" }).warn("user slow", {
    userId: 42,
    path: "/a b",
    tags: ["x"],
  });
  assert.equal(
    lines[0],
    `${ISO} WARN  im-logic.get_user user slow region=eu userId=42 path="/a b" tags=["x"]\n`,
  );
});

test("text lines are coloured only when asked", () => {
  const plain = capture({ format: "text", color: false });
  plain.root.error("x", { a: 1 });
  assert.ok(!plain.lines[0].includes("\x1b["));
  const coloured = capture({ format: "text", color: true });
  coloured.root.error("x", { a: 1 });
  assert.ok(coloured.lines[0].includes("\x1b[31mERROR\x1b[0m"));
});

test("color auto never colours a stream sink", () => {
  const { root, lines } = capture({ format: "text", color: "auto" });
  root.info("x");
  assert.ok(!lines[0].includes("\x1b["));
});

test("a text line puts error stacks and causes below it", () => {
  const { root, lines } = capture({ format: "text" });
  const cause = new Error("connection refused");
  root.error("query failed", { err: new Error("query failed", { cause }) });
  const [first, ...rest] = lines[0].trimEnd().split("\n");
  assert.match(first, /ERROR query failed err="Error: query failed"$/);
  assert.match(rest[0], /^ {4}Error: query failed$/);
  assert.ok(rest.some((line) => /^ {4}Caused by: Error: connection refused$/.test(line)));
  assert.ok(rest.some((line) => /^ {8}at /.test(line)));
});

test("bound and context errors put their stacks below every text line, not just the first", async () => {
  const { root, lines } = capture({ format: "text" });
  const child = root.with({ err: new Error("bound") });
  child.error("first");
  child.error("second");
  await withContext({ cause: new Error("scoped") }, async () => {
    await Promise.resolve();
    child.error("third");
  });
  const stacks = lines.map((line) => line.split("\n").filter((l) => /^ {4}Error: /.test(l)));
  assert.deepEqual(stacks, [
    ["    Error: bound"],
    ["    Error: bound"],
    ["    Error: bound", "    Error: scoped"],
  ]);
});

test("each sink may choose its own format", () => {
  const { root, lines } = capture({
    format: "json",
    sinks: [{ type: "stream", name: "lines" }, { type: "stream", name: "lines", format: "text" }],
  }, () => NOW);
  root.info("both", { a: 1 });
  assert.equal(JSON.parse(lines[0]).a, 1);
  assert.equal(lines[1], `${ISO} INFO  both a=1\n`);
});

test("every line ends with exactly one newline", () => {
  const { root, lines } = capture({
    sinks: [{ type: "stream", name: "lines" }, { type: "stream", name: "lines", format: "text" }],
  });
  root.info("multi\nline message", { note: "a\nb" });
  assert.equal(lines[0].split("\n").length, 2);
  assert.equal(lines[1].split("\n").length, 2);
  assert.ok(lines[1].endsWith("\n"));
});

test("a text message with control characters is quoted, so it cannot forge a line", () => {
  const { root, lines } = capture({ format: "text" }, () => NOW);
  root.info("hi\n2025-01-01T00:00:00.000Z ERROR admin password reset \x1b[2J\u009b2J");
  assert.equal(
    lines[0],
    `${ISO} INFO  "hi\\n2025-01-01T00:00:00.000Z ERROR admin password reset ` +
      `\\u001b[2J\\u009b2J"\n`,
  );
});

test("text keys, values and namespaces that are not plain words are quoted and escaped", () => {
  const { root, lines } = capture({ format: "text" }, () => NOW);
  root.namespace("x\ny").info("m", { "a b\nc=d": 1, v: "\u009b2J", o: { k: "\x7f" } });
  assert.equal(
    lines[0],
    `${ISO} INFO  "x\\ny" m "a b\\nc=d"=1 v="\\u009b2J" o={"k":"\\u007f"}\n`,
  );
});

test("a text value holding a lone surrogate is quoted with it escaped, an emoji stays bare", () => {
  const { root, lines } = capture({ format: "text" }, () => NOW);
  root.info("m", { half: "x\udc00", whole: "😀" });
  assert.equal(lines[0], `${ISO} INFO  m half="x\\udc00" whole=😀\n`);
});

test("the stack lines below a text line carry no terminal escapes", () => {
  const { root, lines } = capture({ format: "text" });
  root.error("failed", { err: new Error("evil\x1b[2J\rmessage") });
  const [first, ...rest] = lines[0].trimEnd().split("\n");
  assert.match(first, /err="Error: evil\\u001b\[2J\\rmessage"$/);
  assert.equal(rest[0], "    Error: evil\\u001b[2J\\u000dmessage");
  assert.ok(!lines[0].includes("\x1b") && !lines[0].includes("\r"));
});
