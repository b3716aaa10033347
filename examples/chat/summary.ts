/**
 * The demo's summary, as printed at the end of `deno task demo`.
 *
 * @module
 */

import type { DemoReport, LevelCounts } from "./demo.ts";
import { percentile } from "./load.ts";

function ms(value: number): string {
  return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`;
}

function levels(counts: LevelCounts): string {
  const written = Object.entries(counts).filter(([, n]) => n > 0);
  return written.length === 0 ? "none" : written.map(([level, n]) => `${level} ${n}`).join(", ");
}

function windows(sizes: Record<string, number>): string {
  return Object.entries(sizes).map(([room, size]) => `${room} ${size}`).join(", ");
}

/**
 * Formats a demo report for people.
 *
 * @param report What the demo saw.
 * @returns Lines of text.
 */
export function formatSummary(report: DemoReport): string {
  const { before, after, configChange: change } = report;
  const posts = before.posts + after.posts;
  const reads = before.reads + after.reads;
  const postLatency = [...before.postLatenciesMs, ...after.postLatenciesMs];
  const readLatency = [...before.readLatenciesMs, ...after.readLatenciesMs];
  const loadMs = before.elapsedMs + after.elapsedMs;
  const changed = (Object.keys(change.to) as (keyof typeof change.to)[])
    .filter((key) => change.to[key] !== change.from[key])
    .map((key) => `${key} ${change.from[key]} → ${change.to[key]}`)
    .join(", ");
  const rows: [string, string][] = [
    ["backends", `coord: ${report.coordName} · cache: ${report.cacheName}`],
    [
      "instance",
      `id ${report.instanceId} leased from coord; registered as ${report.registration.id} ` +
      `at ${report.url} (discovered: ${report.registration.discovered ? "yes" : "no"}, ` +
      `gone after close: ${report.registration.goneAfterClose ? "yes" : "no"})`,
    ],
    [
      "load",
      `${posts} POST + ${reads} GET over HTTP (fetch) from ${report.clients} concurrent ` +
      `clients in ${(loadMs / 1000).toFixed(2)} s ` +
      `(${Math.round((posts + reads) / (loadMs / 1000))} req/s)`,
    ],
    [
      "accepted",
      `${before.accepted.length + after.accepted.length} messages ` +
      `(${before.accepted.length} before the change, ${after.accepted.length} after)`,
    ],
    [
      "duplicates",
      `${before.duplicatesRejected + after.duplicatesRejected} rejected (409 Conflict: ` +
      "retries and concurrent double-sends of a clientMessageId)",
    ],
    [
      "invalid",
      `${before.invalidRejected + after.invalidRejected} rejected (400 InvalidArgument: long ` +
      `texts after maxMessageLength ${change.from.maxMessageLength} → ${change.to.maxMessageLength})`,
    ],
    [
      "latency",
      `POST p50 ${ms(percentile(postLatency, 50))} · p99 ${ms(percentile(postLatency, 99))}; ` +
      `GET p50 ${ms(percentile(readLatency, 50))} · p99 ${ms(percentile(readLatency, 99))}`,
    ],
    [
      "config change",
      `revision ${change.revision} applied in ${ms(change.appliedMs)}: ${changed}`,
    ],
    [
      "recent window",
      `before: ${windows(report.windows.before)}; after: ${windows(report.windows.after)}`,
    ],
    [
      "log records",
      `before the change: ${levels(report.logLines.before)}; after: ${
        levels(report.logLines.after)
      }`,
    ],
    [
      "checks",
      report.problems.length === 0
        ? "all passed (ids unique and from the leased instance, windows exact, " +
          "every answer as expected)"
        : `${report.problems.length} FAILED:\n${
          report.problems.slice(0, 20).map((p) => `                   - ${p}`).join("\n")
        }`,
    ],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return [
    "",
    "== chat demo summary ==",
    ...rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`),
    "",
  ].join("\n");
}
