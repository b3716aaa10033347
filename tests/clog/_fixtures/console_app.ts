/**
 * A tiny application for the process tests: a library logger obtained at import time,
 * `init` with a buffered JSON console sink on stdout and a text sink on stderr, two lines,
 * and then the process ends, naturally or through `process.exit(3)` (argument "exit").
 */
import process from "node:process";
import { getLogger, init } from "../../../clog/mod.ts";

const library = getLogger("library");
library.info("before init: silent");

init({
  service: "fixture",
  sinks: [
    { type: "console", buffered: { bufferSize: 1000, flushIntervalMs: 60_000 } },
    { type: "console", target: "stderr", format: "text", level: "warn" },
  ],
});
library.info("buffered until exit", { n: 1 });
library.warn("second", { n: 2 });
if (process.argv.includes("exit")) process.exit(3);
