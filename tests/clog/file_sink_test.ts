import { test } from "node:test";
import assert from "node:assert/strict";
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, withContext } from "../../clog/mod.ts";

const DAY = 86_400_000;
const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "clog-file-"));
}

/** Every line of every file in `dir`, parsed (a torn line fails the parse). */
function readAll(dir: string): { file: string; line: Record<string, unknown> }[] {
  const out: { file: string; line: Record<string, unknown> }[] = [];
  for (const file of readdirSync(dir).sort()) {
    const text = readFileSync(join(dir, file), "utf8");
    if (text === "") continue;
    assert.ok(text.endsWith("\n"), `${file} ends with a whole line`);
    for (const raw of text.slice(0, -1).split("\n")) {
      out.push({ file, line: JSON.parse(raw) });
    }
  }
  return out;
}

/** The messages in each file of `dir`. */
function messagesByFile(dir: string): Record<string, unknown[]> {
  const byFile: Record<string, unknown[]> = {};
  for (const { file, line } of readAll(dir)) (byFile[file] ??= []).push(line.msg);
  return byFile;
}

test("a file sink appends lines, creating its folder", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "nested", "deeper", "app.log");
    const root = create({ sinks: [{ type: "file", path }] });
    root.info("one");
    root.info("two", { n: 2 });
    await root.close();
    const again = create({ sinks: [{ type: "file", path }] });
    again.info("three");
    await again.close();
    const lines = readFileSync(path, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.msg), ["one", "two", "three"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("size rotation under concurrent writers keeps every line exactly once, none torn", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "app.log");
    const maxSizeBytes = 4096;
    const root = create({
      sinks: [{ type: "file", path, rotation: { maxSizeBytes, maxBackups: 10_000 } }],
    });
    const writers = 25;
    const perWriter = 200;
    await Promise.all(Array.from({ length: writers }, async (_, writer) => {
      const logger = root.namespace(`writer${writer}`);
      for (let seq = 0; seq < perWriter; seq++) {
        logger.info("line", { writer, seq, pad: "x".repeat((writer * 7 + seq) % 90) });
        if (seq % 3 === 0) await tick(0);
        else await Promise.resolve();
      }
    }));
    await root.close();
    const entries = readAll(dir);
    const seen = new Set<string>();
    for (const { line } of entries) {
      const key = `${line.writer}:${line.seq}`;
      assert.ok(!seen.has(key), `${key} written twice`);
      seen.add(key);
    }
    assert.equal(seen.size, writers * perWriter);
    const files = readdirSync(dir);
    assert.ok(files.length > 20, `rotation happened (${files.length} files)`);
    for (const file of files) {
      assert.ok(statSync(join(dir, file)).size <= maxSizeBytes, `${file} within the limit`);
      if (file !== "app.log") assert.match(file, /^app\.log\.\d{4}-\d{2}-\d{2}\.\d+$/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("buffered size rotation under concurrent writers keeps every line exactly once, in order per writer", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "app.log");
    const root = create({
      sinks: [{
        type: "file",
        path,
        rotation: { maxSizeBytes: 8192, maxBackups: 10_000 },
        buffered: { bufferSize: 64, flushIntervalMs: 2 },
      }],
    });
    const writers = 20;
    const perWriter = 250;
    await Promise.all(Array.from({ length: writers }, async (_, writer) => {
      for (let seq = 0; seq < perWriter; seq++) {
        root.info("line", { writer, seq });
        if (seq % 10 === 0) await tick(1);
      }
    }));
    await root.close();
    // Backups in rotation order, then the current file: each writer's lines are in order.
    const files = readdirSync(dir).filter((f) => f !== "app.log")
      .sort((a, b) => Number(a.split(".").pop()) - Number(b.split(".").pop()));
    files.push("app.log");
    const next = new Array(writers).fill(0);
    let total = 0;
    for (const file of files) {
      for (const raw of readFileSync(join(dir, file), "utf8").trimEnd().split("\n")) {
        if (raw === "") continue;
        const line = JSON.parse(raw);
        assert.equal(line.seq, next[line.writer], `writer ${line.writer} in order`);
        next[line.writer]++;
        total++;
      }
    }
    assert.equal(total, writers * perWriter);
    assert.ok(files.length > 5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("maxBackups keeps only the newest rotated files", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "app.log");
    const root = create({
      sinks: [{ type: "file", path, rotation: { maxSizeBytes: 300, maxBackups: 2 } }],
    });
    for (let seq = 0; seq < 100; seq++) root.info("line", { seq });
    await root.close();
    const files = readdirSync(dir).sort();
    assert.equal(files.length, 3);
    const seqs = readAll(dir).map(({ line }) => line.seq as number).sort((a, b) => a - b);
    // What is kept is the end of the stream, without gaps.
    assert.equal(seqs[seqs.length - 1], 99);
    assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("maxBackups 0 keeps no rotated file", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "app.log");
    const root = create({
      sinks: [{ type: "file", path, rotation: { maxSizeBytes: 200, maxBackups: 0 } }],
    });
    for (let seq = 0; seq < 20; seq++) root.info("line", { seq });
    await root.close();
    assert.deepEqual(readdirSync(dir), ["app.log"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a line larger than maxSizeBytes gets a file of its own, whole", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "app.log");
    const root = create({
      sinks: [{ type: "file", path, rotation: { maxSizeBytes: 200, maxBackups: 10 } }],
    });
    root.info("small");
    root.info("big", { blob: "b".repeat(1000) });
    root.info("small again");
    await root.close();
    const entries = readAll(dir);
    assert.deepEqual(entries.map(({ line }) => line.msg).sort(), ["big", "small", "small again"]);
    const big = entries.find(({ line }) => line.msg === "big")!;
    assert.equal(entries.filter(({ file }) => file === big.file).length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("daily rotation moves the previous day's lines to a file named after that day", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "app.log");
    let now = Date.UTC(2025, 10, 23, 23, 59, 59, 0);
    const root = create(
      { sinks: [{ type: "file", path, rotation: { daily: true, maxBackups: 10 } }] },
      { now: () => now },
    );
    root.info("late on the 23rd");
    root.info("still the 23rd");
    now += 2_000;
    root.info("early on the 24th");
    now += DAY;
    root.info("the 25th");
    await root.close();
    assert.deepEqual(messagesByFile(dir), {
      "app.log": ["the 25th"],
      "app.log.2025-11-23.1": ["late on the 23rd", "still the 23rd"],
      "app.log.2025-11-24.1": ["early on the 24th"],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("daily rotation in a time zone rotates at its midnight, also across a daylight-saving change", async () => {
  const cases: { timeZone: string; times: [string, number][]; files: Record<string, string[]> }[] =
    [
      {
        // 16:00 UTC is midnight in Shanghai: the 23rd there ends at 15:59:59 UTC.
        timeZone: "Asia/Shanghai",
        times: [
          ["late on the 23rd", Date.UTC(2025, 10, 23, 15, 59, 59)],
          ["early on the 24th", Date.UTC(2025, 10, 23, 16, 0, 1)],
          ["still the 24th, past midnight UTC", Date.UTC(2025, 10, 24, 0, 30)],
        ],
        files: {
          "app.log": ["early on the 24th", "still the 24th, past midnight UTC"],
          "app.log.2025-11-23.1": ["late on the 23rd"],
        },
      },
      {
        // New York's 2 November 2025 has 25 hours (EDT ends): 04:30 UTC on the 3rd is still
        // the 2nd there, 05:30 UTC is the 3rd. A fixed offset would cut the day an hour early.
        timeZone: "America/New_York",
        times: [
          ["early on the 2nd", Date.UTC(2025, 10, 2, 4, 30)],
          ["late on the 2nd", Date.UTC(2025, 10, 3, 4, 30)],
          ["early on the 3rd", Date.UTC(2025, 10, 3, 5, 30)],
        ],
        files: {
          "app.log": ["early on the 3rd"],
          "app.log.2025-11-02.1": ["early on the 2nd", "late on the 2nd"],
        },
      },
    ];
  for (const { timeZone, times, files } of cases) {
    const dir = tempDir();
    try {
      const path = join(dir, "app.log");
      let now = times[0][1];
      const root = create(
        { sinks: [{ type: "file", path, rotation: { daily: true, timeZone } }] },
        { now: () => now },
      );
      for (const [message, time] of times) {
        now = time;
        root.info(message);
      }
      await root.close();
      assert.deepEqual(messagesByFile(dir), files, timeZone);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('daily rotation with timeZone "local" follows the zone the runtime runs in', async () => {
  const zone = new Intl.DateTimeFormat().resolvedOptions().timeZone;
  const local = new Date(2025, 10, 23, 23, 59, 59).getTime(); // 23:59:59 here
  const files: Record<string, Record<string, unknown[]>> = {};
  for (const timeZone of ["local", zone]) {
    const dir = tempDir();
    try {
      const path = join(dir, "app.log");
      let now = local;
      const root = create(
        { sinks: [{ type: "file", path, rotation: { daily: true, timeZone } }] },
        { now: () => now },
      );
      root.info("late on the 23rd");
      now += 2_000;
      root.info("early on the 24th");
      await root.close();
      files[timeZone] = messagesByFile(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  assert.deepEqual(files.local, {
    "app.log": ["early on the 24th"],
    "app.log.2025-11-23.1": ["late on the 23rd"],
  });
  assert.deepEqual(files[zone], files.local);
});

test("a buffered line goes to the file of the day it was logged, however late it is written", async () => {
  for (const maxSizeBytes of [undefined, 150]) { // 150: two of these 62-byte lines a file
    const dir = tempDir();
    try {
      const path = join(dir, "app.log");
      let now = Date.UTC(2025, 10, 23, 23, 59, 59, 900);
      const root = create({
        sinks: [{
          type: "file",
          path,
          rotation: { daily: true, maxSizeBytes },
          buffered: { bufferSize: 100, flushIntervalMs: 60_000 },
        }],
      }, { now: () => now });
      for (const msg of ["a1", "a2", "a3"]) root.info(msg);
      now += 200; // 00:00:00.100 on the 24th
      root.info("b1");
      root.flush();
      now += DAY;
      root.info("c1");
      await root.close();
      assert.deepEqual(
        messagesByFile(dir),
        maxSizeBytes === undefined
          ? {
            "app.log": ["c1"],
            "app.log.2025-11-23.1": ["a1", "a2", "a3"],
            "app.log.2025-11-24.1": ["b1"],
          }
          : {
            "app.log": ["c1"],
            "app.log.2025-11-23.1": ["a1", "a2"],
            "app.log.2025-11-23.2": ["a3"],
            "app.log.2025-11-24.1": ["b1"],
          },
        `maxSizeBytes ${maxSizeBytes}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test("an existing file counts toward the size limit and its backups toward the numbering", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "app.log");
    const now = Date.UTC(2025, 10, 23, 12);
    writeFileSync(path, '{"msg":"old"}\n'.repeat(10)); // 140 bytes
    utimesSync(path, now / 1000, now / 1000); // written that day
    writeFileSync(join(dir, "app.log.2025-11-23.4"), '{"msg":"older"}\n');
    const root = create(
      { sinks: [{ type: "file", path, rotation: { maxSizeBytes: 200, maxBackups: 10 } }] },
      { now: () => now },
    );
    root.info("pushes it over", { pad: "p".repeat(40) });
    await root.close();
    assert.deepEqual(readdirSync(dir).sort(), [
      "app.log",
      "app.log.2025-11-23.4",
      "app.log.2025-11-23.5",
    ]);
    assert.match(readFileSync(path, "utf8"), /pushes it over/);
    assert.equal(readFileSync(join(dir, "app.log.2025-11-23.5"), "utf8").split("\n").length, 11);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a log file that cannot be opened fails init with a clear error naming the sink", () => {
  const dir = tempDir();
  try {
    const blocker = join(dir, "not-a-dir");
    writeFileSync(blocker, "");
    assert.throws(
      () =>
        create({
          sinks: [{ type: "console" }, { type: "file", path: join(blocker, "app.log") }],
        }),
      (error: unknown) => {
        const e = error as { code: string; message: string; details: { field?: string } };
        assert.equal(e.code, "Unavailable");
        assert.match(e.message, /cannot open log file .*\(config\.sinks\[1\]\.path\)/);
        assert.equal(e.details.field, "sinks[1].path");
        return true;
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("hot reloads that keep or change a file sink lose no line", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "app.log");
    const buffered = { bufferSize: 1000, flushIntervalMs: 60_000 };
    const root = create({ sinks: [{ type: "file", path, buffered }] });
    root.info("1");
    await root.hotReload({ level: "debug", sinks: [{ type: "file", path, buffered }] });
    root.debug("2");
    await root.hotReload({
      sinks: [{ type: "file", path, buffered, rotation: { maxSizeBytes: 150, maxBackups: 100 } }],
    });
    for (let i = 3; i <= 10; i++) root.info(String(i));
    await root.close();
    const messages = readAll(dir).map(({ line }) => Number(line.msg)).sort((a, b) => a - b);
    assert.deepEqual(messages, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.ok(readdirSync(dir).length > 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a line older than the file's day (held back by fingersCrossed) does not rotate back to its day", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "app.log");
    let now = Date.UTC(2025, 10, 23, 23, 59, 0, 0);
    const root = create({
      level: "debug",
      sinks: [{
        type: "file",
        path,
        rotation: { daily: true, maxBackups: 2 },
        fingersCrossed: { isolate: "context" },
      }],
    }, { now: () => now });
    root.error("the 23rd");
    let midnight = () => {};
    const passed = new Promise<void>((resolve) => (midnight = resolve));
    const requests = ["r1", "r2", "r3"].map((id) =>
      withContext({ id }, async () => {
        root.debug(`${id} started on the 23rd`);
        await passed;
        root.error(`${id} failed on the 24th`);
      })
    );
    now += 2 * 60_000;
    midnight();
    await Promise.all(requests);
    await root.close();
    // Rotating back and forth would make one file per line and, past maxBackups, delete
    // the 23rd's.
    assert.deepEqual(messagesByFile(dir), {
      "app.log": [
        "r1 failed on the 24th",
        "r2 started on the 23rd",
        "r2 failed on the 24th",
        "r3 started on the 23rd",
        "r3 failed on the 24th",
      ],
      "app.log.2025-11-23.1": ["the 23rd", "r1 started on the 23rd"],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a file moved away or deleted by someone else (logrotate) is created again at its path, no line lost", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "app.log");
    const root = create({ sinks: [{ type: "file", path }] });
    root.info("before");
    renameSync(path, `${path}.1`);
    // Within the second the sink takes to notice, lines still go to the moved file.
    root.info("while moving");
    await tick(1_100);
    root.info("after the move");
    assert.deepEqual(messagesByFile(dir), {
      "app.log": ["after the move"],
      "app.log.1": ["before", "while moving"],
    });
    unlinkSync(path);
    await tick(1_100);
    root.info("after the delete");
    await root.close();
    assert.deepEqual(messagesByFile(dir)["app.log"], ["after the delete"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a file truncated in place (copytruncate) is measured again: size rotation counts from zero", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "app.log");
    const root = create({
      sinks: [{ type: "file", path, rotation: { maxSizeBytes: 600, maxBackups: 5 } }],
    });
    const pad = "p".repeat(150);
    root.info("one", { pad });
    root.info("two", { pad });
    const written = statSync(path).size;
    assert.ok(written > 300 && written < 600, String(written));
    copyFileSync(path, `${path}.copy`);
    truncateSync(path, 0);
    await tick(1_100);
    root.info("three", { pad });
    root.info("four", { pad });
    await root.close();
    // Counted from the old size, the second pair would have rotated the file.
    assert.deepEqual(readdirSync(dir).sort(), ["app.log", "app.log.copy"]);
    assert.deepEqual(messagesByFile(dir), {
      "app.log": ["three", "four"],
      "app.log.copy": ["one", "two"],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
