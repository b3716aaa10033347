/**
 * For the process tests: `<count>` long JSON lines (about 700 bytes, numbered by `i`)
 * through a console sink on stdout, buffered or not (`<sink>`), then the end `<mode>` says:
 *
 * - `natural`: the process ends by itself;
 * - `exit`: `process.exit(3)`;
 * - `fatal`: one fatal line (numbered `<count>`), then `process.exit(1)`;
 * - `paced`: as `natural`, but the lines are logged 100 at a time, with a turn of the event
 *   loop between (a busy server), so the sink writes while the reader is reading.
 *
 * With a fourth argument, the config's `flushTimeoutMs` is that many ms, and the fixture
 * writes `exiting at <Date.now()>` on stderr just before `process.exit`.
 *
 * Usage: `flood_app.ts <mode> <count> <buffered|unbuffered> [flushTimeoutMs]`.
 */
import { writeSync } from "node:fs";
import process from "node:process";
import { init } from "../../../clog/mod.ts";

const [mode, count, sink, flushTimeoutMs] = process.argv.slice(2);
const buffered = sink === "buffered" ? { buffered: {} } : {};
const timeout = flushTimeoutMs === undefined ? {} : { flushTimeoutMs: Number(flushTimeoutMs) };
const root = init({ ...timeout, sinks: [{ type: "console", ...buffered }] });
const pad = "p".repeat(650);
for (let i = 0; i < Number(count); i++) {
  root.info("line", { i, pad });
  if (mode === "paced" && i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 0));
}
if (mode === "fatal") {
  root.fatal("fatal", { i: Number(count) });
  process.exit(1);
}
if (mode === "exit") {
  if (flushTimeoutMs !== undefined) writeSync(2, `exiting at ${Date.now()}\n`);
  process.exit(3);
}
