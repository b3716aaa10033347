/**
 * JSON encoding shared by the components that store values (cache, coord, once): one rule
 * for what cannot be serialized (`json_values.ts`), and one error for it.
 *
 * @module
 */

import { InfraError } from "./errors.ts";
import { findJsonProblem } from "./json_values.ts";

/**
 * `JSON.stringify` for values that must come back as they went in: a value JSON would
 * change or drop without a word (see {@link jsonProblem}: `NaN`, a `Map`, a class
 * instance, `undefined` in an array, a function, a bigint, a cycle, ...) is an
 * `InvalidArgument` error naming the path of the offending part, instead of a silent
 * `null`, `{}` or `undefined`. A `toJSON` result is encoded instead of its object (a
 * `Date` becomes its ISO string) and object properties that are `undefined` are left out,
 * as JSON does.
 *
 * @param value The value to encode.
 * @param component Named in the error.
 * @param root The name of the value in the error's message and `details.field`;
 * `details.path` is the path of the offending part (e.g. `value.limits.rate`).
 * @returns The JSON text.
 * @throws {InfraError} `InvalidArgument`.
 *
 * @example
 * ```ts
 * import { encodeJson, InfraError } from "@gochat/infra/base";
 *
 * console.assert(encodeJson({ id: 1 }) === '{"id":1}');
 * try {
 *   encodeJson({ limits: { rate: NaN } }, "coord");
 * } catch (error) {
 *   // "coord: value.limits.rate: NaN is not a JSON number (it would become null); ..."
 *   console.assert(InfraError.is(error, "InvalidArgument"));
 * }
 * ```
 */
export function encodeJson(value: unknown, component = "", root = "value"): string {
  const problem = findJsonProblem(value, root);
  if (problem !== undefined) {
    throw new InfraError("InvalidArgument", problem.message, {
      component,
      cause: problem.cause,
      details: { field: root, path: problem.path },
    });
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new InfraError(
      "InvalidArgument",
      `${root} cannot be serialized as JSON: ${(error as Error).message}`,
      { component, cause: error, details: { field: root } },
    );
  }
  if (text === undefined) {
    throw new InfraError(
      "InvalidArgument",
      `${root} of type ${typeof value} cannot be serialized as JSON`,
      { component, details: { field: root } },
    );
  }
  return text;
}

/**
 * `JSON.parse` with an `InvalidArgument` error that names what was being read.
 *
 * @param text The JSON text.
 * @param component Named in the error.
 * @param what What the text is, for the message (e.g. `key /config/dev/global/clog`).
 * @returns The parsed value.
 * @throws {InfraError} `InvalidArgument` when the text is not valid JSON.
 *
 * @example
 * ```ts
 * import { decodeJson, InfraError } from "@gochat/infra/base";
 *
 * const config = decodeJson<{ level: string }>('{"level":"info"}', "clog");
 * console.assert(config.level === "info");
 * try {
 *   decodeJson("{level", "clog", "key /config/dev/global/clog");
 * } catch (error) {
 *   console.assert(InfraError.is(error, "InvalidArgument"));
 * }
 * ```
 */
export function decodeJson<T = unknown>(text: string, component = "", what = "value"): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new InfraError(
      "InvalidArgument",
      `${what} is not valid JSON: ${(error as Error).message}`,
      {
        component,
        cause: error,
      },
    );
  }
}
