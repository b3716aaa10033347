/**
 * coord's defaults, without a server.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import * as coord from "../../coord/mod.ts";

test("defaultConfig is development when no environment is given", () => {
  assert.deepEqual(coord.defaultConfig(), coord.defaultConfig("development"));
  assert.notDeepEqual(coord.defaultConfig("production"), coord.defaultConfig("development"));
});

test("defaultConfig rejects an environment it does not know, naming the argument", () => {
  assert.throws(() => coord.defaultConfig("staging" as "production"), (error: unknown) => {
    assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
    assert.equal(error.component, "coord");
    assert.deepEqual(error.details, { argument: "environment" });
    assert.match(error.message, /got "staging"/);
    return true;
  });
});
