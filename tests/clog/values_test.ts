// deno-lint-ignore-file no-explicit-any -- parsed JSON lines are navigated freely
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { contextFields, create, type LogRecord, withContext } from "../../clog/mod.ts";
import { capture } from "./_capture.ts";

test("an error is serialized with name, message, stack and its own properties", () => {
  const { root, json } = capture();
  const error = Object.assign(new TypeError("bad input"), { errno: 22 });
  root.error("failed", { err: error });
  const err = json()[0].err as Record<string, unknown>;
  assert.equal(err.name, "TypeError");
  assert.equal(err.message, "bad input");
  assert.equal(err.errno, 22);
  assert.match(err.stack as string, /^TypeError: bad input\n\s+at /);
});

test("an InfraError keeps its code and component, and its cause chain", () => {
  const { root, json } = capture();
  const root_cause = new Error("ECONNREFUSED");
  const middle = new Error("connect failed", { cause: root_cause });
  root.error("cache down", {
    err: new InfraError("Unavailable", "redis unreachable", { component: "cache", cause: middle }),
  });
  const err = json()[0].err as Record<string, any>;
  assert.equal(err.name, "InfraError");
  assert.equal(err.code, "Unavailable");
  assert.equal(err.component, "cache");
  assert.equal(err.message, "cache: redis unreachable");
  assert.equal(err.cause.message, "connect failed");
  assert.equal(err.cause.cause.message, "ECONNREFUSED");
  assert.match(err.cause.cause.stack, /ECONNREFUSED/);
});

test("a cause that is not an error, and a cyclic cause chain, are written safely", () => {
  const { root, json } = capture();
  const a = new Error("a");
  const b = new Error("b", { cause: a });
  (a as { cause?: unknown }).cause = b;
  root.error("cycle", { err: a, other: new Error("x", { cause: { code: 7 } }) });
  const line = json()[0] as Record<string, any>;
  assert.equal(line.err.cause.message, "b");
  assert.equal(line.err.cause.cause, "[Circular]");
  assert.deepEqual(line.other.cause, { code: 7 });
});

test("an error whose stack, cause or errors cannot be read keeps its name and message", () => {
  const { root, lines } = capture({
    sinks: [{ type: "stream", name: "lines" }, { type: "stream", name: "lines", format: "text" }],
  });
  const error = new AggregateError([], "real message");
  for (const part of ["stack", "cause", "errors"]) {
    Object.defineProperty(error, part, {
      get() {
        throw new Error(`${part} exploded`);
      },
    });
  }
  root.error("x", { err: error });
  assert.deepEqual(JSON.parse(lines[0]).err, {
    name: "AggregateError",
    message: "real message",
    stack: "[Thrown: stack exploded]",
    cause: "[Thrown: cause exploded]",
  });
  assert.match(lines[1], /err="AggregateError: real message"\n {4}\[Thrown: stack exploded\]\n/);
});

test("an AggregateError lists its errors", () => {
  const { root, json } = capture();
  root.error("many", { err: new AggregateError([new Error("one"), new Error("two")], "both") });
  const err = json()[0].err as Record<string, any>;
  assert.deepEqual(err.errors.map((e: { message: string }) => e.message), ["one", "two"]);
});

test("an error passed as the fields is logged under err", () => {
  const { root, json } = capture();
  root.error("failed", new Error("boom") as unknown as Record<string, unknown>);
  assert.equal((json()[0].err as { message: string }).message, "boom");
});

test("the default redacted keys are replaced at any depth, whatever their case", () => {
  const { root, json } = capture();
  root.info("login", {
    user: "ada",
    password: "hunter2",
    headers: { Authorization: "Bearer x", accept: "json" },
    list: [{ token: "t1" }, { nested: { deeper: { TOKEN: "t2" } } }],
  });
  assert.deepEqual(json()[0], {
    ...json()[0],
    user: "ada",
    password: "[REDACTED]",
    headers: { Authorization: "[REDACTED]", accept: "json" },
    list: [{ token: "[REDACTED]" }, { nested: { deeper: { TOKEN: "[REDACTED]" } } }],
  });
});

test("the defaults also cover API key, proxy and OAuth client headers and fields, and private keys", () => {
  const { root, json } = capture();
  root.info("call", {
    headers: new Headers({
      "x-api-key": "k1",
      "proxy-authorization": "Basic p",
      "x-auth-token": "t",
      accept: "json",
    }),
    oauth: { client_id: "app", client_secret: "s1", clientSecret: "s2" },
    tls: { privateKey: "-----BEGIN", private_key: "-----BEGIN", passphrase: "pp" },
    credentials: { user: "u", pass: "p" },
  });
  const line = JSON.stringify(json()[0]);
  for (const secret of ["k1", "Basic p", `"t"`, "s1", "s2", "-----BEGIN", `"pp"`, `"p"`]) {
    assert.ok(!line.includes(secret), `${secret} in ${line}`);
  }
  assert.match(line, /"accept":"json"/);
  assert.match(line, /"client_id":"app"/);
});

test("configured redact keys replace the defaults, in bound fields and text too", () => {
  const { root, lines } = capture({
    redactKeys: ["ssn"],
    sinks: [{ type: "stream", name: "lines" }, { type: "stream", name: "lines", format: "text" }],
  });
  root.with({ ssn: "123" }).info("x", { password: "visible", inner: { SSN: "456" } });
  const line = JSON.parse(lines[0]);
  assert.equal(line.ssn, "[REDACTED]");
  assert.equal(line.inner.SSN, "[REDACTED]");
  assert.equal(line.password, "visible");
  assert.match(lines[1], /ssn=\[REDACTED\]/);
  assert.doesNotMatch(lines[1], /123|456/);
});

test("keys of a Map and objects inside a Map or a Set are redacted too", () => {
  const { root, lines } = capture({
    sinks: [{ type: "stream", name: "lines" }, { type: "stream", name: "lines", format: "text" }],
  });
  root.info("x", {
    headers: new Map<unknown, unknown>([["Cookie", "sid=1"], ["accept", "json"]]),
    sessions: new Set([{ user: "ada", refresh_token: "r-1" }]),
    nested: new Map([["a", new Set([new Map([["apiKey", "k-1"]])])]]),
  });
  assert.deepEqual(JSON.parse(lines[0]).headers, { Cookie: "[REDACTED]", accept: "json" });
  assert.deepEqual(JSON.parse(lines[0]).sessions, [{ user: "ada", refresh_token: "[REDACTED]" }]);
  assert.deepEqual(JSON.parse(lines[0]).nested, { a: [{ apiKey: "[REDACTED]" }] });
  for (const line of lines) assert.doesNotMatch(line, /sid=1|r-1|k-1/);
});

test("errors' own properties are redacted too", () => {
  const { root, lines } = capture();
  root.error("x", { err: Object.assign(new Error("e"), { token: "secret-token" }) });
  assert.doesNotMatch(lines[0], /secret-token/);
});

test("strings longer than maxValueLength are cut, saying how much", () => {
  const { root, json } = capture({ maxValueLength: 100 });
  root.info("m".repeat(150), { long: "x".repeat(1000), nested: { long: "y".repeat(101) } });
  const line = json()[0] as Record<string, any>;
  assert.equal(line.msg, "m".repeat(100) + "…[truncated 50 chars]");
  assert.equal(line.long, "x".repeat(100) + "…[truncated 900 chars]");
  assert.equal(line.nested.long, "y".repeat(100) + "…[truncated 1 chars]");
});

test("a string is never cut inside a surrogate pair", () => {
  const { root, json } = capture({ maxValueLength: 16 });
  root.info("x", { v: "a".repeat(15) + "😀" + "bbbb" });
  assert.equal(json()[0].v, "a".repeat(15) + "…[truncated 6 chars]");
});

test("a huge string does not make a huge line", () => {
  const { root, lines } = capture();
  root.info("big", { blob: "z".repeat(20_000_000) });
  assert.ok(lines[0].length < 17_000);
});

test("values JSON has no form for are written readably", () => {
  const { root, json } = capture();
  const fields = {
    big: 12345678901234567890n,
    sym: Symbol("tag"),
    fn: function handler() {},
    undef: undefined,
    nan: NaN,
    inf: -Infinity,
    date: new Date(0),
    bad: new Date(NaN),
    map: new Map<unknown, unknown>([["a", 1], [2, "b"]]),
    set: new Set([1, 2]),
    bytes: new Uint8Array(16),
    url: new URL("https://example.com/a"),
    nil: null,
    bare: Object.assign(Object.create(null), { a: 1 }),
    arr: [undefined, Symbol("s"), 1n],
  };
  root.info("odd values", fields);
  const line = json()[0];
  assert.deepEqual(line, {
    time: line.time,
    level: "info",
    msg: "odd values",
    big: "12345678901234567890",
    sym: "Symbol(tag)",
    fn: "[Function handler]",
    nan: "NaN",
    inf: "-Infinity",
    date: "1970-01-01T00:00:00.000Z",
    bad: "Invalid Date",
    map: { a: 1, 2: "b" },
    set: [1, 2],
    bytes: "[Uint8Array 16 bytes]",
    url: "https://example.com/a",
    nil: null,
    bare: { a: 1 },
    arr: [null, "Symbol(s)", "1"],
  });
});

test("a circular object is written with [Circular] where it repeats", () => {
  const { root, json } = capture();
  const a: Record<string, unknown> = { name: "a" };
  a.self = a;
  a.list = [a];
  root.info("loop", { a });
  const line = json()[0] as Record<string, any>;
  assert.equal(line.a.self, "[Circular]");
  assert.deepEqual(line.a.list, ["[Circular]"]);
});

test("a shared (not circular) object is written each time", () => {
  const { root, json } = capture();
  const shared = { v: 1 };
  root.info("x", { one: shared, two: shared, both: [shared, shared] });
  const line = json()[0];
  assert.deepEqual([line.one, line.two, line.both], [{ v: 1 }, { v: 1 }, [{ v: 1 }, { v: 1 }]]);
});

test("very deep and very wide values are bounded", () => {
  const { root, json } = capture();
  let deep: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < 50; i++) deep = { deep };
  root.info("x", { deep, wide: Array.from({ length: 5000 }, (_, i) => i) });
  const line = json()[0] as Record<string, any>;
  assert.match(JSON.stringify(line.deep), /"\[Object\]"/);
  assert.equal(line.wide.length, 1001);
  assert.equal(line.wide[1000], "… 4000 more items");
});

test("an object with more than 1,000 keys is cut, saying how many were left", () => {
  const { root, json } = capture();
  const wide = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, i]));
  root.info("wide", { nested: wide });
  root.info("wide at the top", wide);
  const [nested, top] = json() as Record<string, any>[];
  assert.equal(Object.keys(nested.nested).length, 1001);
  assert.equal(nested.nested["…"], "199000 more keys");
  assert.equal(top.k999, 999);
  assert.equal(top["…"], "199000 more keys");
  assert.equal(top.k1000, undefined);
});

test("a huge key is cut like a value", () => {
  const { root, lines } = capture({
    maxValueLength: 100,
    sinks: [{ type: "stream", name: "lines" }, { type: "stream", name: "lines", format: "text" }],
  });
  root.info("x", { ["K".repeat(1_000_000)]: 1 });
  const key = "K".repeat(100) + "…[truncated 999900 chars]";
  assert.equal(JSON.parse(lines[0])[key], 1);
  assert.ok(lines[1].endsWith(` ${JSON.stringify(key)}=1\n`));
});

test("fields are cut at 64 times maxValueLength, however often their parts are shared", () => {
  const { root, lines } = capture({
    maxValueLength: 1_000,
    sinks: [{ type: "stream", name: "lines" }, { type: "stream", name: "lines", format: "text" }],
  });
  let shared: unknown = { v: 1 };
  for (let i = 0; i < 4; i++) shared = Array(30).fill(shared);
  root.info("shared", { shared });
  root.info("long strings", { items: Array.from({ length: 1_000 }, () => "x".repeat(1_000)) });
  const [sharedJson, sharedText, longJson, longText] = lines;
  for (const line of lines) assert.ok(line.length < 64_000 + 2 * 1_100, `${line.length}`);
  assert.match(sharedJson, /"\[truncated: line size limit\]"\]+\}\n$/);
  assert.match(sharedText, /"\[truncated: line size limit\]"\]+\n$/);
  const items = JSON.parse(longJson).items;
  assert.equal(items.at(-1), "[truncated: line size limit]");
  assert.ok(items.length > 60 && items.length < 70);
  assert.match(longText, /"\[truncated: line size limit\]"\]\n$/);
});

test("a log call never throws, whatever it is given", () => {
  const { root, lines } = capture({
    sinks: [
      { type: "stream", name: "lines" },
      { type: "stream", name: "lines", format: "text" },
      { type: "custom", name: "records" },
    ],
  });
  const throwingGetter = {
    get boom(): never {
      throw new Error("getter exploded");
    },
    ok: 1,
  };
  const throwingToJSON = {
    toJSON(): never {
      throw new Error("toJSON exploded");
    },
  };
  const hostileProxy = new Proxy({}, {
    ownKeys() {
      throw new Error("ownKeys exploded");
    },
    get() {
      throw new Error("get exploded");
    },
  });
  const hostileDescriptors = new Proxy({ boom: 1 }, {
    getOwnPropertyDescriptor() {
      throw new Error("getOwnPropertyDescriptor exploded");
    },
  });
  const errorWithThrowingName = new Error("x");
  Object.defineProperty(errorWithThrowingName, "name", {
    get() {
      throw new Error("name exploded");
    },
  });
  const cases: unknown[] = [
    throwingGetter,
    { nested: throwingGetter },
    { value: throwingToJSON },
    hostileProxy,
    { proxy: hostileProxy },
    { err: errorWithThrowingName },
    () => {
      throw new Error("lazy exploded");
    },
    () => "not an object",
    "a string instead of fields",
    42,
    null,
    Symbol("fields"),
    { [Symbol("k")]: 1, s: Symbol("v") },
    hostileDescriptors,
  ];
  // Bound and context fields that the call's may override: those are looked up in them.
  const logger = root.with({ boom: "bound" });
  withContext({ ok: "context" }, () => {
    for (const fields of cases) {
      assert.doesNotThrow(() => logger.info("case", fields as Record<string, unknown>));
    }
  });
  const messages: unknown[] = [undefined, null, 12, { a: 1 }, Symbol("m"), 5n, {
    toString(): never {
      throw new Error("toString exploded");
    },
  }];
  for (const message of messages) {
    assert.doesNotThrow(() => root.info(message as string));
  }
  const total = cases.length + messages.length;
  assert.equal(lines.length, total * 2);
  for (let i = 0; i < lines.length; i += 2) JSON.parse(lines[i]);
  const first = JSON.parse(lines[0]);
  assert.equal(first.boom, "[Thrown: getter exploded]");
  assert.equal(first.ok, 1);
  assert.equal(JSON.parse(lines[4]).value, "[Thrown: toJSON exploded]");
  assert.match(JSON.parse(lines[12]).clog_error, /lazy exploded/);
});

test("with() and withContext() never throw, whatever fields they are given", () => {
  const { root, json } = capture();
  const throwingGetter = {
    get boom(): never {
      throw new Error("getter exploded");
    },
    ok: 1,
  };
  const hostileProxy = new Proxy({}, {
    ownKeys() {
      throw new Error("ownKeys exploded");
    },
    getPrototypeOf() {
      throw new Error("getPrototypeOf exploded");
    },
  });
  for (const fields of [throwingGetter, hostileProxy, null, 7]) {
    assert.doesNotThrow(() => root.with(fields as Record<string, unknown>).info("bound"));
    assert.doesNotThrow(() =>
      withContext(fields as Record<string, unknown>, () => root.info("scoped"))
    );
  }
  const [bound, scoped, boundProxy, scopedProxy] = json();
  assert.deepEqual([bound.boom, bound.ok], ["[Thrown: getter exploded]", 1]);
  assert.deepEqual([scoped.boom, scoped.ok], ["[Thrown: getter exploded]", 1]);
  assert.match(boundProxy.clog_error as string, /fields could not be read/);
  assert.match(scopedProxy.clog_error as string, /fields could not be read/);
  assert.equal(json().length, 8);
});

test("fields whose prototype cannot be read still leave the message and the rest of the line", () => {
  const { root, json } = capture();
  const proxy = new Proxy({ a: 1 }, {
    getPrototypeOf() {
      throw new Error("getPrototypeOf exploded");
    },
  });
  root.with({ bound: true }).info("kept", proxy);
  const line = json()[0];
  assert.deepEqual([line.msg, line.bound], ["kept", true]);
  assert.match(line.clog_error as string, /getPrototypeOf exploded/);
});

test("when formatting fails, every kind of sink still gets the message and the failure", () => {
  const lines: string[] = [];
  const records: LogRecord[] = [];
  const root = create({
    sinks: [
      { type: "stream", name: "lines" },
      { type: "stream", name: "lines", format: "text" },
      { type: "custom", name: "records" },
    ],
  }, {
    streams: { lines: { write: (text: string) => void lines.push(text) } },
    sinks: { records: (record) => void records.push(record) },
    now: () => {
      throw new Error("clock broke");
    },
  });
  root.warn("the message");
  assert.equal(lines.length, 2);
  for (const line of lines.map((text) => JSON.parse(text))) {
    assert.deepEqual(Object.keys(line), ["time", "level", "msg", "clog_error"]);
    assert.deepEqual([line.level, line.msg], ["warn", "the message"]);
    assert.match(line.clog_error, /clock broke/);
  }
  assert.equal(records.length, 1);
  assert.deepEqual([records[0].level, records[0].namespace, records[0].message], [
    "warn",
    "",
    "the message",
  ]);
  assert.match(records[0].fields.clog_error as string, /clock broke/);
});

test("a sink that throws does not stop the others or the caller", async () => {
  const lines: string[] = [];
  const { create } = await import("../../clog/mod.ts");
  const root = create({
    sinks: [
      { type: "stream", name: "broken" },
      { type: "custom", name: "rejects" },
      { type: "custom", name: "throws" },
      { type: "stream", name: "ok" },
    ],
  }, {
    streams: {
      broken: {
        write() {
          throw new Error("disk on fire");
        },
      },
      ok: { write: (line: string) => void lines.push(line) },
    },
    sinks: {
      rejects: () => Promise.reject(new Error("async sink failed")),
      throws: () => {
        throw new Error("sync sink failed");
      },
    },
  });
  assert.doesNotThrow(() => root.info("still logged"));
  assert.equal(lines.length, 1);
  await new Promise((resolve) => setTimeout(resolve, 5));
});

test("a field named __proto__ is written like any other, bound, in context or in the call", () => {
  const { root, lines } = capture({
    sinks: [{ type: "stream", name: "lines" }, { type: "stream", name: "lines", format: "text" }],
  });
  const fields = JSON.parse('{"__proto__":{"x":1},"a":2}');
  root.info("call", fields);
  root.with(fields).info("bound");
  withContext(fields, () => {
    root.info("context");
    withContext({ b: 3 }, () => root.info("nested"));
    assert.equal(Object.keys(contextFields()).join(), "__proto__,a");
  });
  for (const [i, msg] of [[0, "call"], [2, "bound"], [4, "context"]] as const) {
    assert.match(lines[i], new RegExp(`"msg":"${msg}","__proto__":\\{"x":1\\},"a":2\\}\n$`));
    assert.match(lines[i + 1], new RegExp(` ${msg} __proto__=\\{"x":1\\} a=2\n$`));
  }
  assert.match(lines[6], /"msg":"nested","__proto__":\{"x":1\},"a":2,"b":3\}\n$/);
});

test("only own properties of the fields are written, as JSON would", () => {
  const { root, lines } = capture({
    sinks: [{ type: "stream", name: "lines" }, { type: "stream", name: "lines", format: "text" }],
  });
  root.info("x", Object.assign(Object.create({ inherited: 1 }), { own: 2 }));
  assert.deepEqual([JSON.parse(lines[0]).own, "inherited" in JSON.parse(lines[0])], [2, false]);
  assert.match(lines[1], / own=2\n$/);
});
