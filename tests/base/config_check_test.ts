import { test } from "node:test";
import assert from "node:assert/strict";
import {
  configCheck,
  createCircuitBreaker,
  describeValue,
  InfraError,
  retry,
} from "../../base/mod.ts";
import * as coord from "../../coord/mod.ts";

const check = configCheck("demo");

function rejects(fn: () => unknown, field: string, pattern: RegExp) {
  assert.throws(fn, (e) => {
    assert.ok(InfraError.is(e, "InvalidArgument"), String(e));
    assert.equal(e.details.field, field);
    assert.equal(e.component, "demo");
    assert.match(e.message, pattern);
    return true;
  });
}

test("integer checks type and bounds and names the field", () => {
  assert.equal(check.integer(5, "poolSize", { min: 1 }), 5);
  rejects(
    () => check.integer(0, "poolSize", { min: 1 }),
    "poolSize",
    /config\.poolSize must be an integer ≥ 1, got 0/,
  );
  rejects(() => check.integer(1.5, "poolSize"), "poolSize", /integer/);
  rejects(() => check.integer("5", "poolSize"), "poolSize", /got "5"/);
  rejects(() => check.integer(2000, "id", { min: 0, max: 1023 }), "id", /between 0 and 1023/);
});

test("number, string, boolean and oneOf reject the wrong types", () => {
  assert.equal(check.number(0.5, "rate", { max: 1 }), 0.5);
  rejects(() => check.number(NaN, "rate"), "rate", /finite number/);
  rejects(() => check.number(2, "rate", { max: 1 }), "rate", /≤ 1/);
  assert.equal(check.string("x", "name"), "x");
  rejects(() => check.string("", "name"), "name", /must not be empty/);
  assert.equal(check.string("", "prefix", { allowEmpty: true }), "");
  rejects(() => check.boolean("yes", "tls"), "tls", /boolean/);
  assert.equal(check.oneOf("json", "format", ["json", "text"]), "json");
  rejects(
    () => check.oneOf("xml", "format", ["json", "text"]),
    "format",
    /one of "json", "text", got "xml"/,
  );
});

test("strings and object checks name the offending element", () => {
  assert.deepEqual(check.strings(["a:1"], "endpoints"), ["a:1"]);
  rejects(() => check.strings([], "endpoints"), "endpoints", /must not be empty/);
  rejects(() => check.strings(["a", ""], "endpoints"), "endpoints[1]", /non-empty string/);
  rejects(() => check.object(null, "tls"), "tls", /must be an object, got null/);
  rejects(() => check.object([], "tls"), "tls", /got an array/);
});

test("the config as a whole is named config", () => {
  rejects(() => check.object(null, ""), "", /^demo: config must be an object, got null$/);
});

test("knownKeys catches a misspelled setting", () => {
  check.knownKeys({ ttlMs: 1 }, "", ["ttlMs"]);
  rejects(() => check.knownKeys({ ttlMS: 1 }, "", ["ttlMs"]), "ttlMS", /not a known setting/);
  rejects(() => check.knownKeys({ x: 1 }, "tls", ["ca"]), "tls.x", /not a known setting/);
});

test("a check for another argument than the config names that argument", () => {
  const deps = configCheck("demo", "connect deps");
  rejects(
    () => deps.integer(4096, "lease.id", { max: 1023 }),
    "lease.id",
    /^demo: connect deps\.lease\.id must be an integer ≤ 1023, got 4096$/,
  );
  rejects(() => deps.object(null, ""), "", /^demo: connect deps must be an object, got null$/);
});

test("describeValue never throws and never prints a whole object: a bad option that has no prototype is InvalidArgument, not a TypeError", async () => {
  const bare = Object.create(null);
  assert.equal(describeValue(bare), "an object");
  assert.equal(describeValue("x".repeat(100)), JSON.stringify("x".repeat(60) + "…"));
  assert.equal(describeValue(12n), "12n");
  assert.equal(describeValue(() => 1), "a function");
  assert.equal(describeValue(Symbol("s")), "Symbol(s)");
  const refused = (fn: () => unknown) =>
    assert.throws(fn, (error: unknown) => InfraError.is(error, "InvalidArgument"));
  refused(() => configCheck("demo").integer(bare, "size", { min: 1 }));
  refused(() => createCircuitBreaker({ name: "b", failureThreshold: bare }));
  await assert.rejects(
    retry(() => Promise.resolve(1), { maxAttempts: bare }),
    (error: unknown) => InfraError.is(error, "InvalidArgument"),
  );
  const coordClient = await coord.memory();
  try {
    await assert.rejects(
      coordClient.kv.list("/a/", { limit: bare }),
      (error: unknown) => InfraError.is(error, "InvalidArgument"),
    );
  } finally {
    await coordClient.close();
  }
});
