import { test } from "node:test";
import assert from "node:assert/strict";
import { type ClogConfig, create, withContext } from "../../clog/mod.ts";
import { capture } from "./_capture.ts";

/** A captured logger whose clock reads `clock.now`. */
function withClock(config: ClogConfig = {}) {
  const clock = { now: Date.parse("2026-01-01T00:00:00.000Z") };
  return { clock, ...capture(config, () => clock.now) };
}

function failure(): Error {
  return new Error("connection refused");
}

const MARK = /^\[same stack as the line at (\S+)\]$/;

test("the same stack logged again within stackCooldownMs points to the line that has it in full", () => {
  const { clock, root, json } = withClock({ stackCooldownMs: 100 });
  const errors = Array.from({ length: 3 }, failure); // made by one line: one stack
  assert.equal(errors[0].stack, errors[2].stack);
  const start = clock.now;
  for (const [i, after] of [0, 40, 99].entries()) {
    clock.now = start + after;
    root.error("query failed", { err: errors[i] });
  }
  const stacks = json().map((line) => (line.err as { stack: string }).stack);
  assert.equal(stacks[0], errors[0].stack);
  assert.deepEqual(stacks.slice(1).map((stack) => MARK.exec(stack)?.[1]), [
    "2026-01-01T00:00:00.000Z",
    "2026-01-01T00:00:00.000Z",
  ]);
  assert.deepEqual(json().map((line) => (line.err as { message: string }).message), [
    "connection refused",
    "connection refused",
    "connection refused",
  ]);
});

test("a stack is written in full again once stackCooldownMs has passed since it last was", () => {
  const { clock, root, json } = withClock({ stackCooldownMs: 100 });
  const errors = Array.from({ length: 3 }, failure);
  root.error("a", { err: errors[0] });
  clock.now += 60;
  root.error("b", { err: errors[1] }); // cooled: the window runs from the full write
  clock.now += 40;
  root.error("c", { err: errors[2] });
  const stacks = json().map((line) => (line.err as { stack: string }).stack);
  assert.deepEqual(stacks.map((stack) => MARK.test(stack)), [false, true, false]);
  assert.equal(stacks[2], errors[2].stack);
});

test("different stacks do not cool one another", () => {
  const { root, json } = withClock({ stackCooldownMs: 100 });
  root.error("a", { err: new Error("first place") });
  root.error("b", { err: new TypeError("second place") });
  assert.deepEqual(
    json().map((line) => MARK.test((line.err as { stack: string }).stack)),
    [false, false],
  );
});

test("a JSON sink, a text sink and a custom sink of one record all get its stack in full", () => {
  const { root, lines, records } = withClock({
    stackCooldownMs: 100,
    sinks: [
      { type: "stream", name: "lines", format: "text" },
      { type: "stream", name: "lines" },
      { type: "custom", name: "records" },
    ],
  });
  const err = failure();
  root.error("once", { err });
  const frame = err.stack!.split("\n")[1].trim();
  assert.ok(lines[0].includes(frame), lines[0]);
  assert.equal(JSON.parse(lines[1]).err.stack, err.stack);
  assert.equal((records[0].fields.err as { stack: string }).stack, err.stack);
});

test("a text line points to the full stack as a JSON line does", () => {
  const { root, lines } = withClock({
    stackCooldownMs: 100,
    sinks: [{ type: "stream", name: "lines", format: "text" }],
  });
  const [first, second] = Array.from({ length: 2 }, failure);
  root.error("a", { err: first });
  root.error("b", { err: second });
  assert.match(lines[1], /\n {4}\[same stack as the line at 2026-01-01T00:00:00\.000Z\]\n$/);
  assert.doesNotMatch(lines[1], /\n {4}at /);
});

test("errors bound with with() keep their stack on every line", () => {
  const { root, json } = withClock({ stackCooldownMs: 100 });
  const logger = root.with({ err: failure() });
  logger.error("a");
  logger.error("b");
  assert.deepEqual(
    json().map((line) => MARK.test((line.err as { stack: string }).stack)),
    [false, false],
  );
});

test("with stackCooldownMs 0 every stack is written in full", () => {
  const { root, json } = withClock({ stackCooldownMs: 0 });
  const errors = Array.from({ length: 2 }, failure);
  for (const err of errors) root.error("again", { err });
  assert.deepEqual(
    json().map((line) => (line.err as { stack: string }).stack),
    errors.map((err) => err.stack),
  );
});

test("the stack cooldown is 100 ms when the config does not set it", () => {
  const { clock, root, json } = withClock();
  const errors = Array.from({ length: 3 }, failure);
  root.error("a", { err: errors[0] });
  clock.now += 99;
  root.error("b", { err: errors[1] });
  clock.now += 1;
  root.error("c", { err: errors[2] });
  assert.deepEqual(
    json().map((line) => MARK.test((line.err as { stack: string }).stack)),
    [false, true, false],
  );
});

/** A logger with two JSON stream sinks, `file` and `console`, whose writes land in arrays. */
function twoSinks(config: ClogConfig) {
  const clock = { now: Date.parse("2026-01-01T00:00:00.000Z") };
  const out = { file: [] as string[], console: [] as string[] };
  const root = create(config, {
    streams: {
      file: { write: (text: string) => void out.file.push(text) },
      console: { write: (text: string) => void out.console.push(text) },
    },
    now: () => clock.now,
  });
  const stacks = (name: "file" | "console") =>
    out[name].map((line) => (JSON.parse(line).err as { stack: string }).stack);
  return { clock, root, stacks };
}

test("a sink gets a stack in full when only another sink got it within stackCooldownMs, and only then points to it", () => {
  const { clock, root, stacks } = twoSinks({
    level: "debug",
    stackCooldownMs: 100,
    sinks: [
      { type: "stream", name: "file", level: "debug" },
      { type: "stream", name: "console", level: "error" },
    ],
  });
  const [retrying, givingUp, again] = Array.from({ length: 3 }, failure);
  root.debug("retrying", { err: retrying });
  clock.now += 10;
  root.error("giving up", { err: givingUp });
  clock.now += 10;
  root.error("still down", { err: again });
  assert.deepEqual(stacks("console").map((stack) => MARK.exec(stack)?.[1]), [
    undefined,
    "2026-01-01T00:00:00.010Z",
  ]);
  assert.equal(stacks("console")[0], givingUp.stack);
  assert.deepEqual(stacks("file").map((stack) => MARK.test(stack)), [false, false, true]);
});

test("a stack held by fingersCrossed and then dropped does not count as written", () => {
  const { root, stacks } = twoSinks({
    level: "debug",
    stackCooldownMs: 100,
    sinks: [{ type: "stream", name: "console", fingersCrossed: { isolate: "context" } }],
  });
  const shared = failure();
  withContext({ request: 1 }, () => root.debug("request 1 saw it", { err: shared }));
  withContext({ request: 2 }, () => root.error("request 2 failed", { err: shared }));
  assert.deepEqual(stacks("console"), [shared.stack]);
});
