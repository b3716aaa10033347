/**
 * Config validation that names the field: every component checks its config with these at
 * construction (and on hot reload), so a bad value is always an `InvalidArgument`
 * `InfraError` whose `details.field` says which one.
 *
 * @module
 */

import { InfraError } from "./errors.ts";

/** Bounds of a numeric field. */
export interface NumberBounds {
  /** Smallest allowed value (inclusive). */
  min?: number;
  /** Largest allowed value (inclusive). */
  max?: number;
}

/** Field checks bound to one component; see {@link configCheck}. */
export interface ConfigCheck {
  /** A ready InvalidArgument error for `field`. */
  fail(field: string, message: string): InfraError;
  /** `value` is a plain object (not null, not an array). */
  object(value: unknown, field: string): Record<string, unknown>;
  /** `value` is an integer within `bounds`. */
  integer(value: unknown, field: string, bounds?: NumberBounds): number;
  /** `value` is a finite number within `bounds`. */
  number(value: unknown, field: string, bounds?: NumberBounds): number;
  /** `value` is a string; non-empty unless `allowEmpty`. */
  string(value: unknown, field: string, options?: { allowEmpty?: boolean }): string;
  /** `value` is one of `allowed`. */
  oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T;
  /** `value` is a boolean. */
  boolean(value: unknown, field: string): boolean;
  /** `value` is an array of non-empty strings; non-empty unless `allowEmpty`. */
  strings(value: unknown, field: string, options?: { allowEmpty?: boolean }): string[];
  /** `value` has no keys outside `allowed` (catches typos such as `ttlMS`). */
  knownKeys(value: Record<string, unknown>, field: string, allowed: readonly string[]): void;
}

/**
 * A short description of a value for an error message ("got …"): strings quoted and cut at
 * 60 characters, numbers and booleans as written, bigints with `n`, and "an object",
 * "an array", "a function" for the rest. It never throws (`String(value)` does for an
 * object without a prototype or with a throwing `toString`) and never prints a whole object.
 *
 * @param value Any value.
 * @returns The description.
 *
 * @example
 * ```ts
 * import { describeValue } from "@gochat/infra/base";
 *
 * console.assert(describeValue("10") === '"10"');
 * console.assert(describeValue(Object.create(null)) === "an object");
 * ```
 */
export function describeValue(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 60 ? value.slice(0, 60) + "…" : value);
  }
  if (typeof value === "bigint") return `${value}n`;
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  if (typeof value === "function") return "a function";
  return String(value);
}

/**
 * Field checks for one component's config. Each check returns the value (narrowed) or
 * throws `InvalidArgument` with a message like
 * `cache: config.poolSize must be an integer ≥ 1, got 0` and `details.field = "poolSize"`.
 * The same checks serve a factory's other arguments: with `subject` `"snowflake deps"`
 * the message reads `uid: snowflake deps.lease.id must be ...` (the field stays `lease.id`).
 *
 * @param component The component named in errors.
 * @param subject What the messages call the checked value, before its fields. Default
 * `"config"`.
 * @returns The checks.
 *
 * @example
 * ```ts
 * import { configCheck } from "@gochat/infra/base";
 *
 * const check = configCheck("cache");
 * const poolSize = check.integer(10, "poolSize", { min: 1 });
 * const deps = configCheck("cache", "connect deps");
 * deps.object({ logger: console }, "");
 * ```
 */
export function configCheck(component: string, subject = "config"): ConfigCheck {
  const fail = (field: string, message: string) => {
    const name = field === "" ? subject : `${subject}.${field}`;
    return new InfraError("InvalidArgument", `${name} ${message}`, {
      component,
      details: { field },
    });
  };
  const bounded = (value: number, field: string, kind: string, bounds: NumberBounds) => {
    const { min, max } = bounds;
    if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
      const range = min !== undefined && max !== undefined
        ? `between ${min} and ${max}`
        : min !== undefined
        ? `≥ ${min}`
        : `≤ ${max}`;
      throw fail(field, `must be ${kind} ${range}, got ${describeValue(value)}`);
    }
    return value;
  };
  return {
    fail,
    object(value, field) {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw fail(field, `must be an object, got ${describeValue(value)}`);
      }
      return value as Record<string, unknown>;
    },
    integer(value, field, bounds = {}) {
      if (typeof value !== "number" || !Number.isInteger(value)) {
        throw fail(field, `must be an integer, got ${describeValue(value)}`);
      }
      return bounded(value, field, "an integer", bounds);
    },
    number(value, field, bounds = {}) {
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw fail(field, `must be a finite number, got ${describeValue(value)}`);
      }
      return bounded(value, field, "a number", bounds);
    },
    string(value, field, options = {}) {
      if (typeof value !== "string") {
        throw fail(field, `must be a string, got ${describeValue(value)}`);
      }
      if (!options.allowEmpty && value.length === 0) throw fail(field, "must not be empty");
      return value;
    },
    oneOf(value, field, allowed) {
      if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
        throw fail(
          field,
          `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${describeValue(value)}`,
        );
      }
      return value as (typeof allowed)[number];
    },
    boolean(value, field) {
      if (typeof value !== "boolean") {
        throw fail(field, `must be a boolean, got ${describeValue(value)}`);
      }
      return value;
    },
    strings(value, field, options = {}) {
      if (!Array.isArray(value)) {
        throw fail(field, `must be an array of strings, got ${describeValue(value)}`);
      }
      if (!options.allowEmpty && value.length === 0) throw fail(field, "must not be empty");
      value.forEach((item, i) => {
        if (typeof item !== "string" || item.length === 0) {
          throw fail(`${field}[${i}]`, `must be a non-empty string, got ${describeValue(item)}`);
        }
      });
      return value as string[];
    },
    knownKeys(value, field, allowed) {
      for (const key of Object.keys(value)) {
        if (!allowed.includes(key)) {
          const where = field ? `${field}.${key}` : key;
          throw fail(where, `is not a known setting (known: ${allowed.join(", ")})`);
        }
      }
    },
  };
}

/** The environments whose defaults every component's `defaultConfig` knows. */
export type Environment = "development" | "production";

/**
 * Checks the argument of a component's `defaultConfig(env)`: an unknown environment is an
 * `InvalidArgument` (naming the argument in `details.argument`) rather than a quiet fallback
 * to the development defaults.
 *
 * @param value What the caller passed.
 * @param component The component named in the error.
 * @param argument The parameter's name, for the message.
 * @returns The environment.
 * @throws {InfraError} `InvalidArgument` for anything but "development" or "production".
 *
 * @example
 * ```ts
 * import { checkEnvironment } from "@gochat/infra/base";
 *
 * console.assert(checkEnvironment("production", "cache") === "production");
 * ```
 */
export function checkEnvironment(value: unknown, component: string, argument = "env"): Environment {
  if (value === "development" || value === "production") return value;
  throw new InfraError(
    "InvalidArgument",
    `defaultConfig: ${argument} must be "development" or "production", got ${describeValue(value)}`,
    { component, details: { argument } },
  );
}
