/**
 * JSON encoding shared by the components that store values (cache, coord, once): one rule
 * for what cannot be serialized, and one error for it.
 *
 * @module
 */

import { InfraError } from "./errors.ts";

/**
 * `JSON.stringify`, but a value that has no JSON form (undefined, a function, a symbol, a
 * BigInt, a circular structure) is an `InvalidArgument` error instead of a silent
 * `undefined` or a TypeError. Inside objects, JSON's own rules apply (undefined members are
 * dropped).
 *
 * @param value The value to encode.
 * @param component Named in the error.
 * @returns The JSON text.
 * @throws {InfraError} `InvalidArgument`.
 *
 * @example
 * ```ts
 * import { encodeJson } from "@gochat/infra/base";
 *
 * encodeJson({ id: 1 }); // '{"id":1}'
 * ```
 */
export function encodeJson(value: unknown, component = ""): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new InfraError(
      "InvalidArgument",
      `value cannot be serialized as JSON: ${(error as Error).message}`,
      {
        component,
        cause: error,
      },
    );
  }
  if (text === undefined) {
    throw new InfraError(
      "InvalidArgument",
      `value of type ${typeof value} cannot be serialized as JSON`,
      {
        component,
      },
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
