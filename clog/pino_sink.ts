/**
 * The pino adaptor: a custom sink that hands every record to a pino logger the application
 * already has, so components logging through clog end up in its pino pipeline (its
 * transports, pino-pretty, its redaction), without clog depending on pino.
 *
 * @module
 */

import type { LogRecord, RecordSink } from "./types.ts";

/**
 * What {@link pinoSink} needs of a pino logger: one method per level taking the fields
 * and then the message, as `pino()` and its children have. Written structurally, so any
 * logger of that shape (pino, or a test double) fits and pino stays out of clog's
 * dependencies.
 */
export interface PinoLike {
  /** Logs at trace level (pino 10). */
  trace(fields: object, message: string): void;
  /** Logs at debug level (pino 20). */
  debug(fields: object, message: string): void;
  /** Logs at info level (pino 30). */
  info(fields: object, message: string): void;
  /** Logs at warn level (pino 40). */
  warn(fields: object, message: string): void;
  /** Logs at error level (pino 50). */
  error(fields: object, message: string): void;
  /** Logs at fatal level (pino 60). */
  fatal(fields: object, message: string): void;
}

/**
 * A custom sink that forwards each record to `logger` at the same level (clog's levels are
 * pino's, numbers included). The record's fields become pino's merging object, as clog
 * made them (redacted, truncated, errors as plain objects), with the namespace as
 * `namespace` and the active span's ids as `trace_id` and `span_id`, as in clog's own JSON
 * lines; the message is pino's `msg`. The time is pino's own, taken as the record is
 * handed over. pino's level still applies on top of the sink's, and so do its serializers,
 * redaction and transports.
 *
 * @param logger A pino logger (`pino()`, `pino().child(...)`) or any {@link PinoLike}.
 * @returns The sink, for `dependencies.sinks` under the name a `"custom"` sink gives.
 *
 * @example Components log through clog; the lines go out through the application's pino
 * ```ts
 * import { create, pinoSink, type PinoLike } from "@gochat/infra/clog";
 *
 * // In a Node application: `const pinoLogger = pino()` from the pino package.
 * const pinoLogger: PinoLike = {
 *   trace() {},
 *   debug() {},
 *   info: (fields, message) => console.log(JSON.stringify({ ...fields, msg: message })),
 *   warn() {},
 *   error() {},
 *   fatal() {},
 * };
 * await using root = create(
 *   { service: "im-logic", sinks: [{ type: "custom", name: "pino" }] },
 *   { sinks: { pino: pinoSink(pinoLogger) } },
 * );
 * root.namespace("get_user").info("user loaded", { userId: 42 });
 * // {"userId":42,"namespace":"im-logic.get_user","msg":"user loaded"}
 * ```
 */
export function pinoSink(logger: PinoLike): RecordSink {
  return (record: LogRecord) => {
    const fields: Record<string, unknown> = record.fields;
    if (record.namespace !== "") fields.namespace = record.namespace;
    if (record.traceId !== undefined) {
      fields.trace_id = record.traceId;
      fields.span_id = record.spanId;
    }
    logger[record.level](fields, record.message);
  };
}
