import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeJson, encodeJson, InfraError, jsonProblem } from "../../base/mod.ts";

/** Asserts that encodeJson refuses `value` with InvalidArgument whose message matches. */
function refuses(value: unknown, message: RegExp, root?: string): InfraError {
  let caught: unknown;
  try {
    encodeJson(value, "demo", root);
  } catch (error) {
    caught = error;
  }
  assert.ok(InfraError.is(caught, "InvalidArgument"), `expected InvalidArgument, got ${caught}`);
  assert.equal(caught.component, "demo");
  assert.match(caught.message, message);
  assert.equal(`demo: ${jsonProblem(value, root)}`, caught.message, "jsonProblem says the same");
  return caught;
}

function nested(levels: number, inner: unknown = {}): unknown {
  let value = inner;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

test("what JSON brings back as it was is accepted and encoded as JSON.stringify does", () => {
  const bare = Object.create(null);
  bare.x = 1;
  const values = [
    "text",
    "",
    0,
    -1.5,
    1e300,
    Number.MAX_SAFE_INTEGER,
    true,
    false,
    null,
    [],
    {},
    [1, "a", { b: null }, [[]]],
    { nested: { x: 1, list: [true] }, "a key": "v" },
    bare,
  ];
  for (const value of values) {
    assert.equal(jsonProblem(value), undefined, JSON.stringify(value));
    assert.equal(encodeJson(value), JSON.stringify(value));
  }
});

test("-0 is accepted and comes back as 0, which it equals", () => {
  assert.equal(jsonProblem(-0), undefined);
  assert.equal(decodeJson<{ x: number }>(encodeJson({ x: -0 })).x, 0);
});

test("a toJSON result stands for its object: a Date is stored as its ISO string", () => {
  assert.equal(encodeJson({ at: new Date(0) }), '{"at":"1970-01-01T00:00:00.000Z"}');
  const money = { toJSON: (key: string) => `12.50 EUR (${key})` };
  assert.equal(encodeJson({ price: money }), '{"price":"12.50 EUR (price)"}');
  refuses({ at: { toJSON: () => new Set() } }, /^demo: value\.at: a Set/);
  refuses({ at: { toJSON: () => NaN } }, /^demo: value\.at: NaN/);
});

test("undefined properties are left out, as JSON leaves them out", () => {
  assert.equal(
    encodeJson({ a: 1, gone: undefined, alsoGone: { toJSON: () => undefined } }),
    '{"a":1}',
  );
});

test("undefined at the top is refused, also when a toJSON returns it", () => {
  refuses(undefined, /^demo: value: undefined cannot be stored as JSON; use null$/);
  refuses({ toJSON: () => undefined }, /^demo: value: undefined cannot be stored as JSON/);
});

test("NaN and the infinities are refused with the path, as JSON would write null", () => {
  refuses({ limits: { rate: NaN } }, /^demo: value\.limits\.rate: NaN is not a JSON number/);
  refuses([1, Infinity], /^demo: value\[1\]: Infinity is not a JSON number/);
  refuses({ "a key": -Infinity }, /^demo: value\["a key"\]: -Infinity/);
});

test("undefined in an array and a hole of a sparse array are refused, as JSON would write null", () => {
  refuses({ list: [1, undefined] }, /^demo: value\.list\[1\]: undefined in an array/);
  // deno-lint-ignore no-sparse-arrays
  refuses({ list: [1, , 3] }, /^demo: value\.list\[1\]: a hole in a sparse array/);
  const long: unknown[] = [];
  long.length = 3;
  refuses(long, /^demo: value\[0\]: a hole/);
});

test("functions, symbols and bigints are refused with the path", () => {
  refuses({ run: () => 1 }, /^demo: value\.run: a function cannot be stored as JSON/);
  refuses({ id: Symbol("s") }, /^demo: value\.id: a symbol/);
  refuses({ n: [10n] }, /^demo: value\.n\[0\]: a bigint/);
});

test("an enumerable property keyed by a symbol is refused; a non-enumerable one is not data", () => {
  refuses(
    { meta: { [Symbol("tag")]: 1 } },
    /^demo: value\.meta\[Symbol\(tag\)\]: a property keyed by a symbol/,
  );
  const hidden = { a: 1 };
  Object.defineProperty(hidden, Symbol("hidden"), { value: 1, enumerable: false });
  Object.defineProperty(hidden, "alsoHidden", { value: () => 1, enumerable: false });
  assert.equal(encodeJson(hidden), '{"a":1}');
});

test("Maps, Sets, binary data, boxed primitives and class instances are refused with the path", () => {
  class Point {
    x = 1;
  }
  refuses({ m: new Map([["a", 1]]) }, /^demo: value\.m: a Map cannot be stored as JSON/);
  refuses({ s: new Set() }, /^demo: value\.s: a Set/);
  refuses({ b: new Uint8Array(2) }, /^demo: value\.b: a Uint8Array/);
  refuses(new ArrayBuffer(2), /^demo: value: an ArrayBuffer/);
  refuses({ s: new String("a") }, /^demo: value\.s: a String object .*primitive/);
  refuses([new Point()], /^demo: value\[0\]: an instance of Point/);
  refuses({ error: new Error("x") }, /^demo: value\.error: an instance of Error/);
  refuses({ at: new Date(NaN) }, /^demo: value\.at: an invalid Date/);
});

test("a circular reference is refused at the property that closes it", () => {
  const root: Record<string, unknown> = { list: [] };
  const child: Record<string, unknown> = { name: "child" };
  (root.list as unknown[]).push(child);
  child.parent = root;
  refuses(root, /^demo: value\.list\[0\]\.parent: a circular reference/);
  const self: Record<string, unknown> = {};
  self.self = self;
  refuses(self, /^demo: value\.self: a circular reference/);
  const looping = {
    toJSON(): unknown {
      return { again: this };
    },
  };
  refuses({ x: looping }, /^demo: value\.x\.again: a circular reference/);
});

test("an object shared by two parts is not a cycle", () => {
  const shared = { n: 1 };
  assert.equal(encodeJson({ a: shared, b: [shared] }), '{"a":{"n":1},"b":[{"n":1}]}');
  // The second walk (after a too-deep one) tells shared objects from cycles too.
  refuses({ a: shared, b: shared, deep: nested(1_001) }, /nesting deeper than 1000 levels/);
});

test("nesting deeper than 1,000 levels is refused; 1,000 levels are accepted", () => {
  assert.equal(jsonProblem(nested(1_000)), undefined);
  assert.equal(decodeJson(encodeJson(nested(1_000), "demo")) !== undefined, true);
  const error = refuses(
    nested(1_001),
    /^demo: value\.a\.a\.a\.a\.a\.a\.a\.a…\(985 more\)…(\.a){8}: nesting deeper than 1000 levels/,
  );
  assert.equal(error.details.field, "value");
});

test("a getter or toJSON that throws is refused with the path, the error as cause", () => {
  const boom = new Error("boom");
  const getter = {
    ok: 1,
    get broken() {
      throw boom;
    },
  };
  const error = refuses(
    { inner: getter },
    /^demo: value\.inner\.broken: reading it threw \(boom\)/,
  );
  assert.equal(error.cause, boom);
  refuses([{
    toJSON: () => {
      throw boom;
    },
  }], /^demo: value\[0\]: its toJSON method threw/);
  const trap = new Proxy({}, {
    ownKeys() {
      throw boom;
    },
  });
  refuses({ trap }, /^demo: value: reading it threw \(boom\)/);
});

test("the root's name leads the message and is details.field", () => {
  const error = refuses(
    { weight: NaN },
    /^demo: instance\.metadata\.weight: NaN/,
    "instance.metadata",
  );
  assert.equal(error.details.field, "instance.metadata");
});

test("decodeJson names what was not valid JSON", () => {
  assert.deepEqual(decodeJson('{"a":1}'), { a: 1 });
  assert.throws(
    () => decodeJson("{nope", "coord", "key /config/x"),
    (e) =>
      InfraError.is(e, "InvalidArgument") && /key \/config\/x is not valid JSON/.test(e.message),
  );
});
