/**
 * Private etcd servers for fault tests: a single member or a three-member cluster on free
 * loopback ports in a temp dir, which a test may SIGKILL and restart. Never the shared etcd.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { freePort, type ServerProcess, startServer } from "./process.ts";

/** TLS files for a server. */
export interface EtcdTlsFiles {
  /** Server certificate. */
  certFile: string;
  /** Server key. */
  keyFile: string;
  /** CA that clients must be signed by (turns client-cert auth on). */
  clientCaFile?: string;
}

/** One etcd member under test control. */
export interface EtcdMember {
  /** Member name. */
  name: string;
  /** Client URL. */
  endpoint: string;
  /** The process. */
  process: ServerProcess;
  /** Reads one gauge or counter from `/metrics` (sum over labels). */
  metric(name: string): Promise<number>;
}

/** A running private etcd (one member or a cluster). */
export interface EtcdServer {
  /** Client URLs of every member. */
  endpoints: string[];
  /** The members. */
  members: EtcdMember[];
  /** Stops every member and removes the data. */
  close(): Promise<void>;
}

/** The server binary (`etcd` on the PATH unless `GOCHAT_ETCD_BINARY` says otherwise). */
const ETCD = process.env.GOCHAT_ETCD_BINARY || "etcd";

/** Whether a member answers `/health` (over plain HTTP on its metrics port). */
async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
    const body = await response.text();
    return body.includes('"health":"true"');
  } catch {
    return false;
  }
}

/**
 * Starts a private etcd: `size` members (1 or 3) with short heartbeats, in a temp dir.
 *
 * @param options Cluster size, TLS files, and more etcd flags (`args`, for every member).
 */
export async function startEtcd(
  options: { size?: number; tls?: EtcdTlsFiles; args?: string[] } = {},
): Promise<EtcdServer> {
  // A free port may be taken by someone else before etcd binds it: start over on new ports.
  for (let attempt = 1;; attempt++) {
    try {
      return await startEtcdOnce(options);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

async function startEtcdOnce(
  options: { size?: number; tls?: EtcdTlsFiles; args?: string[] },
): Promise<EtcdServer> {
  const size = options.size ?? 1;
  const dir = mkdtempSync(join(tmpdir(), "coord-etcd-"));
  const scheme = options.tls ? "https" : "http";
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({
      client: await freePort(),
      peer: await freePort(),
      metrics: await freePort(),
    })),
  );
  const cluster = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(",");
  const members: EtcdMember[] = [];
  const started: ServerProcess[] = [];
  try {
    // allSettled: when one member fails, the others must have finished starting before the
    // cleanup below kills them (no process may outlive the test).
    const outcomes = await Promise.allSettled(ports.map(async (p, i) => {
      const name = `m${i}`;
      const listen = `${scheme}://127.0.0.1:${p.client}`;
      // Deno and Bun refuse an IP address as TLS server name: clients use a host name.
      const endpoint = options.tls ? `https://localhost:${p.client}` : listen;
      const metricsUrl = `http://127.0.0.1:${p.metrics}`;
      const args = [
        "--name",
        name,
        "--data-dir",
        join(dir, name),
        "--listen-client-urls",
        listen,
        "--advertise-client-urls",
        endpoint,
        "--listen-peer-urls",
        `http://127.0.0.1:${p.peer}`,
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${p.peer}`,
        "--listen-metrics-urls",
        metricsUrl,
        "--initial-cluster",
        cluster,
        "--initial-cluster-state",
        "new",
        "--initial-cluster-token",
        `coord-test-${ports[0].peer}`,
        "--heartbeat-interval",
        "50",
        "--election-timeout",
        "500",
        "--logger",
        "zap",
        "--log-level",
        "warn",
      ];
      args.push(...(options.args ?? []));
      if (options.tls) {
        args.push("--cert-file", options.tls.certFile, "--key-file", options.tls.keyFile);
        if (options.tls.clientCaFile) {
          args.push("--client-cert-auth", "--trusted-ca-file", options.tls.clientCaFile);
        }
      }
      const process = await startServer({
        name: `etcd ${name}`,
        command: ETCD,
        args,
        // A lone member of a cluster cannot become healthy: wait for a started process only
        // until all members run, then for health below.
        ready: size === 1 ? () => healthy(metricsUrl) : () => Promise.resolve(true),
        logFile: join(dir, `${name}.log`),
      });
      started.push(process);
      members.push({
        name,
        endpoint,
        process,
        async metric(metricName: string) {
          const text = await (await fetch(`${metricsUrl}/metrics`)).text();
          let sum = 0;
          for (const line of text.split("\n")) {
            if (line.startsWith(metricName + " ") || line.startsWith(metricName + "{")) {
              sum += Number(line.slice(line.lastIndexOf(" ") + 1));
            }
          }
          return sum;
        },
      });
      if (size > 1) {
        const deadline = Date.now() + 20_000;
        while (!(await healthy(metricsUrl))) {
          if (Date.now() > deadline) throw new Error(`etcd ${name} did not become healthy`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    }));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    if (failed) throw failed.reason;
  } catch (error) {
    await Promise.all(started.map((p) => p.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  members.sort((a, b) => a.name.localeCompare(b.name));
  return {
    endpoints: members.map((m) => m.endpoint),
    members,
    async close() {
      await Promise.all(members.map((m) => m.process.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The member that currently leads the cluster (by its `etcd_server_is_leader` gauge). */
export async function leaderOf(server: EtcdServer): Promise<EtcdMember> {
  for (const member of server.members) {
    if (member.process.pid === undefined) continue;
    try {
      if (await member.metric("etcd_server_is_leader") === 1) return member;
    } catch {
      // not answering
    }
  }
  throw new Error("no member leads");
}
