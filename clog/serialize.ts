/**
 * Turning field values into JSON (and into `key=value` text) without ever throwing.
 *
 * The common cases (strings, numbers, booleans, flat objects) are written by hand: a
 * regular expression tells whether a string needs escaping, and the `,"key":` prefix of
 * each field name is built once and cached. Everything JSON cannot express gets a
 * readable form instead of an exception: BigInt → decimal string, symbols and functions →
 * their description, circular references → `"[Circular]"`, `undefined` members → omitted,
 * non-finite numbers → `"NaN"`/`"Infinity"`, errors → `{name, message, code…, stack, cause}`.
 * A getter, `toJSON` or proxy that throws yields `"[Thrown: …]"` for that value only.
 *
 * @module
 */

// deno-lint-ignore no-control-regex -- control characters are exactly what JSON must escape
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;
/** A text value that can be written without quotes. */
// deno-lint-ignore no-control-regex -- control characters must be quoted
const BARE_TEXT = /^[^\s"=\\\u0000-\u001f\u007f-\u009f]+$/;
/**
 * C0 and C1 control characters and DEL: in a text line they would start a new (forged)
 * line or drive the terminal (ANSI escapes, including the 8-bit CSI U+009B).
 */
// deno-lint-ignore no-control-regex -- control characters are exactly what is looked for
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// deno-lint-ignore no-control-regex -- control characters are exactly what is looked for
const CONTROL_ALL = /[\u0000-\u001f\u007f-\u009f]/g;
/** What `JSON.stringify` leaves raw but a terminal still obeys. */
const DEL_AND_C1 = /[\u007f-\u009f]/g;
const MAX_DEPTH = 8;
const MAX_ITEMS = 1000;
const MAX_CAUSES = 8;
/** Field names cached; beyond this (dynamic keys) prefixes are rebuilt per use. */
const KEY_CACHE_LIMIT = 4096;
const REDACTED = "[REDACTED]";

const hasOwn = Object.prototype.hasOwnProperty;
const objectToString = Object.prototype.toString;

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

/** `s` as a JSON string literal in which no control character is left raw. */
function quoteText(s: string): string {
  const quoted = JSON.stringify(s);
  return CONTROL.test(quoted) ? quoted.replace(DEL_AND_C1, escapeControl) : quoted;
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
  return BARE_TEXT.test(s) ? s : quoteText(s);
}

/**
 * A message for a text line: as it is when it holds no control character (spaces are
 * fine, it is the rest of the line), otherwise quoted and escaped, so one call is one line.
 *
 * @param s The (truncated) message.
 * @returns `s` or its quoted form.
 */
export function textMessage(s: string): string {
  return CONTROL.test(s) ? quoteText(s) : s;
}

function redactedEntry(key: string): string {
  return "," + JSON.stringify(key) + ':"' + REDACTED + '"';
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
 * A plain copy of the own enumerable members of `fields`, read as the serializer reads
 * them: a member whose getter throws becomes `"[Thrown: …]"`, and an object that cannot
 * be enumerated at all (a proxy) becomes `{ clog_error }`. For fields kept for later
 * lines (bound fields, context fields), which the caller may change afterwards. Never
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
      if (hasOwn.call(fields, key)) copy[key] = member(fields, key);
    }
  } catch (error) {
    copy.clog_error = unreadable(error);
  }
  return copy;
}

/**
 * Serializes values with one configuration (redacted keys, value length limit). Create a
 * new one when the configuration changes; its key cache belongs to that configuration.
 */
export class Serializer {
  /** Strings longer than this are cut. */
  readonly maxLength: number;
  /** Stacks collected by the last {@link Serializer.textFields} call, for the text format. */
  trailer = "";
  readonly #redact: Set<string>;
  /** field name → its `,"name":` prefix, or null when the field is redacted */
  readonly #keys = new Map<string, string | null>();

  /**
   * @param redactKeys Field names to redact, matched case-insensitively.
   * @param maxLength String length limit.
   */
  constructor(redactKeys: readonly string[], maxLength: number) {
    this.#redact = new Set(redactKeys.map((key) => key.toLowerCase()));
    this.maxLength = maxLength;
  }

  /** `s`, cut to the length limit when longer. */
  truncate(s: string): string {
    if (s.length <= this.maxLength) return s;
    return `${s.slice(0, this.maxLength)}…[truncated ${s.length - this.maxLength} chars]`;
  }

  /** The JSON string literal of `s`, truncated. */
  string(s: string): string {
    if (s.length > this.maxLength) s = this.truncate(s);
    return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
  }

  /** `,"key":`, or null when a field named `key` is redacted. */
  #prefix(key: string): string | null {
    let prefix = this.#keys.get(key);
    if (prefix === undefined) {
      prefix = this.#redact.has(key.toLowerCase()) ? null : "," + JSON.stringify(key) + ":";
      if (this.#keys.size < KEY_CACHE_LIMIT) this.#keys.set(key, prefix);
    }
    return prefix;
  }

  /** Whether a field named `key` is redacted. */
  isRedacted(key: string): boolean {
    return this.#prefix(key) === null;
  }

  /**
   * The members of `fields` as a JSON fragment, each preceded by a comma
   * (`,"a":1,"b":"x"`), or `""` when there are none. Never throws.
   */
  fields(fields: object): string {
    let out = "";
    try {
      for (const key in fields) {
        if (!hasOwn.call(fields, key)) continue;
        const value = member(fields, key);
        if (value === undefined) continue;
        const prefix = this.#prefix(key);
        if (prefix === null) out += redactedEntry(key);
        else if (typeof value === "string") out += prefix + this.string(value);
        else out += prefix + this.value(value, 0, undefined);
      }
    } catch (error) {
      out += ',"clog_error":' + this.string(unreadable(error));
    }
    return out;
  }

  /** `,"key":<value>`, redacted when the key says so, `""` for undefined. */
  #entry(key: string, value: unknown, depth: number, seen: object[] | undefined): string {
    if (value === undefined) return "";
    const prefix = this.#prefix(key);
    return prefix === null ? redactedEntry(key) : prefix + this.value(value, depth, seen);
  }

  /**
   * The JSON of any value, or `undefined` for `undefined` (an omitted member). Never throws.
   *
   * @param value The value.
   * @param depth Nesting depth of `value`.
   * @param seen Objects enclosing `value` (for cycles).
   */
  value(value: unknown, depth = 0, seen?: object[]): string | undefined {
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
        return this.#object(value as object, depth, seen);
    }
  }

  #object(value: object, depth: number, seen: object[] | undefined): string {
    if (seen === undefined) seen = [];
    else if (seen.includes(value)) return '"[Circular]"';
    if (depth >= MAX_DEPTH) return Array.isArray(value) ? '"[Array]"' : '"[Object]"';
    seen.push(value);
    try {
      return this.#objectBody(value, depth, seen);
    } catch (error) {
      return this.string(thrown(error));
    } finally {
      seen.pop();
    }
  }

  #objectBody(value: object, depth: number, seen: object[]): string {
    if (Array.isArray(value)) return this.#array(value, depth, seen);
    if (isError(value)) return this.#error(value, depth, seen);
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
        if (count++ === MAX_ITEMS) {
          out += ',"…":' + this.string(`${value.size - MAX_ITEMS} more entries`);
          break;
        }
        out += this.#entry(typeof key === "string" ? key : safeString(key), item, depth + 1, seen);
      }
      return out === "" ? "{}" : "{" + out.slice(1) + "}";
    }
    if (value instanceof Set) return this.#array([...value], depth, seen);
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") {
      return this.value(toJSON.call(value), depth + 1, seen) ?? "null";
    }
    let out = "";
    for (const key in value) {
      if (!hasOwn.call(value, key)) continue;
      const item = member(value, key);
      out += this.#entry(key, item, depth + 1, seen);
    }
    return out === "" ? "{}" : "{" + out.slice(1) + "}";
  }

  #array(value: unknown[], depth: number, seen: object[]): string {
    const length = Math.min(value.length, MAX_ITEMS);
    let out = "[";
    for (let i = 0; i < length; i++) {
      if (i > 0) out += ",";
      let item: unknown;
      try {
        item = value[i];
      } catch (error) {
        item = thrown(error);
      }
      out += this.value(item, depth + 1, seen) ?? "null";
    }
    if (value.length > MAX_ITEMS) {
      out += "," + this.string(`… ${value.length - MAX_ITEMS} more items`);
    }
    return out + "]";
  }

  #error(error: Error, depth: number, seen: object[]): string {
    let out = ',"name":' + this.string(safeString(error.name)) +
      ',"message":' + this.string(safeString(error.message));
    for (const key in error) {
      if (
        key === "name" || key === "message" || key === "stack" || key === "cause" ||
        !hasOwn.call(error, key)
      ) continue;
      const item = member(error, key);
      out += this.#entry(key, item, depth + 1, seen);
    }
    const stack = error.stack;
    if (typeof stack === "string") out += ',"stack":' + this.string(stack);
    if (error instanceof AggregateError && Array.isArray(error.errors)) {
      out += ',"errors":' + this.#array(error.errors, depth, seen);
    }
    const cause = error.cause;
    if (cause !== undefined) {
      out += ',"cause":' + (this.value(cause, depth + 1, seen) ?? "null");
    }
    return "{" + out.slice(1) + "}";
  }

  /**
   * The members of `fields` as ` key=value` text. Keys and strings that are one plain word
   * are written bare, other ones quoted and escaped ({@link textToken}); objects as JSON. Errors at the top level are written as
   * `"Name: message"`, and their stacks (with causes) are left in {@link Serializer.trailer}
   * for the lines below. Never throws.
   *
   * @param fields The fields.
   * @param color Whether keys are dimmed with ANSI codes.
   */
  textFields(fields: object, color: boolean): string {
    let out = "";
    try {
      for (const key in fields) {
        if (!hasOwn.call(fields, key)) continue;
        const value = member(fields, key);
        if (value === undefined) continue;
        const name = color ? `\x1b[2m${textToken(key)}=\x1b[22m` : `${textToken(key)}=`;
        if (this.isRedacted(key)) {
          out += " " + name + REDACTED;
          continue;
        }
        out += " " + name + this.#textValue(value);
      }
    } catch (error) {
      out += " clog_error=" + this.string(unreadable(error));
    }
    return out;
  }

  #textValue(value: unknown): string {
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
            this.trailer += this.#stacks(value);
            const code = (value as { code?: unknown }).code;
            const head = `${safeString(value.name)}: ${safeString(value.message)}`;
            return quoteText(
              this.truncate(code === undefined ? head : `${head} (code ${safeString(code)})`),
            );
          }
        } catch (error) {
          return quoteText(thrown(error));
        }
        const json = this.value(value) ?? "undefined";
        return CONTROL.test(json) ? json.replace(DEL_AND_C1, escapeControl) : json;
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
        const e = current as Error;
        text = typeof e.stack === "string"
          ? e.stack
          : `${safeString(e.name)}: ${safeString(e.message)}`;
        current = e.cause;
      } else {
        text = safeString(current);
        current = undefined;
      }
      // Split first: the trailer keeps the stack's own lines, but no other control character.
      const lines = this.truncate(text).split("\n").map((line) =>
        CONTROL.test(line) ? line.replace(CONTROL_ALL, escapeControl) : line
      );
      out += (i === 0 ? "    " : "    Caused by: ") + lines[0] + "\n";
      for (let j = 1; j < lines.length; j++) out += "    " + lines[j] + "\n";
    }
    return out;
  }
}
