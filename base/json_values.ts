/**
 * Which values have a faithful JSON form: those that come back from `JSON.parse` as they
 * went into `JSON.stringify`. Plain `JSON.stringify` loses data without a word: a `Uint8Array`
 * becomes `{"0":1,...}`, a `Map` or a `Set` `{}`, `NaN` and `Infinity` `null`, a class
 * instance a plain object. Those are refused here, with the path of the offending part.
 *
 * Allowed: strings, finite numbers, booleans, `null`, arrays and plain objects of them, and
 * anything with a `toJSON` method, whose result is checked instead (a `Date` comes back as
 * its ISO string, as JSON always did). Object properties that are `undefined` are dropped,
 * as JSON drops them. The walk goes 64 levels deep; below that, and for cycles, JSON's own
 * rules and errors apply.
 *
 * @module
 */

/** A part of a value that JSON would not bring back. */
interface Problem {
  /** Property names and array indexes from the root to the part, innermost last. */
  readonly path: (string | number)[];
  /** What the part is and what JSON would do to it. */
  readonly what: string;
  /** What to do instead. */
  readonly advice: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `value.items[3]`, `value["a key"]`. */
function formatPath(root: string, path: readonly (string | number)[]): string {
  let out = root;
  for (const part of path) {
    out += typeof part === "number"
      ? `[${part}]`
      : IDENTIFIER.test(part)
      ? `.${part}`
      : `[${JSON.stringify(part)}]`;
  }
  return out;
}

const problem = (what: string, advice: string): Problem => ({ path: [], what, advice });

const CONVERT = "convert it to a plain object or an array first";

function objectProblem(value: object): Problem {
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    const name = value.constructor?.name ?? "a binary buffer";
    return problem(
      `a${/^[AEIO]/.test(name) ? "n" : ""} ${name} cannot be stored as JSON`,
      'store bytes with codec "bytes", or encode them (base64) first',
    );
  }
  if (value instanceof Map || value instanceof Set) {
    return problem(
      `a ${value instanceof Map ? "Map" : "Set"} cannot be stored as JSON (it would become {})`,
      value instanceof Map ? "convert it with Object.fromEntries first" : "spread it into an array",
    );
  }
  const name = value.constructor?.name;
  return problem(
    `${
      name ? `an instance of ${name}` : "an object with a prototype"
    } cannot be stored as JSON (it would come back as a plain object, or as {})`,
    `give the class a toJSON method, or ${CONVERT}`,
  );
}

/** Deeper than this, the walk stops and JSON.stringify has the last word (cycles included). */
const MAX_DEPTH = 64;

/**
 * Why JSON would not bring `value` back as it is, or `undefined` when it would. `inArray`:
 * `value` is an array element, where JSON writes `null` for what it cannot store.
 */
function check(
  value: unknown,
  key: string | number,
  inArray: boolean,
  depth: number,
): Problem | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return value - value === 0
        ? undefined
        : problem(`${value} is not a JSON number (it would become null)`, "store it as a string");
    case "bigint":
      return problem("a bigint cannot be stored as JSON", "store it as a string");
    case "undefined":
      // In objects JSON drops the property, which is what undefined means there.
      return inArray
        ? problem(
          "undefined in an array cannot be stored as JSON (it would become null)",
          "use null",
        )
        : undefined;
    case "function":
    case "symbol":
      return problem(`a ${typeof value} cannot be stored as JSON`, "leave it out");
  }
  if (value === null || depth > MAX_DEPTH) return undefined;
  const object = value as Record<string, unknown>;
  if (typeof object.toJSON === "function") {
    if (object instanceof Date && Number.isNaN(object.getTime())) {
      return problem("an invalid Date cannot be stored as JSON (it would become null)", "use null");
    }
    const replaced = object.toJSON(String(key));
    return replaced === value ? undefined : check(replaced, key, inArray, depth + 1);
  }
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      const found = check(object[i], i, true, depth + 1);
      if (found) {
        found.path.unshift(i);
        return found;
      }
    }
    return undefined;
  }
  const prototype = Object.getPrototypeOf(object);
  if (prototype !== Object.prototype && prototype !== null) return objectProblem(object);
  const names = Object.keys(object);
  for (let i = 0; i < names.length; i++) {
    const found = check(object[names[i]], names[i], false, depth + 1);
    if (found) {
      found.path.unshift(names[i]);
      return found;
    }
  }
  return undefined;
}

/**
 * Why JSON would not bring `value` back as it is: a message naming the path of the
 * offending part from `root` (e.g. `value.items[3]: a Map cannot be stored as JSON ...`),
 * or `undefined` when it would. {@link encodeJson} refuses exactly these values.
 *
 * @param value The value to check.
 * @param root The name of the value in the message.
 * @returns The problem, or `undefined`.
 *
 * @example
 * ```ts
 * import { jsonProblem } from "@gochat/infra/base";
 *
 * console.assert(jsonProblem({ id: 1, tags: ["a"] }) === undefined);
 * console.assert(jsonProblem({ limits: { rate: NaN } })!.startsWith("value.limits.rate: NaN"));
 * ```
 */
export function jsonProblem(value: unknown, root = "value"): string | undefined {
  if (value === undefined) return `${root}: undefined cannot be stored as JSON; use null`;
  const found = check(value, "", false, 0);
  if (found === undefined) return undefined;
  return `${formatPath(root, found.path)}: ${found.what}; ${found.advice}`;
}
