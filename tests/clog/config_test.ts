import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { create, DEFAULT_REDACT_KEYS, defaultConfig, validateConfig } from "../../clog/mod.ts";

function invalid(field: string, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
    assert.equal(error.component, "clog");
    assert.equal(error.details.field, field);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

test("the development default is debug text on the console, coloured on a terminal", () => {
  const config = defaultConfig("development");
  assert.equal(config.level, "debug");
  assert.equal(config.format, "text");
  assert.equal(config.color, "auto");
  assert.deepEqual(config.sinks, [{ type: "console" }]);
  assert.deepEqual(config.redactKeys, [...DEFAULT_REDACT_KEYS]);
  assert.equal(validateConfig(config), config);
});

test("the production default is info JSON lines on the console", () => {
  const config = defaultConfig("production");
  assert.equal(config.level, "info");
  assert.equal(config.format, "json");
  assert.equal(config.color, false);
  assert.deepEqual(config.sinks, [{ type: "console" }]);
  assert.ok(["password", "token", "authorization"].every((k) => config.redactKeys!.includes(k)));
  assert.equal(JSON.stringify(JSON.parse(JSON.stringify(config))), JSON.stringify(config));
  validateConfig(config);
});

test("flushTimeoutMs is a whole number of ms from 0 up, or Infinity, and defaults to 5 s", () => {
  assert.equal(defaultConfig("production").flushTimeoutMs, 5_000);
  for (const flushTimeoutMs of [0, 1, 5_000, Infinity]) validateConfig({ flushTimeoutMs });
  for (const flushTimeoutMs of [-1, 1.5, NaN, -Infinity, "5s", null]) {
    assert.throws(() => validateConfig({ flushTimeoutMs }), invalid("flushTimeoutMs"));
  }
});

test("stackCooldownMs is a whole number of ms from 0 to an hour, and defaults to 100", () => {
  assert.equal(defaultConfig("development").stackCooldownMs, 100);
  for (const stackCooldownMs of [0, 100, 3_600_000]) validateConfig({ stackCooldownMs });
  for (const stackCooldownMs of [-1, 0.5, 3_600_001, Infinity, "100"]) {
    assert.throws(() => validateConfig({ stackCooldownMs }), invalid("stackCooldownMs"));
  }
});

test("jsonKeys are distinct non-empty names of known members, none starting with fields.", () => {
  validateConfig({ jsonKeys: { time: "@timestamp", message: "content", traceId: "trace" } });
  assert.throws(() => validateConfig({ jsonKeys: { msg: "m" } }), invalid("jsonKeys.msg"));
  assert.throws(() => validateConfig({ jsonKeys: { time: "" } }), invalid("jsonKeys.time"));
  assert.throws(() => validateConfig({ jsonKeys: { level: 3 } }), invalid("jsonKeys.level"));
  assert.throws(
    () => validateConfig({ jsonKeys: { time: "at", message: "at" } }),
    invalid("jsonKeys.time", /jsonKeys\.message too/),
  );
  assert.throws(
    () => validateConfig({ jsonKeys: { message: "level" } }),
    invalid("jsonKeys.message", /jsonKeys\.level too/),
  );
  assert.throws(
    () => validateConfig({ jsonKeys: { time: "fields.time" } }),
    invalid("jsonKeys.time", /fields\./),
  );
});

test("defaultConfig returns a fresh object each time", () => {
  const a = defaultConfig("production");
  a.sinks!.push({ type: "console", target: "stderr" });
  assert.equal(defaultConfig("production").sinks!.length, 1);
});

test("an invalid config names the bad field", () => {
  assert.throws(() => validateConfig(null), invalid("", /^clog: config must be an object/));
  assert.throws(() => validateConfig({ level: "verbose" }), invalid("level", /one of "trace"/));
  assert.throws(() => validateConfig({ levle: "info" }), invalid("levle", /not a known setting/));
  assert.throws(() => validateConfig({ format: "xml" }), invalid("format"));
  assert.throws(() => validateConfig({ color: "yes" }), invalid("color"));
  assert.throws(() => validateConfig({ levels: { coord: "loud" } }), invalid("levels.coord"));
  assert.throws(() => validateConfig({ sinks: {} }), invalid("sinks"));
  assert.throws(() => validateConfig({ sinks: [{ type: "kafka" }] }), invalid("sinks[0].type"));
  assert.throws(() => validateConfig({ sinks: [{ type: "file" }] }), invalid("sinks[0].path"));
  assert.throws(
    () => validateConfig({ sinks: [{ type: "file", path: "a", rotation: { maxSizeBytes: 0 } }] }),
    invalid("sinks[0].rotation.maxSizeBytes", /≥ 1, got 0/),
  );
  assert.throws(
    () => validateConfig({ sinks: [{ type: "file", path: "a", rotation: { maxBackups: -1 } }] }),
    invalid("sinks[0].rotation.maxBackups"),
  );
  assert.throws(
    () =>
      validateConfig({
        sinks: [{ type: "file", path: "a", rotation: { timeZone: "Mars/Olympus" } }],
      }),
    invalid("sinks[0].rotation.timeZone", /"Mars\/Olympus".*IANA name/),
  );
  assert.throws(
    () => validateConfig({ sinks: [{ type: "file", path: "a", rotation: { timeZone: 8 } }] }),
    invalid("sinks[0].rotation.timeZone"),
  );
  assert.throws(
    () => validateConfig({ sinks: [{ type: "console" }, { type: "console", level: "loud" }] }),
    invalid("sinks[1].level"),
  );
  assert.throws(
    () => validateConfig({ sinks: [{ type: "console", buffered: { bufferSize: 0 } }] }),
    invalid("sinks[0].buffered.bufferSize"),
  );
  assert.throws(
    () => validateConfig({ sinks: [{ type: "console", buffered: { flushIntervalMs: "1s" } }] }),
    invalid("sinks[0].buffered.flushIntervalMs"),
  );
  assert.throws(
    () => validateConfig({ sinks: [{ type: "custom", name: "x", format: "text" }] }),
    invalid("sinks[0].format", /not a known setting/),
  );
  assert.throws(
    () =>
      validateConfig({ sinks: [{ type: "file", path: "a.log" }, { type: "file", path: "a.log" }] }),
    invalid("sinks[1].path", /two file sinks/),
  );
  assert.throws(
    () =>
      validateConfig({
        sinks: [{ type: "file", path: "logs/a.log" }, { type: "file", path: "./logs/x/../a.log" }],
      }),
    invalid("sinks[1].path", /two file sinks: \.\/logs\/x\/\.\.\/a\.log is the file of sinks\[0\]/),
  );
  assert.throws(() => validateConfig({ redactKeys: ["ok", ""] }), invalid("redactKeys[1]"));
  assert.throws(() => validateConfig({ maxValueLength: 2 }), invalid("maxValueLength"));
  assert.throws(() => validateConfig({ flushOnSignals: "yes" }), invalid("flushOnSignals"));
});

test("defaultConfig rejects an environment it does not know", () => {
  assert.throws(
    () => defaultConfig("staging" as "production"),
    (error: unknown) =>
      InfraError.is(error, "InvalidArgument") && /got "staging"/.test(error.message) &&
      error.details.argument === "env",
  );
});

test("a sink that names a missing dependency is rejected", () => {
  assert.throws(
    () =>
      create({ sinks: [{ type: "stream", name: "audit" }] }, {
        streams: { other: { write() {} } },
      }),
    invalid("sinks[0].name", /names no stream in the dependencies \(streams: other\)/),
  );
  assert.throws(
    () => create({ sinks: [{ type: "console" }, { type: "custom", name: "sentry" }] }),
    invalid("sinks[1].name", /sinks: none/),
  );
  assert.throws(
    () =>
      create({ sinks: [{ type: "stream", name: "s" }] }, {
        streams: { s: {} as { write(text: string): void } },
      }),
    invalid("sinks[0].name", /neither write\(\) nor getWriter\(\)/),
  );
});

test("a config survives a JSON round trip (it can live in the config center)", () => {
  const config = {
    ...defaultConfig("production"),
    service: "im-logic",
    levels: { coord: "debug" as const },
    sinks: [
      { type: "console" as const, level: "warn" as const },
      {
        type: "file" as const,
        path: "/tmp/x.log",
        format: "text" as const,
        rotation: {
          maxSizeBytes: 1_000_000,
          daily: true,
          maxBackups: 3,
          timeZone: "Asia/Shanghai",
        },
        buffered: { bufferSize: 100, flushIntervalMs: 100 },
      },
    ],
  };
  assert.deepEqual(validateConfig(JSON.parse(JSON.stringify(config))), config);
});
