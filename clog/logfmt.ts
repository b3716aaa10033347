/**
 * The logfmt line format: `time=… level=info namespace=a.b msg="user loaded" user_id=42`.
 *
 * The fields of a logfmt line are made from their JSON fragment (the one a JSON line of the
 * same record gets), so redaction, truncation, size limits, serializers and error handling
 * are the JSON format's by construction. Objects are flattened into dotted keys
 * (`user.id=7`, `err.cause.message=…`); arrays and empty objects are written as their JSON.
 * A value is bare when it is one plain word and otherwise quoted and escaped like a JSON
 * string; a key is never quoted (logfmt parsers do not read quoted keys): a character that
 * would end it is percent-encoded as its UTF-8 bytes (`user id` → `user%20id`; a lone
 * surrogate, which UTF-8 cannot carry, as U+FFFD's, `%EF%BF%BD`). Keys never clash: a
 * flattened key the line already has (`fields.level`, for a field `level`, and from
 * `fields: { level }`) gets one more `fields.` in front (`fields.fields.level`).
 *
 * @module
 */

import type { LineKeys } from "./format.ts";
import { LEVELS } from "./levels.ts";
import { textToken } from "./serialize.ts";

/**
 * What a logfmt key may not hold raw: whitespace, `"`, `=`, `%` (the escape itself), the C0
 * and C1 controls, DEL and lone surrogates.
 */
// deno-lint-ignore no-control-regex -- control characters are exactly what is escaped
const KEY_UNSAFE = /[\s"=%\u0000-\u001f\u007f-\u009f]|[\ud800-\udfff]/u;
// deno-lint-ignore no-control-regex -- control characters are exactly what is escaped
const KEY_UNSAFE_ALL = /[\s"=%\u0000-\u001f\u007f-\u009f]|[\ud800-\udfff]/gu;
const encoder = new TextEncoder();

function percentEncode(char: string): string {
  let out = "";
  for (const byte of encoder.encode(char)) {
    out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/**
 * `name` as a logfmt key: as it is, or with each character that would end it
 * percent-encoded. A field with an empty name is written as `fields.` (the prefix of
 * renamed fields, so it cannot pass for another).
 *
 * @param name The key.
 * @returns A key no logfmt parser misreads.
 */
export function logfmtKey(name: string): string {
  if (name === "") return "fields.";
  return KEY_UNSAFE.test(name) ? name.replace(KEY_UNSAFE_ALL, percentEncode) : name;
}

/** The start of a logfmt line, up to the time value: `time=`. */
export function logfmtHead(keys: LineKeys): string {
  return logfmtKey(keys.time) + "=";
}

/**
 * The part of a logfmt line between the time value and the message value, per level:
 * ` level=info namespace=a.b msg=`.
 */
export function logfmtPrefixes(namespace: string, keys: LineKeys): string[] {
  const ns = namespace === "" ? "" : " " + logfmtKey(keys.namespace) + "=" + textToken(namespace);
  const level = " " + logfmtKey(keys.level) + "=";
  const msg = " " + logfmtKey(keys.message) + "=";
  return LEVELS.map((name) => level + name + ns + msg);
}

/** The trace and span ids as the end of a logfmt line: ` trace_id=… span_id=…`. */
export function spanIdsLogfmt(keys: LineKeys, traceId: string, spanId: string): string {
  return " " + logfmtKey(keys.traceId) + "=" + traceId + " " + logfmtKey(keys.spanId) + "=" +
    spanId;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** The index after the JSON string literal that starts at `at`. */
function stringEnd(json: string, at: number): number {
  for (let i = at + 1; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return json.length;
}

/** The index after the JSON value that starts at `at`. */
function valueEnd(json: string, at: number): number {
  const first = json.charCodeAt(at);
  if (first === QUOTE) return stringEnd(json, at);
  if (first !== OPEN_OBJECT && first !== OPEN_ARRAY) {
    let i = at;
    while (i < json.length) {
      const c = json.charCodeAt(i);
      if (c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY) break;
      i++;
    }
    return i;
  }
  let depth = 0;
  for (let i = at; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(json, i) - 1;
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) depth++;
    else if ((c === CLOSE_OBJECT || c === CLOSE_ARRAY) && --depth === 0) return i + 1;
  }
  return json.length;
}

/** The string a JSON string literal stands for. */
function literalValue(literal: string): string {
  return literal.indexOf("\\") < 0 ? literal.slice(1, -1) : JSON.parse(literal);
}

/**
 * A JSON string literal as a logfmt value: bare when its string is one plain word, else the
 * literal itself, which is already quoted and escaped as logfmt wants (an escape in it
 * means a character no bare value may hold).
 */
function literalToken(literal: string): string {
  if (literal.indexOf("\\") >= 0) return literal;
  const value = literal.slice(1, -1);
  return textToken(value) === value ? value : literal;
}

/** A logfmt line's fields as they are being written. */
interface Flattened {
  /** The pairs so far. */
  out: string;
  /**
   * The dotted keys on the line so far, made on the first one. Only they can clash: the
   * names of one JSON object are distinct, and a dotless one is never made by flattening.
   */
  dotted: Set<string> | undefined;
}

/**
 * `name` as a key the line does not have yet: a dotted key an earlier pair of the line
 * took (`"fields.level"` renamed from `level`, and a `fields: { level }` flattened) gets
 * one more `fields.` in front until it is free, as the name of a field that reads like
 * one of the line's own members does in JSON lines.
 */
function freeKey(name: string, line: Flattened): string {
  let key = logfmtKey(name);
  if (key.indexOf(".") < 0) return key;
  const dotted = line.dotted ??= new Set();
  while (dotted.has(key)) {
    name = "fields." + name;
    key = logfmtKey(name);
  }
  dotted.add(key);
  return key;
}

/**
 * Appends the members of the JSON object whose first member starts at `at` (just after its
 * `{`), flattened under `prefix`, to `line`.
 *
 * @returns The index after the object.
 */
function flatten(json: string, at: number, prefix: string, line: Flattened): number {
  let i = at;
  while (i < json.length && json.charCodeAt(i) === QUOTE) {
    const keyEnd = stringEnd(json, i);
    const name = prefix + literalValue(json.slice(i, keyEnd));
    i = keyEnd + 1; // the colon
    const first = json.charCodeAt(i);
    if (first === OPEN_OBJECT && json.charCodeAt(i + 1) !== CLOSE_OBJECT) {
      i = flatten(json, i + 1, name + ".", line);
    } else {
      const end = valueEnd(json, i);
      const raw = json.slice(i, end);
      line.out += " " + freeKey(name, line) + "=" +
        (first === QUOTE ? literalToken(raw) : textToken(raw));
      i = end;
    }
    if (json.charCodeAt(i) === COMMA) i++;
  }
  return i + 1;
}

/**
 * The fields of a line as logfmt pairs, each preceded by a space, from their JSON fragment
 * (`,"a":1,"user":{"id":7}` → ` a=1 user.id=7`). No two pairs get the same key: a flattened
 * key an earlier pair (or one of `reserved`) has gets one more `fields.` in front.
 *
 * @param fieldsJson The fields as the serializer writes them for a JSON line.
 * @param reserved The line's own keys that have a dot (`jsonKeys` may give them one).
 * @returns The pairs, or `""` when there are none.
 */
export function logfmtFields(fieldsJson: string, reserved: readonly string[] = []): string {
  if (fieldsJson === "") return "";
  const line: Flattened = {
    out: "",
    dotted: reserved.length === 0 ? undefined : new Set(reserved.map(logfmtKey)),
  };
  // The fragment's leading comma stands in for the object's opening brace.
  flatten(fieldsJson, 1, "", line);
  return line.out;
}
