/**
 * For the process tests: a sink that misbehaves, in a process of its own, so that what
 * clog says on stderr and how the process ends can be checked. `<mode>`:
 *
 * - `stalled-stream`: 30,000 lines of about 1 KB to a web stream that never takes its
 *   first chunk, then `await root.close()` (`flushTimeoutMs` 300), then `closed` on stdout.
 * - `reentrant`: a custom sink that logs a warning about every record it is handed, one
 *   `info` call, then `alive` on stdout from a timer, if the process is still running.
 *
 * Usage: `sink_app.ts <mode>`.
 */
import process from "node:process";
import { create, type RootLogger } from "../../../clog/mod.ts";

const mode = process.argv.at(-1);
const pad = "p".repeat(1000);

if (mode === "stalled-stream") {
  const stream = new WritableStream<Uint8Array>({ write: () => new Promise<void>(() => {}) });
  const root = create({ flushTimeoutMs: 300, sinks: [{ type: "stream", name: "ship" }] }, {
    streams: { ship: stream },
  });
  for (let i = 0; i < 30_000; i++) root.info("line", { i, pad });
  await root.close();
  console.log("closed");
}

if (mode === "reentrant") {
  // Assigned below; the sink reads it when it is called.
  let root: RootLogger | undefined = undefined;
  root = create({ sinks: [{ type: "custom", name: "shipper" }] }, {
    sinks: { shipper: (record) => root!.warn("delivery failed", { about: record.message }) },
  });
  root.info("hello");
  setTimeout(() => console.log("alive"), 100);
}
