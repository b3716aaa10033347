/**
 * Typed config with hot reload (go-zero's `configcenter.Configurator[T]`, the Go original's
 * `Manager[T]`): load a key, validate it with any Standard Schema validator, keep the last
 * good value, tell listeners and `HotReloadable` components about changes.
 *
 * Internal: the public face is {@link TypedConfig} (`coord.config(key, ...)`).
 *
 * @module
 */

import { type Counter, metrics } from "@opentelemetry/api";
import {
  abortable,
  closeOnce,
  decodeJson,
  type HotReloadable,
  InfraError,
  isTransient,
  jsonProblem,
  retry,
  scopedSignal,
} from "../base/mod.ts";
import type { CoordContext } from "./context.ts";
import { checkKey } from "./keys.ts";
import type { CallOptions, KeyValue } from "./transport.ts";
import { readStart, runWatch, type WatchChange, type WatchStart } from "./watch.ts";
import type {
  BindOptions,
  ConfigSchema,
  ConfigSchemaIssue,
  TypedConfig,
  TypedConfigOptions,
} from "./types.ts";

const COMPONENT = "coord";

/** Why a stored value was not put in force; the `reason` attribute of the counter. */
type Rejection = "invalid_json" | "schema" | "hot_reload";

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** `value` over `defaults`, recursing into plain objects; anything else replaces. */
function mergeDefaults(defaults: unknown, value: unknown): unknown {
  if (!isPlainObject(defaults) || !isPlainObject(value)) return value;
  const merged: Record<string, unknown> = { ...defaults };
  for (const [key, item] of Object.entries(value)) merged[key] = mergeDefaults(defaults[key], item);
  return merged;
}

function describeIssues(issues: ReadonlyArray<ConfigSchemaIssue>): string {
  return issues.slice(0, 5).map((issue) => {
    const path = (issue.path ?? [])
      .map((segment) => typeof segment === "object" ? String(segment.key) : String(segment))
      .join(".");
    return path ? `${path}: ${issue.message}` : issue.message;
  }).join("; ");
}

/**
 * Runs the schema. A validator that throws (a zod `.transform` with a bug, a broken custom
 * schema) rejects the value like failed issues do: it must never reach the watch loop.
 */
async function validate<T>(
  schema: ConfigSchema<T> | undefined,
  value: unknown,
): Promise<{ value: T } | { issues: string }> {
  if (!schema) return { value: value as T };
  try {
    let result = schema["~standard"].validate(value);
    if (result instanceof Promise) result = await result;
    if (result.issues) return { issues: describeIssues(result.issues) };
    return { value: result.value };
  } catch (error) {
    return { issues: `the schema threw: ${error instanceof Error ? error.message : error}` };
  }
}

function rejectedCounter(): Counter {
  return metrics.getMeter("@gochat/infra/coord").createCounter("coord.config.rejected", {
    description: "Config values rejected by the typed config (bad JSON, schema, hot reload)",
    unit: "{value}",
  });
}

interface Binding<T> {
  component: HotReloadable<unknown>;
  select: (value: T) => unknown;
}

/**
 * Opens a typed config: validates the defaults, loads the key, starts the watch.
 *
 * @param context The client context.
 * @param key The key.
 * @param options Schema, defaults, delete policy and a signal.
 * @returns The typed config.
 * @throws {InfraError} `InvalidArgument` for an empty key, a missing schema function, or
 * defaults that fail the schema or that JSON would not bring back as they are.
 */
export async function openTypedConfig<T>(
  context: CoordContext,
  key: string,
  options: TypedConfigOptions<T>,
): Promise<TypedConfig<T>> {
  checkKey(key);
  const fail = (field: string, message: string) =>
    new InfraError("InvalidArgument", message, { component: COMPONENT, details: { field } });
  if (typeof options !== "object" || options === null || !("defaults" in options)) {
    throw fail("defaults", "config options need `defaults`");
  }
  const schema = options.schema;
  if (schema !== undefined && typeof schema?.["~standard"]?.validate !== "function") {
    throw fail("schema", "schema must implement Standard Schema (a `~standard.validate` function)");
  }
  const onDelete = options.onDelete ?? "keep";
  if (onDelete !== "keep" && onDelete !== "defaults") {
    throw fail("onDelete", `onDelete must be "keep" or "defaults", got ${onDelete}`);
  }
  // The defaults stand for a stored value (merged under it, or in force without one): they
  // must be something the key could hold, or undefined for "nothing until one is stored".
  const notJson = options.defaults === undefined
    ? undefined
    : jsonProblem(options.defaults, "defaults");
  if (notJson !== undefined) throw fail("defaults", notJson);
  const checkedDefaults = await validate(schema, options.defaults);
  if ("issues" in checkedDefaults) {
    throw fail("defaults", `defaults of ${key} fail the schema: ${checkedDefaults.issues}`);
  }
  const settings = { key, schema, defaults: checkedDefaults.value, onDelete };
  return await context.opening(`the typed config of ${key}`, async (closing) => {
    using scope = scopedSignal({ signals: [options.signal, closing], component: COMPONENT });
    return await startTypedConfig(context, settings, scope.signal);
  }, (config) => config.close());
}

/** The checked options of a typed config. */
interface TypedConfigSettings<T> {
  key: string;
  schema: ConfigSchema<T> | undefined;
  defaults: T;
  onDelete: "keep" | "defaults";
}

/**
 * Calls `component.hotReload`, giving up after the request timeout: a component that never
 * settles must not hold up the configs behind it (the signal asks it to stop; a component
 * that ignores it is no longer waited for).
 *
 * @throws {InfraError} `Timeout` when it did not settle in time; otherwise what it threw.
 */
async function reloadWithin<C>(
  component: HotReloadable<C>,
  config: C,
  timeoutMs: number,
): Promise<void> {
  using scope = scopedSignal({ timeoutMs, component: COMPONENT });
  const reload = (async () => await component.hotReload(config, { signal: scope.signal }))();
  try {
    await abortable(reload, scope.signal, COMPONENT);
  } catch (error) {
    if (!scope.signal.aborted) throw error;
    throw new InfraError("Timeout", `hotReload did not settle within ${timeoutMs} ms`, {
      component: COMPONENT,
      cause: error,
    });
  }
}

/** Loads the key and starts the watch (the work of {@link openTypedConfig}). */
async function startTypedConfig<T>(
  context: CoordContext,
  settings: TypedConfigSettings<T>,
  signal: AbortSignal,
): Promise<TypedConfig<T>> {
  const { key, schema, defaults, onDelete } = settings;
  const fail = (field: string, message: string) =>
    new InfraError("InvalidArgument", message, { component: COMPONENT, details: { field } });
  const { logger, transport } = context;
  const counter = rejectedCounter();
  const listeners = new Set<(value: T, previous: T) => void>();
  const bindings = new Set<Binding<T>>();
  const stop = new AbortController();
  let current: T = defaults;
  let revision = 0;
  let serial: Promise<void> = Promise.resolve();
  const exclusive = (work: () => Promise<void>): Promise<void> => {
    const next = serial.then(work);
    serial = next.catch(() => {});
    return next;
  };

  const reject = (reason: Rejection, at: number, details: Record<string, unknown>) => {
    logger.warn("config value rejected; the last good value stays in force", {
      key,
      revision: at,
      reason,
      ...details,
    });
    counter.add(1, { "coord.config.key": key, "coord.config.reason": reason });
  };

  const reloadComponents = async (value: T) => {
    await Promise.all([...bindings].map(async (binding) => {
      try {
        await reloadWithin(binding.component, binding.select(value), context.requestTimeoutMs);
      } catch (error) {
        reject("hot_reload", revision, { error });
      }
    }));
  };

  const putInForce = async (value: T, at: number) => {
    const previous = current;
    current = value;
    revision = at;
    for (const listener of listeners) {
      try {
        listener(value, previous);
      } catch (error) {
        logger.error("config change listener threw", { key, error });
      }
    }
    await reloadComponents(value);
  };

  /** Decodes and validates a stored value; a rejection is logged and counted. */
  const check = async (kv: KeyValue): Promise<{ value: T } | undefined> => {
    let parsed: unknown;
    try {
      parsed = decodeJson(kv.value, COMPONENT, `the value of ${key}`);
    } catch (error) {
      reject("invalid_json", kv.modRevision, { error });
      return undefined;
    }
    const checked = await validate(schema, mergeDefaults(defaults, parsed));
    if ("issues" in checked) {
      reject("schema", kv.modRevision, { issues: checked.issues });
      return undefined;
    }
    return checked;
  };

  const applyDeletion = async (at: number) => {
    if (revision === 0) return;
    if (onDelete === "defaults") {
      logger.info("config key deleted; defaults in force", { key, revision: at });
      await putInForce(defaults, 0);
    } else {
      logger.info("config key deleted; keeping the last value", { key, revision: at });
    }
  };

  const applyValue = async (value: T, at: number) => {
    logger.info("config value in force", { key, revision: at });
    await putInForce(value, at);
  };

  /** Applies the key's state as read: its value, or its absence. */
  const applyRead = async (kv: KeyValue | undefined, at: number) => {
    if (kv === undefined) return await applyDeletion(at);
    if (kv.modRevision === revision) return;
    const checked = await check(kv);
    if (checked) await applyValue(checked.value, kv.modRevision);
  };

  /**
   * Applies one watch batch. Every value in it is checked, in order, so each rejected one is
   * logged and counted; of the rest only the batch's final state goes in force, once: the
   * last valid value, or a deletion that came after it. (Writes that arrive together are
   * coalesced: listeners and components see where the batch ends, not each step.)
   */
  const applyBatch = async (changes: WatchChange[]) => {
    let last: { value: T; at: number } | { deletedAt: number } | undefined;
    for (const change of changes) {
      if (change.type === "put") {
        const checked = await check(change.kv);
        if (checked) last = { value: checked.value, at: change.kv.modRevision };
      } else {
        // A delete, or a reset (the key's state re-read): absent unless a put follows.
        last = { deletedAt: change.kv.modRevision };
      }
    }
    if (last === undefined) return;
    if ("deletedAt" in last) await applyDeletion(last.deletedAt);
    else if (last.at !== revision) await applyValue(last.value, last.at);
  };

  const read = (call: CallOptions) => readStart(transport, { key }, call);
  const load = async () => {
    const first = await context.retryingForever(read, stop.signal);
    await exclusive(() => applyRead(first.kvs[0], first.start.revision));
    return first.start;
  };

  /**
   * Follows the key until closed. Unlike the Go original's `Manager[T]`, whose watcher died
   * for good on its first error, any failure but `Closed` (a permanent etcd error, a
   * delivery that threw) re-arms the watch: re-read, apply, watch again, with backoff.
   */
  const follow = (initial: WatchStart | undefined) => {
    let start = initial;
    return retry(async () => {
      const from = start ?? await load();
      start = undefined;
      await runWatch({
        transport,
        range: { key },
        start: from,
        signal: stop.signal,
        logger,
        what: `config ${key}`,
        onChanges: (changes) => exclusive(() => applyBatch(changes)),
      });
    }, {
      maxAttempts: Infinity,
      deadlineMs: Number.MAX_SAFE_INTEGER,
      initialDelayMs: 200,
      maxDelayMs: 5_000,
      retryable: (error) => !InfraError.is(error, "Closed"),
      onRetry: ({ error, delayMs }) =>
        logger.error("config watch failed; re-arming it", { key, error, delayMs }),
      signal: stop.signal,
    }).catch(() => {
      // closed
    });
  };

  let running: Promise<unknown>;
  try {
    const first = await context.retrying(read, signal);
    await exclusive(() => applyRead(first.kvs[0], first.start.revision));
    running = follow(first.start);
  } catch (error) {
    if (!isTransient(error)) throw error;
    logger.warn("config center unreachable; defaults in force until it answers", { key, error });
    running = follow(undefined);
  }

  const close = closeOnce(async () => {
    untrack();
    stop.abort();
    await running;
  });
  const untrack = context.track({ close, abandon: () => stop.abort() });

  return {
    key,
    get revision() {
      return revision;
    },
    current: () => current,
    onChange(listener) {
      if (typeof listener !== "function") throw fail("listener", "must be a function");
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    bind<C = T>(component: HotReloadable<C>, bindOptions: BindOptions<T, C> = {}) {
      if (typeof component?.hotReload !== "function") {
        return Promise.reject(fail("component", "must be HotReloadable (a hotReload function)"));
      }
      if (bindOptions.select !== undefined && typeof bindOptions.select !== "function") {
        return Promise.reject(fail("select", "must be a function"));
      }
      const select = bindOptions.select ?? ((value: T) => value as unknown as C);
      const binding: Binding<T> = { component: component as HotReloadable<unknown>, select };
      return exclusive(async () => {
        await reloadWithin(component, select(current), context.requestTimeoutMs);
        bindings.add(binding);
      }).then(() => () => void bindings.delete(binding));
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
