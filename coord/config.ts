/**
 * The configuration of a coord client: plain JSON data, validated at construction.
 *
 * @module
 */

import { checkEnvironment, configCheck } from "../base/mod.ts";

/** Client TLS for etcd: PEM text inline or read from files (inline wins). */
export interface CoordTlsConfig {
  /** CA certificate(s) that sign the server certificate (PEM); absent: the system roots. */
  ca?: string;
  /** Path of the CA certificate file. */
  caFile?: string;
  /** Client certificate for mutual TLS (PEM); needs `key`/`keyFile` too. */
  cert?: string;
  /** Path of the client certificate file. */
  certFile?: string;
  /** Client private key for mutual TLS (PEM). */
  key?: string;
  /** Path of the client private key file. */
  keyFile?: string;
}

/**
 * Settings of {@link connect}. Durations are milliseconds; a timeout may not exceed
 * 2^31 − 1 (about 24.8 days, setTimeout's limit).
 */
export interface CoordConfig {
  /**
   * etcd client URLs (`http://host:2379`, or `https://` for TLS; all the same scheme), host
   * and port only: no path, query or credentials. A bare `host:port` means
   * `http://host:port`.
   */
  endpoints: string[];
  /**
   * How the client talks to etcd. `"grpc"` (the default): the etcd3 npm client over
   * grpc-js, one HTTP/2 connection, every feature. `"gateway"`: etcd's JSON gateway
   * (`/v3/*`, etcd ≥ 3.4) over the web-standard `fetch`, for runtimes where grpc-js does
   * not run or is not wanted; the same semantics, one HTTP request per call and per watch.
   * Over the gateway `keepAliveTimeMs` is how long a silent watch waits before it is opened
   * again (a dead connection is found that way), and `keepAliveTimeoutMs` is unused. A custom CA
   * or client certificate needs Deno or Bun (Node's `fetch` takes neither; use
   * `NODE_EXTRA_CA_CERTS` for a CA there).
   */
  transport?: CoordTransportKind;
  /**
   * A root prefix for every key this client reads or writes, e.g. `/tenant-a` (or `""` for
   * none). Keys are written under it and reported without it, so two applications (or two
   * test runs) can share an etcd without seeing each other. Starts with `/`, does not end
   * with `/`.
   */
  namespace: string;
  /** etcd user for password authentication (with `password`). */
  username?: string;
  /** Password of `username`. */
  password?: string;
  /**
   * TLS settings; setting this (even `{}`) turns TLS on: endpoints then use `https://` (a
   * bare `host:port` becomes one, an `http://` one is refused). Name the endpoints by a host
   * name in the server certificate: Deno and Bun refuse an IP address as TLS server name.
   */
  tls?: CoordTlsConfig;
  /** How long {@link connect} keeps trying to reach etcd before failing `Unavailable`. */
  dialTimeoutMs: number;
  /** Deadline of each request to etcd; a late answer fails `Timeout`. */
  requestTimeoutMs: number;
  /**
   * Interval of HTTP/2 keepalive pings that detect a dead connection; at least 5 000, as etcd
   * ends a quiet connection that pings more often than its `--grpc-keepalive-min-time` (5 s
   * by default; grpc-js then pings half as often on that connection). Over the gateway (see
   * `transport`), at least 1 000.
   */
  keepAliveTimeMs: number;
  /** How long a keepalive ping may go unanswered before the connection counts as dead. */
  keepAliveTimeoutMs: number;
  /**
   * Default TTL of the leases behind locks, elections, registrations and instance ids:
   * how long they survive a crashed or partitioned holder. etcd grants whole seconds (and at
   * least its own minimum, 2 s on a default server); the holder gives ownership up locally
   * before this TTL runs out without a confirmed keepalive.
   */
  sessionTtlMs: number;
}

/** Which wire protocol a coord client speaks to etcd; see {@link CoordConfig.transport}. */
export type CoordTransportKind = "grpc" | "gateway";

/** Deployment profile of {@link defaultConfig}. */
export type CoordEnvironment = "development" | "production";

/**
 * Tuned defaults: development talks to a local etcd, production to a three-member cluster
 * (override `endpoints` and credentials).
 *
 * @param environment `"development"` (default) or `"production"`.
 * @returns A fresh config object.
 * @throws {InfraError} `InvalidArgument` for any other `environment`.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "@gochat/infra/coord";
 *
 * const config = { ...defaultConfig("production"), endpoints: ["https://etcd-0:2379"], tls: {} };
 * ```
 */
export function defaultConfig(environment: CoordEnvironment = "development"): CoordConfig {
  checkEnvironment(environment, "coord", "environment");
  if (environment === "production") {
    return {
      endpoints: ["http://etcd1:2379", "http://etcd2:2379", "http://etcd3:2379"],
      namespace: "",
      dialTimeoutMs: 10_000,
      requestTimeoutMs: 5_000,
      keepAliveTimeMs: 10_000,
      keepAliveTimeoutMs: 5_000,
      sessionTtlMs: 15_000,
    };
  }
  return {
    endpoints: ["http://127.0.0.1:2379"],
    namespace: "",
    dialTimeoutMs: 5_000,
    requestTimeoutMs: 3_000,
    keepAliveTimeMs: 30_000,
    keepAliveTimeoutMs: 10_000,
    sessionTtlMs: 10_000,
  };
}

const check = configCheck("coord");

/**
 * The longest duration coord accepts for a timeout, in ms: 2^31 − 1, setTimeout's limit (a
 * longer delay fires at once on Node and Bun), about 24.8 days.
 */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Smallest and largest lease TTL coord accepts, in ms. */
export const TTL_BOUNDS: { min: number; max: number } = { min: 1_000, max: 86_400_000 };

/**
 * Checks a namespace: `""`, or a path starting with `/` that does not end with `/`.
 *
 * @param value The namespace.
 * @param field Named in the error.
 * @returns The namespace.
 */
export function checkNamespace(value: unknown, field = "namespace"): string {
  const namespace = check.string(value, field, { allowEmpty: true });
  if (namespace !== "" && (!namespace.startsWith("/") || namespace.endsWith("/"))) {
    throw check.fail(
      field,
      `must be "" or start with "/" and not end with "/", got "${namespace}"`,
    );
  }
  return namespace;
}

/**
 * Checks a lease TTL in ms: an integer between 1 s and one day.
 *
 * @param value The TTL.
 * @param field Named in the error.
 * @returns The TTL.
 */
export function checkTtl(value: unknown, field = "ttlMs"): number {
  return check.integer(value, field, TTL_BOUNDS);
}

/**
 * Checks a timeout in ms: an integer from `min` (default 1) to 2^31 − 1.
 *
 * @param value The timeout.
 * @param field Named in the error.
 * @param min The smallest value accepted.
 * @returns The timeout.
 */
export function checkTimeout(value: unknown, field: string, min = 1): number {
  return check.integer(value, field, { min, max: MAX_TIMEOUT_MS });
}

/** etcd's default `--grpc-keepalive-min-time`: pings more often end the connection. */
const MIN_KEEPALIVE_MS = 5_000;

function checkEndpoint(value: string, field: string, scheme: "http" | "https"): string {
  const url = /^[a-z]+:\/\//i.test(value) ? value : `${scheme}://${value}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw check.fail(field, `must be a URL like http://127.0.0.1:2379, got "${value}"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw check.fail(field, `must use http:// or https://, got "${value}"`);
  }
  if (!parsed.hostname || !parsed.port) {
    throw check.fail(field, `must name a host and a port, got "${value}"`);
  }
  // etcd's gRPC endpoint is the host and port alone: a path, query or fragment would be
  // dropped without a word, and credentials belong in `username`/`password`.
  if (
    (parsed.pathname !== "/" && parsed.pathname !== "") || parsed.search || parsed.hash ||
    value.includes("?") || value.includes("#")
  ) {
    throw check.fail(field, `must be scheme://host:port only (no path or query), got "${value}"`);
  }
  if (parsed.username || parsed.password) {
    throw check.fail(field, `must not carry credentials (use username/password), got "${value}"`);
  }
  return `${parsed.protocol}//${parsed.host}`;
}

/**
 * Validates a full config: every field present and in range, no unknown fields.
 *
 * @param config The config to check.
 * @returns A normalized copy (bare `host:port` endpoints become `http://host:port`, or
 *   `https://host:port` with `tls` set).
 * @throws {InfraError} `InvalidArgument` naming the field.
 */
export function checkConfig(config: CoordConfig): CoordConfig {
  const raw = check.object(config, "");
  check.knownKeys(raw, "", [
    "endpoints",
    "transport",
    "namespace",
    "username",
    "password",
    "tls",
    "dialTimeoutMs",
    "requestTimeoutMs",
    "keepAliveTimeMs",
    "keepAliveTimeoutMs",
    "sessionTtlMs",
  ]);
  // With TLS on, a bare host:port means https:// (the gateway transport goes by the scheme).
  const scheme = raw.tls !== undefined ? "https" : "http";
  const endpoints = check.strings(raw.endpoints, "endpoints").map((endpoint, i) =>
    checkEndpoint(endpoint, `endpoints[${i}]`, scheme)
  );
  const schemes = new Set(endpoints.map((endpoint) => endpoint.split(":")[0]));
  if (schemes.size > 1) throw check.fail("endpoints", "must all use the same scheme");
  const result: CoordConfig = {
    endpoints,
    namespace: checkNamespace(raw.namespace),
    dialTimeoutMs: checkTimeout(raw.dialTimeoutMs, "dialTimeoutMs"),
    requestTimeoutMs: checkTimeout(raw.requestTimeoutMs, "requestTimeoutMs"),
    // Over the gateway it is how long a watch may stay silent: no pings to refuse.
    keepAliveTimeMs: checkTimeout(
      raw.keepAliveTimeMs,
      "keepAliveTimeMs",
      raw.transport === "gateway" ? 1_000 : MIN_KEEPALIVE_MS,
    ),
    keepAliveTimeoutMs: checkTimeout(raw.keepAliveTimeoutMs, "keepAliveTimeoutMs"),
    sessionTtlMs: checkTtl(raw.sessionTtlMs, "sessionTtlMs"),
  };
  if (raw.transport !== undefined) {
    result.transport = check.oneOf(raw.transport, "transport", ["grpc", "gateway"] as const);
  }
  if (raw.username !== undefined || raw.password !== undefined) {
    result.username = check.string(raw.username, "username");
    result.password = check.string(raw.password, "password", { allowEmpty: true });
  }
  if (raw.tls !== undefined) {
    const tls = check.object(raw.tls, "tls");
    const fields = ["ca", "caFile", "cert", "certFile", "key", "keyFile"] as const;
    check.knownKeys(tls, "tls", fields);
    const copy: CoordTlsConfig = {};
    for (const field of fields) {
      if (tls[field] !== undefined) copy[field] = check.string(tls[field], `tls.${field}`);
    }
    const hasCert = copy.cert !== undefined || copy.certFile !== undefined;
    const hasKey = copy.key !== undefined || copy.keyFile !== undefined;
    if (hasCert !== hasKey) {
      throw check.fail(hasCert ? "tls.key" : "tls.cert", "must be set together with the other");
    }
    result.tls = copy;
    // An http:// endpoint with TLS on says two things: the gateway transport would send the
    // password and every value in clear text, the gRPC one would use TLS. Say which.
    const plain = endpoints.findIndex((endpoint) => endpoint.startsWith("http:"));
    if (plain >= 0) {
      throw check.fail(
        `endpoints[${plain}]`,
        `uses http:// but tls is set: write https://${endpoints[plain].slice(7)}, or leave tls out`,
      );
    }
  }
  return result;
}
