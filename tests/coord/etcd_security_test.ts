/**
 * TLS (with client certificates) and password authentication against private etcd servers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import * as coord from "../../coord/mod.ts";
import { type EtcdServer, startEtcd } from "../_support/etcd_server.ts";
import { nextChunk, rejectsWith, TTL } from "./contract.ts";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`. */
function makeCertificates(dir: string, name: string): Record<string, string> {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  const file = (suffix: string) => join(dir, `${name}-${suffix}`);
  run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    `/CN=${name}-ca`,
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.pem"),
  );
  writeFileSync(
    file("ext.cnf"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  for (const role of ["server", "client"]) {
    run(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=${role}`,
      "-keyout",
      file(`${role}.key`),
      "-out",
      file(`${role}.csr`),
    );
    run(
      "x509",
      "-req",
      "-in",
      file(`${role}.csr`),
      "-CA",
      file("ca.pem"),
      "-CAkey",
      file("ca.key"),
      "-CAcreateserial",
      "-days",
      "1",
      "-out",
      file(`${role}.pem`),
      "-extfile",
      file("ext.cnf"),
    );
  }
  return {
    ca: file("ca.pem"),
    serverCert: file("server.pem"),
    serverKey: file("server.key"),
    clientCert: file("client.pem"),
    clientKey: file("client.key"),
  };
}

/** A permission of a role on one key, or on every key under a prefix. */
type Grant = { permission: "read" | "write" | "readwrite"; key: string; prefix?: boolean };

/** A private etcd with auth on: `root`, and `user` limited to its grants. */
async function withLimitedUser(
  transport: coord.CoordTransportKind,
  user: { name: string; password: string; grants: Grant[] },
  fn: (base: coord.CoordConfig, server: EtcdServer) => Promise<void>,
  etcdArgs: string[] = [],
): Promise<void> {
  const server = await startEtcd({ args: etcdArgs });
  const endpoint = server.endpoints[0];
  const etcdctl = (...args: string[]) =>
    execFileSync("etcdctl", [`--endpoints=${endpoint}`, ...args], {
      env: { ETCDCTL_API: "3", PATH: process.env.PATH ?? "/usr/bin" },
      stdio: "pipe",
    });
  try {
    etcdctl("user", "add", "root:root-secret");
    etcdctl("role", "add", user.name);
    for (const { permission, key, prefix } of user.grants) {
      const range = prefix ? ["--prefix=true"] : [];
      etcdctl("role", "grant-permission", user.name, ...range, permission, key);
    }
    etcdctl("user", "add", `${user.name}:${user.password}`);
    etcdctl("user", "grant-role", user.name, user.name);
    etcdctl("auth", "enable");
    await fn(
      { ...coord.defaultConfig(), transport, endpoints: server.endpoints, dialTimeoutMs: 3_000 },
      server,
    );
  } finally {
    await server.close();
  }
}

/** Node's fetch (the gateway's TLS on Node) cannot take a custom CA or client certificate. */
const onNode = !("Deno" in globalThis) && !("Bun" in globalThis);

// Over each transport: gRPC (etcd3) and the JSON gateway (fetch).
for (const transport of ["grpc", "gateway"] as const) {
  const label = transport === "grpc" ? "" : "gateway: ";

  test(
    label + "coord talks to etcd over TLS with a client certificate, from files or inline PEM",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "coord-tls-"));
      const certs = makeCertificates(dir, "good");
      const stranger = makeCertificates(dir, "stranger");
      const server = await startEtcd({
        tls: { certFile: certs.serverCert, keyFile: certs.serverKey, clientCaFile: certs.ca },
      });
      const base = {
        ...coord.defaultConfig(),
        transport,
        endpoints: server.endpoints,
        dialTimeoutMs: 3_000,
      };
      try {
        assert.ok(server.endpoints[0].startsWith("https://"));
        if (transport === "gateway" && onNode) {
          // Node's fetch takes no CA or client certificate: refused up front, not half-applied.
          await rejectsWith(
            coord.connect({
              ...base,
              tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey },
            }),
            "InvalidArgument",
          );
          return;
        }
        const fromFiles = await coord.connect({
          ...base,
          tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey },
        });
        try {
          await fromFiles.kv.set("/tls/k", { secure: true });
          await using lock = await fromFiles.lock("tls", { ttlMs: TTL });
          assert.ok(lock.fencingToken > 0);
        } finally {
          await fromFiles.close();
        }
        const inline = await coord.connect({
          ...base,
          tls: {
            ca: readFileSync(certs.ca, "utf8"),
            cert: readFileSync(certs.clientCert, "utf8"),
            key: readFileSync(certs.clientKey, "utf8"),
          },
        });
        try {
          assert.deepEqual((await inline.kv.get("/tls/k"))?.value, { secure: true });
        } finally {
          await inline.close();
        }
        // No client certificate, or a server certificate from a CA we do not trust: no session.
        const quick = { ...base, dialTimeoutMs: 1_000 };
        await rejectsWith(coord.connect({ ...quick, tls: { caFile: certs.ca } }), "Unavailable");
        await rejectsWith(
          coord.connect({
            ...quick,
            tls: { caFile: stranger.ca, certFile: certs.clientCert, keyFile: certs.clientKey },
          }),
          "Unavailable",
        );
        await rejectsWith(
          coord.connect({ ...base, tls: { caFile: join(dir, "missing.pem") } }),
          "InvalidArgument",
        );
      } finally {
        await server.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test(
    label +
      "coord authenticates with a password, and a user limited to a prefix works in its namespace",
    () =>
      withLimitedUser(
        transport,
        {
          name: "app",
          password: "app-secret",
          grants: [{ permission: "readwrite", key: "/app/", prefix: true }],
        },
        async (base) => {
          const root = await coord.connect({ ...base, username: "root", password: "root-secret" });
          try {
            await root.kv.set("/anywhere", 1);
          } finally {
            await root.close();
          }

          const app = await coord.connect({
            ...base,
            namespace: "/app",
            username: "app",
            password: "app-secret",
          });
          try {
            await app.kv.set("/config/dev/global/clog", { level: "info" });
            await using registration = await app.registry.register(
              { service: "svc", id: "a", address: "a:1" },
              { ttlMs: TTL },
            );
            assert.equal(registration.state, "registered");
            await using lock = await app.lock("jobs", { ttlMs: TTL });
            assert.equal(await lock.isOwner(), true);
            assert.equal((await app.leaseInstanceId("svc", { ttlMs: TTL })).id, 0);
          } finally {
            await app.close();
          }

          await rejectsWith(
            coord.connect({ ...base, username: "app", password: "wrong" }),
            "PermissionDenied",
          );
          // Outside its prefix the user may not read: connecting without the namespace fails.
          await rejectsWith(
            coord.connect({ ...base, username: "app", password: "app-secret" }),
            "PermissionDenied",
          );
        },
      ),
  );

  test(
    label +
      "a watch that etcd refuses for lack of permission fails with PermissionDenied instead of resubscribing forever",
    () =>
      withLimitedUser(
        transport,
        {
          name: "narrow",
          password: "narrow-secret",
          // Its namespace root (connect reads it) and /narrow/open/, nothing else.
          grants: [
            { permission: "read", key: "/narrow/" },
            { permission: "readwrite", key: "/narrow/open/", prefix: true },
          ],
        },
        async (base) => {
          const narrow = await coord.connect({
            ...base,
            namespace: "/narrow",
            username: "narrow",
            password: "narrow-secret",
          });
          try {
            await rejectsWith(narrow.kv.get("/closed/k"), "PermissionDenied");
            // From revision 1 no baseline is read first: the watch itself is what etcd refuses,
            // by cancelling it with a reason rather than failing the stream.
            const refused = narrow.kv.watch("/closed/", { prefix: true, fromRevision: 1 })
              .getReader();
            await rejectsWith(
              Promise.race([refused.read(), sleep(10_000).then(() => "still resubscribing")]),
              "PermissionDenied",
            );
            const allowed = narrow.kv.watch<number>("/open/k").getReader();
            try {
              await sleep(200);
              await narrow.kv.set("/open/k", 2);
              const event = await nextChunk(allowed);
              assert.equal(event.type === "put" && event.value, 2);
            } finally {
              await allowed.cancel();
            }
          } finally {
            await narrow.close();
          }
        },
      ),
  );

  test(
    label +
      "a registration whose user may write its entry but not read it stays registered under one lease, retrying its watch with backoff",
    () =>
      withLimitedUser(
        transport,
        {
          name: "writer",
          password: "writer-secret",
          // Its namespace root (connect reads it) and write-only access to the registry.
          grants: [
            { permission: "read", key: "/wo/" },
            { permission: "write", key: "/wo/services/", prefix: true },
          ],
        },
        async (base, server) => {
          const granted = () => server.members[0].metric("etcd_debugging_lease_granted_total");
          const root = await coord.connect({
            ...base,
            namespace: "/wo",
            username: "root",
            password: "root-secret",
          });
          const writer = await coord.connect({
            ...base,
            namespace: "/wo",
            username: "writer",
            password: "writer-secret",
          });
          try {
            const before = await granted();
            const registration = await writer.registry.register(
              { service: "svc", id: "w", address: "a:1" },
              { ttlMs: TTL },
            );
            // Its own reads and watches are refused: it keeps its lease and retries, with backoff.
            await rejectsWith(writer.registry.discover("svc"), "PermissionDenied");
            await sleep(2_000);
            assert.equal(registration.state, "registered");
            assert.equal((await granted()) - before, 1, "lease grants");
            assert.deepEqual((await root.registry.discover("svc")).map((i) => i.id), ["w"]);
            await registration.close();
            assert.deepEqual(await root.registry.discover("svc"), []);
          } finally {
            await writer.close();
            await root.close();
          }
        },
      ),
  );

  test(
    label +
      "a username and password against an etcd without auth are not needed: calls go without a token (as Go's clientv3 does)",
    async () => {
      const server = await startEtcd();
      try {
        const client = await coord.connect({
          ...coord.defaultConfig(),
          transport,
          endpoints: server.endpoints,
          dialTimeoutMs: 3_000,
          namespace: "/noauth",
          username: "root",
          password: "not-checked",
        });
        try {
          const reader = client.kv.watch<number>("/k", { fromRevision: 1 }).getReader();
          try {
            await client.kv.set("/k", 1);
            assert.equal((await client.kv.get<number>("/k"))?.value, 1);
            const event = await nextChunk(reader);
            assert.equal(event.type === "put" && event.value, 1);
          } finally {
            await reader.cancel();
          }
          await using lock = await client.lock("noauth", { ttlMs: TTL });
          assert.equal(await lock.isOwner(), true);
        } finally {
          await client.close();
        }
      } finally {
        await server.close();
      }
    },
  );

  /** A client of user `idle` (read-write on `/idle/`) on an etcd that forgets tokens after 1 s. */
  const withIdleClient = (
    fn: (client: Awaited<ReturnType<typeof coord.connect>>) => Promise<void>,
  ) =>
    withLimitedUser(
      transport,
      {
        name: "idle",
        password: "idle-secret",
        grants: [{ permission: "readwrite", key: "/idle/", prefix: true }],
      },
      async (base) => {
        const client = await coord.connect({
          ...base,
          namespace: "/idle",
          username: "idle",
          password: "idle-secret",
        });
        try {
          await fn(client);
        } finally {
          await client.close();
        }
      },
      ["--auth-token", "simple", "--auth-token-ttl", "1"],
    );

  test(
    label + "a client keeps working after etcd expired its auth token",
    () =>
      withIdleClient(async (client) => {
        await client.kv.set("/k", 1);
        // Idle for longer than the token's TTL: etcd forgets the token.
        await sleep(3_500);
        await client.kv.set("/k", 2);
        assert.equal((await client.kv.get("/k"))?.value, 2);
      }),
  );

  test(
    label +
      "a watch opened on an auth token etcd has expired (refused as Unauthenticated) is opened again with a new token and reports changes",
    () =>
      withIdleClient(async (client) => {
        await client.kv.set("/k", 1);
        await sleep(3_500);
        // From revision 1 no baseline is read first: the watch is the first call on the
        // expired token, as a watch resubscribing after an outage would be.
        const reader = client.kv.watch<number>("/k", { fromRevision: 1 }).getReader();
        try {
          const event = await Promise.race([
            nextChunk(reader),
            sleep(10_000).then(() => ({ type: "none" as const })),
          ]);
          assert.equal(event.type === "put" && event.value, 1);
        } finally {
          await reader.cancel();
        }
      }),
  );
}
