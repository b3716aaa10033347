/**
 * `deno task bench:clog`: clog against pino, side by side, on Deno and on Node (and on Bun
 * when it is installed, for information), in one command.
 *
 * The record is the same for both: the message "user loaded", five call fields, and a
 * logger for namespace `im-logic.get_user` with two bound fields, written as one JSON line
 * to a sink whose `write` only counts. pino runs with its defaults (its fastest JSON
 * setup: epoch-millisecond time, numeric level, pre-serialized child bindings) and writes
 * to `pino({}, { write() {} })`; clog runs with its defaults (ISO time, level name) and a
 * stream sink of the same kind. The namespace is a bound field for pino (it has none).
 *
 * Each runtime runs rounds alternating the two loggers and keeps each one's median round.
 * It also measures the cost of a call at a disabled level (debug while the level is info).
 * The last line is `clog-vs-pino: <ratio>`: clog's lines per second ÷ pino's, the lower of
 * the Deno and Node ratios.
 *
 * Run one runtime alone (prints JSON): `node --import tsx bench/clog.ts --child`.
 */

import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { create } from "../clog/mod.ts";

interface Row {
  runtime: string;
  logger: string;
  linesPerSecond: number;
  nsPerLine: number;
}

interface RuntimeResult {
  runtime: string;
  rows: Row[];
  disabledNs: { clog: number; clogLazy: number; pino: number };
  sample: { clog: string; pino: string };
}

const MESSAGE = "user loaded";
const FIELDS = {
  userId: 42,
  requestId: "req-7f3a9c21",
  method: "GET",
  path: "/api/v1/users/42",
  cached: true,
};
const BOUND = { region: "eu-west-1", instance: "logic-1" };
const ROUNDS = 7;
const ROUND_MS = 400;

function runtimeName(): string {
  if ("Deno" in globalThis) return `deno ${process.versions.deno}`;
  if (process.versions.bun) return `bun ${process.versions.bun}`;
  return `node ${process.versions.node}`;
}

let sink = 0;
/** A destination that touches the line (so it must exist) and drops it. */
const nullWriter = { write: (line: string) => void (sink += line.length) };

function makeLoggers() {
  const ours = create(
    { service: "im-logic", sinks: [{ type: "stream", name: "null" }] },
    { streams: { null: nullWriter } },
  ).namespace("get_user").with(BOUND);
  const theirs = pino({}, nullWriter).child({ namespace: "im-logic.get_user", ...BOUND });
  const theirsIso = pino({ timestamp: pino.stdTimeFunctions.isoTime }, nullWriter)
    .child({ namespace: "im-logic.get_user", ...BOUND });
  return { ours, theirs, theirsIso };
}

/** Calls `fn` in batches for about `ms` and returns the calls per second. */
function rate(fn: () => void, ms: number): number {
  const batch = 10_000;
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < batch; i++) fn();
    calls += batch;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (calls / elapsed) * 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function nsPerCall(fn: () => void): number {
  const calls = 5_000_000;
  for (let i = 0; i < calls / 10; i++) fn();
  const start = performance.now();
  for (let i = 0; i < calls; i++) fn();
  return ((performance.now() - start) * 1e6) / calls;
}

function measure(): RuntimeResult {
  const { ours, theirs, theirsIso } = makeLoggers();
  const cases: [string, () => void][] = [
    ["clog", () => ours.info(MESSAGE, FIELDS)],
    ["pino", () => theirs.info(FIELDS, MESSAGE)],
    ["pino (isoTime)", () => theirsIso.info(FIELDS, MESSAGE)],
  ];
  for (const [, fn] of cases) rate(fn, ROUND_MS); // warm-up
  const rounds = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of cases) rounds.get(name)!.push(rate(fn, ROUND_MS));
  }
  const runtime = runtimeName();
  const rows = cases.map(([name]) => {
    const linesPerSecond = median(rounds.get(name)!);
    return { runtime, logger: name, linesPerSecond, nsPerLine: 1e9 / linesPerSecond };
  });
  const lazy = () => ({ ...FIELDS });
  const disabledNs = {
    clog: nsPerCall(() => ours.debug(MESSAGE, FIELDS)),
    clogLazy: nsPerCall(() => ours.debug(MESSAGE, lazy)),
    pino: nsPerCall(() => theirs.debug(FIELDS, MESSAGE)),
  };
  let clogLine = "";
  let pinoLine = "";
  create({ service: "im-logic", sinks: [{ type: "stream", name: "s" }] }, {
    streams: { s: { write: (line: string) => void (clogLine = line) } },
  }).namespace("get_user").with(BOUND).info(MESSAGE, FIELDS);
  pino({}, { write: (line: string) => void (pinoLine = line) })
    .child({ namespace: "im-logic.get_user", ...BOUND }).info(FIELDS, MESSAGE);
  return {
    runtime,
    rows,
    disabledNs,
    sample: { clog: clogLine.trimEnd(), pino: pinoLine.trimEnd() },
  };
}

function child(command: string, args: string[]): RuntimeResult | string {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const bin = fileURLToPath(new URL("../node_modules/.bin", import.meta.url));
  const result = spawnSync(command, args, {
    cwd: root,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` },
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.status !== 0) {
    return `${command} failed: ${result.error?.message ?? result.stderr.trim().split("\n").pop()}`;
  }
  return JSON.parse(result.stdout.trim().split("\n").pop()!) as RuntimeResult;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}

function main(): void {
  if (process.argv.includes("--child")) {
    console.log(JSON.stringify(measure()));
    return;
  }
  const script = fileURLToPath(import.meta.url);
  console.log("clog vs pino: one JSON line (message, 5 fields, namespace + 2 bound fields)");
  console.log(`to a null sink; median of ${ROUNDS} rounds of ${ROUND_MS} ms per logger.\n`);
  const results: RuntimeResult[] = [measure()];
  const node = child("node", ["--import", "tsx", script, "--child"]);
  if (typeof node === "string") {
    console.log(node);
    process.exitCode = 1;
  } else {
    results.push(node);
  }
  const bun = child("bun", [script, "--child"]);
  if (typeof bun !== "string") results.push(bun);

  console.log("| runtime | logger | lines/s | ns/line | clog ÷ this |");
  console.log("| ------- | ------ | ------: | ------: | ----------: |");
  const ratios = new Map<string, number>();
  for (const result of results) {
    const ours = result.rows.find((row) => row.logger === "clog")!;
    for (const row of result.rows) {
      const ratio = ours.linesPerSecond / row.linesPerSecond;
      if (row.logger === "pino") ratios.set(result.runtime, ratio);
      console.log(
        `| ${row.runtime} | ${row.logger} | ${fmt(row.linesPerSecond)} | ${fmt(row.nsPerLine)} | ${
          fmt(ratio, 2)
        } |`,
      );
    }
  }
  console.log("\nCost of a call at a disabled level (debug while the level is info), ns per call:");
  console.log("| runtime | clog | clog, lazy fields | pino |");
  console.log("| ------- | ---: | ----------------: | ---: |");
  for (const result of results) {
    const d = result.disabledNs;
    console.log(
      `| ${result.runtime} | ${fmt(d.clog, 1)} | ${fmt(d.clogLazy, 1)} | ${fmt(d.pino, 1)} |`,
    );
  }
  console.log("\nSample lines (same record):");
  console.log(`clog: ${results[0].sample.clog}`);
  console.log(`pino: ${results[0].sample.pino}`);
  if (results.length > 2) {
    console.log(
      `\n(${results[2].runtime} is shown for information; the ratio uses Deno and Node.)`,
    );
  }
  const counted = [...ratios.entries()].filter(([runtime]) => !runtime.startsWith("bun"));
  const lowest = Math.min(...counted.map(([, ratio]) => ratio));
  console.log(`\nclog-vs-pino: ${lowest.toFixed(2)}`);
}

main();
