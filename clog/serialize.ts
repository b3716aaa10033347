/**
 * Turning field values into JSON (and into `key=value` text) without ever throwing.
 *
 * The common cases (strings, numbers, booleans, flat objects) are written by hand: a
 * regular expression tells whether a string needs escaping, and the `,"key":` prefix of
 * each field name is built once and cached. Everything JSON cannot express gets a
 * readable form instead of an exception: BigInt → decimal string, symbols and functions →
 * their description, circular references → `"[Circular]"`, `undefined` members → omitted,
 * non-finite numbers → `"NaN"`/`"Infinity"`, errors → `{name, message, code…, stack, cause}`.
 * Web `Request`s, `Response`s and `Headers` are written as their method, url, status and
 * headers (never their bodies). A getter, `toJSON`, proxy or field serializer that throws
 * yields `"[Thrown: …]"` for that value only.
 *
 * @module
 */

import type { FieldSerializer } from "./types.ts";

/**
 * What a JSON string literal may not hold raw (C0 controls, `"`, `\`; surrogates, escaped
 * by `JSON.stringify` when lone), and what it may hold but is escaped all the same: DEL and
 * the C1 controls, which a terminal obeys (U+009B starts an ANSI sequence), and U+2028 and
 * U+2029, line breaks to JavaScript and to some log viewers.
 */
// deno-lint-ignore no-control-regex -- control characters are exactly what is escaped
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\u007f-\u009f\u2028\u2029\ud800-\udfff]/;
/** Of those, what `JSON.stringify` leaves raw. */
const RAW_AFTER_STRINGIFY = /[\u007f-\u009f\u2028\u2029]/g;
/**
 * A text (or logfmt) value that can be written without quotes: no whitespace, `"`, `=`,
 * `\`, control character or lone surrogate (which UTF-8 cannot carry; quoting escapes it).
 */
// deno-lint-ignore no-control-regex -- control characters must be quoted
const BARE_TEXT = /^[^\s"=\\\u0000-\u001f\u007f-\u009f\ud800-\udfff]+$/u;
/**
 * C0 and C1 control characters and DEL: in a text line they would start a new (forged)
 * line or drive the terminal (ANSI escapes, including the 8-bit CSI U+009B).
 */
// deno-lint-ignore no-control-regex -- control characters are exactly what is looked for
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// deno-lint-ignore no-control-regex -- control characters are exactly what is looked for
const CONTROL_ALL = /[\u0000-\u001f\u007f-\u009f]/g;
const MAX_DEPTH = 8;
const MAX_ITEMS = 1000;
/** The fields of one line are cut beyond this many times `maxLength` characters. */
const LINE_LENGTH_FACTOR = 64;
/** Where the fields of a line were cut because the line grew too long. */
const LINE_FULL = "[truncated: line size limit]";
const MAX_CAUSES = 8;
/** Field names cached; beyond this (dynamic keys) prefixes are rebuilt per use. */
const KEY_CACHE_LIMIT = 4096;
/** Distinct stacks remembered for the stack cooldown; past it, the memory starts over. */
const STACK_CACHE_LIMIT = 1024;
/** Longer field names are not cached: a few huge dynamic keys must not pin megabytes. */
const CACHED_KEY_LENGTH = 256;
const REDACTED = "[REDACTED]";
/** The line's own members by default (see `format.ts`), which no field may pass for. */
const LINE_KEYS: readonly string[] = ["time", "level", "namespace", "msg", "trace_id", "span_id"];
const RENAMED = "fields.";

const hasOwn = Object.prototype.hasOwnProperty;
/** Members of an error written in their own place, not among its other properties. */
const ERROR_KEYS: ReadonlySet<string> = new Set(["name", "message", "stack", "cause"]);
const objectToString = Object.prototype.toString;

const WebHeaders: typeof Headers | undefined = globalThis.Headers;
const WebRequest: typeof Request | undefined = globalThis.Request;
const WebResponse: typeof Response | undefined = globalThis.Response;

function isError(value: object): value is Error {
  return value instanceof Error || objectToString.call(value) === "[object Error]";
}

/** `String(value)`, or a placeholder when that throws. */
export function safeString(value: unknown): string {
  try {
    return typeof value === "symbol" ? value.toString() : String(value);
  } catch {
    return "[unprintable]";
  }
}

function escapeControl(c: string): string {
  return "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
}

/**
 * JSON text from `JSON.stringify` with DEL, the C1 controls, U+2028 and U+2029 escaped as
 * well: the same JSON value, with no control or line-separator character left raw.
 *
 * @param json JSON text.
 * @returns The same value, escaped.
 */
export function escapeJson(json: string): string {
  return json.replace(RAW_AFTER_STRINGIFY, escapeControl);
}

/**
 * `s` as a JSON string literal in which no control or line-separator character is left
 * raw (see {@link escapeJson}); plain strings take no detour through `JSON.stringify`.
 *
 * @param s The string.
 * @returns Its literal, quotes included.
 */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? escapeJson(JSON.stringify(s)) : '"' + s + '"';
}

/**
 * A key, value or namespace for a text line: bare when it is one plain word, otherwise
 * quoted and escaped like a JSON string, so it can neither end the line nor pass for
 * another `key=value`.
 *
 * @param s The token.
 * @returns `s` or its quoted form.
 */
export function textToken(s: string): string {
  return BARE_TEXT.test(s) ? s : jsonString(s);
}

/**
 * A message for a text line: as it is when it holds no control character (spaces are
 * fine, it is the rest of the line), otherwise quoted and escaped, so one call is one line.
 *
 * @param s The (truncated) message.
 * @returns `s` or its quoted form.
 */
export function textMessage(s: string): string {
  return CONTROL.test(s) ? jsonString(s) : s;
}

function redactedEntry(key: string): string {
  return "," + jsonString(key) + ':"' + REDACTED + '"';
}

function thrown(error: unknown): string {
  let message: string;
  try {
    message = error instanceof Error ? error.message : String(error);
  } catch {
    message = "?";
  }
  return `[Thrown: ${message}]`;
}

/** `object[key]`, or `"[Thrown: …]"` when reading it throws (a getter, a proxy trap). */
function member(object: object, key: string): unknown {
  try {
    return (object as Record<string, unknown>)[key];
  } catch (error) {
    return thrown(error);
  }
}

/** Why an object's members are missing: enumerating them threw. */
function unreadable(error: unknown): string {
  return `fields could not be read: ${thrown(error)}`;
}

/**
 * A copy of the own enumerable members of `fields`, read as the serializer reads them: a
 * member whose getter throws becomes `"[Thrown: …]"`, and an object that cannot be
 * enumerated at all (a proxy) becomes `{ clog_error }`. For fields kept for later lines
 * (bound fields, context fields), which the caller may change afterwards. A member named
 * `__proto__` is copied as a member (assigning it would set the copy's prototype). Never
 * throws.
 *
 * @param fields What was passed as fields.
 * @returns The copy; `{}` for anything that is not an object.
 */
export function copyFields(fields: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  if (fields === null || typeof fields !== "object") return copy;
  try {
    for (const key in fields) {
      if (!hasOwn.call(fields, key)) continue;
      const value = member(fields, key);
      // Not Object.create(null): V8 keeps objects without a prototype in its slow mode.
      if (key === "__proto__") {
        Object.defineProperty(copy, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else copy[key] = value;
    }
  } catch (error) {
    copy.clog_error = unreadable(error);
  }
  return copy;
}

/** A group of fields in the text format: what goes on the line, and what goes below it. */
export interface TextFields {
  /** ` key=value` pairs. */
  readonly fields: string;
  /** Indented stacks of the errors among the fields, each line ending with a newline. */
  readonly stacks: string;
}

/** No fields. */
export const NO_TEXT_FIELDS: TextFields = { fields: "", stacks: "" };

/**
 * Two groups of fields in the text format, `a`'s first.
 *
 * @param a The first group.
 * @param b The second group.
 * @returns Both.
 */
export function joinTextFields(a: TextFields, b: TextFields): TextFields {
  if (b === NO_TEXT_FIELDS) return a;
  if (a === NO_TEXT_FIELDS) return b;
  return { fields: a.fields + b.fields, stacks: a.stacks + b.stacks };
}

/** The first items of `set`, one more than are written (so the writer knows there are more). */
function firstItems(set: Set<unknown>): unknown[] {
  const items: unknown[] = [];
  for (const item of set) {
    if (items.length > MAX_ITEMS) break;
    items.push(item);
  }
  return items;
}

/** A sink as the stack cooldown sees it: one destination, with its minimum level value. */
export interface StackSink {
  /** The lowest level value it takes. */
  readonly min: number;
}

/**
 * What a {@link Serializer} knows of the record being emitted, saved while a record is
 * emitted during it (a sink that logs) and put back after, so that the outer record's
 * stack cooldown goes on as if nothing had come between.
 */
export interface RecordState {
  /** The record's time. */
  readonly time: number;
  /** Its level value. */
  readonly level: number;
  /** The configuration's sinks. */
  readonly sinks: readonly StackSink[];
  /** Stacks it writes in full, so far. */
  readonly fullStacks: string[] | undefined;
  /** Whether a call's fields were being written. */
  readonly cooling: boolean;
}

/**
 * Serializes values with one configuration (redacted keys, value length limit). Create a
 * new one when the configuration changes; its key cache belongs to that configuration.
 *
 * Sizes are bounded as they are written, not measured first: strings and keys are cut
 * at `maxLength`, objects, maps and arrays at 1,000 members, nesting at 8 levels, and each
 * group of fields (bound, context, call) at 64 × `maxLength` characters, so an object
 * whose parts are shared many times over cannot expand into a huge line.
 */
export class Serializer {
  /** Strings and keys longer than this are cut. */
  readonly maxLength: number;
  /** How long a stack written in full is not written again for a call's fields, in ms. */
  readonly stackCooldownMs: number;
  /** Stacks written in full lately: when, and which sinks were handed that line. */
  readonly #stacksWritten = new Map<string, { time: number; sinks: ReadonlySet<StackSink> }>();
  /** The time of the record being emitted, its level and the configuration's sinks. */
  #recordTime = 0;
  #level = 0;
  #sinks: readonly StackSink[] = [];
  /** Stacks the record being emitted writes in full, remembered once its sinks are known. */
  #fullStacks: string[] | undefined;
  /** Whether the fields being written are a call's (the stack cooldown applies). */
  #cooling = false;
  /** The dependencies' serializers by field name; undefined when there are none. */
  readonly #serializers: ReadonlyMap<string, FieldSerializer> | undefined;
  /** A group of fields stops taking members beyond this length. */
  readonly maxFieldsLength: number;
  readonly #redact: Set<string>;
  /** member name → its `,"name":` prefix, or null when the member is redacted */
  readonly #keys = new Map<string, string | null>();
  /** The same for the line's fields, whose names go through {@link Serializer.lineKey}. */
  readonly #lineKeys = new Map<string, string | null>();
  /** The line's own member names, which no field may pass for. */
  readonly #lineMembers: ReadonlySet<string>;

  /**
   * @param redactKeys Field names to redact, matched case-insensitively.
   * @param maxLength String length limit.
   * @param stackCooldownMs See {@link Serializer.stackCooldownMs}; 0 writes every stack.
   * @param serializers Functions turning the value of the line's field of their name into
   *   what is written instead.
   * @param lineMembers The names of the line's own members (`time`, `msg`…).
   */
  constructor(
    redactKeys: readonly string[],
    maxLength: number,
    stackCooldownMs = 0,
    serializers: Readonly<Record<string, FieldSerializer>> = {},
    lineMembers: readonly string[] = LINE_KEYS,
  ) {
    this.#lineMembers = new Set(lineMembers);
    this.#redact = new Set(redactKeys.map((key) => key.toLowerCase()));
    this.maxLength = maxLength;
    this.maxFieldsLength = LINE_LENGTH_FACTOR * maxLength;
    this.stackCooldownMs = stackCooldownMs;
    const named = Object.entries(serializers).filter(([, fn]) => typeof fn === "function");
    this.#serializers = named.length === 0 ? undefined : new Map(named);
  }

  /** What `key`'s serializer makes of `value` (a throw costs this field only). */
  #serialized(key: string, value: unknown): unknown {
    const serializer = this.#serializers!.get(key);
    if (serializer === undefined) return value;
    try {
      return serializer(value);
    } catch (error) {
      return thrown(error);
    }
  }

  /**
   * The name a field of the line is written under: its own, or `fields.<name>` when it is
   * the name of one of the line's own members (`time`, `level`, `namespace`, `msg`,
   * `trace_id`, `span_id`, or the config's `jsonKeys`), as logrus does. A name that already
   * reads `fields.<that name>` gets one more `fields.` too, so two fields never end up with
   * the same name.
   *
   * @param key The field's name.
   * @returns The name it is written under.
   */
  lineKey(key: string): string {
    let bare = key;
    while (bare.startsWith(RENAMED)) bare = bare.slice(RENAMED.length);
    return this.#lineMembers.has(bare) ? RENAMED + key : key;
  }

  /**
   * A new record, logged at `time` at `level`, is being emitted: its call fields come next.
   * It goes to those of `sinks` whose minimum level it reaches.
   */
  startRecord(time: number, level: number, sinks: readonly StackSink[]): void {
    this.#recordTime = time;
    this.#level = level;
    this.#sinks = sinks;
    this.#fullStacks = undefined;
    this.#cooling = false;
  }

  /** The state of the record being emitted, for {@link Serializer.restoreRecord}. */
  recordState(): RecordState {
    return {
      time: this.#recordTime,
      level: this.#level,
      sinks: this.#sinks,
      fullStacks: this.#fullStacks,
      cooling: this.#cooling,
    };
  }

  /** Goes back to the record of `state`, after a record emitted while it was. */
  restoreRecord(state: RecordState): void {
    this.#recordTime = state.time;
    this.#level = state.level;
    this.#sinks = state.sinks;
    this.#fullStacks = state.fullStacks;
    this.#cooling = state.cooling;
  }

  /**
   * The record's lines were handed to its sinks, except to `held` (sinks that keep them
   * back, and may drop them): the stacks they have in full count as written for the others.
   */
  endRecord(held: readonly StackSink[] | undefined): void {
    const stacks = this.#fullStacks;
    if (stacks === undefined) return;
    this.#fullStacks = undefined;
    const got = new Set<StackSink>();
    for (const sink of this.#sinks) {
      if (this.#level >= sink.min && held?.includes(sink) !== true) got.add(sink);
    }
    if (got.size === 0) return;
    for (const stack of stacks) {
      if (this.#stacksWritten.size >= STACK_CACHE_LIMIT && !this.#stacksWritten.has(stack)) {
        this.#stacksWritten.clear();
      }
      this.#stacksWritten.set(stack, { time: this.#recordTime, sinks: got });
    }
  }

  /**
   * {@link Serializer.fields} for the fields the current record's log call passed: a stack
   * that every sink of the record was handed in full, in one line less than
   * {@link Serializer.stackCooldownMs} before, is replaced by a pointer to that line. Bound
   * and context fields are cached across lines, so they keep their stacks.
   */
  callFields(fields: object): string {
    // No try/finally on the hot path: fields() does not throw at the top level, and the
    // next record resets the flag anyway.
    this.#cooling = true;
    const out = this.fields(fields);
    this.#cooling = false;
    return out;
  }

  /** {@link Serializer.textFields} with the stack cooldown of {@link Serializer.callFields}. */
  callTextFields(fields: object, color: boolean): TextFields {
    this.#cooling = true;
    const out = this.textFields(fields, color);
    this.#cooling = false;
    return out;
  }

  /**
   * `stack`, or, when every sink of the record got it in full in one line within the
   * cooldown, the time of that line. The window runs from the full write, so a burst of
   * the same error writes its stack once per cooldown (go-zero's `StackCooldownMillis`).
   * The memory changes only in {@link Serializer.endRecord}, so every format of one record
   * decides alike.
   */
  #stack(stack: string): string {
    if (!this.#cooling || this.stackCooldownMs === 0) return stack;
    const last = this.#stacksWritten.get(stack);
    if (last !== undefined) {
      const age = this.#recordTime - last.time;
      if (age >= 0 && age < this.stackCooldownMs && this.#allGot(last.sinks)) {
        return `[same stack as the line at ${new Date(last.time).toISOString()}]`;
      }
    }
    const stacks = this.#fullStacks ??= [];
    if (!stacks.includes(stack)) stacks.push(stack);
    return stack;
  }

  /** Whether every sink the record goes to is among `sinks`. */
  #allGot(sinks: ReadonlySet<StackSink>): boolean {
    for (const sink of this.#sinks) {
      if (this.#level >= sink.min && !sinks.has(sink)) return false;
    }
    return true;
  }

  /** `s`, cut to the length limit when longer, never inside a surrogate pair. */
  truncate(s: string): string {
    if (s.length <= this.maxLength) return s;
    let end = this.maxLength;
    const last = s.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end--;
    return `${s.slice(0, end)}…[truncated ${s.length - end} chars]`;
  }

  /** The JSON string literal of `s`, truncated. */
  string(s: string): string {
    if (s.length > this.maxLength) s = this.truncate(s);
    return jsonString(s);
  }

  /**
   * `,"key":` (`,"fields.key":` for a field of the line named like one of its own members),
   * or null when a member named `key` is redacted.
   */
  #prefix(key: string, line: boolean): string | null {
    const cache = line ? this.#lineKeys : this.#keys;
    let prefix = cache.get(key);
    if (prefix === undefined) {
      prefix = this.#redact.has(key.toLowerCase())
        ? null
        : "," + jsonString(this.truncate(line ? this.lineKey(key) : key)) + ":";
      if (cache.size < KEY_CACHE_LIMIT && key.length <= CACHED_KEY_LENGTH) {
        cache.set(key, prefix);
      }
    }
    return prefix;
  }

  /** Whether a field named `key` is redacted. */
  isRedacted(key: string): boolean {
    return this.#prefix(key, true) === null;
  }

  /**
   * The members of `fields` as a JSON fragment, each preceded by a comma
   * (`,"a":1,"b":"x"`), or `""` when there are none: at most 1,000 of them, and none
   * after `room` characters, a last `"…"` member saying what was left out. At the top level
   * (fields of the line), names go through {@link Serializer.lineKey}, and it never throws: fields
   * that cannot be enumerated give a `clog_error` member.
   *
   * @param fields The object whose own members are written.
   * @param depth Nesting depth of the members' values.
   * @param seen Objects enclosing `fields` (for cycles); undefined at the top level.
   * @param room Characters the fragment may take before it stops taking members.
   * @param skip Members written elsewhere (an error's name, message, stack, cause; fields
   *   of the line that a later group of fields overrides).
   */
  fields(
    fields: object,
    depth = 0,
    seen?: object[],
    room: number = this.maxFieldsLength,
    skip?: ReadonlySet<string>,
  ): string {
    // One loop for top-level fields and nested objects alike; it is the hot path of
    // every log call, so the reads stay inline.
    let out = "";
    let count = 0;
    const line = seen === undefined;
    const serializers = line ? this.#serializers : undefined;
    try {
      for (const key in fields) {
        if (!hasOwn.call(fields, key) || skip?.has(key)) continue;
        if (count === MAX_ITEMS || out.length >= room) {
          out += ',"…":' + this.string(
            count === MAX_ITEMS ? `${Object.keys(fields).length - count} more keys` : LINE_FULL,
          );
          break;
        }
        count++;
        let value: unknown;
        try {
          value = (fields as Record<string, unknown>)[key];
        } catch (error) {
          value = thrown(error);
        }
        if (serializers !== undefined) value = this.#serialized(key, value);
        if (value === undefined) continue;
        const prefix = this.#prefix(key, line);
        if (prefix === null) out += redactedEntry(line ? this.lineKey(key) : key);
        else if (typeof value === "string") out += prefix + this.string(value);
        else out += prefix + this.value(value, depth, seen, room - out.length);
      }
    } catch (error) {
      // A nested object that cannot be enumerated is written as "[Thrown: …]" as a whole.
      if (seen !== undefined) throw error;
      out += ',"clog_error":' + this.string(unreadable(error));
    }
    return out;
  }

  /** `,"key":<value>`, redacted when the key says so, `""` for undefined. */
  #entry(
    key: string,
    value: unknown,
    depth: number,
    seen: object[] | undefined,
    room: number,
  ): string {
    if (value === undefined) return "";
    const prefix = this.#prefix(key, false);
    return prefix === null ? redactedEntry(key) : prefix + this.value(value, depth, seen, room);
  }

  /**
   * The JSON of any value, or `undefined` for `undefined` (an omitted member). Never throws.
   *
   * @param value The value.
   * @param depth Nesting depth of `value`.
   * @param seen Objects enclosing `value` (for cycles).
   * @param room Characters left for the group of fields `value` is part of.
   */
  value(
    value: unknown,
    depth = 0,
    seen?: object[],
    room: number = this.maxFieldsLength,
  ): string | undefined {
    switch (typeof value) {
      case "string":
        return this.string(value);
      case "number":
        return Number.isFinite(value) ? "" + value : '"' + value + '"';
      case "boolean":
        return value ? "true" : "false";
      case "undefined":
        return undefined;
      case "bigint":
        return '"' + value.toString() + '"';
      case "symbol":
        return this.string(value.toString());
      case "function":
        return this.string(`[Function ${safeString(value.name) || "anonymous"}]`);
      default:
        if (value === null) return "null";
        return this.#object(value as object, depth, seen, room);
    }
  }

  #object(value: object, depth: number, seen: object[] | undefined, room: number): string {
    if (seen === undefined) seen = [];
    else if (seen.includes(value)) return '"[Circular]"';
    if (depth >= MAX_DEPTH) return Array.isArray(value) ? '"[Array]"' : '"[Object]"';
    seen.push(value);
    try {
      return this.#objectBody(value, depth, seen, room);
    } catch (error) {
      return this.string(thrown(error));
    } finally {
      seen.pop();
    }
  }

  #objectBody(value: object, depth: number, seen: object[], room: number): string {
    if (Array.isArray(value)) return this.#array(value, value.length, depth, seen, room);
    if (isError(value)) return this.#error(value, depth, seen, room);
    if (value instanceof Date) {
      return Number.isNaN(value.getTime()) ? '"Invalid Date"' : '"' + value.toISOString() + '"';
    }
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
      const name = safeString(value.constructor?.name ?? "ArrayBuffer");
      return this.string(`[${name} ${value.byteLength} bytes]`);
    }
    if (value instanceof Map) {
      let out = "";
      let count = 0;
      for (const [key, item] of value) {
        if (count === MAX_ITEMS || out.length >= room) {
          out += ',"…":' + this.string(
            count === MAX_ITEMS ? `${value.size - MAX_ITEMS} more entries` : LINE_FULL,
          );
          break;
        }
        count++;
        const name = typeof key === "string" ? key : safeString(key);
        out += this.#entry(name, item, depth + 1, seen, room - out.length);
      }
      return out === "" ? "{}" : "{" + out.slice(1) + "}";
    }
    if (value instanceof Set) {
      return this.#array(firstItems(value), value.size, depth, seen, room);
    }
    // Web requests, responses and headers keep their data in internal slots, not in own
    // members: written as plain objects they would be `{}`. Bodies are never read.
    if (WebHeaders !== undefined && value instanceof WebHeaders) {
      return this.#objectBody(new Map(value), depth, seen, room);
    }
    if (WebRequest !== undefined && value instanceof WebRequest) {
      const request = { method: value.method, url: value.url, headers: value.headers };
      return "{" + this.fields(request, depth + 1, seen, room).slice(1) + "}";
    }
    if (WebResponse !== undefined && value instanceof WebResponse) {
      const response: Record<string, unknown> = { status: value.status };
      if (value.statusText !== "") response.statusText = value.statusText;
      if (value.url !== "") response.url = value.url;
      response.headers = value.headers;
      return "{" + this.fields(response, depth + 1, seen, room).slice(1) + "}";
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") {
      return this.value(toJSON.call(value), depth + 1, seen, room) ?? "null";
    }
    const out = this.fields(value, depth + 1, seen, room);
    return out === "" ? "{}" : "{" + out.slice(1) + "}";
  }

  /** `value` (of `total` items, for a set only the first ones) as a JSON array. */
  #array(value: unknown[], total: number, depth: number, seen: object[], room: number): string {
    const length = Math.min(value.length, MAX_ITEMS);
    let out = "[";
    for (let i = 0; i < length; i++) {
      if (i > 0) out += ",";
      if (out.length >= room) return out + this.string(LINE_FULL) + "]";
      let item: unknown;
      try {
        item = value[i];
      } catch (error) {
        item = thrown(error);
      }
      out += this.value(item, depth + 1, seen, room - out.length) ?? "null";
    }
    if (total > MAX_ITEMS) {
      out += "," + this.string(`… ${total - MAX_ITEMS} more items`);
    }
    return out + "]";
  }

  /** Each part is read on its own: a getter that throws costs that part, not the error. */
  #error(error: Error, depth: number, seen: object[], room: number): string {
    let out = ',"name":' + this.string(safeString(member(error, "name"))) +
      ',"message":' + this.string(safeString(member(error, "message")));
    out += this.fields(error, depth + 1, seen, room - out.length, ERROR_KEYS);
    const stack = member(error, "stack");
    if (typeof stack === "string") out += ',"stack":' + this.string(this.#stack(stack));
    const errors = error instanceof AggregateError ? member(error, "errors") : undefined;
    if (Array.isArray(errors)) {
      out += ',"errors":' + this.#array(errors, errors.length, depth, seen, room - out.length);
    }
    const cause = member(error, "cause");
    if (cause !== undefined) {
      out += ',"cause":' + (this.value(cause, depth + 1, seen, room - out.length) ?? "null");
    }
    return "{" + out.slice(1) + "}";
  }

  /**
   * The members of `fields` as ` key=value` text. Keys and strings that are one plain word
   * are written bare, other ones quoted and escaped ({@link textToken}); objects as JSON.
   * Errors at the top level are written as `"Name: message"`, and their stacks (with
   * causes) go to {@link TextFields.stacks}, for the lines below. Names go through
   * {@link Serializer.lineKey}, as in JSON lines. Never throws.
   *
   * @param fields The fields.
   * @param color Whether keys are dimmed with ANSI codes.
   * @param skip Fields that a later group of fields overrides.
   */
  textFields(fields: object, color: boolean, skip?: ReadonlySet<string>): TextFields {
    let out = "";
    let count = 0;
    const stacks: string[] = [];
    try {
      for (const key in fields) {
        if (!hasOwn.call(fields, key) || skip?.has(key)) continue;
        if (count === MAX_ITEMS || out.length >= this.maxFieldsLength) {
          out += " …=" + jsonString(
            count === MAX_ITEMS ? `${Object.keys(fields).length - count} more keys` : LINE_FULL,
          );
          break;
        }
        count++;
        let value = member(fields, key);
        if (this.#serializers !== undefined) value = this.#serialized(key, value);
        if (value === undefined) continue;
        const token = textToken(this.truncate(this.lineKey(key)));
        const name = color ? `\x1b[2m${token}=\x1b[22m` : `${token}=`;
        if (this.isRedacted(key)) {
          out += " " + name + REDACTED;
          continue;
        }
        out += " " + name + this.#textValue(value, stacks);
      }
    } catch (error) {
      out += " clog_error=" + this.string(unreadable(error));
    }
    return { fields: out, stacks: stacks.join("") };
  }

  #textValue(value: unknown, stacks: string[]): string {
    switch (typeof value) {
      case "string": {
        return textToken(this.truncate(value));
      }
      case "number":
      case "boolean":
      case "bigint":
        return String(value);
      default: {
        try {
          if (value !== null && typeof value === "object" && isError(value)) {
            stacks.push(this.#stacks(value));
            const code = member(value, "code");
            const head = `${safeString(member(value, "name"))}: ${
              safeString(member(value, "message"))
            }`;
            return jsonString(
              this.truncate(code === undefined ? head : `${head} (code ${safeString(code)})`),
            );
          }
        } catch (error) {
          return jsonString(thrown(error));
        }
        return this.value(value) ?? "undefined";
      }
    }
  }

  /** The stack of `error` and of its causes, indented below the line. */
  #stacks(error: Error): string {
    let out = "";
    let current: unknown = error;
    const seen: unknown[] = [];
    for (let i = 0; i < MAX_CAUSES && current != null && !seen.includes(current); i++) {
      seen.push(current);
      let text: string;
      if (typeof current === "object") {
        const stack = member(current, "stack");
        text = typeof stack === "string"
          ? this.#stack(stack)
          : `${safeString(member(current, "name"))}: ${safeString(member(current, "message"))}`;
        current = member(current, "cause");
      } else {
        text = safeString(current);
        current = undefined;
      }
      // Split first: the stack keeps its own lines, but no other control character.
      const lines = this.truncate(text).split("\n").map((line) =>
        CONTROL.test(line) ? line.replace(CONTROL_ALL, escapeControl) : line
      );
      out += (i === 0 ? "    " : "    Caused by: ") + lines[0] + "\n";
      for (let j = 1; j < lines.length; j++) out += "    " + lines[j] + "\n";
    }
    return out;
  }
}
