/**
 * Defaults per environment and config validation.
 *
 * @module
 */

import { checkEnvironment, type ConfigCheck, configCheck } from "../base/mod.ts";
import { CODECS } from "./codec.ts";
import { checkPrefix } from "./keys.ts";
import type {
  CacheConfig,
  ConfigInput,
  GetOrSetConfig,
  L1Config,
  MemoryCacheConfig,
  SentinelConfig,
  TlsConfig,
} from "./types.ts";

const check: ConfigCheck = configCheck("cache");

/**
 * The default config for an environment. Development talks to `127.0.0.1:6379` with the
 * prefix `dev:`; production to `redis:6379` with `gochat:`, longer timeouts and a larger
 * reconnection cap. Both store JSON with a 1 h default TTL and keep L1 off.
 *
 * @param env `"development"` (default) or `"production"`.
 * @returns A fresh, complete config.
 * @throws {InfraError} `InvalidArgument` for any other `env`.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "@gochat/infra/cache";
 *
 * const config = { ...defaultConfig("production"), nodes: ["cache.internal:6379"] };
 * console.assert(config.keyPrefix === "gochat:");
 * ```
 */
export function defaultConfig(env: "development" | "production" = "development"): CacheConfig {
  checkEnvironment(env, "cache");
  const production = env === "production";
  return {
    mode: "single",
    nodes: [production ? "redis:6379" : "127.0.0.1:6379"],
    username: "",
    password: "",
    db: 0,
    tls: { enabled: false, caPem: "", certPem: "", keyPem: "", serverName: "", verify: true },
    sentinel: { masterName: "", username: "", password: "" },
    keyPrefix: production ? "gochat:" : "dev:",
    codec: "json",
    defaultTtlMs: 3_600_000,
    connectTimeoutMs: production ? 10_000 : 5_000,
    commandTimeoutMs: production ? 5_000 : 3_000,
    offlineQueue: true,
    maxRetriesPerRequest: 1,
    reconnectMinDelayMs: 50,
    reconnectMaxDelayMs: production ? 2_000 : 1_000,
    autoPipelining: true,
    connectionName: "",
    l1: {
      enabled: false,
      maxEntries: 10_000,
      maxBytes: 64 * 1024 * 1024,
      ttlMs: 60_000,
      publishInvalidations: false,
    },
    getOrSet: defaultGetOrSet(),
  };
}

/**
 * The default config of the memory driver (`keyPrefix` empty: a memory store belongs to
 * one application).
 *
 * @returns A fresh, complete config.
 */
export function defaultMemoryConfig(): MemoryCacheConfig {
  return { keyPrefix: "", codec: "json", defaultTtlMs: 3_600_000, getOrSet: defaultGetOrSet() };
}

function defaultGetOrSet(): GetOrSetConfig {
  return {
    negativeTtlMs: 60_000,
    jitter: 0.05,
    staleWhileRevalidateMs: 0,
    lockTtlMs: 10_000,
    waitTimeoutMs: 15_000,
    graceMs: 0,
    graceBackoffMs: 10_000,
    softTimeoutMs: 0,
    hardTimeoutMs: 0,
  };
}

// Deep merge of plain objects; arrays and scalars replace.
function merge<T>(base: T, input: unknown, field: string): T {
  if (input === undefined) return base;
  const object = check.object(input, field || "config");
  const result = { ...base } as Record<string, unknown>;
  check.knownKeys(object, field, Object.keys(base as object));
  for (const [key, value] of Object.entries(object)) {
    const current = result[key];
    const path = field ? `${field}.${key}` : key;
    result[key] = current !== null && typeof current === "object" && !Array.isArray(current)
      ? merge(current, value, path)
      : value;
  }
  return result as T;
}

const duration = (value: unknown, field: string, min = 0) =>
  check.integer(value, field, { min, max: 2 ** 31 - 1 });

function validateGetOrSet(value: GetOrSetConfig, field: string): void {
  duration(value.negativeTtlMs, `${field}.negativeTtlMs`);
  check.number(value.jitter, `${field}.jitter`, { min: 0, max: 1 });
  duration(value.staleWhileRevalidateMs, `${field}.staleWhileRevalidateMs`);
  duration(value.lockTtlMs, `${field}.lockTtlMs`, 1);
  duration(value.waitTimeoutMs, `${field}.waitTimeoutMs`, 1);
  duration(value.graceMs, `${field}.graceMs`);
  duration(value.graceBackoffMs, `${field}.graceBackoffMs`);
  duration(value.softTimeoutMs, `${field}.softTimeoutMs`);
  duration(value.hardTimeoutMs, `${field}.hardTimeoutMs`);
  if (value.hardTimeoutMs > 0 && value.hardTimeoutMs <= value.softTimeoutMs) {
    throw check.fail(`${field}.hardTimeoutMs`, "must be longer than softTimeoutMs");
  }
}

function validateShared(config: MemoryCacheConfig): void {
  check.string(config.keyPrefix, "keyPrefix", { allowEmpty: true });
  checkPrefix(config.keyPrefix);
  check.oneOf(config.codec, "codec", CODECS);
  duration(config.defaultTtlMs, "defaultTtlMs");
  validateGetOrSet(config.getOrSet, "getOrSet");
}

const NODE = /^(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):(\d{1,5})$/;

/** Splits `host:port` (IPv6 in brackets); `InvalidArgument` naming the field otherwise. */
export function parseNode(node: string, field: string): { host: string; port: number } {
  const match = NODE.exec(node);
  const port = match ? Number(match[2]) : 0;
  if (!match || port < 1 || port > 65535) {
    throw check.fail(field, `must be "host:port", got ${JSON.stringify(node)}`);
  }
  const host = match[1].startsWith("[") ? match[1].slice(1, -1) : match[1];
  return { host, port };
}

function validateTls(tls: TlsConfig): void {
  check.boolean(tls.enabled, "tls.enabled");
  check.string(tls.caPem, "tls.caPem", { allowEmpty: true });
  check.string(tls.certPem, "tls.certPem", { allowEmpty: true });
  check.string(tls.keyPem, "tls.keyPem", { allowEmpty: true });
  check.string(tls.serverName, "tls.serverName", { allowEmpty: true });
  check.boolean(tls.verify, "tls.verify");
  if ((tls.certPem === "") !== (tls.keyPem === "")) {
    throw check.fail("tls.certPem", "and tls.keyPem must be given together");
  }
}

function validateSentinel(sentinel: SentinelConfig, mode: string): void {
  check.string(sentinel.masterName, "sentinel.masterName", { allowEmpty: mode !== "sentinel" });
  check.string(sentinel.username, "sentinel.username", { allowEmpty: true });
  check.string(sentinel.password, "sentinel.password", { allowEmpty: true });
}

function validateL1(l1: L1Config): void {
  check.boolean(l1.enabled, "l1.enabled");
  check.integer(l1.maxEntries, "l1.maxEntries", { min: 1 });
  check.integer(l1.maxBytes, "l1.maxBytes", { min: 1 });
  duration(l1.ttlMs, "l1.ttlMs", 1);
  check.boolean(l1.publishInvalidations, "l1.publishInvalidations");
}

/**
 * Fills `input` in over {@link defaultConfig} (`"development"`) and validates the result.
 *
 * @param input A partial or complete config.
 * @param base What the missing fields come from (default: the development defaults).
 * @returns The complete config.
 * @throws {InfraError} `InvalidArgument` naming the first bad field.
 */
export function resolveConfig(
  input: ConfigInput<CacheConfig> = {},
  base: CacheConfig = defaultConfig("development"),
): CacheConfig {
  const config = merge(base, input, "");
  check.oneOf(config.mode, "mode", ["single", "sentinel", "cluster"] as const);
  check.strings(config.nodes, "nodes");
  config.nodes.forEach((node, i) => parseNode(node, `nodes[${i}]`));
  if (config.mode === "single" && config.nodes.length !== 1) {
    throw check.fail(
      "nodes",
      `must hold exactly one node in mode "single", got ${config.nodes.length}`,
    );
  }
  check.string(config.username, "username", { allowEmpty: true });
  check.string(config.password, "password", { allowEmpty: true });
  check.integer(config.db, "db", { min: 0, max: config.mode === "cluster" ? 0 : 65535 });
  validateTls(config.tls);
  validateSentinel(config.sentinel, config.mode);
  validateShared(config);
  duration(config.connectTimeoutMs, "connectTimeoutMs", 1);
  duration(config.commandTimeoutMs, "commandTimeoutMs", 1);
  check.boolean(config.offlineQueue, "offlineQueue");
  check.integer(config.maxRetriesPerRequest, "maxRetriesPerRequest", { min: 0, max: 1000 });
  duration(config.reconnectMinDelayMs, "reconnectMinDelayMs", 1);
  duration(config.reconnectMaxDelayMs, "reconnectMaxDelayMs", config.reconnectMinDelayMs);
  check.boolean(config.autoPipelining, "autoPipelining");
  check.string(config.connectionName, "connectionName", { allowEmpty: true });
  if (/\s/.test(config.connectionName)) {
    throw check.fail("connectionName", "must not contain spaces");
  }
  validateL1(config.l1);
  return config;
}

/**
 * Fills `input` in over {@link defaultMemoryConfig} and validates the result.
 *
 * @param input A partial or complete memory config.
 * @param base What the missing fields come from (default: the memory defaults).
 * @returns The complete config.
 * @throws {InfraError} `InvalidArgument` naming the first bad field.
 */
export function resolveMemoryConfig(
  input: ConfigInput<MemoryCacheConfig> = {},
  base: MemoryCacheConfig = defaultMemoryConfig(),
): MemoryCacheConfig {
  const config = merge(base, input, "");
  validateShared(config);
  return config;
}

/**
 * The fields a running cache cannot take a new value of: they decide which data it
 * addresses and how it reads it (the prefix, the codec), or they need new connections.
 * Everything else applies at once on hot reload (TTLs, getOrSet defaults, L1 bounds,
 * publishing, command timeouts, reconnection delays, auto-pipelining).
 */
export const FIXED_FIELDS: readonly string[] = [
  "keyPrefix",
  "codec",
  "mode",
  "nodes",
  "username",
  "password",
  "db",
  "tls",
  "sentinel",
  "connectTimeoutMs",
  "offlineQueue",
  "maxRetriesPerRequest",
  "connectionName",
  "l1.enabled",
];

/** The paths of the leaf fields that differ between two configs (arrays count as leaves). */
function differences(a: unknown, b: unknown, path = "", out: string[] = []): string[] {
  const isGroup = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (isGroup(a) && isGroup(b)) {
    const groups = [a as Record<string, unknown>, b as Record<string, unknown>];
    for (const key of new Set([...Object.keys(groups[0]), ...Object.keys(groups[1])])) {
      differences(groups[0][key], groups[1][key], path ? `${path}.${key}` : key, out);
    }
  } else if (JSON.stringify(a) !== JSON.stringify(b)) {
    out.push(path);
  }
  return out;
}

/**
 * Checks a hot reload from `current` to `next` (both complete and valid): `InvalidArgument`
 * naming the first changed field among {@link FIXED_FIELDS} (e.g. `nodes`, `tls.caPem`).
 *
 * @returns The fields that change (for the log).
 */
export function checkReload(current: object, next: object): string[] {
  const changed = differences(current, next);
  const fixed = changed.find((field) =>
    FIXED_FIELDS.some((name) => field === name || field.startsWith(`${name}.`))
  );
  if (fixed !== undefined) {
    throw check.fail(
      fixed,
      "cannot change while the cache runs (it decides which data the cache addresses, or " +
        "needs new connections): connect a new cache for it; the current config stays in force",
    );
  }
  return changed;
}
