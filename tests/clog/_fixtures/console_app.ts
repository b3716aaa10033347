/**
 * A tiny application for the process tests: a library logger obtained at import time,
 * `init` with a buffered JSON console sink on stdout and a text sink on stderr, two lines,
 * and then the process ends the way the argument says:
 *
 * - (none): naturally;
 * - `exit`: `process.exit(3)`; `deno-exit`: `Deno.exit(3)`;
 * - `throw`: an uncaught exception; `reject`: an unhandled rejection;
 * - `sigterm`: SIGTERM to itself, with `flushOnSignals`;
 * - `sigterm-handled`: the same, but the application handles SIGTERM: it logs one more
 *   line and ends on its own with code 4;
 * - `exit-listener`, `exit-listener-exit`: the application listens for `'exit'` (after
 *   clog did) and logs one more line there; the process ends naturally, or through
 *   `process.exit(3)`.
 */
import process from "node:process";
import { getLogger, init } from "../../../clog/mod.ts";

const mode = process.argv.at(-1);
const library = getLogger("library");
library.info("before init: silent");

init({
  service: "fixture",
  ...(mode?.startsWith("sigterm") ? { flushOnSignals: true } : {}),
  sinks: [
    { type: "console", buffered: { bufferSize: 1000, flushIntervalMs: 60_000 } },
    { type: "console", target: "stderr", format: "text", level: "warn" },
  ],
});
library.info("buffered until exit", { n: 1 });
library.warn("second", { n: 2 });
if (mode?.startsWith("exit-listener")) {
  process.on("exit", () => library.info("from an exit listener", { n: 3 }));
}
switch (mode) {
  case "exit-listener-exit":
  case "exit":
    process.exit(3);
    break;
  case "deno-exit":
    // deno-lint-ignore no-explicit-any -- Deno is not in the types of every runtime
    (globalThis as any).Deno.exit(3);
    break;
  case "throw":
    throw new Error("uncaught");
  case "reject":
    Promise.reject(new Error("unhandled"));
    break;
  case "sigterm":
  case "sigterm-handled": {
    const keepAlive = setTimeout(() => {}, 30_000);
    if (mode === "sigterm-handled") {
      process.on("SIGTERM", () => {
        library.info("shutting down", { n: 3 });
        clearTimeout(keepAlive);
        process.exitCode = 4;
      });
    }
    process.kill(process.pid, "SIGTERM");
    break;
  }
}
