import { test } from "node:test";
import assert from "node:assert/strict";
import { ERROR_CODES, InfraError, isTransient } from "../../base/mod.ts";

test("an InfraError carries code, component, details and cause", () => {
  const cause = new Error("socket closed");
  const error = new InfraError("Unavailable", "redis is down", {
    component: "cache",
    cause,
    details: { host: "127.0.0.1" },
  });
  assert.equal(error.code, "Unavailable");
  assert.equal(error.component, "cache");
  assert.equal(error.message, "cache: redis is down");
  assert.equal(error.name, "InfraError");
  assert.equal(error.cause, cause);
  assert.deepEqual(error.details, { host: "127.0.0.1" });
  assert.ok(error instanceof Error);
});

test("InfraError.is matches any code, or only the codes given", () => {
  const error = new InfraError("NotFound", "missing");
  assert.equal(InfraError.is(error), true);
  assert.equal(InfraError.is(error, "NotFound"), true);
  assert.equal(InfraError.is(error, "Conflict", "NotFound"), true);
  assert.equal(InfraError.is(error, "Conflict"), false);
  assert.equal(InfraError.is(new Error("plain")), false);
  assert.equal(InfraError.is("NotFound"), false);
});

test("only Unavailable and Timeout are transient", () => {
  for (const code of ERROR_CODES) {
    const expected = code === "Unavailable" || code === "Timeout";
    assert.equal(isTransient(new InfraError(code, "x")), expected, code);
  }
  assert.equal(isTransient(new Error("ECONNRESET")), false);
});

test("an error without component has an unprefixed message and empty details", () => {
  const error = new InfraError("Internal", "boom");
  assert.equal(error.message, "boom");
  assert.equal(error.component, "");
  assert.deepEqual(error.details, {});
  assert.equal(error.cause, undefined);
});
