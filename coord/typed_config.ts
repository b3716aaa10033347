/**
 * Typed config with hot reload (go-zero's `configcenter.Configurator[T]`, the Go original's
 * `Manager[T]`): load a key, validate it with any Standard Schema validator, keep the last
 * good value, tell listeners and `HotReloadable` components about changes. Several keys
 * can be layered (the Go original's "load the global config, then the service's, and merge
 * them"): the defaults, then each key's value merged over the ones before it.
 *
 * Internal: the public face is {@link TypedConfig} (`coord.config(key, ...)`).
 *
 * @module
 */

import { type Counter, metrics } from "@opentelemetry/api";
import {
  abortable,
  closeOnce,
  describeValue,
  type HotReloadable,
  InfraError,
  isTransient,
  jsonProblem,
  retry,
  scopedSignal,
} from "../base/mod.ts";
import { decodeStored } from "./config_center.ts";
import type { CoordContext } from "./context.ts";
import { checkKey } from "./keys.ts";
import type { CallOptions, KeyValue, TxnResult } from "./transport.ts";
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
  keyOrLayers: string | readonly string[],
  options: TypedConfigOptions<T>,
): Promise<TypedConfig<T>> {
  const keys = checkLayers(keyOrLayers);
  const key = keys[keys.length - 1];
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
    throw fail("onDelete", `onDelete must be "keep" or "defaults", got ${describeValue(onDelete)}`);
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
  const settings = { keys, schema, defaults: checkedDefaults.value, onDelete };
  return await context.opening(`the typed config of ${key}`, async (closing) => {
    using scope = scopedSignal({ signals: [options.signal, closing], component: COMPONENT });
    return await startTypedConfig(context, settings, scope.signal);
  }, (config) => config.close());
}

/** Checks the key, or the keys of the layers (at least one, no key twice). */
function checkLayers(keyOrLayers: string | readonly string[]): string[] {
  if (typeof keyOrLayers === "string") return [checkKey(keyOrLayers)];
  if (!Array.isArray(keyOrLayers) || keyOrLayers.length === 0) {
    throw new InfraError("InvalidArgument", "key must be a key or a non-empty array of keys", {
      component: COMPONENT,
      details: { field: "key" },
    });
  }
  const keys = keyOrLayers.map((key, i) => checkKey(key, `key[${i}]`));
  const twice = keys.find((key, i) => keys.indexOf(key) !== i);
  if (twice !== undefined) {
    throw new InfraError("InvalidArgument", `the layers name ${twice} twice`, {
      component: COMPONENT,
      details: { field: "key" },
    });
  }
  return keys;
}

/** The checked options of a typed config. */
interface TypedConfigSettings<T> {
  /** The layers' keys, from the base to the most specific. */
  keys: string[];
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

/** One layer's stored state: its last JSON value (kept on a delete under "keep"). */
interface Layer {
  key: string;
  /** Whether the layer takes part in the merge. */
  present: boolean;
  value: unknown;
  /** Mod revision of that value; 0 when absent. */
  revision: number;
  /**
   * Mod revision of the last stored value rejected as not JSON (0: none): a re-read that
   * finds it again does not log and count it again.
   */
  notJson: number;
}

/** A change of one layer: a stored value, or the key's absence (deleted, or re-read so). */
type LayerChange = { type: "put"; kv: KeyValue } | { type: "absent"; at: number };

/** Loads the keys and starts the watches (the work of {@link openTypedConfig}). */
async function startTypedConfig<T>(
  context: CoordContext,
  settings: TypedConfigSettings<T>,
  signal: AbortSignal,
): Promise<TypedConfig<T>> {
  const { keys, schema, defaults, onDelete } = settings;
  const key = keys[keys.length - 1];
  const fail = (field: string, message: string) =>
    new InfraError("InvalidArgument", message, { component: COMPONENT, details: { field } });
  const { logger, transport } = context;
  const counter = rejectedCounter();
  const listeners = new Set<(value: T, previous: T) => void>();
  const bindings = new Set<Binding<T>>();
  const stop = new AbortController();
  const layers: Layer[] = keys.map((key) => ({
    key,
    present: false,
    value: undefined,
    revision: 0,
    notJson: 0,
  }));
  let current: T = defaults;
  let revision = 0;
  /**
   * Which stored values make up the value in force: each layer's revision, or absent. Not
   * `revision` (the highest of them): a layer below the highest can drop out of the merge
   * (deleted under onDelete "defaults") and change the value without changing it.
   */
  const makeup = () => layers.map((layer) => layer.present ? layer.revision : "-").join(",");
  let inForce = makeup();
  let serial: Promise<void> = Promise.resolve();
  const exclusive = (work: () => Promise<void>): Promise<void> => {
    const next = serial.then(work);
    serial = next.catch(() => {});
    return next;
  };

  const reject = (
    reason: Rejection,
    layerKey: string,
    at: number,
    details: Record<string, unknown>,
  ) => {
    logger.warn("config value rejected; the last good value stays in force", {
      key: layerKey,
      revision: at,
      reason,
      ...details,
    });
    counter.add(1, { "coord.config.key": layerKey, "coord.config.reason": reason });
  };

  const reloadComponents = async (value: T) => {
    await Promise.all([...bindings].map(async (binding) => {
      try {
        await reloadWithin(binding.component, binding.select(value), context.requestTimeoutMs);
      } catch (error) {
        reject("hot_reload", key, revision, { error });
      }
    }));
  };

  const putInForce = async (value: T, at: number, made: string) => {
    const previous = current;
    current = value;
    revision = at;
    inForce = made;
    for (const listener of listeners) {
      try {
        listener(value, previous);
      } catch (error) {
        logger.error("config change listener threw", { key, error });
      }
    }
    await reloadComponents(value);
  };

  /** The defaults with every present layer merged over them, in order, and its revision. */
  const merged = (): { value: unknown; at: number } => {
    let value: unknown = defaults;
    let at = 0;
    for (const layer of layers) {
      if (!layer.present) continue;
      value = mergeDefaults(value, layer.value);
      at = Math.max(at, layer.revision);
    }
    return { value, at };
  };

  /**
   * Applies changes of one layer, in order. Every stored value is checked (as JSON, then
   * merged with the other layers against the schema), so each rejected one is logged and
   * counted; of the valid states only the last goes in force, once. (Writes that arrive
   * together are coalesced: listeners and components see where the batch ends.)
   */
  const applyChanges = async (layer: Layer, changes: LayerChange[]) => {
    if (layers.length > 1 && changes.length > 0) await readOthers(layer);
    let last: { value: T; at: number; made: string } | undefined;
    for (const change of changes) {
      if (change.type === "put") {
        const kv = change.kv;
        // Already known: read with the other layers after a change of one of them.
        if (layer.present && kv.modRevision <= layer.revision) continue;
        if (kv.modRevision === layer.notJson) continue;
        let parsed: unknown;
        try {
          parsed = decodeStored(kv, `the value of ${layer.key}`);
        } catch (error) {
          if (kv.modRevision !== layer.notJson) {
            layer.notJson = kv.modRevision;
            reject("invalid_json", layer.key, kv.modRevision, { error });
          }
          continue;
        }
        Object.assign(layer, { present: true, value: parsed, revision: kv.modRevision });
      } else {
        if (!layer.present || change.at <= layer.revision) continue;
        if (onDelete === "keep") {
          logger.info("config key deleted; keeping the last value", {
            key: layer.key,
            revision: change.at,
          });
          continue;
        }
        Object.assign(layer, { present: false, value: undefined, revision: 0 });
        logger.info("config key deleted; its layer no longer applies", {
          key: layer.key,
          revision: change.at,
        });
      }
      const state = merged();
      const checked = await validate(schema, state.value);
      if ("issues" in checked) {
        const at = change.type === "put" ? change.kv.modRevision : change.at;
        reject("schema", layer.key, at, { issues: checked.issues });
        continue;
      }
      last = { value: checked.value, at: state.at, made: makeup() };
    }
    if (last === undefined || last.made === inForce) return;
    logger.info("config value in force", {
      key,
      revision: last.at,
      ...(layers.length > 1 ? { layers: layers.filter((l) => l.present).map((l) => l.key) } : {}),
    });
    await putInForce(last.value, last.at, last.made);
  };

  /**
   * Brings the layers other than `changed` up to date, in one read, before a change of
   * `changed` is merged: each layer has its own watch, so a transaction that wrote several
   * layers arrives as one change per layer, and merging the first with the others' old
   * values would put in force a value that never was in etcd. Their watches deliver the
   * same writes afterwards, which are then nothing new. Only moves forward (a read is never
   * behind what a watch delivered before it). When the read fails, the merge goes on with
   * what is known, as before.
   */
  const readOthers = async (changed: Layer) => {
    const others = layers.filter((layer) => layer !== changed);
    let result: TxnResult;
    try {
      result = await transport.txn({
        compare: [],
        success: others.map((layer) => ({ type: "range", request: { key: layer.key } }) as const),
        failure: [],
      }, { signal: stop.signal });
    } catch (error) {
      logger.debug("config layers not read again; merging with what is known", { key, error });
      return;
    }
    for (const [i, layer] of others.entries()) {
      const read = result.results[i];
      const kv = read?.type === "range" ? read.result.kvs[0] : undefined;
      if (kv === undefined) {
        if (layer.present && onDelete !== "keep") {
          Object.assign(layer, { present: false, value: undefined, revision: 0 });
        }
        continue;
      }
      if (layer.present && kv.modRevision <= layer.revision) continue;
      if (kv.modRevision === layer.notJson) continue;
      const value = decodeJsonOr(kv, layer);
      if (value !== INVALID) {
        Object.assign(layer, { present: true, value, revision: kv.modRevision });
      }
    }
  };

  /** Applies a layer's state as read: its value, or its absence. */
  const applyRead = (layer: Layer, kv: KeyValue | undefined, at: number) => {
    if (kv === undefined) return applyChanges(layer, [{ type: "absent", at }]);
    if (layer.present && kv.modRevision === layer.revision) return Promise.resolve();
    if (kv.modRevision === layer.notJson) return Promise.resolve();
    return applyChanges(layer, [{ type: "put", kv }]);
  };

  const toLayerChanges = (changes: WatchChange[]): LayerChange[] =>
    changes.map((change) =>
      change.type === "put"
        ? { type: "put", kv: change.kv }
        : { type: "absent", at: change.kv.modRevision }
    );

  /** Every layer read in one transaction: one snapshot, so the first merge is consistent. */
  const readAll = async (call: CallOptions): Promise<WatchStart[]> => {
    if (layers.length === 1) {
      const first = await readStart(transport, { key }, call);
      await exclusive(() => applyRead(layers[0], first.kvs[0], first.start.revision));
      return [first.start];
    }
    const result = await transport.txn({
      compare: [],
      success: keys.map((key) => ({ type: "range", request: { key } }) as const),
      failure: [],
    }, call);
    const kvs = result.results.map((r) => r.type === "range" ? r.result.kvs[0] : undefined);
    await exclusive(async () => {
      for (const [i, layer] of layers.entries()) {
        const kv = kvs[i];
        if (kv === undefined) continue;
        Object.assign(layer, {
          present: true,
          value: decodeJsonOr(kv, layer),
          revision: kv.modRevision,
        });
      }
      // Checked once, as a whole; a layer that is not JSON drops out (and is counted).
      for (const layer of layers) if (layer.value === INVALID) layer.present = false;
      const state = merged();
      const checked = await validate(schema, state.value);
      if ("issues" in checked) {
        reject("schema", key, state.at, { issues: checked.issues });
        return;
      }
      const made = makeup();
      if (made === inForce) return;
      logger.info("config value in force", {
        key,
        revision: state.at,
        layers: layers.filter((l) => l.present).map((l) => l.key),
      });
      await putInForce(checked.value, state.at, made);
    });
    return kvs.map((kv) => ({
      revision: result.revision,
      known: new Map(kv ? [[kv.key, kv.modRevision]] : []),
    }));
  };

  const INVALID = Symbol("not JSON");
  const decodeJsonOr = (kv: KeyValue, layer: Layer): unknown => {
    try {
      return decodeStored(kv, `the value of ${layer.key}`);
    } catch (error) {
      layer.notJson = kv.modRevision;
      reject("invalid_json", layer.key, kv.modRevision, { error });
      return INVALID;
    }
  };

  /** Re-reads one layer (after its watch failed). */
  const load = async (layer: Layer) => {
    const first = await context.retryingForever(
      (call) => readStart(transport, { key: layer.key }, call),
      stop.signal,
    );
    await exclusive(() => applyRead(layer, first.kvs[0], first.start.revision));
    return first.start;
  };

  /**
   * Follows one layer until closed. Unlike the Go original's `Manager[T]`, whose watcher died
   * for good on its first error, any failure but `Closed` (a permanent etcd error, a
   * delivery that threw) re-arms the watch: re-read, apply, watch again, with backoff.
   */
  const follow = (layer: Layer, initial: WatchStart | undefined) => {
    let start = initial;
    return retry(async () => {
      const from = start ?? await load(layer);
      start = undefined;
      await runWatch({
        transport,
        range: { key: layer.key },
        start: from,
        signal: stop.signal,
        logger,
        what: `config ${layer.key}`,
        onChanges: (changes) => exclusive(() => applyChanges(layer, toLayerChanges(changes))),
      });
    }, {
      maxAttempts: Infinity,
      deadlineMs: Number.MAX_SAFE_INTEGER,
      initialDelayMs: 200,
      maxDelayMs: 5_000,
      retryable: (error) => !InfraError.is(error, "Closed"),
      onRetry: ({ error, delayMs }) =>
        logger.error("config watch failed; re-arming it", { key: layer.key, error, delayMs }),
      signal: stop.signal,
    }).catch(() => {
      // closed
    });
  };

  let running: Promise<unknown>;
  try {
    const starts = await context.retrying(readAll, signal);
    running = Promise.all(layers.map((layer, i) => follow(layer, starts[i])));
  } catch (error) {
    // Transient with the caller's signal still live: etcd is unreachable. A fired signal
    // (the caller's timeout, say) abandons the open, as its Timeout or Aborted says.
    if (!isTransient(error) || signal.aborted) throw error;
    logger.warn("config center unreachable; defaults in force until it answers", { key, error });
    // All layers in one snapshot once it answers, as above: one layer loaded on its own
    // would go in force without the others (a shared limit without the service's override).
    running = context.retryingForever(readAll, stop.signal).then(
      (starts) => Promise.all(layers.map((layer, i) => follow(layer, starts[i]))),
      () => {
        // closed
      },
    );
  }

  const close = closeOnce(async () => {
    untrack();
    stop.abort();
    await running;
  });
  const untrack = context.track({ close, abandon: () => stop.abort() });

  return {
    key,
    keys,
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
