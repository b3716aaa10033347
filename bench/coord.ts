/**
 * deno task bench:coord
 *
 * Side by side on the same etcd (GOCHAT_ETCD_ENDPOINTS, default the local one), under a
 * unique key prefix that is removed afterwards:
 *
 * 1. Lock acquire + release throughput: our FIFO lock (etcd Mutex semantics: a queue key on
 *    the client's shared session, blocking when taken) against the etcd3 client's `lock()`
 *    (a try-lock: a lease per acquisition, create-if-absent, revoke to release). Uncontended,
 *    so both always succeed: one worker in sequence, then 8 workers on 8 lock names. Rounds
 *    alternate which side runs first. The ratio is ours ÷ etcd3 of the summed mean
 *    throughputs of both scenarios. Our lock over the JSON gateway transport (`fetch`, one
 *    HTTP request per call) runs in the same rounds, for information (not in the ratio).
 * 2. Hot-reload latency: from starting an etcd put to `hotReload` being called on a component
 *    bound to a typed config (p50/p99), over both transports, with etcd3's raw watch (put →
 *    `put` event) beside it as the floor.
 *
 * Ends with `coord-lock-vs-etcd3: <ratio>`.
 */
import process from "node:process";
import { Etcd3 } from "etcd3";
import * as coord from "../coord/mod.ts";

const endpoints = (process.env.GOCHAT_ETCD_ENDPOINTS ?? "http://127.0.0.1:2379")
  .split(",").map((s) => s.trim()).filter(Boolean);
const prefix = `/bench/coord-${Date.now().toString(36)}`;
const ROUNDS = 3;
const RUN_MS = 2_000;
const WORKERS = 8;
const RELOADS = 200;

const ours = await coord.connect({
  ...coord.defaultConfig("development"),
  endpoints,
  namespace: prefix,
});
const gateway = await coord.connect({
  ...coord.defaultConfig("development"),
  transport: "gateway",
  endpoints,
  namespace: `${prefix}/gateway`,
});
const etcd3 = new Etcd3({ hosts: endpoints });
const anchor = etcd3.namespace(`${prefix}/etcd3/`);

type Acquire = (name: string) => Promise<() => Promise<void>>;

const acquireOurs: Acquire = async (name) => {
  const lock = await ours.lock(name);
  return () => lock.release();
};

const acquireGateway: Acquire = async (name) => {
  const lock = await gateway.lock(name);
  return () => lock.release();
};

const acquireEtcd3: Acquire = async (name) => {
  const lock = anchor.lock(name).ttl(10);
  await lock.acquire();
  return () => lock.release();
};

/** Acquire/release cycles per second with `workers` workers on distinct names. */
async function throughput(acquire: Acquire, workers: number, ms: number): Promise<number> {
  let done = 0;
  const until = performance.now() + ms;
  const started = performance.now();
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    while (performance.now() < until) {
      const release = await acquire(`lock-${w}`);
      await release();
      done++;
    }
  }));
  return done / ((performance.now() - started) / 1000);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** Put → `hotReload` called, in ms, sorted: RELOADS samples after 10 warm-up ones. */
async function hotReloadLatency(client: coord.Coord): Promise<number[]> {
  const key = coord.configKey({ env: "bench", component: "reload" });
  const config = await client.config(key, { defaults: { n: -1 } });
  let waiting: ((n: number) => void) | undefined;
  await config.bind({
    hotReload(value: { n: number }) {
      waiting?.(value.n);
      return Promise.resolve();
    },
  });
  const samples: number[] = [];
  try {
    for (let i = 0; i < RELOADS + 10; i++) {
      const applied = new Promise<number>((resolve) => (waiting = resolve));
      const started = performance.now();
      await client.kv.set(key, { n: i });
      await applied;
      if (i >= 10) samples.push(performance.now() - started);
    }
  } finally {
    await config.close();
  }
  return samples.sort((a, b) => a - b);
}

try {
  // Warm both up (connections, sessions).
  await throughput(acquireOurs, WORKERS, 300);
  await throughput(acquireEtcd3, WORKERS, 300);
  await throughput(acquireGateway, WORKERS, 300);

  const scenarios = [
    { name: "1 worker", workers: 1 },
    { name: `${WORKERS} workers, ${WORKERS} names`, workers: WORKERS },
  ];
  const rows: { scenario: string; ours: number; etcd3: number; gateway: number }[] = [];
  let oursTotal = 0;
  let etcd3Total = 0;
  for (const scenario of scenarios) {
    const o: number[] = [];
    const e: number[] = [];
    const g: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        o.push(await throughput(acquireOurs, scenario.workers, RUN_MS));
        e.push(await throughput(acquireEtcd3, scenario.workers, RUN_MS));
      } else {
        e.push(await throughput(acquireEtcd3, scenario.workers, RUN_MS));
        o.push(await throughput(acquireOurs, scenario.workers, RUN_MS));
      }
      g.push(await throughput(acquireGateway, scenario.workers, RUN_MS));
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    rows.push({ scenario: scenario.name, ours: mean(o), etcd3: mean(e), gateway: mean(g) });
    oursTotal += mean(o);
    etcd3Total += mean(e);
  }

  // FIFO under contention: something etcd3's try-lock cannot do (it fails instead of waiting).
  const contended = await throughput(
    async () => {
      const lock = await ours.lock("contended");
      return () => lock.release();
    },
    WORKERS,
    RUN_MS,
  );

  // Hot reload: put -> hotReload called.
  const reload = await hotReloadLatency(ours);
  const reloadGateway = await hotReloadLatency(gateway);

  // etcd3's raw watch: put -> "put" event.
  const watcher = await anchor.watch().key("raw").create();
  let seen: (() => void) | undefined;
  watcher.on("put", () => seen?.());
  const raw: number[] = [];
  for (let i = 0; i < RELOADS + 10; i++) {
    const event = new Promise<void>((resolve) => (seen = resolve));
    const started = performance.now();
    await anchor.put("raw").value(String(i));
    await event;
    if (i >= 10) raw.push(performance.now() - started);
  }
  await watcher.cancel();

  raw.sort((a, b) => a - b);
  const ratio = oursTotal / etcd3Total;

  console.log(
    `coord bench on ${endpoints.join(", ")} (${ROUNDS} alternating rounds of ${RUN_MS} ms)`,
  );
  console.log("");
  console.log(
    "| lock acquire+release, ops/s | coord (FIFO lock) | etcd3 lock() (try-lock) | ratio | coord over the gateway (fetch) |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const row of rows) {
    console.log(
      `| ${row.scenario} | ${fmt(row.ours)} | ${fmt(row.etcd3)} | ${
        fmt(row.ours / row.etcd3, 2)
      } | ${fmt(row.gateway)} |`,
    );
  }
  console.log(
    `| ${WORKERS} workers, 1 name (contended, FIFO) | ${fmt(contended)} | n/a (fails) | | |`,
  );
  console.log("");
  console.log("| put → notification, ms | p50 | p99 |");
  console.log("| --- | ---: | ---: |");
  console.log(
    `| coord typed config → hotReload | ${fmt(percentile(reload, 50), 2)} | ${
      fmt(percentile(reload, 99), 2)
    } |`,
  );
  console.log(
    `| coord over the gateway → hotReload | ${fmt(percentile(reloadGateway, 50), 2)} | ${
      fmt(percentile(reloadGateway, 99), 2)
    } |`,
  );
  console.log(
    `| etcd3 raw watch → put event | ${fmt(percentile(raw, 50), 2)} | ${
      fmt(percentile(raw, 99), 2)
    } |`,
  );
  console.log("");
  console.log(
    `hot-reload latency: p50 ${fmt(percentile(reload, 50), 2)} ms, p99 ${
      fmt(percentile(reload, 99), 2)
    } ms`,
  );
  console.log(`coord-lock-vs-etcd3: ${ratio.toFixed(2)}`);
} finally {
  await ours.kv.delete("/", { prefix: true }).catch(() => {});
  await ours.close();
  await gateway.close();
  await anchor.delete().all().catch(() => {});
  etcd3.close();
}
