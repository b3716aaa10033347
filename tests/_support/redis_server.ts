/**
 * Private Redis servers for tests that must not touch the shared Redis: a single node that
 * a test may SIGKILL and restart, a Redis Cluster of several masters, a Sentinel watching
 * a master, and a TLS server with an ACL user. Every server runs from `redis-server` on
 * free ports in a temp dir; `stop()` it in `finally`.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { env } from "node:process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type ServerProcess, startServer, waitUntil } from "./process.ts";

/** The server binary (Debian's redis 7.0 unless `GOCHAT_REDIS_SERVER` says otherwise). */
export const redisServerBinary: string = env.GOCHAT_REDIS_SERVER || "redis-server";
/** The CLI used for readiness checks and `--cluster create`. */
export const redisCliBinary: string = env.GOCHAT_REDIS_CLI || "redis-cli";

/** Runs `redis-cli` with `args` and returns its stdout (trimmed). */
export function redisCli(args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(redisCliBinary, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli ${args.join(" ")}: ${stderr || error.message}`));
      else resolve(String(stdout).trim());
    });
  });
}

/** One private `redis-server` process. */
export interface PrivateRedis {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** `127.0.0.1:<port>`, the form `CacheConfig.nodes` takes. */
  readonly node: string;
  /** Its temp dir (config, logs). */
  readonly dir: string;
  /** The process, to kill and start again on the same port. */
  readonly process: ServerProcess;
  /** Stops the server and removes its dir. */
  stop(): Promise<void>;
}

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /** Extra `redis-server` arguments (`--requirepass`, `--cluster-enabled`, ...). */
  args?: string[];
  /** redis-cli arguments that make the readiness `PING` work (auth, TLS). */
  cliArgs?: string[];
  /** A fixed port (default: a free one). */
  port?: number;
  /** Runs in this dir instead of a fresh temp dir (kept on stop). */
  dir?: string;
  /** Lines of a config file read before the arguments (for directives such as `user`). */
  config?: string[];
}

/** Starts a private, non-persistent `redis-server` and waits until it answers PING. */
export async function startRedis(options: StartRedisOptions = {}): Promise<PrivateRedis> {
  const port = options.port ?? await freePort();
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "gochat-redis-"));
  const cliArgs = options.cliArgs ?? ["-p", String(port)];
  const configArgs: string[] = [];
  if (options.config) {
    const file = join(dir, `redis-${port}.conf`);
    writeFileSync(file, options.config.join("\n") + "\n");
    configArgs.push(file);
  }
  const process = await startServer({
    name: `redis-server :${port}`,
    command: redisServerBinary,
    args: [
      ...configArgs,
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      ...(options.args ?? []),
    ],
    logFile: join(dir, `redis-${port}.log`),
    ready: async () => (await redisCli([...cliArgs, "ping"], 2_000)) === "PONG",
  });
  return {
    port,
    node: `127.0.0.1:${port}`,
    dir,
    process,
    async stop() {
      await process.stop();
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A private Redis Cluster. */
export interface PrivateRedisCluster {
  /** `127.0.0.1:<port>` of every master. */
  readonly nodes: string[];
  /** The servers, in the order of `nodes`. */
  readonly servers: PrivateRedis[];
  /** Stops every node and removes the dir. */
  stop(): Promise<void>;
}

/**
 * Starts `masters` cluster-enabled servers (bus ports chosen explicitly with `cluster-port`,
 * so no `port + 10000` clash), joins them with `redis-cli --cluster create`, and waits until
 * every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(masters = 3): Promise<PrivateRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "gochat-redis-cluster-"));
  const servers: PrivateRedis[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      const busPort = await freePort();
      servers.push(
        await startRedis({
          port,
          dir,
          args: [
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            String(busPort),
            "--cluster-config-file",
            join(dir, `nodes-${port}.conf`),
            "--cluster-node-timeout",
            "2000",
          ],
        }),
      );
    }
    const nodes = servers.map((s) => s.node);
    await redisCli(
      ["--cluster", "create", ...nodes, "--cluster-replicas", "0", "--cluster-yes"],
      30_000,
    );
    await waitUntil(async () => {
      for (const server of servers) {
        const info = await redisCli(["-p", String(server.port), "cluster", "info"]);
        if (!info.includes("cluster_state:ok")) return false;
      }
      return true;
    }, { timeoutMs: 30_000, what: "the cluster to be ok" });
    return {
      nodes,
      servers,
      async stop() {
        await Promise.all(servers.map((s) => s.stop()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** A private master watched by one Sentinel. */
export interface PrivateSentinel {
  /** The master group name. */
  readonly name: string;
  /** `127.0.0.1:<port>` of the Sentinel. */
  readonly sentinel: string;
  /** The master. */
  readonly master: PrivateRedis;
  /** Stops the Sentinel and the master. */
  stop(): Promise<void>;
}

/** Starts a private master and a `redis-server --sentinel` that monitors it (quorum 1). */
export async function startRedisSentinel(name = "gochat"): Promise<PrivateSentinel> {
  const master = await startRedis();
  const port = await freePort();
  const config = join(master.dir, "sentinel.conf");
  writeFileSync(
    config,
    [
      `port ${port}`,
      "bind 127.0.0.1",
      `dir ${master.dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${name} 5000`,
      "",
    ].join("\n"),
  );
  try {
    const process = await startServer({
      name: `redis-sentinel :${port}`,
      command: redisServerBinary,
      args: [config, "--sentinel"],
      logFile: join(master.dir, `sentinel-${port}.log`),
      ready: async () => {
        const reply = await redisCli([
          "-p",
          String(port),
          "sentinel",
          "get-master-addr-by-name",
          name,
        ], 2_000);
        return reply.includes(String(master.port));
      },
    });
    return {
      name,
      sentinel: `127.0.0.1:${port}`,
      master,
      async stop() {
        await process.stop();
        await master.stop();
      },
    };
  } catch (error) {
    await master.stop();
    throw error;
  }
}

/** A private TLS-only server with `requirepass` and an ACL user. */
export interface PrivateTlsRedis {
  /** The server. */
  readonly server: PrivateRedis;
  /** The CA certificate (PEM) that signed the server's certificate. */
  readonly caPem: string;
  /** The ACL user that may run every command on every key. */
  readonly username: string;
  /** That user's password. */
  readonly password: string;
  /** The default user's password (`requirepass`). */
  readonly defaultPassword: string;
  /** Stops the server. */
  stop(): Promise<void>;
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { cwd, timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`openssl ${args[0]}: ${stderr || error.message}`));
      else resolve();
    });
  });
}

/**
 * Starts a TLS-only server (no plain port) with a fresh CA and a server certificate for
 * 127.0.0.1 made with the `openssl` CLI, a default-user password and one ACL user.
 */
export async function startRedisTls(): Promise<PrivateTlsRedis> {
  const dir = mkdtempSync(join(tmpdir(), "gochat-redis-tls-"));
  try {
    await openssl([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=gochat-test-ca",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
    ], dir);
    await openssl([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=127.0.0.1",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
    ], dir);
    writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    await openssl([
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      "san.ext",
      "-out",
      "server.crt",
    ], dir);
    const port = await freePort();
    const username = "gochat-app";
    const password = "app-secret-" + Math.random().toString(36).slice(2);
    const defaultPassword = "default-secret-" + Math.random().toString(36).slice(2);
    const server = await startRedis({
      port,
      dir,
      args: [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--tls-cert-file",
        join(dir, "server.crt"),
        "--tls-key-file",
        join(dir, "server.key"),
        "--tls-ca-cert-file",
        join(dir, "ca.crt"),
        "--tls-auth-clients",
        "no",
        "--requirepass",
        defaultPassword,
      ],
      config: [`user ${username} on >${password} ~* &* +@all`],
      cliArgs: [
        "-p",
        String(port),
        "--tls",
        "--cacert",
        join(dir, "ca.crt"),
        "--user",
        username,
        "--pass",
        password,
        "--no-auth-warning",
      ],
    });
    const caPem = readFileSync(join(dir, "ca.crt"), "utf8");
    return {
      server,
      caPem,
      username,
      password,
      defaultPassword,
      async stop() {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Deletes every key that starts with `prefix` on one node (SCAN + UNLINK; no FLUSH). */
export async function deleteKeysWithPrefix(
  client: { call(command: string, ...args: (string | number)[]): Promise<unknown> },
  prefix: string,
): Promise<number> {
  const pattern = prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`) + "*";
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await client.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000) as [
      string,
      string[],
    ];
    cursor = next;
    if (keys.length > 0) deleted += Number(await client.call("UNLINK", ...keys));
  } while (cursor !== "0");
  return deleted;
}
