/**
 * The clog config: plain JSON, so it can live in the config center and be hot-reloaded.
 * Streams and custom sink functions are not data: they come in as dependencies and a
 * `"stream"` or `"custom"` sink names one of them.
 *
 * @module
 */

import { resolve } from "node:path";
import { checkEnvironment, configCheck } from "../base/mod.ts";
import { DEFAULT_LINE_KEYS } from "./format.ts";
import { LEVELS } from "./levels.ts";
import type { LogLevel } from "./types.ts";

/**
 * Line format: JSON lines (production), readable text (development), or logfmt
 * (`time=… level=info namespace=im-logic.get_user msg="user loaded" user_id=42`, for
 * Loki, Heroku-style pipelines and grep). logfmt lines carry what JSON lines carry, redacted
 * and truncated alike, under the same `jsonKeys`; objects are flattened into dotted keys
 * (`user.id=7`, `err.cause.message=…`; one the line already has gets one more `fields.`,
 * so keys never clash), arrays and empty objects written as their JSON. A
 * value is bare when it is one plain word and otherwise quoted and escaped like a JSON
 * string (`msg="user \"ann\" left\n"`); a key is never quoted: a space, `"`, `=`, `%` or
 * control character in it is percent-encoded (`user id` → `user%20id`; a lone surrogate,
 * which UTF-8 cannot carry, as U+FFFD, `%EF%BF%BD`, where a value keeps it as `\ud800`).
 */
export type LogFormat = "json" | "text" | "logfmt";

/**
 * The member names of a JSON line (and the keys of a logfmt line), for a log pipeline that
 * expects its own: Elasticsearch's
 * `@timestamp`, go-zero's `content` for the message, Datadog's `message`. Each is set
 * alone; the others keep their default. A field named like one of them is written as
 * `fields.<name>` (see {@link Fields}), so it never passes for it.
 */
export interface JsonKeys {
  /** The ISO-8601 time. Default `"time"`. */
  time?: string;
  /** The level name. Default `"level"`. */
  level?: string;
  /** The logger's namespace (absent at the root). Default `"namespace"`. */
  namespace?: string;
  /** The message. Default `"msg"`, as pino's. */
  message?: string;
  /** The active span's trace id. Default `"trace_id"`. */
  traceId?: string;
  /** The active span's span id. Default `"span_id"`. */
  spanId?: string;
}

/** Size and day rotation of a file sink. */
export interface RotationConfig {
  /** Rotate before a write would make the file larger than this; unset = no size limit. */
  maxSizeBytes?: number;
  /**
   * One file per day (of `timeZone`): the file is rotated before the first line logged on a new day (by
   * the line's own time, also when it waited in a buffer past midnight; a line older than
   * the file, held back by `fingersCrossed`, goes into it and rotates nothing). Default false.
   */
  daily?: boolean;
  /** How many rotated files to keep; older ones are deleted (0 keeps none). Default 10. */
  maxBackups?: number;
  /**
   * Whose day rotates the file and names the rotated ones: `"UTC"` (default), `"local"`
   * (the runtime's zone, from `TZ` or the system, read when the sink is made) or an IANA
   * name such as `"Asia/Shanghai"`, so that a service in China rotates at its own midnight
   * rather than at 08:00.
   */
  timeZone?: string;
}

/**
 * Buffering of a sink: a log call only appends to memory; the lines are written in one
 * write when `bufferSize` lines are waiting, after `flushIntervalMs`, on `fatal`, on
 * `flush()`, on `close()`, and when the process ends naturally, through `process.exit()`
 * or `Deno.exit()`, by an uncaught exception or an unhandled rejection, on every runtime;
 * from then on each line is written as it is logged (an application's own `'exit'`
 * listener may log). A stopping signal (SIGTERM, SIGINT, SIGHUP) writes them only with
 * {@link ClogConfig.flushOnSignals}; SIGKILL and native crashes lose them. Files and the
 * console are written synchronously at that moment (the console waits for a slow pipe
 * reader to take everything, within {@link ClogConfig.flushTimeoutMs}); a stream sink
 * hands the lines to its stream, which must still write them before the process is gone.
 */
export interface BufferConfig {
  /** Lines held before a write. Default 256. */
  bufferSize?: number;
  /** Longest time a line waits in the buffer, in ms. Default 250. */
  flushIntervalMs?: number;
}

/**
 * Holding a sink's records back until something goes wrong ("fingers crossed", as LogTape's
 * `fingersCrossed` sink and Monolog's handler): records below `triggerLevel` wait in a
 * bounded buffer instead of being written; a record at or above it writes out the held
 * records, in the order they were logged, then itself. A service can so log at debug level
 * and write the debug lines only of what failed.
 *
 * - **Bounded.** A buffer holds `bufferSize` records; past that its oldest is dropped. The
 *   buffers of one sink hold at most 8 Mi characters of records together: past that the
 *   records of the buffers least recently written to go first (the newest record stays).
 *   Either way the drop is counted, and the trigger writes, before the records it releases,
 *   a `warn` record saying how many were dropped (`clog_dropped: 12`).
 * - **Isolation.** Without `isolate`, the sink has one buffer, and any trigger writes it
 *   all. `"context"` gives each `withContext` scope its own buffer: the lines of a
 *   request that fails are written, those of the requests running beside it stay held. A
 *   trigger writes the buffers of its scope, of the scopes around it (a connection's scope
 *   around each message's) and of the scopes inside it, never those of other scopes; lines
 *   logged outside any scope share one buffer, written by a trigger outside any scope.
 *   A scope nested more than 32 deep counts as one of its own (a chain of scopes that
 *   each start the next, as a poller's, so keeps no more than 32 of them in memory).
 *   `"namespace"` does the same along the namespace tree: an error in
 *   `im-logic.get_user` writes the held lines of `im-logic.get_user.db`, `im-logic` and
 *   the root, not those of `im-logic.send`. At most `maxBuffers` buffers are kept: a new
 *   one discards the least recently written to, and its records (a request that ended
 *   without error leaves its buffer to be discarded so); should that scope (while it
 *   lives) or namespace trigger later, they are counted in its `clog_dropped` notice.
 * - **After a trigger.** `afterTrigger: "passThrough"` (the default, as LogTape and
 *   Monolog): what triggered passes through from then on, unbuffered: the whole sink
 *   without `isolate`, the scope or namespace that triggered and the ones inside it
 *   otherwise (the rest of a failing request is written as it is logged; the scopes
 *   around it go back to holding). `"buffer"`: everything goes back to holding, and each
 *   trigger writes what came since the one before.
 * - **Flush, close, reload.** Held records are not pending output: `flush()`, `fatal`
 *   (which is a trigger, and writes its branch first) and the end of the process do not
 *   write them, and `close()` discards them, as nothing triggered them. A hot reload that
 *   keeps the sink with the same `fingersCrossed` settings keeps its buffers (the records
 *   as they were formatted when logged) and what passes through; one that changes the
 *   settings, or removes them or the sink, discards them.
 *
 * The sink's own `level` applies first (what it rejects is never held), and the loggers'
 * `level` decides what is logged at all: a sink holding debug lines needs `level: "debug"`
 * at the root, and the other sinks their own `level: "info"`.
 *
 * @example The debug lines of failing requests only, on the console beside the info lines
 * ```ts
 * import { create, withContext } from "@gochat/infra/clog";
 *
 * await using root = create({
 *   level: "debug",
 *   sinks: [
 *     { type: "console", level: "info" },
 *     {
 *       type: "file",
 *       path: "/tmp/gochat-example/failed-requests.log",
 *       fingersCrossed: { triggerLevel: "error", bufferSize: 200, isolate: "context" },
 *     },
 *   ],
 * });
 * withContext({ requestId: "r-1" }, () => {
 *   root.debug("cache miss", { key: "user:42" }); // held
 *   root.error("query failed"); // the file gets "cache miss", then "query failed"
 * });
 * ```
 */
export interface FingersCrossedConfig {
  /** Records at this level or above write out the held ones, then themselves. Default `"error"`. */
  triggerLevel?: LogLevel;
  /** Records a buffer holds; past that its oldest is dropped, and counted. Default 1,000. */
  bufferSize?: number;
  /** One buffer per `withContext` scope or per namespace, instead of one for the sink. */
  isolate?: "context" | "namespace";
  /**
   * With `isolate` only (without it the sink has one buffer, and a `maxBuffers` is
   * `InvalidArgument`): buffers kept at most; the least recently written to goes. Default 1,000.
   */
  maxBuffers?: number;
  /** What triggered passes through (default), or everything holds again. */
  afterTrigger?: "passThrough" | "buffer";
}

/** What every sink that writes lines accepts. */
export interface LineSinkConfig {
  /** The sink's own minimum level (on top of the logger's). Default: everything. */
  level?: LogLevel;
  /** Overrides the config's `format` for this sink. */
  format?: LogFormat;
  /** Overrides the config's `color` for this sink (text format only; files included). */
  color?: boolean;
  /** Buffer lines in memory and write them in batches (see {@link BufferConfig}). */
  buffered?: BufferConfig;
  /** Hold lines back until one at a trigger level comes (see {@link FingersCrossedConfig}). */
  fingersCrossed?: FingersCrossedConfig;
}

/**
 * Writes to the process's stdout or stderr: file descriptor 1 or 2, with synchronous
 * writes on every runtime. Lines a full pipe cannot take yet (a slow reader) wait in
 * memory, in order, without blocking the log call, until the pipe takes them, a `flush()`,
 * `fatal`, `close()` or the end of the process, which write them out waiting for the reader
 * as long as it keeps taking them ({@link ClogConfig.flushTimeoutMs} bounds the wait for
 * one that stopped). At most 16 MiB wait so: past that, new lines are dropped until the
 * reader catches up, stderr says so at once and, when it catches up or the lines are
 * flushed, how many were dropped.
 */
export interface ConsoleSinkConfig extends LineSinkConfig {
  /** Sink type. */
  type: "console";
  /** Default `"stdout"`. */
  target?: "stdout" | "stderr";
}

/**
 * Appends to a file (its folder is created), with optional rotation. Rotated files are
 * named `<path>.<YYYY-MM-DD>.<n>`: the day (`rotation.timeZone`, UTC by default) their first
 * line was logged and a counter.
 * Rotation by someone else works too: a file moved or deleted (logrotate's default) is
 * created again at `path` within a second, and one truncated in place (`copytruncate`) is
 * measured again.
 */
export interface FileSinkConfig extends LineSinkConfig {
  /** Sink type. */
  type: "file";
  /** The file written to. */
  path: string;
  /** Rotation by size and/or by day. Default: none. */
  rotation?: RotationConfig;
}

/**
 * Writes lines to a {@link LineWriter} passed in the dependencies under `name`. A stream
 * that stops taking them (a log shipper whose collector is down) holds at most 16 MiB: a
 * web stream's writes that have not settled, or a Node writable's `writableLength` (a plain
 * object with `write()` is not measured). Past that, new lines are dropped until it catches
 * up, and stderr says so at once and, when it catches up or the sink closes, how many were
 * dropped. A burst of more than 16 MiB logged without a turn of the event loop also meets
 * the cap, since a web stream takes nothing until then. `close()` waits at most
 * {@link ClogConfig.flushTimeoutMs} for the stream.
 */
export interface StreamSinkConfig extends LineSinkConfig {
  /** Sink type. */
  type: "stream";
  /** Key in `dependencies.streams`. */
  name: string;
}

/** Calls a {@link RecordSink} passed in the dependencies under `name` with each record. */
export interface CustomSinkConfig {
  /** Sink type. */
  type: "custom";
  /** Key in `dependencies.sinks`. */
  name: string;
  /** The sink's own minimum level. Default: everything. */
  level?: LogLevel;
  /** Hold records back until one at a trigger level comes (see {@link FingersCrossedConfig}). */
  fingersCrossed?: FingersCrossedConfig;
}

/** One sink of {@link ClogConfig.sinks}. */
export type SinkConfig = ConsoleSinkConfig | FileSinkConfig | StreamSinkConfig | CustomSinkConfig;

/** The clog config. Every field is optional; the defaults are listed on each. */
export interface ClogConfig {
  /** Minimum level of every logger. Default `"info"`. */
  level?: LogLevel;
  /**
   * Minimum levels per namespace, written with or without the service prefix; the longest
   * matching namespace wins, however each is written (with service `im-logic`, `"coord"`
   * wins over `"im-logic"` for `im-logic.coord`), and a namespace matches its children
   * (`"coord"` covers `im-logic.coord.lock`). Default: none.
   */
  levels?: Record<string, LogLevel>;
  /** Line format of sinks that do not set their own. Default `"json"`. */
  format?: LogFormat;
  /**
   * Member names of JSON lines and keys of logfmt lines (see {@link JsonKeys}), e.g.
   * `{ time: "@timestamp" }`.
   * Default: `time`, `level`, `namespace`, `msg`, `trace_id`, `span_id`.
   */
  jsonKeys?: JsonKeys;
  /**
   * ANSI colours in the text format: `true` on console and stream sinks, `"auto"` on the
   * console only when it is a terminal and `NO_COLOR` is unset. Files never get colour.
   * Default false.
   */
  color?: boolean | "auto";
  /** Root namespace, usually the service name: `getLogger("coord")` logs as `im-logic.coord`. */
  service?: string;
  /** Where records go. Default: one console sink. An empty list is silent. */
  sinks?: SinkConfig[];
  /** Field names whose values are replaced by `[REDACTED]` at any depth (case-insensitive). */
  redactKeys?: string[];
  /**
   * Strings longer than this (message, values, keys, stacks) are cut, saying how much was
   * cut. Each group of a line's fields (bound, context, the call's) also stops at 64 times
   * this many characters (1 MiB by default), ending with a `"…"` member that says so.
   * Objects keep their first 1,000 members. Default 16,384.
   */
  maxValueLength?: number;
  /**
   * Write out buffered lines on SIGTERM, SIGINT and SIGHUP too (container stop, Ctrl-C,
   * closed terminal). clog then listens for these signals and, when nothing else in the
   * process listens for the one received (through `process.on`), raises it again after the
   * flush, so the process still ends by that signal. When the application handles the
   * signal itself, the application decides when to end. On Deno, a handler added with
   * `Deno.addSignalListener` is invisible to clog and would be called a second time: such
   * applications leave this off and call `flush()` or `close()` in their handler.
   * Default false: clog leaves signals alone, so one the application does not handle ends
   * the process at once and the buffered lines are lost (a handler that calls
   * `process.exit()`, `flush()` or `close()` writes them).
   */
  flushOnSignals?: boolean;
  /**
   * How long writing out console lines synchronously (on `fatal`, `flush()`, `close()`, a
   * reload that removes the sink, and at the end of the process) waits for a pipe reader
   * that takes nothing, in ms. The wait starts again whenever the reader takes some bytes,
   * so a slow reader loses nothing (while it is at most 16 MiB behind: see
   * {@link ConsoleSinkConfig}); one that stopped reading (`app | (sleep 3600)`, a stuck
   * log shipper) holds the process up this long at most, then the remaining lines are
   * dropped and stderr says how many (`clog: stdout took nothing for 5000 ms: 812 lines
   * dropped`; a report stderr cannot take is added to the next one, and a stuck stderr
   * says nothing). After a wait ran out, the next ones for that stream are skipped until
   * it takes bytes again, so `fatal` then the end of the process wait once, not twice.
   *
   * `0` never waits: what the pipe cannot take at once is dropped. `Infinity` (from code;
   * JSON has no such number) waits as long as it takes, which is how clog behaved before
   * this setting. Files never wait on a reader. A stream sink's `close()` (and the close
   * of one a reload removes) waits this long for a web stream to take the lines it was
   * handed, then gives them up, says how many on stderr and releases the stream. On Linux a pipe is written through a non-blocking
   * descriptor of clog's own (`/proc/self/fd`, which needs write permission there on Deno);
   * elsewhere, and for a socket under Deno, a write the reader does not take blocks in the
   * system call, where no timeout reaches. Default 5,000.
   */
  flushTimeoutMs?: number;
  /**
   * A burst of the same error (a database outage failing every request) writes its stack
   * once per this many ms, as go-zero's `StackCooldownMillis`: an error passed to a log call
   * whose stack was written in full for another line less than this ago gets, instead of
   * the stack, `[same stack as the line at <its time>]` (in JSON lines, text lines and
   * records alike); its name, message, code and cause are written as ever. Only a line
   * every sink of the record was handed counts: a sink never points to a stack it did not
   * get (one at a higher level, a `fingersCrossed` buffer that held the line and may drop
   * it). Errors bound with `with()` or `withContext()` keep their stacks. `0` writes every
   * stack. Default 100.
   */
  stackCooldownMs?: number;
}

/**
 * Keys redacted when `redactKeys` is not set: common secret fields and headers (matched
 * whole, in any case: `dbPassword` is not `password`; add such names to `redactKeys`).
 */
export const DEFAULT_REDACT_KEYS: readonly string[] = [
  "password",
  "passwd",
  "secret",
  "token",
  "accessToken",
  "access_token",
  "refreshToken",
  "refresh_token",
  "apiKey",
  "api_key",
  "x-api-key",
  "x-auth-token",
  "clientSecret",
  "client_secret",
  "privateKey",
  "private_key",
  "passphrase",
  "credentials",
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
];

/** Default {@link ClogConfig.stackCooldownMs}. */
export const DEFAULT_STACK_COOLDOWN_MS = 100;

/** Default {@link ClogConfig.maxValueLength}. */
export const DEFAULT_MAX_VALUE_LENGTH = 16_384;

/**
 * Default {@link ClogConfig.flushTimeoutMs}: how long, in ms, writing out console lines
 * waits for a pipe reader that takes nothing.
 *
 * @example Wait twice as long as the default for a log shipper that pauses
 * ```ts
 * import { DEFAULT_FLUSH_TIMEOUT_MS, defaultConfig } from "@gochat/infra/clog";
 *
 * const config = { ...defaultConfig("production"), flushTimeoutMs: 2 * DEFAULT_FLUSH_TIMEOUT_MS };
 * ```
 */
export const DEFAULT_FLUSH_TIMEOUT_MS = 5_000;

/**
 * Sensible settings per environment: development logs debug and above as coloured text
 * (when the console is a terminal); production logs info and above as JSON lines. Both
 * write to the console.
 *
 * @param env The environment.
 * @returns A complete config, safe to modify.
 * @throws {InfraError} `InvalidArgument` for any other `env`.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "@gochat/infra/clog";
 *
 * const config = { ...defaultConfig("production"), service: "im-logic" };
 * ```
 */
export function defaultConfig(env: "development" | "production"): ClogConfig {
  checkEnvironment(env, "clog");
  const development = env === "development";
  return {
    level: development ? "debug" : "info",
    levels: {},
    format: development ? "text" : "json",
    color: development ? "auto" : false,
    service: "",
    sinks: [{ type: "console" }],
    redactKeys: [...DEFAULT_REDACT_KEYS],
    maxValueLength: DEFAULT_MAX_VALUE_LENGTH,
    flushOnSignals: false,
    flushTimeoutMs: DEFAULT_FLUSH_TIMEOUT_MS,
    stackCooldownMs: DEFAULT_STACK_COOLDOWN_MS,
  };
}

const check = configCheck("clog");

const TOP_KEYS = [
  "level",
  "levels",
  "format",
  "jsonKeys",
  "color",
  "service",
  "sinks",
  "redactKeys",
  "maxValueLength",
  "flushOnSignals",
  "flushTimeoutMs",
  "stackCooldownMs",
] as const;
const FORMATS: readonly LogFormat[] = ["json", "text", "logfmt"];
const LINE_KEYS = ["type", "level", "format", "color", "buffered", "fingersCrossed"];

/** Default {@link FingersCrossedConfig.bufferSize}. */
export const DEFAULT_FINGERS_CROSSED_BUFFER_SIZE = 1_000;
/** Default {@link FingersCrossedConfig.maxBuffers}. */
export const DEFAULT_FINGERS_CROSSED_MAX_BUFFERS = 1_000;

function checkFingersCrossed(value: unknown, field: string): void {
  const gate = check.object(value, field);
  check.knownKeys(gate, field, [
    "triggerLevel",
    "bufferSize",
    "isolate",
    "maxBuffers",
    "afterTrigger",
  ]);
  if (gate.triggerLevel !== undefined) {
    check.oneOf(gate.triggerLevel, `${field}.triggerLevel`, LEVELS);
  }
  if (gate.bufferSize !== undefined) {
    check.integer(gate.bufferSize, `${field}.bufferSize`, { min: 1, max: 1_000_000 });
  }
  if (gate.isolate !== undefined) {
    check.oneOf(gate.isolate, `${field}.isolate`, ["context", "namespace"]);
  }
  if (gate.maxBuffers !== undefined) {
    // Without isolation the sink has one buffer: a maxBuffers there would be ignored.
    if (gate.isolate === undefined) {
      throw check.fail(
        `${field}.maxBuffers`,
        'is only allowed with isolate ("context" or "namespace"): without it the sink has one buffer',
      );
    }
    check.integer(gate.maxBuffers, `${field}.maxBuffers`, { min: 1, max: 100_000 });
  }
  if (gate.afterTrigger !== undefined) {
    check.oneOf(gate.afterTrigger, `${field}.afterTrigger`, ["passThrough", "buffer"]);
  }
}

function checkBuffered(value: unknown, field: string): void {
  const buffered = check.object(value, field);
  check.knownKeys(buffered, field, ["bufferSize", "flushIntervalMs"]);
  if (buffered.bufferSize !== undefined) {
    check.integer(buffered.bufferSize, `${field}.bufferSize`, { min: 1, max: 1_000_000 });
  }
  if (buffered.flushIntervalMs !== undefined) {
    check.integer(buffered.flushIntervalMs, `${field}.flushIntervalMs`, {
      min: 1,
      max: 3_600_000,
    });
  }
}

/** The members of {@link JsonKeys}. */
const JSON_KEY_NAMES = ["time", "level", "namespace", "message", "traceId", "spanId"] as const;

function checkJsonKeys(value: unknown): void {
  const keys = check.object(value, "jsonKeys");
  check.knownKeys(keys, "jsonKeys", JSON_KEY_NAMES);
  for (const member of JSON_KEY_NAMES) {
    const name = keys[member];
    if (name === undefined) continue;
    const field = `jsonKeys.${member}`;
    check.string(name, field);
    if ((name as string).startsWith("fields.")) {
      throw check.fail(field, `must not start with "fields." (how renamed fields are written)`);
    }
    const other = JSON_KEY_NAMES.find((m) =>
      m !== member && (keys[m] ?? DEFAULT_LINE_KEYS[m]) === name
    );
    if (other !== undefined) throw check.fail(field, `is the name of jsonKeys.${other} too`);
  }
}

function checkRotation(value: unknown, field: string): void {
  const rotation = check.object(value, field);
  check.knownKeys(rotation, field, ["maxSizeBytes", "daily", "maxBackups", "timeZone"]);
  if (rotation.maxSizeBytes !== undefined) {
    check.integer(rotation.maxSizeBytes, `${field}.maxSizeBytes`, { min: 1 });
  }
  if (rotation.daily !== undefined) check.boolean(rotation.daily, `${field}.daily`);
  if (rotation.maxBackups !== undefined) {
    check.integer(rotation.maxBackups, `${field}.maxBackups`, { min: 0, max: 100_000 });
  }
  if (rotation.timeZone !== undefined) {
    const zone = check.string(rotation.timeZone, `${field}.timeZone`);
    if (zone !== "local") {
      try {
        new Intl.DateTimeFormat("en-US", { timeZone: zone });
      } catch {
        throw check.fail(
          `${field}.timeZone`,
          `is not a time zone this runtime knows: ${
            JSON.stringify(zone)
          } (give "UTC", "local" or an IANA name such as "Asia/Shanghai")`,
        );
      }
    }
  }
}

function checkSink(value: unknown, field: string): void {
  const sink = check.object(value, field);
  const type = check.oneOf(sink.type, `${field}.type`, ["console", "file", "stream", "custom"]);
  if (sink.level !== undefined) check.oneOf(sink.level, `${field}.level`, LEVELS);
  switch (type) {
    case "console":
      check.knownKeys(sink, field, [...LINE_KEYS, "target"]);
      if (sink.target !== undefined) {
        check.oneOf(sink.target, `${field}.target`, ["stdout", "stderr"]);
      }
      break;
    case "file":
      check.knownKeys(sink, field, [...LINE_KEYS, "path", "rotation"]);
      check.string(sink.path, `${field}.path`);
      if (sink.rotation !== undefined) checkRotation(sink.rotation, `${field}.rotation`);
      break;
    case "stream":
      check.knownKeys(sink, field, [...LINE_KEYS, "name"]);
      check.string(sink.name, `${field}.name`);
      break;
    case "custom":
      check.knownKeys(sink, field, ["type", "level", "name", "fingersCrossed"]);
      check.string(sink.name, `${field}.name`);
      break;
  }
  if (sink.fingersCrossed !== undefined) {
    checkFingersCrossed(sink.fingersCrossed, `${field}.fingersCrossed`);
  }
  if (type !== "custom") {
    if (sink.format !== undefined) check.oneOf(sink.format, `${field}.format`, FORMATS);
    if (sink.color !== undefined) check.boolean(sink.color, `${field}.color`);
    if (sink.buffered !== undefined) checkBuffered(sink.buffered, `${field}.buffered`);
  }
}

/**
 * Checks a config (from code or from the config center) and returns it typed.
 *
 * @param config The candidate config.
 * @returns The same object, typed.
 * @throws {InfraError} `InvalidArgument` naming the first bad field, e.g.
 *   `clog: config.sinks[1].rotation.maxSizeBytes must be an integer ≥ 1, got 0`.
 *
 * @example
 * ```ts
 * import { validateConfig } from "@gochat/infra/clog";
 *
 * const config = validateConfig(JSON.parse('{"level":"debug","format":"text"}'));
 * ```
 */
export function validateConfig(config: unknown): ClogConfig {
  const c = check.object(config, "");
  check.knownKeys(c, "", TOP_KEYS);
  if (c.level !== undefined) check.oneOf(c.level, "level", LEVELS);
  if (c.levels !== undefined) {
    const levels = check.object(c.levels, "levels");
    for (const [namespace, level] of Object.entries(levels)) {
      check.oneOf(level, `levels.${namespace}`, LEVELS);
    }
  }
  if (c.format !== undefined) check.oneOf(c.format, "format", FORMATS);
  if (c.jsonKeys !== undefined) checkJsonKeys(c.jsonKeys);
  if (c.color !== undefined && c.color !== "auto") {
    if (typeof c.color !== "boolean") {
      throw check.fail("color", `must be true, false or "auto", got ${JSON.stringify(c.color)}`);
    }
  }
  if (c.service !== undefined) check.string(c.service, "service", { allowEmpty: true });
  if (c.sinks !== undefined) {
    if (!Array.isArray(c.sinks)) throw check.fail("sinks", "must be an array of sinks");
    // Two sinks on one file would rename and prune each other's files, however spelled.
    const files = new Map<string, number>();
    c.sinks.forEach((sink, i) => {
      checkSink(sink, `sinks[${i}]`);
      if (sink.type === "file") {
        const file = resolve(sink.path);
        const other = files.get(file);
        if (other !== undefined) {
          throw check.fail(
            `sinks[${i}].path`,
            `is used by two file sinks: ${sink.path} is the file of sinks[${other}] (${file})`,
          );
        }
        files.set(file, i);
      }
    });
  }
  if (c.redactKeys !== undefined) check.strings(c.redactKeys, "redactKeys", { allowEmpty: true });
  if (c.maxValueLength !== undefined) {
    check.integer(c.maxValueLength, "maxValueLength", { min: 16 });
  }
  if (c.flushOnSignals !== undefined) check.boolean(c.flushOnSignals, "flushOnSignals");
  if (c.flushTimeoutMs !== undefined && c.flushTimeoutMs !== Infinity) {
    check.integer(c.flushTimeoutMs, "flushTimeoutMs", { min: 0 });
  }
  if (c.stackCooldownMs !== undefined) {
    check.integer(c.stackCooldownMs, "stackCooldownMs", { min: 0, max: 3_600_000 });
  }
  return c as ClogConfig;
}
