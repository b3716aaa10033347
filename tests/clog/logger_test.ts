import { test } from "node:test";
import assert from "node:assert/strict";
import { LEVELS } from "../../clog/mod.ts";
import { capture } from "./_capture.ts";

test("each level method writes a record with its level name", () => {
  const { root, json } = capture();
  for (const level of LEVELS) root[level](`at ${level}`);
  assert.deepEqual(json().map((line) => [line.level, line.msg]), LEVELS.map((l) => [l, `at ${l}`]));
});

test("records below the configured level are not written", () => {
  const { root, json } = capture({ level: "warn" });
  root.trace("t");
  root.debug("d");
  root.info("i");
  root.warn("w");
  root.error("e");
  assert.deepEqual(json().map((line) => line.msg), ["w", "e"]);
});

test("isEnabled says whether a level would be written", () => {
  const { root } = capture({ level: "info" });
  assert.equal(root.isEnabled("debug"), false);
  assert.equal(root.isEnabled("info"), true);
  assert.equal(root.isEnabled("fatal"), true);
});

test("lazy fields are computed only when the level is enabled", () => {
  const { root, json } = capture({ level: "info" });
  let calls = 0;
  const expensive = () => {
    calls++;
    return { entries: 1000 };
  };
  root.debug("skipped", expensive);
  assert.equal(calls, 0);
  root.info("written", expensive);
  assert.equal(calls, 1);
  assert.equal(json()[0].entries, 1000);
});

test("a namespace under the service root logs the dotted name", () => {
  const { root, json } = capture({ service: "im-logic" });
  root.namespace("get_user").info("loaded");
  root.namespace("get_user").namespace("db").info("queried");
  root.info("root");
  assert.deepEqual(json().map((line) => line.namespace), [
    "im-logic.get_user",
    "im-logic.get_user.db",
    "im-logic",
  ]);
  assert.equal(root.namespace("get_user").name, "im-logic.get_user");
});

test("without a service the namespace is the logger's own, and omitted at the root", () => {
  const { root, json } = capture();
  root.namespace("coord").info("a");
  root.info("b");
  assert.equal(json()[0].namespace, "coord");
  assert.equal("namespace" in json()[1], false);
});

test("a namespace keeps the parent's bound fields", () => {
  const { root, json } = capture({ service: "im-logic" });
  const parent = root.with({ region: "eu-west-1" });
  parent.namespace("get_user").info("loaded", { userId: 42 });
  assert.deepEqual(json()[0], {
    time: json()[0].time,
    level: "info",
    namespace: "im-logic.get_user",
    msg: "loaded",
    region: "eu-west-1",
    userId: 42,
  });
});

test("with binds fields to every record, children add to them", () => {
  const { root, json } = capture();
  const child = root.with({ a: 1 }).with({ b: 2 });
  child.info("one");
  child.info("two", { c: 3 });
  assert.deepEqual(json().map(({ a, b, c }) => ({ a, b, c })), [
    { a: 1, b: 2, c: undefined },
    { a: 1, b: 2, c: 3 },
  ]);
});

test("bound fields are copied when bound", () => {
  const { root, json } = capture();
  const fields: Record<string, unknown> = { a: 1 };
  const child = root.with(fields);
  fields.a = 2;
  child.info("x");
  assert.equal(json()[0].a, 1);
});

test("call fields, context fields and bound fields all reach a custom sink, later ones winning", () => {
  const { root, records } = capture({ sinks: [{ type: "custom", name: "records" }] });
  root.with({ who: "bound", keep: 1 }).info("x", { who: "call" });
  assert.deepEqual(records[0].fields, { who: "call", keep: 1 });
  assert.equal(records[0].level, "info");
  assert.equal(records[0].message, "x");
});

test("the namespace and level filter of per-namespace levels", () => {
  const { root, json } = capture({
    service: "im-logic",
    level: "info",
    levels: { coord: "debug", "im-logic.cache": "error" },
  });
  root.namespace("coord").debug("coord debug");
  root.namespace("coord").namespace("lock").debug("lock debug");
  root.namespace("cache").warn("cache warn");
  root.namespace("cache").error("cache error");
  root.namespace("coordinator").debug("not coord");
  root.debug("root debug");
  assert.deepEqual(json().map((line) => line.msg), ["coord debug", "lock debug", "cache error"]);
});

test("a per-namespace level written without the service prefix wins over a shorter namespace written with it", () => {
  const { root, json } = capture({
    service: "im-logic",
    level: "info",
    levels: { "im-logic": "warn", coord: "debug", "im-logic.coord.lock": "error" },
  });
  root.namespace("coord").debug("coord debug");
  root.namespace("coord").namespace("lock").warn("lock warn");
  root.namespace("cache").info("cache info");
  root.warn("root warn");
  assert.equal(root.namespace("coord").isEnabled("debug"), true);
  assert.deepEqual(json().map((line) => line.msg), ["coord debug", "root warn"]);
});

test("fatal writes and does not end the process", () => {
  const { root, json } = capture();
  root.fatal("going down", { reason: "test" });
  assert.equal(json()[0].level, "fatal");
  assert.equal(json()[0].reason, "test");
});
