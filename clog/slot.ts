/**
 * From sink configs to live sinks: what identifies a configured sink across reloads, how
 * one is built (console, file, stream, custom, wrapped in a buffer when asked), and how
 * records are routed to it (minimum level, format, colour, fingers-crossed gate).
 *
 * @module
 */

import { resolve } from "node:path";
import { configCheck } from "../base/mod.ts";
import { BufferedSink } from "./buffered_sink.ts";
import { type ClogConfig, DEFAULT_FLUSH_TIMEOUT_MS, type SinkConfig } from "./config.ts";
import type { ClogDependencies } from "./core.ts";
import { FileSink } from "./file_sink.ts";
import { FingersCrossed } from "./fingers_crossed.ts";
import { LEVEL_VALUES } from "./levels.ts";
import { ConsoleSink, consoleWantsColor, type LineSink, StreamSink } from "./sink.ts";
import type { LineWriter, RecordSink } from "./types.ts";

/** The slot gets JSON lines. */
export const JSON_LINES = 0;
/** The slot gets text lines. */
export const TEXT_LINES = 1;
/** The slot gets records (a custom sink). */
export const RECORDS = 2;
/** The slot gets logfmt lines. */
export const LOGFMT_LINES = 3;

const LINE_KINDS = { json: JSON_LINES, text: TEXT_LINES, logfmt: LOGFMT_LINES } as const;

const BUFFER_SIZE = 256;
const FLUSH_INTERVAL_MS = 250;
const MAX_BACKUPS = 10;

/** A configured sink and how records reach it. */
export interface Slot {
  /** What makes two configured sinks the same one, so a reload can keep it. */
  readonly id: string;
  /** The stream or function from the dependencies, for the same purpose. */
  readonly target: unknown;
  /** For error reports. */
  readonly label: string;
  /** Where lines go (line sinks). */
  readonly sink: LineSink | undefined;
  /**
   * The console or stream sink under {@link Slot.sink}, for its wait on a reader that
   * stopped (`flushTimeoutMs`).
   */
  readonly waits: { waitMs: number } | undefined;
  /** Where records go (custom sinks). */
  readonly record: RecordSink | undefined;
  /**
   * Whether lines may wait in memory and must be written out when the process ends: in a
   * buffer, or for a console whose pipe is full.
   */
  readonly holdsLines: boolean;
  /** Minimum level value. */
  min: number;
  /** {@link JSON_LINES}, {@link TEXT_LINES}, {@link LOGFMT_LINES} or {@link RECORDS}. */
  kind: number;
  /** ANSI colours in text lines. */
  color: boolean;
  /** Holds lines or records back until a trigger (`fingersCrossed`), when configured. */
  gate: FingersCrossed<unknown> | undefined;
}

const check = configCheck("clog");

/**
 * The stream or function each sink names in the dependencies (undefined for the others).
 *
 * @throws {InfraError} `InvalidArgument` naming the sink whose name is missing.
 */
export function dependencyTargets(sinks: SinkConfig[], deps: ClogDependencies): unknown[] {
  return sinks.map((sink, i) => {
    if (sink.type === "stream") {
      const stream = deps.streams?.[sink.name];
      if (stream === null || typeof stream !== "object") {
        const known = Object.keys(deps.streams ?? {}).join(", ") || "none";
        throw check.fail(
          `sinks[${i}].name`,
          `names no stream in the dependencies (streams: ${known})`,
        );
      }
      const writable = stream as Partial<{ write: unknown; getWriter: unknown }>;
      if (typeof writable.write !== "function" && typeof writable.getWriter !== "function") {
        throw check.fail(
          `sinks[${i}].name`,
          `names a stream with neither write() nor getWriter() (stream: ${sink.name})`,
        );
      }
      return stream;
    }
    if (sink.type === "custom") {
      const fn = deps.sinks?.[sink.name];
      if (typeof fn !== "function") {
        const known = Object.keys(deps.sinks ?? {}).join(", ") || "none";
        throw check.fail(
          `sinks[${i}].name`,
          `names no sink function in the dependencies (sinks: ${known})`,
        );
      }
      return fn;
    }
    return undefined;
  });
}

/** What identifies a configured sink: equal ids (and targets) mean a reload keeps it. */
export function slotId(sink: SinkConfig): string {
  const buffered = sink.type !== "custom" && sink.buffered
    ? [sink.buffered.bufferSize ?? BUFFER_SIZE, sink.buffered.flushIntervalMs ?? FLUSH_INTERVAL_MS]
    : null;
  switch (sink.type) {
    case "console":
      return JSON.stringify(["console", sink.target ?? "stdout", buffered]);
    case "file": {
      const r = sink.rotation ?? {};
      return JSON.stringify([
        "file",
        resolve(sink.path),
        [r.maxSizeBytes ?? null, r.daily ?? false, r.maxBackups ?? MAX_BACKUPS],
        buffered,
      ]);
    }
    case "stream":
      return JSON.stringify(["stream", sink.name, buffered]);
    case "custom":
      return JSON.stringify(["custom", sink.name]);
  }
}

/**
 * Builds the sink of a config (opening its file, if any).
 *
 * @param sink The sink's config.
 * @param field Where it is in the config (`sinks[2]`), for errors.
 * @param id Its {@link slotId}.
 * @param target Its stream or function from the dependencies.
 * @throws {InfraError} `PermissionDenied`/`Unavailable` when a log file cannot be opened;
 *   `InvalidArgument` when a web stream is locked by a writer outside clog.
 */
export function createSlot(
  sink: SinkConfig,
  field: string,
  id: string,
  target: unknown,
): Slot {
  let line: LineSink;
  let waits: ConsoleSink | StreamSink | undefined;
  switch (sink.type) {
    case "console":
      line = waits = new ConsoleSink(sink.target ?? "stdout");
      break;
    case "file":
      line = new FileSink({
        // Resolved once: a later chdir must not move the file or its rotations.
        path: resolve(sink.path),
        maxSizeBytes: sink.rotation?.maxSizeBytes,
        daily: sink.rotation?.daily ?? false,
        timeZone: sink.rotation?.timeZone,
        maxBackups: sink.rotation?.maxBackups ?? MAX_BACKUPS,
        field: `${field}.path`,
      });
      break;
    case "stream":
      try {
        line = waits = new StreamSink(sink.name, target as LineWriter);
      } catch {
        throw check.fail(
          `${field}.name`,
          `names a web stream that a writer outside clog has locked (stream: ${sink.name})`,
        );
      }
      break;
    case "custom":
      return {
        id,
        target,
        label: `custom sink "${sink.name}"`,
        sink: undefined,
        waits: undefined,
        record: target as RecordSink,
        holdsLines: false,
        min: 0,
        kind: RECORDS,
        color: false,
        gate: undefined,
      };
  }
  const buffered = sink.buffered !== undefined;
  if (buffered) {
    line = new BufferedSink(
      line,
      sink.buffered!.bufferSize ?? BUFFER_SIZE,
      sink.buffered!.flushIntervalMs ?? FLUSH_INTERVAL_MS,
    );
  }
  return {
    id,
    target,
    label: `${sink.type} sink`,
    sink: line,
    waits,
    record: undefined,
    holdsLines: buffered || sink.type === "console",
    min: 0,
    kind: JSON_LINES,
    color: false,
    gate: undefined,
  };
}

/**
 * Sets the slot's level, format, colour and gate from its sink config and the whole config.
 * A gate whose settings did not change is kept with what it holds; another one is replaced,
 * and what the old one held is discarded.
 */
export function route(slot: Slot, sink: SinkConfig, config: ClogConfig): void {
  slot.min = sink.level === undefined ? 0 : LEVEL_VALUES[sink.level];
  const gate = sink.fingersCrossed === undefined
    ? undefined
    : new FingersCrossed<unknown>(sink.fingersCrossed);
  if (slot.gate?.id !== gate?.id) slot.gate = gate;
  if (slot.waits !== undefined) {
    slot.waits.waitMs = config.flushTimeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS;
  }
  if (sink.type === "custom") {
    slot.kind = RECORDS;
    return;
  }
  slot.kind = LINE_KINDS[sink.format ?? config.format ?? "json"];
  if (slot.kind !== TEXT_LINES) {
    slot.color = false;
    return;
  }
  const color = config.color ?? false;
  // Files get colour only when their own config asks; "auto" means a terminal console.
  slot.color = sink.color ?? (sink.type !== "file" &&
    (color === true ||
      (color === "auto" && sink.type === "console" &&
        consoleWantsColor(sink.target ?? "stdout"))));
}
