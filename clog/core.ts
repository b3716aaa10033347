/**
 * The engine behind every logger of one configuration: the sinks with their levels and
 * formats, the serializer, and the emit path that turns one call into at most one JSON
 * line, one text line (plain and/or coloured), one logfmt line and one record, whatever the
 * number of sinks.
 *
 * Loggers never hold configuration themselves: they compare their cached generation with
 * {@link Core.gen} and rebuild their prefixes when it moved. That is how a logger obtained
 * before `init` starts writing after it, and follows every hot reload.
 *
 * @module
 */

import {
  type ClogConfig,
  DEFAULT_MAX_VALUE_LENGTH,
  DEFAULT_REDACT_KEYS,
  DEFAULT_STACK_COOLDOWN_MS,
  type SinkConfig,
  validateConfig,
} from "./config.ts";
import { flushAtExit, isExiting } from "./exit.ts";
import { PASS } from "./fingers_crossed.ts";
import { activeContext, activeSpanIds, type LogContext, type SpanIds } from "./context.ts";
import {
  ANSI,
  DEFAULT_LINE_KEYS,
  isoTime,
  jsonHead,
  jsonPrefixes,
  type LineKeys,
  lineKeys,
  spanIdsJson,
  textPrefixes,
} from "./format.ts";
import { LEVEL_OFF, LEVEL_VALUES, LEVELS } from "./levels.ts";
import { logfmtFields, logfmtHead, logfmtPrefixes, spanIdsLogfmt } from "./logfmt.ts";
import {
  escapeJson,
  jsonString,
  NO_TEXT_FIELDS,
  safeString,
  Serializer,
  type TextFields,
  textMessage,
  textToken,
} from "./serialize.ts";
import { reportInternalError } from "./sink.ts";
import {
  createSlot,
  dependencyTargets,
  JSON_LINES,
  LOGFMT_LINES,
  route,
  type Slot,
  slotId,
  TEXT_LINES,
} from "./slot.ts";
import type { FieldSerializer, LineWriter, LogLevel, LogRecord, RecordSink } from "./types.ts";

/**
 * What a configuration needs beside its JSON: the streams and custom sinks that
 * `"stream"` and `"custom"` sinks name, and optionally a clock.
 */
export interface ClogDependencies {
  /** Streams for `{ type: "stream", name }` sinks, by name. */
  streams?: Record<string, LineWriter>;
  /** Functions for `{ type: "custom", name }` sinks, by name. */
  sinks?: Record<string, RecordSink>;
  /** The clock for timestamps and daily rotation (default `Date.now`), e.g. for tests. */
  now?: () => number;
  /**
   * Serializers by field name ({@link FieldSerializer}), e.g. `{ user: (u) => ({ id }) }`.
   * Web `Request`, `Response` and `Headers` values need none: they are written as their
   * method, url, status and headers.
   */
  serializers?: Record<string, FieldSerializer>;
}

/** Per-namespace parts of a line, rebuilt for each configuration. */
export interface NameTables {
  /** Full dotted namespace. */
  readonly name: string;
  /** The lowest level any sink writes for this namespace. */
  readonly min: number;
  /** JSON prefix per level index. */
  readonly json: string[];
  /** Text prefix per level index, without colour (built on first use). */
  text: string[] | undefined;
  /** Text prefix per level index, with colour (built on first use). */
  textColor: string[] | undefined;
  /** logfmt prefix per level index (built on first use). */
  logfmt: string[] | undefined;
}

/** What the emit path needs from the logger that logs. */
export interface EmitSource {
  /** Tables of the current generation. */
  readonly tables: NameTables;
  /** Bound fields as a JSON fragment, each once. */
  chindingsJson(): string;
  /** Bound fields as text, with the stacks of bound errors. */
  chindingsText(color: boolean): TextFields;
  /** The names of the bound fields. */
  boundKeys(): readonly string[];
  /** The bound fields in one object (for a line whose other fields override some). */
  boundFields(): object;
}

const FATAL = LEVEL_VALUES.fatal;
/** Where `warn` is in the per-level tables. */
const WARN_INDEX = LEVEL_VALUES.warn / 10 - 1;
const TABLE_CACHE_LIMIT = 1024;

/**
 * How many emits are running, one inside another, across every core: a sink that logs
 * through a logger (to say a delivery failed) emits while the record it was handed is
 * being emitted. One such level is allowed, so that a sink may log about a record; a record
 * logged deeper is dropped, or a sink that logs about every record would recurse until the
 * stack overflows (which ends the process on Bun).
 */
let emitDepth = 0;
const MAX_EMIT_DEPTH = 2;
/** Records dropped for being logged too deep that no report has counted yet. */
let nestedDropped = 0;

/** Says on stderr (at most once a minute) how many records were logged too deep to write. */
function reportNested(): void {
  const reported = reportInternalError(
    "re-entrant log call",
    `a sink logs while it writes a record that a sink logged: ${nestedDropped} ${
      nestedDropped === 1 ? "record" : "records"
    } nested this deep dropped (one nested level is written)`,
  );
  if (reported) nestedDropped = 0;
}

/** Turns whatever was passed as fields into an object to serialize, or undefined. */
function normalizeFields(fields: unknown): object | undefined {
  if (typeof fields === "function") {
    try {
      fields = fields();
    } catch (error) {
      return { clog_error: `lazy fields threw: ${safeString((error as Error)?.message)}` };
    }
  }
  if (fields === undefined || fields === null) return undefined;
  if (typeof fields !== "object") return { fields };
  try {
    if (fields instanceof Error) return { err: fields };
  } catch {
    // A proxy whose prototype cannot be read: the serializer reports what it can.
  }
  return fields;
}

/** One configuration of sinks, levels and formats, and the loggers' emit path. */
export class Core {
  /** Bumped by every change; loggers rebuild their caches when it moved. */
  gen = 1;
  /** The serializer of the current configuration. */
  serializer: Serializer = new Serializer(DEFAULT_REDACT_KEYS, DEFAULT_MAX_VALUE_LENGTH);
  /** The clock. */
  now: () => number = Date.now;
  /** The configuration in force (a copy), `undefined` while silent. */
  config: ClogConfig | undefined;
  /** The dependencies in force. */
  deps: ClogDependencies = {};
  #slots: Slot[] = [];
  #level = LEVEL_OFF;
  /** Level values by full namespace, the most specific first. */
  #levels: [string, number][] = [];
  #service = "";
  #sinkMin = LEVEL_OFF;
  /** The member names of JSON lines, and the start of a line up to the time value. */
  #keys: LineKeys = DEFAULT_LINE_KEYS;
  #head = jsonHead(DEFAULT_LINE_KEYS);
  /** The start of a logfmt line up to the time value. */
  #logfmtHead = logfmtHead(DEFAULT_LINE_KEYS);
  /** The line's own keys that have a dot, which no flattened field may pass for. */
  #dottedKeys: string[] = [];
  /** Tables of the current generation by path (namespaces are few; the cache is bounded). */
  #tables = new Map<string, NameTables>();

  /** The per-namespace tables for `path` (a namespace below the service root). */
  tables(path: string): NameTables {
    let tables = this.#tables.get(path);
    if (tables === undefined) {
      tables = this.#buildTables(path);
      if (this.#tables.size < TABLE_CACHE_LIMIT) this.#tables.set(path, tables);
    }
    return tables;
  }

  #buildTables(path: string): NameTables {
    const service = this.#service;
    const name = service === "" ? path : path === "" ? service : `${service}.${path}`;
    let level = this.#level;
    for (const [namespace, value] of this.#levels) {
      if (name === namespace || name.startsWith(namespace + ".")) {
        level = value;
        break;
      }
    }
    return {
      name,
      min: Math.max(level, this.#sinkMin),
      json: jsonPrefixes(name, this.#keys),
      text: undefined,
      textColor: undefined,
      logfmt: undefined,
    };
  }

  /**
   * Applies a configuration. Sinks whose settings did not change are kept with their
   * state (buffered lines, open files); removed ones are flushed and closed. On error the
   * configuration in force stays.
   *
   * @returns A promise settled when the removed sinks are closed.
   * @throws {InfraError} `InvalidArgument` for a bad config or a missing dependency;
   *   `PermissionDenied`/`Unavailable` when a log file cannot be opened.
   */
  apply(config: ClogConfig, deps: ClogDependencies): Promise<void> {
    validateConfig(config);
    const sinks: SinkConfig[] = config.sinks ?? [{ type: "console" }];
    const targets = dependencyTargets(sinks, deps);
    // A config may list the same sink twice: each old slot is reused at most once.
    const reusable = new Map<string, Slot[]>();
    for (const slot of this.#slots) {
      const same = reusable.get(slot.id);
      if (same === undefined) reusable.set(slot.id, [slot]);
      else same.push(slot);
    }
    const ids = sinks.map(slotId);
    const kept = sinks.map((_, i) => {
      const same = reusable.get(ids[i]);
      const at = same?.findIndex((slot) => slot.target === targets[i]) ?? -1;
      return at >= 0 ? same!.splice(at, 1)[0] : undefined;
    });
    const removed = [...reusable.values()].flat();
    // A removed sink's lines go out before a new sink may reopen its file; kept sinks
    // go on buffering.
    flushSlots(removed);
    const created: Slot[] = [];
    const next: Slot[] = [];
    try {
      sinks.forEach((sink, i) => {
        let slot = kept[i];
        if (slot === undefined) {
          slot = createSlot(sink, `sinks[${i}]`, ids[i], targets[i]);
          created.push(slot);
        }
        next.push(slot);
      });
    } catch (error) {
      for (const slot of created) void slot.sink?.close();
      throw error;
    }

    let sinkMin = LEVEL_OFF;
    sinks.forEach((sink, i) => {
      route(next[i], sink, config);
      sinkMin = Math.min(sinkMin, next[i].min);
    });
    this.#slots = next;
    this.#sinkMin = sinkMin;
    this.#level = LEVEL_VALUES[config.level ?? "info"];
    this.#service = config.service ?? "";
    this.#levels = levelsByNamespace(config.levels ?? {}, this.#service);
    this.#keys = lineKeys(config.jsonKeys);
    this.#head = jsonHead(this.#keys);
    this.#logfmtHead = logfmtHead(this.#keys);
    this.#dottedKeys = Object.values(this.#keys).filter((key) => key.includes("."));
    this.serializer = new Serializer(
      config.redactKeys ?? DEFAULT_REDACT_KEYS,
      config.maxValueLength ?? DEFAULT_MAX_VALUE_LENGTH,
      config.stackCooldownMs ?? DEFAULT_STACK_COOLDOWN_MS,
      deps.serializers,
      Object.values(this.#keys),
    );
    this.now = deps.now ?? Date.now;
    this.config = structuredClone(config);
    this.deps = deps;
    this.#syncExitHook();
    this.#tables.clear();
    this.gen++;
    return Promise.all(removed.map((slot) => slot.sink?.close())).then(() => {});
  }

  /** Buffered lines must not be lost when the process ends. */
  #syncExitHook(): void {
    flushAtExit(
      this,
      this.#slots.some((slot) => slot.holdsLines),
      this.config?.flushOnSignals === true,
    );
  }

  /**
   * Writes one record to every sink that accepts `level`. The caller has checked the
   * logger's minimum level. Never throws.
   */
  emit(source: EmitSource, level: number, message: unknown, rawFields: unknown): void {
    if (emitDepth === MAX_EMIT_DEPTH) {
      nestedDropped++;
      return;
    }
    const s = this.serializer;
    // A record logged by a sink while its record is emitted: the outer one is put back after.
    const outer = emitDepth++ === 0 ? undefined : s.recordState();
    const slots = this.#slots;
    let i = 0;
    // First: whatever fails later, the fallback line still has the message.
    const msg = typeof message === "string" ? message : safeString(message);
    try {
      const fields = rawFields === undefined ? undefined : normalizeFields(rawFields);
      const time = this.now();
      const context = activeContext();
      const ids = activeSpanIds();
      const index = level / 10 - 1;
      s.startRecord(time, level, slots);
      // Each field once: the call's override the context's, which override the bound ones.
      const bound = source.boundKeys();
      const boundSkip = bound.length === 0 ? undefined : overridden(bound, context?.fields, fields);
      const contextSkip = context === undefined ? undefined : overridden(context.keys, fields);
      let json: string | undefined;
      let text: string | undefined;
      let textColor: string | undefined;
      let logfmt: string | undefined;
      let fieldsJson: string | undefined;
      let recordFields: string | undefined;
      // Gated slots that held this record back: its stacks do not count as written there.
      let held: Slot[] | undefined;
      for (; i < slots.length; i++) {
        const slot = slots[i];
        if (level < slot.min) continue;
        if (slot.kind === JSON_LINES) {
          if (json === undefined) {
            fieldsJson ??= this.#fieldsJson(source, boundSkip, context, contextSkip, fields);
            json = this.#head + isoTime(time) + source.tables.json[index] + s.string(msg) +
              fieldsJson + (ids === undefined ? "" : this.#idsJson(ids)) + "}\n";
          }
          if (slot.gate === undefined) slot.sink!.write(json, time);
          else if (!this.#gated(slot, source, json, time, level, context, json.length)) {
            (held ??= []).push(slot);
          }
        } else if (slot.kind === TEXT_LINES) {
          const color = slot.color;
          let line = color ? textColor : text;
          if (line === undefined) {
            const bound = boundSkip === undefined
              ? source.chindingsText(color)
              : s.textFields(source.boundFields(), color, boundSkip);
            const scoped = context === undefined
              ? NO_TEXT_FIELDS
              : this.#contextText(context, color, contextSkip);
            const own = fields === undefined ? NO_TEXT_FIELDS : s.callTextFields(fields, color);
            line = this.#textStart(source.tables, color, time, index) +
              textMessage(s.truncate(msg)) + bound.fields + scoped.fields + own.fields +
              (ids === undefined ? "" : ids.text) + "\n" + bound.stacks + scoped.stacks +
              own.stacks;
            if (color) textColor = line;
            else text = line;
          }
          if (slot.gate === undefined) slot.sink!.write(line, time);
          else if (!this.#gated(slot, source, line, time, level, context, line.length)) {
            (held ??= []).push(slot);
          }
        } else if (slot.kind === LOGFMT_LINES) {
          if (logfmt === undefined) {
            fieldsJson ??= this.#fieldsJson(source, boundSkip, context, contextSkip, fields);
            logfmt = this.#logfmtStart(source.tables, time, index) +
              textToken(s.truncate(msg)) + logfmtFields(fieldsJson, this.#dottedKeys) +
              (ids === undefined ? "" : this.#idsLogfmt(ids)) + "\n";
          }
          if (slot.gate === undefined) slot.sink!.write(logfmt, time);
          else if (!this.#gated(slot, source, logfmt, time, level, context, logfmt.length)) {
            (held ??= []).push(slot);
          }
        } else {
          if (recordFields === undefined) {
            fieldsJson ??= this.#fieldsJson(source, boundSkip, context, contextSkip, fields);
            recordFields = "{" + fieldsJson.slice(1) + "}";
          }
          // Each custom sink gets its own record: what one changes, the next never sees.
          const record: LogRecord = {
            time,
            level: LEVELS[index],
            namespace: source.tables.name,
            message: s.truncate(msg),
            fields: recordFields === "{}" ? {} : JSON.parse(recordFields),
          };
          if (ids !== undefined) {
            record.traceId = ids.traceId;
            record.spanId = ids.spanId;
          }
          if (slot.gate === undefined) callRecordSink(slot.record!, record, slot.label);
          else {
            const size = recordFields.length + record.message.length;
            if (!this.#gated(slot, source, record, time, level, context, size)) {
              (held ??= []).push(slot);
            }
          }
        }
      }
      s.endRecord(held);
    } catch (error) {
      this.#fallback(slots, i, source, level, msg, error);
    }
    // While the process ends, no timer writes a buffer out any more.
    if (level >= FATAL || isExiting()) this.flush();
    // Nothing above throws (#fallback and flush catch everything): no finally needed.
    emitDepth--;
    if (outer !== undefined) s.restoreRecord(outer);
    else if (nestedDropped > 0) reportNested();
  }

  /** A text line up to its message: time, level and namespace. */
  #textStart(tables: NameTables, color: boolean, time: number, index: number): string {
    const prefixes = color
      ? (tables.textColor ??= textPrefixes(tables.name, true))
      : (tables.text ??= textPrefixes(tables.name, false));
    return (color ? ANSI.dim + isoTime(time) : isoTime(time)) + prefixes[index];
  }

  /** A logfmt line up to its message value: time, level, namespace and the message key. */
  #logfmtStart(tables: NameTables, time: number, index: number): string {
    // textToken: a clock that returned NaN gives "Invalid Date", which has a space.
    return this.#logfmtHead + textToken(isoTime(time)) +
      (tables.logfmt ??= logfmtPrefixes(tables.name, this.#keys))[index];
  }

  /**
   * Hands a line or record to the slot's fingers-crossed gate, and writes what it lets
   * through: nothing (held), or the records a trigger released, then this one.
   *
   * @returns Whether this one was written (false: held).
   */
  #gated(
    slot: Slot,
    source: EmitSource,
    item: string | LogRecord,
    time: number,
    level: number,
    context: LogContext | undefined,
    size: number,
  ): boolean {
    const release = slot.gate!.offer(item, time, level, context, source.tables.name, size);
    if (release === undefined) return false;
    let items: unknown[] = [item];
    let times = [time];
    if (release !== PASS) {
      items = release.items;
      times = release.times;
      if (release.dropped > 0) {
        const at = times.length > 0 ? times[0] : time;
        items.unshift(this.#dropNotice(slot, source.tables, release.dropped, at));
        times.unshift(at);
      }
      items.push(item);
      times.push(time);
    }
    if (slot.record !== undefined) {
      for (const record of items) callRecordSink(slot.record, record as LogRecord, slot.label);
    } else if (items.length === 1) slot.sink!.write(item as string, time);
    else slot.sink!.writeBatch(items as string[], times);
    return true;
  }

  /**
   * The `warn` line or record that goes before the records a trigger released when some of
   * their buffers' records were dropped, in the slot's format, in the trigger's namespace.
   */
  #dropNotice(slot: Slot, tables: NameTables, dropped: number, time: number): string | LogRecord {
    const message = `fingersCrossed: ${dropped} earlier ${
      dropped === 1 ? "record was" : "records were"
    } dropped from the buffer`;
    switch (slot.kind) {
      case JSON_LINES:
        return this.#head + isoTime(time) + tables.json[WARN_INDEX] + jsonString(message) +
          `,"clog_dropped":${dropped}}\n`;
      case TEXT_LINES:
        return this.#textStart(tables, slot.color, time, WARN_INDEX) + message +
          ` clog_dropped=${dropped}\n`;
      case LOGFMT_LINES:
        return this.#logfmtStart(tables, time, WARN_INDEX) + textToken(message) +
          ` clog_dropped=${dropped}\n`;
      default:
        return {
          time,
          level: "warn",
          namespace: tables.name,
          message,
          fields: { clog_dropped: dropped },
        };
    }
  }

  /** Every field of a line as one JSON fragment: bound, context, call, each name once. */
  #fieldsJson(
    source: EmitSource,
    boundSkip: Set<string> | undefined,
    context: LogContext | undefined,
    contextSkip: Set<string> | undefined,
    fields: object | undefined,
  ): string {
    const s = this.serializer;
    return (boundSkip === undefined
      ? source.chindingsJson()
      : s.fields(source.boundFields(), 0, undefined, undefined, boundSkip)) +
      (context === undefined ? "" : this.#contextJson(context, contextSkip)) +
      (fields === undefined ? "" : s.callFields(fields));
  }

  /** The span ids' end of a JSON line, under the configured names. */
  #idsJson(ids: SpanIds): string {
    return this.#keys === DEFAULT_LINE_KEYS
      ? ids.json
      : spanIdsJson(this.#keys, ids.traceId, ids.spanId);
  }

  /** The span ids' end of a logfmt line, under the configured names. */
  #idsLogfmt(ids: SpanIds): string {
    return this.#keys === DEFAULT_LINE_KEYS
      ? ids.text
      : spanIdsLogfmt(this.#keys, ids.traceId, ids.spanId);
  }

  #contextJson(context: LogContext, skip: Set<string> | undefined): string {
    if (skip !== undefined) {
      return this.serializer.fields(context.fields, 0, undefined, undefined, skip);
    }
    if (context.cacheOwner !== this.serializer) this.#resetContext(context);
    return context.json;
  }

  #contextText(context: LogContext, color: boolean, skip: Set<string> | undefined): TextFields {
    if (skip !== undefined) return this.serializer.textFields(context.fields, color, skip);
    if (context.cacheOwner !== this.serializer) this.#resetContext(context);
    if (color) return context.textColor ??= this.serializer.textFields(context.fields, true);
    return context.text ??= this.serializer.textFields(context.fields, false);
  }

  #resetContext(context: LogContext): void {
    context.cacheOwner = this.serializer;
    context.json = this.serializer.fields(context.fields);
    context.text = undefined;
    context.textColor = undefined;
  }

  /**
   * Formatting failed (a bug, or a clock that threw): still give every remaining sink
   * what is known, as a JSON line or a record, and say so.
   */
  #fallback(
    slots: Slot[],
    from: number,
    source: EmitSource,
    level: number,
    msg: string,
    error: unknown,
  ): void {
    try {
      const time = Date.now();
      const name = LEVELS[level / 10 - 1];
      const namespace = source.tables.name;
      const message = this.serializer.truncate(msg);
      const clog_error = `formatting failed: ${safeString((error as Error)?.message ?? error)}`;
      const keys = this.#keys;
      const line = escapeJson(JSON.stringify({
        [keys.time]: new Date(time).toISOString(),
        [keys.level]: name,
        [keys.namespace]: namespace === "" ? undefined : namespace,
        [keys.message]: message,
        clog_error,
      })) + "\n";
      for (let i = from; i < slots.length; i++) {
        const slot = slots[i];
        if (level < slot.min) continue;
        if (slot.record === undefined) slot.sink?.write(line, time);
        else {
          const record = { time, level: name, namespace, message, fields: { clog_error } };
          callRecordSink(slot.record, record, slot.label);
        }
      }
    } catch (again) {
      reportInternalError("formatting", again);
    }
  }

  /** Writes out every buffered line, synchronously where the destination allows. */
  flush(): void {
    flushSlots(this.#slots);
  }

  /** Flushes and closes every sink; the core is silent afterwards. */
  async close(): Promise<void> {
    const slots = this.#slots;
    this.#slots = [];
    this.#sinkMin = LEVEL_OFF;
    this.config = undefined;
    this.#syncExitHook();
    this.#tables.clear();
    this.gen++;
    await Promise.all(slots.map((slot) => slot.sink?.close()));
  }
}

/**
 * The `levels` of a config by the full namespaces their keys stand for, the most specific
 * first. A key is a namespace below the service root (`"coord"` is `im-logic.coord`), and
 * one that starts with the service root may also be the full namespace itself: both are
 * matched, as the config says.
 */
function levelsByNamespace(
  levels: Readonly<Record<string, LogLevel>>,
  service: string,
): [string, number][] {
  const byNamespace: [string, number][] = [];
  for (const [key, level] of Object.entries(levels)) {
    const value = LEVEL_VALUES[level];
    if (service === "") {
      byNamespace.push([key, value]);
      continue;
    }
    byNamespace.push([`${service}.${key}`, value]);
    if (key === service || key.startsWith(service + ".")) byNamespace.push([key, value]);
  }
  // Every namespace that matches one name is a prefix of it: the longest is the deepest.
  return byNamespace.sort((a, b) => b[0].length - a[0].length);
}

const hasOwn = Object.prototype.hasOwnProperty;
const isEnumerable = Object.prototype.propertyIsEnumerable;

/**
 * The names among `keys` (a group of fields) that a later group, `a` or `b`, has too: only
 * the later group writes them. Undefined when there are none, the common case.
 */
function overridden(
  keys: readonly string[],
  a: object | undefined,
  b?: object,
): Set<string> | undefined {
  if (a === undefined && b === undefined) return undefined;
  let found: Set<string> | undefined;
  try {
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      // hasOwnProperty first, far cheaper than propertyIsEnumerable: a miss is the rule.
      if (
        (a !== undefined && hasOwn.call(a, key) && isEnumerable.call(a, key)) ||
        (b !== undefined && hasOwn.call(b, key) && isEnumerable.call(b, key))
      ) {
        (found ??= new Set()).add(key);
      }
    }
  } catch {
    // Fields that cannot be inspected (a proxy that throws): the serializer reports them.
  }
  return found;
}

function flushSlots(slots: readonly Slot[]): void {
  for (const slot of slots) {
    try {
      slot.sink?.flush();
    } catch (error) {
      reportInternalError("flush", error);
    }
  }
}

function callRecordSink(sink: RecordSink, record: LogRecord, label: string): void {
  try {
    const result = sink(record);
    if (result !== undefined && typeof (result as Promise<void>).then === "function") {
      (result as Promise<void>).then(undefined, (error) => reportInternalError(label, error));
    }
  } catch (error) {
    reportInternalError(label, error);
  }
}
