/**
 * The logging contract every component codes against. Components receive a {@link Logger}
 * by injection (`{ logger }` in their dependencies) and fall back to
 * `getLogger("<component>")`, the process-wide logger that the application configures once
 * with `clog.init(config)`.
 *
 * @module
 */

/** Severity, lowest first. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

/**
 * Structured fields of a record. Errors are serialized with name, message, stack, cause and
 * code.
 *
 * A line writes each field once: the call's fields override the `withContext` fields,
 * which override the bound ones ({@link Logger.with}), as `{ ...bound, ...context, ...call }`
 * would. A field named like one of the line's own members (`time`, `level`, `namespace`,
 * `msg`, `trace_id`, `span_id`, or the names the config's `jsonKeys` gives them) is
 * written as `fields.<name>`, as logrus does, so it can
 * never pass for them (and one already named `fields.<that name>` gets one more `fields.`).
 */
export type Fields = Record<string, unknown>;

/** Fields, or a function computing them, called only when the level is enabled. */
export type LazyFields = Fields | (() => Fields);

/** A structured logger bound to a namespace and to fields. A log call never throws. */
export interface Logger {
  /** The full dotted namespace, e.g. `im-logic.get_user`. */
  readonly name: string;
  /** Logs at trace level. */
  trace(message: string, fields?: LazyFields): void;
  /** Logs at debug level. */
  debug(message: string, fields?: LazyFields): void;
  /** Logs at info level. */
  info(message: string, fields?: LazyFields): void;
  /** Logs at warn level. */
  warn(message: string, fields?: LazyFields): void;
  /** Logs at error level. */
  error(message: string, fields?: LazyFields): void;
  /** Logs at fatal level and flushes buffered sinks. It does not exit the process. */
  fatal(message: string, fields?: LazyFields): void;
  /**
   * A child logger with `fields` (copied now) bound to every record, on top of this
   * logger's; a field bound again is written once, with the child's value. Never throws.
   */
  with(fields: Fields): Logger;
  /** A child logger named `<this name>.<name>`, keeping the bound fields. */
  namespace(name: string): Logger;
  /** Whether a record at `level` would be written by at least one sink. */
  isEnabled(level: LogLevel): boolean;
}

/**
 * One record as a custom sink receives it. `fields` holds the bound fields, the
 * `withContext` fields and the call's fields merged (later ones win), named and made
 * JSON-safe as in a JSON line ({@link Fields}): secrets redacted, long strings truncated,
 * errors turned into plain objects, a field named `level` under `fields.level`.
 */
export interface LogRecord {
  /** Milliseconds since the epoch. */
  time: number;
  /** The record's level. */
  level: LogLevel;
  /** The logger's full dotted namespace (`""` for the root). */
  namespace: string;
  /** The message, truncated like every other string. */
  message: string;
  /** The merged, JSON-safe fields. */
  fields: Record<string, unknown>;
  /** The trace id of the active OpenTelemetry span, when there is one. */
  traceId?: string;
  /** The span id of the active OpenTelemetry span, when there is one. */
  spanId?: string;
}

/**
 * A custom sink: a function called with each record it accepts. Each sink gets its own
 * copy of the record, which it may change or keep. It may return a promise; a rejection
 * (or a throw) is reported on stderr and never reaches the code that logged.
 */
export type RecordSink = (record: LogRecord) => void | Promise<void>;

/**
 * Where a `"stream"` sink writes formatted lines: a Node-style writable (`process.stderr`,
 * a socket, `fs.createWriteStream(...)`, or any object with `write(text)`), or a web
 * `WritableStream<Uint8Array>` (e.g. `Deno.stderr.writable`).
 */
export type LineWriter = { write(text: string): unknown } | WritableStream<Uint8Array>;

/**
 * Turns the value of a field into what is written instead, for the fields of its name at
 * the top of a line (the call's, the bound ones and the `withContext` ones), as pino's
 * `serializers` do. What it returns is written like any value: redacted by key, truncated,
 * made JSON-safe; `undefined` leaves the field out. A throw writes `"[Thrown: …]"` for
 * that field only. Bound and context fields are serialized once per configuration, so a
 * serializer should depend on its value alone.
 *
 * @example Log a user as its id and its role
 * ```ts
 * import { create, type FieldSerializer } from "@gochat/infra/clog";
 *
 * const user: FieldSerializer = (value) => {
 *   const { id, role } = value as { id: number; role: string };
 *   return { id, role };
 * };
 * await using root = create({}, { serializers: { user } });
 * root.info("signed in", { user: { id: 7, role: "admin", passwordHash: "…" } });
 * ```
 */
export type FieldSerializer = (value: unknown) => unknown;
