/**
 * Structured logging, the same on Deno, Node and Bun, and faster than pino on JSON lines.
 *
 * - **Library-first.** Components log through an injected {@link Logger}, or through
 *   {@link getLogger} when none was given; nothing is written until the application calls
 *   {@link init} once. Loggers obtained before `init` start writing then.
 * - **Levels** trace, debug, info, warn, error, fatal (fatal flushes buffered sinks and
 *   does not exit). A disabled call costs a few nanoseconds; pass expensive fields as a
 *   function and they are computed only when the line is written.
 * - **Namespaces and bound fields.** `logger.namespace("get_user")` under the service
 *   `im-logic` logs as `im-logic.get_user` and keeps the parent's fields;
 *   `logger.with({ userId })` binds fields to every line. Each field is written once per
 *   line (call fields over context fields over bound ones), and one named like a member of
 *   the line itself (`level`, `msg`, `time`…) as `fields.<name>`.
 * - **Context.** {@link withContext} scopes fields (request id, user id) to everything
 *   logged inside a function, across awaits, with no bleed between concurrent requests.
 *   The trace and span ids of the active OpenTelemetry span are added to every line.
 * - **Formats.** JSON lines (production), readable, optionally coloured text
 *   (development), and logfmt (`time=… level=info namespace=im-logic.get_user
 *   msg="user loaded" user_id=42`, objects flattened into dotted keys): time, level,
 *   namespace, message, fields, trace ids. The member names of JSON and logfmt lines follow
 *   `jsonKeys` (`{ time: "@timestamp", message: "content" }`).
 * - **Sinks.** Console, any stream, files with rotation by size and by day, a
 *   non-blocking buffered mode for any of them, and custom functions; each with its own
 *   minimum level and format. {@link pinoSink} hands records to an application's pino
 *   logger (clog does not depend on pino). Buffered lines are written out however the process ends
 *   (naturally, `process.exit()`, `Deno.exit()`, an uncaught exception or rejection), and
 *   on SIGTERM, SIGINT and SIGHUP when the config sets `flushOnSignals`; SIGKILL loses them.
 *   A console pipe whose reader stopped reading holds the process up for `flushTimeoutMs`
 *   at most (5 s; a slow but reading one loses nothing); the rest is dropped and counted on
 *   stderr. The lines held for a reader that is behind stop at 16 MiB.
 * - **Fingers crossed.** Any sink can hold its records back until one at a trigger level
 *   comes ({@link FingersCrossedConfig}, LogTape's `fingersCrossed`): then it writes the held
 *   ones in order, then the trigger. With `isolate: "context"` each {@link withContext}
 *   scope has its own buffer, so a failing request writes its own debug lines and nobody
 *   else's. Buffers are bounded (records per buffer, buffers per sink, characters in all),
 *   drops are counted in the output, and `close()` discards what nothing triggered.
 * - **Safe values.** Errors with name, message, code, stack and cause chain (a burst of
 *   the same error writes its stack once per `stackCooldownMs`, 100 ms); web `Request`,
 *   `Response` and `Headers` as method, url, status and headers; per-field
 *   {@link FieldSerializer}s given in the dependencies (pino's `serializers`); redaction of
 *   secret keys at any depth; long strings truncated; a log call never throws (circular
 *   objects, BigInt, symbols, throwing getters included).
 * - **Hot reload.** The root logger is `HotReloadable`: level, format, sinks and
 *   redaction change at runtime, for every logger.
 *
 * @example Set up once in `main`, log everywhere
 * ```ts
 * import { defaultConfig, getLogger, init, withContext } from "@gochat/infra/clog";
 *
 * await using root = init({
 *   ...defaultConfig("production"),
 *   service: "im-logic",
 *   sinks: [
 *     { type: "console", level: "info" },
 *     {
 *       type: "file",
 *       path: "/tmp/gochat-example/im-logic.log",
 *       rotation: { maxSizeBytes: 50_000_000, daily: true, maxBackups: 7 },
 *       buffered: { bufferSize: 256, flushIntervalMs: 250 },
 *     },
 *   ],
 * });
 *
 * const logger = getLogger("get_user").with({ region: "eu-west-1" });
 * await withContext({ requestId: "r-42" }, async () => {
 *   logger.info("user loaded", { userId: 42, password: "hunter2" }); // password: [REDACTED]
 *   logger.debug("cache state", () => ({ entries: 1_000 })); // not computed at info
 * });
 * await root.hotReload({ ...root.config, level: "debug" });
 * ```
 *
 * @module
 */

export type {
  Fields,
  FieldSerializer,
  LazyFields,
  LineWriter,
  Logger,
  LogLevel,
  LogRecord,
  RecordSink,
} from "./types.ts";
export {
  type BufferConfig,
  type ClogConfig,
  type ConsoleSinkConfig,
  type CustomSinkConfig,
  DEFAULT_FLUSH_TIMEOUT_MS,
  DEFAULT_MAX_VALUE_LENGTH,
  DEFAULT_REDACT_KEYS,
  defaultConfig,
  type FileSinkConfig,
  type FingersCrossedConfig,
  type JsonKeys,
  type LineSinkConfig,
  type LogFormat,
  type RotationConfig,
  type SinkConfig,
  type StreamSinkConfig,
  validateConfig,
} from "./config.ts";
export type { ClogDependencies } from "./core.ts";
export { contextFields, withContext } from "./context.ts";
export { LEVELS } from "./levels.ts";
export { create, getLogger, init, type RootLogger } from "./init.ts";
export { type PinoLike, pinoSink } from "./pino_sink.ts";
