import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { getLogger, init, type LogRecord } from "../../clog/mod.ts";

test("getLogger is silent before init, writes after it, follows reloads, and is silent after close", async () => {
  const early = getLogger("early").with({ bound: true });
  const records: LogRecord[] = [];
  early.info("before init");
  assert.equal(early.isEnabled("fatal"), false);
  const root = init(
    { level: "info", service: "svc", sinks: [{ type: "custom", name: "memory" }] },
    { sinks: { memory: (record) => void records.push(record) } },
  );
  try {
    early.info("after init");
    early.debug("below the level");
    getLogger().info("from the root");
    await root.hotReload({
      level: "debug",
      service: "svc",
      sinks: [{ type: "custom", name: "memory" }],
    });
    early.debug("after reload");
    assert.deepEqual(records.map((r) => [r.namespace, r.message, r.fields.bound]), [
      ["svc.early", "after init", true],
      ["svc", "from the root", undefined],
      ["svc.early", "after reload", true],
    ]);
  } finally {
    await root.close();
  }
  early.error("after close");
  assert.equal(records.length, 3);
  assert.equal(early.isEnabled("fatal"), false);
});

test("init again replaces the process-wide configuration", async () => {
  const first: LogRecord[] = [];
  const second: LogRecord[] = [];
  const logger = getLogger("x");
  init({ sinks: [{ type: "custom", name: "m" }] }, { sinks: { m: (r) => void first.push(r) } });
  logger.info("one");
  const root = init({ sinks: [{ type: "custom", name: "m" }] }, {
    sinks: { m: (r) => void second.push(r) },
  });
  logger.info("two");
  await root.close();
  assert.deepEqual([first.length, second.length], [1, 1]);
});

test("closing the root of an earlier init leaves the configuration of a later init in force", async () => {
  const first: LogRecord[] = [];
  const second: LogRecord[] = [];
  const logger = getLogger("x");
  const earlier = init({ sinks: [{ type: "custom", name: "m" }] }, {
    sinks: { m: (r) => void first.push(r) },
  });
  const later = init({ level: "debug", sinks: [{ type: "custom", name: "m" }] }, {
    sinks: { m: (r) => void second.push(r) },
  });
  try {
    await earlier.close();
    logger.debug("after the earlier root closed");
    assert.deepEqual(second.map((r) => r.message), ["after the earlier root closed"]);
    assert.equal(first.length, 0);
    assert.equal(later.config?.level, "debug");
    assert.equal(earlier.config, undefined);
    await assert.rejects(earlier.hotReload({}), { code: "Closed" });
  } finally {
    await later.close();
  }
  logger.error("after the later root closed");
  assert.equal(second.length, 1);
});

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** When the child process ended (`Date.now()`). */
  endedAt: number;
}

const isDeno = "Deno" in globalThis;

/** How the test reads the fixture's stdout. */
type Reader = "fast" | "slow" | "never";

/** A fixture that has not ended by then hangs: it is killed and the test fails. */
const HANG_MS = 60_000;

/**
 * Runs a fixture on the runtime under test and collects what it wrote. A slow reader stops
 * reading stdout for a while at first and after each chunk, so the pipe fills up and the
 * fixture's writes meet a full pipe. A reader that never reads leaves stdout alone until
 * the fixture has ended, and only then takes what the pipe holds.
 */
function run(
  args: string[],
  { fixture = "console_app.ts", reader = "fast" as Reader } = {},
): Promise<Ended> {
  const script = fileURLToPath(new URL(`./_fixtures/${fixture}`, import.meta.url));
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const isBun = process.versions.bun !== undefined;
  const argv = isDeno
    ? ["run", "-A", script, ...args]
    : isBun
    ? [script, ...args]
    : ["--import", "tsx", script, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let endedAt = 0;
    const hang = setTimeout(() => child.kill("SIGKILL"), HANG_MS);
    const pause = (ms: number) => {
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), ms);
    };
    if (reader === "slow") pause(200);
    if (reader === "never") child.stdout.pause();
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      if (reader === "slow") pause(2);
    });
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("exit", () => {
      endedAt = Date.now();
      clearTimeout(hang);
      if (reader === "never") child.stdout.resume();
    });
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr, endedAt }));
  });
}

/** The messages of the JSON lines the fixture wrote on stdout. */
function written(ended: Ended): string[] {
  return ended.stdout.trimEnd().split("\n").filter(Boolean).map((line) => JSON.parse(line).msg);
}

const BOTH = ["buffered until exit", "second"];

for (const how of ["naturally", "through process.exit"]) {
  test(`the console sink writes, and buffered lines are written when the process ends ${how}`, async () => {
    const { code, stdout, stderr } = await run(how === "naturally" ? [] : ["exit"]);
    assert.equal(code, how === "naturally" ? 0 : 3, stderr);
    const lines = stdout.trimEnd().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(lines.map((l) => [l.namespace, l.msg, l.n]), [
      ["fixture.library", "buffered until exit", 1],
      ["fixture.library", "second", 2],
    ]);
    assert.match(stderr, /WARN {2}fixture\.library second n=2\n/);
    assert.doesNotMatch(stdout + stderr, /silent/);
  });
}

test("buffered lines are written when the process ends through Deno.exit", {
  skip: !isDeno && "Deno only",
}, async () => {
  const ended = await run(["deno-exit"]);
  assert.equal(ended.code, 3, ended.stderr);
  assert.deepEqual(written(ended), BOTH);
});

test("buffered lines are written when an uncaught exception ends the process", async () => {
  const ended = await run(["throw"]);
  assert.match(ended.stderr, /uncaught/);
  assert.notEqual(ended.code, 0);
  assert.deepEqual(written(ended), BOTH);
});

test("buffered lines are written when an unhandled rejection ends the process", async () => {
  const ended = await run(["reject"]);
  assert.match(ended.stderr, /unhandled/);
  assert.notEqual(ended.code, 0);
  assert.deepEqual(written(ended), BOTH);
});

test("with flushOnSignals, SIGTERM writes buffered lines and still ends the process", async () => {
  const ended = await run(["sigterm"]);
  assert.equal(ended.signal, "SIGTERM", ended.stderr);
  assert.deepEqual(written(ended), BOTH);
});

test("with flushOnSignals, an application that handles SIGTERM decides when to end", async () => {
  const ended = await run(["sigterm-handled"]);
  assert.deepEqual([ended.code, ended.signal], [4, null], ended.stderr);
  assert.deepEqual(written(ended), [...BOTH, "shutting down"]);
});

for (const how of ["naturally", "through process.exit"]) {
  test(`a line logged in the application's exit listener is written by a buffered sink when the process ends ${how}`, async () => {
    const ended = await run([how === "naturally" ? "exit-listener" : "exit-listener-exit"]);
    assert.equal(ended.code, how === "naturally" ? 0 : 3, ended.stderr);
    assert.deepEqual(written(ended), [...BOTH, "from an exit listener"]);
  });
}

const FLOOD = 20_000;

for (
  const [sink, mode] of [
    ["buffered", "natural"],
    ["buffered", "exit"],
    ["buffered", "fatal"],
    ["unbuffered", "exit"],
  ]
) {
  test(`every line of a console sink (${sink}) reaches a slow pipe when the process ends (${mode})`, async () => {
    const ended = await run([mode, String(FLOOD), sink], {
      fixture: "flood_app.ts",
      reader: "slow",
    });
    assert.equal(ended.code, { natural: 0, exit: 3, fatal: 1 }[mode], ended.stderr);
    const numbers = ended.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line).i);
    const expected = Array.from({ length: mode === "fatal" ? FLOOD + 1 : FLOOD }, (_, i) => i);
    const first = expected.findIndex((i) => numbers[i] !== i);
    assert.equal(numbers.length, expected.length, `lines received (first missing: ${first})`);
    assert.equal(first, -1, "lines in order");
  });
}

test("a buffered console sink writes every line to a pipe whose reader keeps up while the process goes on logging", async () => {
  const lines = 40_000; // about 28 MB: more than the 16 MiB a slow reader may leave held
  const ended = await run(["paced", String(lines), "buffered"], { fixture: "flood_app.ts" });
  assert.equal(ended.code, 0, ended.stderr);
  assert.doesNotMatch(ended.stderr, /lines dropped/);
  const numbers = ended.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line).i);
  assert.equal(numbers.length, lines, "lines received");
  assert.deepEqual(numbers, Array.from({ length: lines }, (_, i) => i));
});

const STUCK_LINES = 5_000;

for (const sink of ["buffered", "unbuffered"]) {
  test(`a console pipe that is never read holds the end of the process up for flushTimeoutMs, not longer, and the lines dropped are reported on stderr (${sink})`, async () => {
    const waitMs = 1_000;
    const ended = await run(["exit", String(STUCK_LINES), sink, String(waitMs)], {
      fixture: "flood_app.ts",
      reader: "never",
    });
    assert.equal(ended.code, 3, ended.stderr);
    const exitingAt = Number(/exiting at (\d+)/.exec(ended.stderr)?.[1]);
    const waited = ended.endedAt - exitingAt;
    assert.ok(waited >= waitMs - 50, `waited ${waited} ms for the reader`);
    assert.ok(waited < waitMs + 5_000, `waited ${waited} ms for the reader`);
    const report = /clog: stdout took nothing for 1000 ms: (\d+) lines dropped\n/.exec(
      ended.stderr,
    );
    assert.ok(report, ended.stderr);
    // The pipe's contents, read after the end: whole lines, in order, and then nothing.
    const received = ended.stdout.split("\n").slice(0, -1).map((line) => JSON.parse(line).i);
    assert.deepEqual(received, Array.from({ length: received.length }, (_, i) => i));
    assert.equal(received.length + Number(report[1]), STUCK_LINES);
  });
}

test("with flushTimeoutMs 0, the end of the process does not wait for a console pipe that is full", async () => {
  const ended = await run(["exit", String(STUCK_LINES), "buffered", "0"], {
    fixture: "flood_app.ts",
    reader: "never",
  });
  assert.equal(ended.code, 3, ended.stderr);
  const waited = ended.endedAt - Number(/exiting at (\d+)/.exec(ended.stderr)?.[1]);
  assert.ok(waited < 1_000, `waited ${waited} ms for the reader`);
  assert.match(ended.stderr, /clog: stdout took nothing at once: \d+ lines dropped\n/);
});

test("a console reader that stopped costs at most 16 MiB of held lines: later ones are dropped, said at once and counted", async () => {
  const lines = 30_000; // about 21 MB of lines
  const ended = await run(["exit", String(lines), "unbuffered", "0"], {
    fixture: "flood_app.ts",
    reader: "never",
  });
  assert.equal(ended.code, 3, ended.stderr);
  const [behind, exiting] = ["is 16 MiB behind its reader", "exiting at"]
    .map((text) => ended.stderr.indexOf(text));
  assert.ok(behind >= 0 && behind < exiting, ended.stderr);
  const report = /clog: stdout took nothing at once: (\d+) lines dropped\n/.exec(ended.stderr);
  assert.ok(report, ended.stderr);
  const received = ended.stdout.split("\n").slice(0, -1).map((line) => JSON.parse(line).i);
  assert.deepEqual(received, Array.from({ length: received.length }, (_, i) => i));
  assert.equal(received.length + Number(report[1]), lines);
});

test("a web stream sink whose stream takes nothing says so on stderr, and close() ends the process", async () => {
  const ended = await run(["stalled-stream"], { fixture: "sink_app.ts" });
  assert.equal(ended.code, 0, ended.stderr);
  assert.equal(ended.stdout, "closed\n");
  const [behind, gaveUp] = [
    /clog: stream sink "ship" is 16 MiB behind its stream: new lines are dropped until it catches up\n/,
    /clog: stream sink "ship" did not take the rest within 300 ms: (\d+) lines dropped\n/,
  ].map((pattern) => pattern.exec(ended.stderr));
  assert.ok(behind && gaveUp && behind.index < gaveUp.index, ended.stderr);
  // Dropped past the cap, or handed to the stream and given up at close: every line is counted.
  assert.equal(Number(gaveUp[1]), 30_000);
});

test("a sink that logs about every record it is handed does not end the process, and stderr says so once", async () => {
  const ended = await run(["reentrant"], { fixture: "sink_app.ts" });
  assert.equal(ended.code, 0, ended.stderr);
  assert.equal(ended.stdout, "alive\n");
  assert.equal(
    ended.stderr,
    "clog: re-entrant log call failed: a sink logs while it writes a record that a sink " +
      "logged: 1 record nested this deep dropped (one nested level is written)\n",
  );
});
