/**
 * coord's defaults, and what `checkConfig` (so `connect`) and `memory` refuse, without a
 * server.
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

/** Asserts that `fn` throws InvalidArgument naming `field`. */
function refuses(fn: () => unknown, field: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
    assert.equal(error.details.field, field, error.message);
    return true;
  });
}

const base = coord.defaultConfig("development");

test("the defaults of both environments pass their own check", () => {
  for (const environment of ["development", "production"] as const) {
    const config = coord.defaultConfig(environment);
    assert.deepEqual(coord.checkConfig(config), config);
  }
});

test("an endpoint is a scheme, a host and a port: a path, a query, a fragment or credentials are InvalidArgument", () => {
  for (
    const endpoint of ["http://a:1/x?y", "http://a:1/x", "http://a:1?y", "http://a:1#f", "a:1/x"]
  ) {
    refuses(() => coord.checkConfig({ ...base, endpoints: [endpoint] }), "endpoints[0]");
  }
  refuses(() => coord.checkConfig({ ...base, endpoints: ["http://u:p@a:1"] }), "endpoints[0]");
  refuses(() => coord.checkConfig({ ...base, endpoints: ["ftp://a:1"] }), "endpoints[0]");
  refuses(() => coord.checkConfig({ ...base, endpoints: ["http://a"] }), "endpoints[0]");
  refuses(() => coord.checkConfig({ ...base, endpoints: [] }), "endpoints");
  refuses(
    () => coord.checkConfig({ ...base, endpoints: ["http://a:1", "https://b:1"] }),
    "endpoints",
  );
  assert.deepEqual(
    coord.checkConfig({ ...base, endpoints: ["a:1", "http://b:2/", "http://[::1]:3"] }).endpoints,
    ["http://a:1", "http://b:2", "http://[::1]:3"],
  );
});

test("a timeout beyond setTimeout's limit (2^31 - 1 ms), or not a positive integer, is InvalidArgument", () => {
  const limit = 2 ** 31 - 1;
  for (
    const field of ["dialTimeoutMs", "requestTimeoutMs", "keepAliveTimeMs", "keepAliveTimeoutMs"]
  ) {
    for (const value of [limit + 1, 1e20, Infinity, NaN, 0, -1, 1.5, "10"]) {
      refuses(() => coord.checkConfig({ ...base, [field]: value }), field);
    }
    assert.equal(coord.checkConfig({ ...base, [field]: limit })[field as "dialTimeoutMs"], limit);
  }
  // etcd ends a quiet connection that pings more often than every 5 s (its default).
  refuses(() => coord.checkConfig({ ...base, keepAliveTimeMs: 4_999 }), "keepAliveTimeMs");
  assert.equal(coord.checkConfig({ ...base, keepAliveTimeMs: 5_000 }).keepAliveTimeMs, 5_000);
  // Over the gateway it is how long a watch may stay silent: no pings for etcd to refuse.
  const gateway = { ...base, transport: "gateway" as const };
  assert.equal(coord.checkConfig({ ...gateway, keepAliveTimeMs: 1_000 }).keepAliveTimeMs, 1_000);
  refuses(() => coord.checkConfig({ ...gateway, keepAliveTimeMs: 999 }), "keepAliveTimeMs");
  refuses(() => coord.memory({ requestTimeoutMs: 1e20 }), "requestTimeoutMs");
  refuses(() => coord.memory({ requestTimeoutMs: 0 }), "requestTimeoutMs");
});

test("the rest of the config is checked too: namespace, lease TTL, credentials, TLS and unknown fields", () => {
  refuses(() => coord.checkConfig({ ...base, namespace: "/a/" }), "namespace");
  refuses(() => coord.checkConfig({ ...base, namespace: "a" }), "namespace");
  refuses(() => coord.checkConfig({ ...base, sessionTtlMs: 500 }), "sessionTtlMs");
  refuses(() => coord.checkConfig({ ...base, sessionTtlMs: 86_400_001 }), "sessionTtlMs");
  refuses(() => coord.checkConfig({ ...base, password: "p" }), "username");
  refuses(() => coord.checkConfig({ ...base, tls: { cert: "x" } }), "tls.key");
  refuses(() => coord.checkConfig({ ...base, tls: { nope: 1 } as never }), "tls.nope");
  refuses(() => coord.checkConfig({ ...base, foo: 1 } as never), "foo");
  refuses(() => coord.memory({ sessionTtlMs: 500 }), "sessionTtlMs");
  refuses(() => coord.memory({ x: 1 } as never), "x");
  assert.deepEqual(coord.checkConfig({ ...base, username: "u", password: "" }).password, "");
});

test("with tls set, endpoints use https://: a bare host:port becomes one, an http:// one is InvalidArgument (the gateway would send the password in clear text)", () => {
  const secure = { ...base, tls: {} };
  assert.deepEqual(
    coord.checkConfig({ ...secure, endpoints: ["etcd-0:2379", "https://etcd-1:2379"] }).endpoints,
    ["https://etcd-0:2379", "https://etcd-1:2379"],
  );
  assert.deepEqual(coord.checkConfig({ ...base, endpoints: ["etcd-0:2379"] }).endpoints, [
    "http://etcd-0:2379",
  ]);
  refuses(() => coord.checkConfig(secure), "endpoints[0]");
  refuses(
    () => coord.checkConfig({ ...secure, endpoints: ["https://a:2379", "http://b:2379"] }),
    "endpoints",
  );
  assert.throws(
    () => coord.checkConfig({ ...coord.defaultConfig("production"), tls: { caFile: "ca.pem" } }),
    /endpoints\[0\].*https:\/\/etcd1:2379/,
  );
});

test("the transport is grpc (the default) or gateway; anything else is InvalidArgument", () => {
  assert.equal(coord.checkConfig(base).transport, undefined);
  assert.equal(coord.checkConfig({ ...base, transport: "gateway" }).transport, "gateway");
  assert.equal(coord.checkConfig({ ...base, transport: "grpc" }).transport, "grpc");
  refuses(() => coord.checkConfig({ ...base, transport: "http" as never }), "transport");
  refuses(() => coord.checkConfig({ ...base, transport: "" as never }), "transport");
});
