/**
 * Which values have a faithful JSON form: those that come back from `JSON.parse` as they
 * went into `JSON.stringify`. Plain `JSON.stringify` loses data without a word: a
 * `Uint8Array` becomes `{"0":1,...}`, a `Map` or a `Set` `{}`, `NaN` and `Infinity`
 * `null`, a class instance a plain object, a hole in an array `null`, a property keyed by
 * a symbol nothing. Those are refused here, with the path of the offending part.
 *
 * Accepted:
 *
 * - strings, finite numbers, booleans, `null`, and arrays and plain objects (also with a
 *   `null` prototype) of them; `-0` is accepted and comes back as `0` (which it equals);
 * - anything with a `toJSON` method, whose result is checked instead: a `Date` comes back
 *   as its ISO string, as JSON always did (an invalid `Date`, which JSON writes as `null`,
 *   is refused);
 * - object properties whose value is `undefined` (or a `toJSON` that returns `undefined`):
 *   they are left out, as JSON leaves them out (`value.x` reads `undefined` either way,
 *   though the key is gone). Non-enumerable properties are not data and are not looked at.
 *
 * Refused: `NaN`, `±Infinity`, bigints, functions, symbols (as values, and as keys of
 * enumerable properties), `undefined` at the top or in an array, holes of sparse arrays,
 * typed arrays, buffers and `DataView`s, `Map`, `Set`, boxed primitives (`new String`),
 * class instances and other objects with a prototype, circular references, nesting deeper
 * than 1,000 levels, and parts whose getter or `toJSON` throws.
 *
 * @module
 */

/** A part of a value that JSON would not bring back. */
interface Problem {
  /** Property names and array indexes from the root to the part, innermost last. */
  readonly path: PropertyKey[];
  /** What the part is and what JSON would do to it. */
  readonly what: string;
  /** What to do instead. */
  readonly advice: string;
  /** What a getter or `toJSON` threw. */
  readonly cause?: unknown;
  /** The walk went deeper than {@link MAX_DEPTH} (a cycle, or a very deep value). */
  readonly tooDeep?: true;
}

/** What {@link findJsonProblem} reports. */
export interface JsonProblemReport {
  /** The message: the path from the root, what is wrong, what to do instead. */
  message: string;
  /** The path from the root, e.g. `value.items[3]`. */
  path: string;
  /** What a getter or `toJSON` threw, if that was the problem. */
  cause?: unknown;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
/** Longer paths show their first and last segments only. */
const PATH_SHOWN = 8;

function formatPart(part: PropertyKey): string {
  if (typeof part === "number") return `[${part}]`;
  if (typeof part === "symbol") return `[${String(part)}]`;
  return IDENTIFIER.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`;
}

/** `value.items[3]`, `value["a key"]`, `value[Symbol(tag)]`. */
function formatPath(root: string, path: readonly PropertyKey[]): string {
  if (path.length > 2 * PATH_SHOWN) {
    const left = path.length - 2 * PATH_SHOWN;
    return formatPath(root, path.slice(0, PATH_SHOWN)) + `…(${left} more)…` +
      path.slice(-PATH_SHOWN).map(formatPart).join("");
  }
  let out = root;
  for (const part of path) out += formatPart(part);
  return out;
}

const problem = (what: string, advice: string, cause?: unknown): Problem => ({
  path: [],
  what,
  advice,
  cause,
});

const CONVERT = "convert it to a plain object or an array first";

function threw(where: string, error: unknown): Problem {
  const reason = error instanceof Error ? error.message : String(error);
  return problem(`${where} threw (${reason})`, "store plain data", error);
}

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
  if (value instanceof String || value instanceof Number || value instanceof Boolean) {
    const name = value.constructor.name;
    return problem(
      `a ${name} object cannot be stored as JSON (it would come back as a primitive)`,
      "store the primitive value",
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

/**
 * Deeper than this, a value is refused: JSON.stringify, JSON.parse and this walk recurse,
 * and no runtime promises a stack for much more (a cycle is found by a second walk).
 */
const MAX_DEPTH = 1_000;

/** Where a value sits: JSON writes `null` in arrays for what it cannot store, and drops it in objects. */
type Place = "root" | "array" | "object";

/**
 * Why JSON would not bring `value` back as it is, or `undefined` when it would.
 * `ancestors`, given only after a walk went too deep, holds the objects that contain
 * `value`, to tell a cycle from deep nesting.
 */
function check(
  value: unknown,
  key: string | number,
  place: Place,
  depth: number,
  ancestors: Set<object> | undefined,
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
      if (place === "object") return undefined;
      return place === "array"
        ? problem(
          "undefined in an array cannot be stored as JSON (it would become null)",
          "use null",
        )
        : problem("undefined cannot be stored as JSON", "use null");
    case "function":
    case "symbol":
      return problem(`a ${typeof value} cannot be stored as JSON`, "leave it out");
  }
  if (value === null) return undefined;
  if (depth > MAX_DEPTH) {
    return {
      ...problem(
        `nesting deeper than ${MAX_DEPTH} levels cannot be stored as JSON`,
        "flatten it",
      ),
      tooDeep: true,
    };
  }
  const object = value as Record<PropertyKey, unknown>;
  if (ancestors === undefined) return checkObject(object, key, place, depth, ancestors);
  if (ancestors.has(object)) {
    return problem(
      "a circular reference (to an object that contains it) cannot be stored as JSON",
      "store an id of the object instead",
    );
  }
  ancestors.add(object);
  const found = checkObject(object, key, place, depth, ancestors);
  ancestors.delete(object);
  return found;
}

function checkObject(
  object: Record<PropertyKey, unknown>,
  key: string | number,
  place: Place,
  depth: number,
  ancestors: Set<object> | undefined,
): Problem | undefined {
  let replaced: unknown = object;
  try {
    if (typeof object.toJSON === "function") {
      if (object instanceof Date && Number.isNaN(object.getTime())) {
        return problem(
          "an invalid Date cannot be stored as JSON (it would become null)",
          "use null",
        );
      }
      replaced = object.toJSON(String(key));
    }
  } catch (error) {
    return threw("its toJSON method", error);
  }
  if (replaced !== object) return check(replaced, key, place, depth + 1, ancestors);
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      let item: unknown;
      try {
        item = object[i];
      } catch (error) {
        return { ...threw("reading it", error), path: [i] };
      }
      const found = item === undefined && !(i in object)
        ? problem(
          "a hole in a sparse array cannot be stored as JSON (it would become null)",
          "fill it with null",
        )
        : check(item, i, "array", depth + 1, ancestors);
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
    let item: unknown;
    try {
      item = object[names[i]];
    } catch (error) {
      return { ...threw("reading it", error), path: [names[i]] };
    }
    const found = check(item, names[i], "object", depth + 1, ancestors);
    if (found) {
      found.path.unshift(names[i]);
      return found;
    }
  }
  const symbols = Object.getOwnPropertySymbols(object);
  for (let i = 0; i < symbols.length; i++) {
    const symbol = symbols[i];
    if (Object.prototype.propertyIsEnumerable.call(object, symbol)) {
      return {
        ...problem(
          "a property keyed by a symbol cannot be stored as JSON (it would be dropped)",
          "key it by a string",
        ),
        path: [symbol],
      };
    }
  }
  return undefined;
}

/**
 * What {@link jsonProblem} reports, with the path apart and the error a getter or `toJSON`
 * threw (for {@link encodeJson}'s `cause`).
 *
 * @param value The value to check.
 * @param root The name of the value in the message.
 * @returns The report, or `undefined` when JSON brings `value` back as it is.
 */
export function findJsonProblem(value: unknown, root = "value"): JsonProblemReport | undefined {
  let found: Problem | undefined;
  try {
    found = check(value, "", "root", 0, undefined);
    // Deep nesting or a cycle: walk again, minding the containing objects, to tell which.
    if (found?.tooDeep) found = check(value, "", "root", 0, new Set());
  } catch (error) {
    // A proxy whose traps throw: no path is known.
    found = threw("reading it", error);
  }
  if (found === undefined) return undefined;
  const path = formatPath(root, found.path);
  return { message: `${path}: ${found.what}; ${found.advice}`, path, cause: found.cause };
}

/**
 * Why JSON would not bring `value` back as it is: a message naming the path of the
 * offending part from `root` (e.g. `value.items[3]: a Map cannot be stored as JSON ...`),
 * or `undefined` when it would. {@link encodeJson} refuses exactly these values.
 *
 * Accepted: strings, finite numbers (`-0` comes back as `0`), booleans, `null`, arrays and
 * plain objects of them; a `toJSON` result stands for its object (a `Date` comes back as
 * its ISO string); object properties that are `undefined` are left out, as in JSON.
 * Refused: `NaN`, `±Infinity`, bigints, functions, symbols (also as property keys),
 * `undefined` at the top or in an array, holes of sparse arrays, typed arrays and
 * buffers, `Map`, `Set`, boxed primitives, class instances, invalid `Date`s, cycles,
 * nesting deeper than 1,000 levels, and parts whose getter or `toJSON` throws.
 *
 * @param value The value to check.
 * @param root The name of the value in the message.
 * @returns The problem, or `undefined`.
 *
 * @example
 * ```ts
 * import { jsonProblem } from "@gochat/infra/base";
 *
 * console.assert(jsonProblem({ id: 1, at: new Date(0), tags: ["a"] }) === undefined);
 * const problem = jsonProblem({ limits: { rate: NaN } });
 * // "value.limits.rate: NaN is not a JSON number (it would become null); store it as a string"
 * console.assert(problem!.startsWith("value.limits.rate: NaN"));
 * ```
 */
export function jsonProblem(value: unknown, root = "value"): string | undefined {
  return findJsonProblem(value, root)?.message;
}
