/**
 * Connection topologies on private servers: a Sentinel-managed master, and a TLS-only
 * server with a password and an ACL user.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { connect } from "../../cache/mod.ts";
import { startRedisSentinel, startRedisTls } from "../_support/redis_server.ts";

test("sentinel: the cache finds the master through Sentinel and works", async () => {
  const sentinel = await startRedisSentinel("gochat-master");
  try {
    await using cache = await connect({
      mode: "sentinel",
      nodes: [sentinel.sentinel],
      sentinel: { masterName: "gochat-master" },
      keyPrefix: "s:",
    });
    assert.equal(cache.mode, "sentinel");
    await cache.set("k", { via: "sentinel" });
    assert.deepEqual(await cache.get("k"), { via: "sentinel" });
    assert.equal(await cache.getOrSet("g", () => 1), 1);
    const lock = await cache.lock("res", { ttlMs: 1_000 });
    assert.equal(await lock.release(), true);
    const port = await cache.raw().call("CONFIG", "GET", "port");
    assert.deepEqual(port, ["port", String(sentinel.master.port)]);
  } finally {
    await sentinel.stop();
  }
});

test("sentinel: an unknown master name is Unavailable", async () => {
  const sentinel = await startRedisSentinel("gochat-master");
  try {
    await assert.rejects(
      connect({
        mode: "sentinel",
        nodes: [sentinel.sentinel],
        sentinel: { masterName: "nope" },
        connectTimeoutMs: 1_500,
      }),
      (error: unknown) => InfraError.is(error, "Unavailable"),
    );
  } finally {
    await sentinel.stop();
  }
});

test("tls: an ACL user over TLS (verified against the CA) and the default user's password work", async () => {
  const server = await startRedisTls();
  try {
    const tls = { enabled: true, caPem: server.caPem };
    {
      await using cache = await connect({
        nodes: [server.server.node],
        username: server.username,
        password: server.password,
        tls,
        keyPrefix: "tls:",
      });
      assert.equal(await cache.raw().call("ACL", "WHOAMI"), server.username);
      await cache.set("k", [1, 2, 3]);
      assert.deepEqual(await cache.get("k"), [1, 2, 3]);
      const bloom = cache.bloom("b", { expectedItems: 10, falsePositiveRate: 0.01 });
      assert.equal(await bloom.add("x"), true);
    }
    {
      await using cache = await connect({
        nodes: [server.server.node],
        password: server.defaultPassword,
        tls,
      });
      assert.equal(await cache.raw().call("ACL", "WHOAMI"), "default");
    }
  } finally {
    await server.stop();
  }
});

test("tls: a wrong password is PermissionDenied, an untrusted certificate and plain TCP are Unavailable", async () => {
  const server = await startRedisTls();
  try {
    const node = server.server.node;
    await assert.rejects(
      connect({
        nodes: [node],
        username: server.username,
        password: "wrong",
        tls: { enabled: true, caPem: server.caPem },
        connectTimeoutMs: 2_000,
      }),
      (error: unknown) => InfraError.is(error, "PermissionDenied"),
    );
    await assert.rejects(
      connect({
        nodes: [node],
        password: server.defaultPassword,
        tls: { enabled: true },
        connectTimeoutMs: 2_000,
      }),
      (error: unknown) => InfraError.is(error, "Unavailable"),
    );
    await assert.rejects(
      connect({ nodes: [node], password: server.defaultPassword, connectTimeoutMs: 1_000 }),
      (error: unknown) => InfraError.is(error, "Unavailable"),
    );
  } finally {
    await server.stop();
  }
});
