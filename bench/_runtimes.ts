/**
 * Shared bench harness: measure throughput in this runtime, re-run the same bench file on
 * Node (through tsx) from a Deno run, and print one table with both.
 */
import { spawnSync } from "node:child_process";
import process from "node:process";

/** Operations per second of `op`, best of `rounds` runs of `durationMs` each. */
export function throughput(
  op: () => void,
  options: { durationMs?: number; rounds?: number; batch?: number } = {},
): number {
  const { durationMs = 1_000, rounds = 3, batch = 1_000 } = options;
  for (let i = 0; i < batch * 20; i++) op(); // warm-up
  let best = 0;
  for (let round = 0; round < rounds; round++) {
    let count = 0;
    const started = performance.now();
    let elapsed = 0;
    while (elapsed < durationMs) {
      for (let i = 0; i < batch; i++) op();
      count += batch;
      elapsed = performance.now() - started;
    }
    best = Math.max(best, (count / elapsed) * 1_000);
  }
  return best;
}

/** The name of the runtime running this code. */
export function runtimeName(): "deno" | "bun" | "node" {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  return g.Deno ? "deno" : g.Bun ? "bun" : "node";
}

/** Whether this process is the child run started by {@link runOnNode}. */
export const isChildRun: boolean = process.argv.includes("--child");

/**
 * Runs `file` on Node (through tsx) with `--child`; the child prints its results as one JSON
 * line last, which is returned.
 */
export function runOnNode(file: string): Record<string, number> {
  // Through env: Deno's child_process would otherwise run a bare "node" as Deno itself.
  const result = spawnSync("/usr/bin/env", ["node", "--import", "tsx", file, "--child"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`the Node run of ${file} failed (${result.status})`);
  const last = result.stdout.trim().split("\n").pop() ?? "{}";
  return JSON.parse(last);
}

/** Formats a rate like `4.08 M/s`. */
export function rate(opsPerSecond: number): string {
  if (opsPerSecond >= 1e6) return `${(opsPerSecond / 1e6).toFixed(2)} M/s`;
  if (opsPerSecond >= 1e3) return `${(opsPerSecond / 1e3).toFixed(1)} K/s`;
  return `${opsPerSecond.toFixed(0)} /s`;
}

/** Prints rows of `label | column...` as an aligned table. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    "| " + cells.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  console.log(line(header));
  console.log("| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |");
  for (const row of rows) console.log(line(row));
}
