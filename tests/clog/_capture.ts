/**
 * A logger whose lines and records land in arrays, for assertions.
 */
import {
  type ClogConfig,
  type ClogDependencies,
  create,
  type LogRecord,
  type RootLogger,
} from "../../clog/mod.ts";

/** What {@link capture} returns. */
export interface Captured {
  /** The root logger. */
  root: RootLogger;
  /** Every write to the `lines` stream sink (a batch is one write). */
  lines: string[];
  /** Every line written to the `lines` stream sink, one per element, with its newline. */
  written(): string[];
  /** Every record given to the `records` custom sink. */
  records: LogRecord[];
  /** The lines written, parsed as JSON. */
  json(): Record<string, unknown>[];
}

/**
 * A root logger with a stream sink named `lines` and a custom sink named `records`. By
 * default it has one JSON stream sink at trace level; pass `sinks` to change that.
 * `serializers` go into the dependencies.
 */
export function capture(
  config: ClogConfig = {},
  now?: () => number,
  serializers?: ClogDependencies["serializers"],
): Captured {
  const lines: string[] = [];
  const records: LogRecord[] = [];
  const written = () => lines.flatMap((chunk) => chunk.split(/(?<=\n)/));
  const root = create(
    { level: "trace", sinks: [{ type: "stream", name: "lines" }], ...config },
    {
      streams: { lines: { write: (text: string) => void lines.push(text) } },
      sinks: { records: (record) => void records.push(record) },
      now,
      serializers,
    },
  );
  return {
    root,
    lines,
    records,
    written,
    json: () => written().map((line) => JSON.parse(line)),
  };
}
