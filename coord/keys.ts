/**
 * Where coord keeps things in etcd, and the config-key layout
 * `/config/{env}/{global|service}/{component}`. Keys start with `/` and are used exactly as
 * given: coord never adds a `/config` prefix of its own (the Go original stored
 * `/config/dev/global/db` at `/config/config/dev/global/db`); the client's `namespace` is the
 * only prefix, and it is invisible above the transport.
 *
 * @module
 */

import { checkOptions, InfraError } from "../base/mod.ts";

const COMPONENT = "coord";

/** The parts of a config key. */
export interface ConfigKeyParts {
  /** Deployment environment, e.g. `"dev"`, `"prod"`. */
  env: string;
  /** The owning service, or `"global"` (the default) for config shared by every service. */
  service?: string;
  /** The component or concern configured, e.g. `"clog"`, `"ratelimit"`. */
  component: string;
}

/** The root of config keys. */
export const CONFIG_ROOT = "/config";
/** Where service instances register: `/services/{service}/{id}`. */
export const SERVICES_ROOT = "/services";
/** Lock queues: `/locks/{name}/{leaseHex}_{n}`. */
export const LOCKS_ROOT = "/locks";
/** Election queues: `/elections/{name}/{leaseHex}_{n}`. */
export const ELECTIONS_ROOT = "/elections";
/** Leased instance ids: `/ids/{service}/{id}`. */
export const IDS_ROOT = "/ids";

function checkNonEmpty(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new InfraError("InvalidArgument", `${field} must be a non-empty string`, {
      component: COMPONENT,
      details: { field },
    });
  }
  return value;
}

/**
 * Checks a key: a string that starts with `/`. The client's namespace is put in front of
 * it, so `x/secret` under namespace `/app` would land in namespace `/appx`'s keys.
 *
 * @param key The key.
 * @param field Named in the error.
 * @returns The key.
 * @throws {InfraError} `InvalidArgument`.
 */
export function checkKey(key: unknown, field = "key"): string {
  const checked = checkNonEmpty(key, field);
  if (!checked.startsWith("/")) {
    throw new InfraError("InvalidArgument", `${field} must start with "/", got "${checked}"`, {
      component: COMPONENT,
      details: { field },
    });
  }
  return checked;
}

/**
 * Checks one path segment (a service, lock or election name): non-empty, without `/`.
 *
 * @param name The segment.
 * @param field Named in the error.
 * @returns The segment.
 * @throws {InfraError} `InvalidArgument`.
 */
export function checkSegment(name: unknown, field: string): string {
  const checked = checkNonEmpty(name, field);
  if (checked.includes("/")) {
    throw new InfraError("InvalidArgument", `${field} must not contain "/", got "${checked}"`, {
      component: COMPONENT,
      details: { field },
    });
  }
  return checked;
}

/**
 * The config key of a component: `/config/{env}/{service or "global"}/{component}`.
 *
 * @param parts Environment, service (default `"global"`) and component.
 * @returns The key.
 * @throws {InfraError} `InvalidArgument` when a part is empty or contains `/`.
 *
 * @example
 * ```ts
 * import { configKey } from "@gochat/infra/coord";
 *
 * configKey({ env: "dev", component: "clog" }); // "/config/dev/global/clog"
 * configKey({ env: "prod", service: "im-logic", component: "ratelimit" });
 * // "/config/prod/im-logic/ratelimit"
 * ```
 */
export function configKey(parts: ConfigKeyParts): string {
  if (typeof parts !== "object" || parts === null) {
    throw new InfraError(
      "InvalidArgument",
      `configKey takes { env, service?, component }, got ${parts === null ? "null" : typeof parts}`,
      { component: COMPONENT, details: { field: "parts" } },
    );
  }
  const env = checkSegment(parts.env, "env");
  const service = checkSegment(parts.service ?? "global", "service");
  const component = checkSegment(parts.component, "component");
  return `${CONFIG_ROOT}/${env}/${service}/${component}`;
}

/**
 * The layers of a service's config of a component, for `Coord.config`: the shared
 * `/config/{env}/global/{component}`, then the service's own
 * `/config/{env}/{service}/{component}` merged over it.
 *
 * @param parts Environment, service and component.
 * @returns The two keys, base first (one when the service is `"global"` or absent).
 * @throws {InfraError} `InvalidArgument` when a part is empty or contains `/`.
 *
 * @example
 * ```ts
 * import { configLayers } from "@gochat/infra/coord";
 *
 * configLayers({ env: "prod", service: "im-logic", component: "ratelimit" });
 * // ["/config/prod/global/ratelimit", "/config/prod/im-logic/ratelimit"]
 * ```
 */
export function configLayers(parts: ConfigKeyParts): string[] {
  const shared = configKey({ ...parts, service: "global" });
  const own = configKey(parts);
  return own === shared ? [shared] : [shared, own];
}

/**
 * The prefix of every config key of one environment (and optionally one service), for
 * `list` and prefix watches: `/config/{env}/` or `/config/{env}/{service}/`.
 *
 * @param env The environment.
 * @param service A service, or `"global"`; absent: the whole environment.
 * @returns The prefix, ending with `/`.
 */
export function configPrefix(env: string, service?: string): string {
  const base = `${CONFIG_ROOT}/${checkSegment(env, "env")}/`;
  return service === undefined ? base : `${base}${checkSegment(service, "service")}/`;
}

/**
 * Splits a config key into its parts; the inverse of {@link configKey}.
 *
 * @param key A key such as `/config/dev/global/clog`.
 * @returns The parts (service `"global"` for shared config), or undefined when `key` does
 * not follow the layout.
 *
 * @example
 * ```ts
 * import { parseConfigKey } from "@gochat/infra/coord";
 *
 * parseConfigKey("/config/dev/im-logic/ratelimit");
 * // { env: "dev", service: "im-logic", component: "ratelimit" }
 * ```
 */
export function parseConfigKey(key: string): Required<ConfigKeyParts> | undefined {
  if (typeof key !== "string") return undefined;
  const parts = key.split("/");
  if (parts.length !== 5 || parts[0] !== "" || `/${parts[1]}` !== CONFIG_ROOT) return undefined;
  const [, , env, service, component] = parts;
  if (!env || !service || !component) return undefined;
  return { env, service, component };
}

/**
 * A coord method's options (see base's `checkOptions`): a shared empty object when left
 * out, `InvalidArgument` naming the method when they are not an object or their signal is
 * not an AbortSignal.
 *
 * @param options What the caller passed.
 * @param method The method as users write it (`"kv.get"`).
 * @returns The options.
 * @throws {InfraError} `InvalidArgument`.
 */
export function coordOptions<T extends object>(options: T | undefined, method: string): T {
  return checkOptions(options, COMPONENT, method);
}
