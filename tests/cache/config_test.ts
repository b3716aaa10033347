/**
 * Defaults and config validation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { connect, defaultConfig, resolveConfig } from "../../cache/mod.ts";

function failsOn(field: string, fn: () => unknown): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
    assert.equal((error as InfraError).details.field, field);
    assert.equal((error as InfraError).component, "cache");
    return true;
  });
}

test("config: the defaults differ per environment and are valid JSON data", () => {
  const development = defaultConfig("development");
  const production = defaultConfig("production");
  assert.deepEqual(development.nodes, ["127.0.0.1:6379"]);
  assert.equal(development.keyPrefix, "dev:");
  assert.deepEqual(production.nodes, ["redis:6379"]);
  assert.equal(production.keyPrefix, "gochat:");
  assert.ok(production.commandTimeoutMs > development.commandTimeoutMs);
  assert.deepEqual(JSON.parse(JSON.stringify(production)), production);
  assert.deepEqual(resolveConfig(production), production);
  assert.deepEqual(defaultConfig(), development);
});

test("config: defaultConfig rejects an environment it does not know, naming the argument", () => {
  assert.throws(() => defaultConfig("staging" as "production"), (error: unknown) => {
    assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
    assert.equal(error.component, "cache");
    assert.deepEqual(error.details, { argument: "env" });
    assert.match(error.message, /got "staging"/);
    return true;
  });
});

test("config: a partial config is filled in from the development defaults, deeply", () => {
  const config = resolveConfig({ keyPrefix: "im:", l1: { enabled: true } });
  assert.equal(config.keyPrefix, "im:");
  assert.equal(config.l1.enabled, true);
  assert.equal(config.l1.maxEntries, defaultConfig().l1.maxEntries);
});

test("config: each bad field is InvalidArgument naming it", () => {
  failsOn("mode", () => resolveConfig({ mode: "ring" as "single" }));
  failsOn("nodes", () => resolveConfig({ nodes: [] }));
  failsOn("nodes[0]", () => resolveConfig({ nodes: ["localhost"] }));
  failsOn("nodes[1]", () => resolveConfig({ mode: "cluster", nodes: ["a:1", "b:99999"] }));
  failsOn("nodes", () => resolveConfig({ nodes: ["a:1", "b:2"] }));
  failsOn("db", () => resolveConfig({ mode: "cluster", db: 1 }));
  failsOn("keyPrefix", () => resolveConfig({ keyPrefix: "{tenant}:" }));
  failsOn("codec", () => resolveConfig({ codec: "msgpack" as "json" }));
  failsOn("defaultTtlMs", () => resolveConfig({ defaultTtlMs: -1 }));
  failsOn("commandTimeoutMs", () => resolveConfig({ commandTimeoutMs: 0 }));
  failsOn(
    "reconnectMaxDelayMs",
    () => resolveConfig({ reconnectMinDelayMs: 100, reconnectMaxDelayMs: 50 }),
  );
  failsOn("sentinel.masterName", () => resolveConfig({ mode: "sentinel" }));
  failsOn("tls.certPem", () => resolveConfig({ tls: { enabled: true, certPem: "x" } }));
  failsOn("l1.maxEntries", () => resolveConfig({ l1: { maxEntries: 0 } }));
  failsOn(
    "l1.publishInvalidations",
    () => resolveConfig({ l1: { publishInvalidations: "yes" as unknown as boolean } }),
  );
  failsOn("getOrSet.jitter", () => resolveConfig({ getOrSet: { jitter: 1.5 } }));
  failsOn("getOrSet.lockTtlMs", () => resolveConfig({ getOrSet: { lockTtlMs: 0 } }));
  failsOn("ttlMs", () => resolveConfig({ ttlMs: 5 } as never));
  failsOn("l1.ttl", () => resolveConfig({ l1: { ttl: 5 } } as never));
  failsOn("connectionName", () => resolveConfig({ connectionName: "has space" }));
});

test("config: IPv6 nodes in brackets are accepted", () => {
  assert.deepEqual(resolveConfig({ nodes: ["[::1]:6379"] }).nodes, ["[::1]:6379"]);
});

test("config: connect validates before connecting", async () => {
  await assert.rejects(
    connect({ nodes: ["nowhere"] }),
    (error: unknown) => InfraError.is(error, "InvalidArgument"),
  );
});
