/**
 * The fixed parts of a line: the timestamp, the level-and-namespace prefix of each
 * logger (built once per configuration), and the ANSI colours of the text format.
 *
 * JSON line: `{"time":"<ISO>","level":"info","namespace":"a.b","msg":"…",<fields>,"trace_id":…,"span_id":…}`
 * Text line: `<ISO> INFO  a.b message key=value … trace_id=… span_id=…`
 * logfmt line: `time=<ISO> level=info namespace=a.b msg="…" key=value … trace_id=… span_id=…`
 * (its own parts are in `logfmt.ts`)
 *
 * `<fields>` are the bound, context and call fields, each name once, a field named like
 * one of the members around it written as `fields.<name>` (see `Serializer.lineKey`). The
 * member names of JSON lines can be changed (`jsonKeys`).
 *
 * @module
 */

import type { JsonKeys } from "./config.ts";
import { LEVELS } from "./levels.ts";
import { jsonString, textToken } from "./serialize.ts";

let lastMs = Number.NaN;
let lastIso = "";

/**
 * The ISO-8601 form of `ms`. Formatting a date costs far more than a log line's other
 * parts, and consecutive lines mostly share a millisecond, so the last one is reused.
 */
export function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    const date = new Date(ms);
    lastIso = Number.isNaN(date.getTime()) ? "Invalid Date" : date.toISOString();
  }
  return lastIso;
}

/** ANSI: reset, dim, the namespace colour and one colour per level. */
export const ANSI = {
  reset: "\x1b[0m",
  dim: "\x1b[2m",
  undim: "\x1b[22m",
  namespace: "\x1b[35m",
  levels: ["\x1b[90m", "\x1b[36m", "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[1;41;97m"],
} as const;

const LABELS = ["TRACE", "DEBUG", "INFO ", "WARN ", "ERROR", "FATAL"];

/** Every member name of a JSON line. */
export type LineKeys = Readonly<Required<JsonKeys>>;

/** The member names of a JSON line when the config does not rename them. */
export const DEFAULT_LINE_KEYS: LineKeys = {
  time: "time",
  level: "level",
  namespace: "namespace",
  message: "msg",
  traceId: "trace_id",
  spanId: "span_id",
};

/** The config's member names, each defaulted. */
export function lineKeys(keys: JsonKeys | undefined): LineKeys {
  return keys === undefined ? DEFAULT_LINE_KEYS : { ...DEFAULT_LINE_KEYS, ...keys };
}

/** The start of a JSON line, up to the time value: `{"time":"`. */
export function jsonHead(keys: LineKeys): string {
  return "{" + jsonString(keys.time) + ':"';
}

/** The trace and span ids as the end of a JSON line: `,"trace_id":"…","span_id":"…"`. */
export function spanIdsJson(keys: LineKeys, traceId: string, spanId: string): string {
  return "," + jsonString(keys.traceId) + ':"' + traceId + '",' + jsonString(keys.spanId) +
    ':"' + spanId + '"';
}

/**
 * The part of a JSON line between the time value and the message value, per level:
 * `","level":"info","namespace":"a.b","msg":`.
 */
export function jsonPrefixes(namespace: string, keys: LineKeys = DEFAULT_LINE_KEYS): string[] {
  const ns = namespace === "" ? "" : "," + jsonString(keys.namespace) + ":" + jsonString(namespace);
  const level = '",' + jsonString(keys.level) + ':"';
  const msg = "," + jsonString(keys.message) + ":";
  return LEVELS.map((name) => level + name + '"' + ns + msg);
}

/** The part of a text line between the time and the message, per level. */
export function textPrefixes(namespace: string, color: boolean): string[] {
  if (namespace !== "") namespace = textToken(namespace);
  return LABELS.map((label, i) => {
    if (!color) return ` ${label} ${namespace === "" ? "" : namespace + " "}`;
    const ns = namespace === "" ? "" : `${ANSI.namespace}${namespace}${ANSI.reset} `;
    return `${ANSI.reset} ${ANSI.levels[i]}${label}${ANSI.reset} ${ns}`;
  });
}
