/**
 * The etcd transport over etcd's JSON gateway (`/v3/*`, etcd ≥ 3.4) and the web-standard
 * `fetch`: no gRPC, no HTTP/2, no native add-on. It runs wherever `fetch` runs, including
 * where grpc-js does not (edge runtimes, single-file executables), and it has no
 * background timers to outlive a closed client.
 *
 * What the gateway gives and how it is used:
 * - unary calls (range, txn, lease grant/revoke, compaction) are `POST`s of JSON bodies, with
 *   keys and values in base64 and 64-bit numbers as decimal strings;
 * - streaming calls (watch, lease keepalive) answer with newline-separated JSON messages,
 *   `{"result": ...}` or `{"error": ...}`: one HTTP request per watch, one per keepalive;
 * - gRPC metadata goes as `Grpc-Metadata-*` headers: watches ask for `hasleader`, so that
 *   a member cut off from its cluster ends them instead of keeping them silent;
 * - password auth is a token from `/v3/auth/authenticate` in the `Authorization` header,
 *   fetched again once when etcd says it expired.
 *
 * A watch that heard nothing for `keepAliveTimeMs` is opened again from where it stands (an
 * HTTP/1.1 stream cannot be pinged as gRPC's HTTP/2 connection is, and one whose connection
 * died without a word would stay silent forever): a dead connection costs at most that long,
 * a live one a request per quiet interval.
 *
 * Endpoints: calls go to one member; when it cannot be reached, does not answer in time or
 * answers with a server error (no leader, ...), the next call goes to the next one, and so
 * does a watch it broke or cancelled. The layer above retries what is safe to repeat, as it
 * does over gRPC.
 *
 * TLS: `https://` endpoints with the system roots work everywhere. A custom CA or a client
 * certificate needs a runtime whose `fetch` takes them: Deno (`Deno.createHttpClient`) and
 * Bun (`tls`); Node's `fetch` takes neither (a CA can come from `NODE_EXTRA_CA_CERTS`), so
 * on Node such a config is refused with `InvalidArgument`.
 *
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { abortError, InfraError, scopedSignal, unrefTimer } from "../base/mod.ts";
import type { CoordConfig } from "./config.ts";
import {
  type CallOptions,
  type Compare,
  decodeValue,
  isAuthExpired,
  type KeyRange,
  type KeyValue,
  type LeaseGrant,
  NO_SPACE,
  type Operation,
  type OperationResult,
  prefixRangeEnd,
  type RangeRequest,
  type RangeResult,
  TOO_LARGE,
  TOO_MANY_REQUESTS,
  type Transport,
  type TransportEvent,
  type TxnRequest,
  type TxnResult,
  type WatchEnd,
  type WatchSink,
  type WatchSubscription,
} from "./transport.ts";

const COMPONENT = "coord";

/** Everything the gateway transport needs from the coord config. */
export type GatewayTransportOptions = Pick<
  CoordConfig,
  "endpoints" | "username" | "password" | "tls" | "requestTimeoutMs" | "keepAliveTimeMs"
>;

// ---------------------------------------------------------------------------------------
// Encoding: UTF-8 text ⇄ base64, as the gateway carries `bytes` fields.

const encoder = new TextEncoder();
// ignoreBOM: a key's leading U+FEFF is part of the key.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  // Chunks keep String.fromCharCode's argument list short for large values.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function base64(text: string): string {
  return bytesToBase64(encoder.encode(text));
}

function base64Bytes(text: string | undefined): Uint8Array {
  if (!text) return new Uint8Array(0);
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The gateway's JSON shapes (only the fields used). 64-bit numbers come as strings. */
interface GatewayKeyValue {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}

interface GatewayHeader {
  revision?: string;
}

interface GatewayRange {
  header?: GatewayHeader;
  kvs?: GatewayKeyValue[];
  count?: string;
}

interface GatewayWatchResponse {
  header?: GatewayHeader;
  watch_id?: string;
  created?: boolean;
  canceled?: boolean;
  compact_revision?: string;
  cancel_reason?: string;
  events?: { type?: "PUT" | "DELETE"; kv?: GatewayKeyValue }[];
}

/** An error body: the gRPC status code and message. */
interface GatewayStatus {
  code?: number;
  message?: string;
  error?: string;
}

function keyRange(range: KeyRange): { key: string; range_end?: string } {
  const key = encoder.encode(range.key);
  if (!range.prefix) return { key: bytesToBase64(key) };
  return {
    key: range.key === "" ? "AA==" : bytesToBase64(key),
    range_end: bytesToBase64(prefixRangeEnd(key)),
  };
}

function fromKeyValue(kv: GatewayKeyValue): KeyValue {
  return {
    key: decoder.decode(base64Bytes(kv.key)),
    ...decodeValue(base64Bytes(kv.value)),
    createRevision: Number(kv.create_revision ?? 0),
    modRevision: Number(kv.mod_revision ?? 0),
    version: Number(kv.version ?? 0),
    lease: kv.lease ?? "0",
  };
}

const SORT_TARGETS = { key: "KEY", create: "CREATE", mod: "MOD" } as const;
const SORT_ORDERS = { ascend: "ASCEND", descend: "DESCEND" } as const;

function rangeRequest(request: RangeRequest): Record<string, unknown> {
  const out: Record<string, unknown> = keyRange(request);
  if (request.limit) out.limit = String(request.limit);
  if (request.sort) {
    out.sort_target = SORT_TARGETS[request.sort.target];
    out.sort_order = SORT_ORDERS[request.sort.order];
  }
  if (request.maxCreateRevision !== undefined) {
    out.max_create_revision = String(request.maxCreateRevision);
  }
  if (request.keysOnly) out.keys_only = true;
  if (request.revision !== undefined) out.revision = String(request.revision);
  return out;
}

function rangeResult(response: GatewayRange): RangeResult {
  return {
    kvs: (response.kvs ?? []).map(fromKeyValue),
    count: Number(response.count ?? 0),
    revision: Number(response.header?.revision ?? 0),
  };
}

const COMPARE_RESULTS = { "==": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER" } as const;

function compare(c: Compare): Record<string, unknown> {
  const out = { key: base64(c.key), result: COMPARE_RESULTS[c.result] };
  switch (c.target) {
    case "create":
      return { ...out, target: "CREATE", create_revision: String(c.value) };
    case "mod":
      return { ...out, target: "MOD", mod_revision: String(c.value) };
    case "version":
      return { ...out, target: "VERSION", version: String(c.value) };
    case "lease":
      return { ...out, target: "LEASE", lease: String(c.value) };
    case "value":
      return { ...out, target: "VALUE", value: base64(String(c.value)) };
  }
}

function operation(op: Operation): Record<string, unknown> {
  switch (op.type) {
    case "put":
      return {
        request_put: {
          key: base64(op.key),
          value: base64(op.value),
          ...(op.lease && op.lease !== "0" ? { lease: op.lease } : {}),
          ...(op.prevKv ? { prev_kv: true } : {}),
        },
      };
    case "delete":
      return {
        request_delete_range: { ...keyRange(op), ...(op.prevKv ? { prev_kv: true } : {}) },
      };
    case "range":
      return { request_range: rangeRequest(op.request) };
  }
}

function operationResult(response: Record<string, unknown>): OperationResult {
  if (response.response_range) {
    return { type: "range", result: rangeResult(response.response_range as GatewayRange) };
  }
  if (response.response_delete_range) {
    const { deleted, prev_kvs: previous } = response.response_delete_range as {
      deleted?: string;
      prev_kvs?: GatewayKeyValue[];
    };
    return {
      type: "delete",
      deleted: Number(deleted ?? 0),
      ...(previous?.length ? { prevKvs: previous.map(fromKeyValue) } : {}),
    };
  }
  const previous = (response.response_put as { prev_kv?: GatewayKeyValue } | undefined)?.prev_kv;
  return previous ? { type: "put", prevKv: fromKeyValue(previous) } : { type: "put" };
}

// ---------------------------------------------------------------------------------------
// Errors.

/** gRPC status codes the gateway passes on. */
const GRPC = {
  invalidArgument: 3,
  deadlineExceeded: 4,
  notFound: 5,
  permissionDenied: 7,
  resourceExhausted: 8,
  failedPrecondition: 9,
  outOfRange: 11,
  unauthenticated: 16,
} as const;

/**
 * Maps a gateway error (gRPC status code and message) to an InfraError, with the same codes
 * and details as the gRPC transport gives.
 *
 * @param status The error body.
 * @param httpStatus The HTTP status, for an error that carries no gRPC code.
 * @returns The InfraError to throw.
 */
export function gatewayError(status: GatewayStatus, httpStatus = 0): InfraError {
  const message = status.message ?? status.error ?? `HTTP ${httpStatus}`;
  // A cancelled watch carries its status only as text: "rpc error: code = PermissionDenied".
  const named = /code = (\w+)/.exec(message)?.[1];
  const code = status.code ?? (named ? GRPC_NAMES[named] : undefined);
  const make = (infraCode: InfraError["code"], details?: Record<string, unknown>) =>
    new InfraError(infraCode, `etcd: ${message}`, { component: COMPONENT, details });
  if (message.includes("required revision has been compacted")) {
    return make("NotFound", { compacted: true });
  }
  if (message.includes("required revision is a future revision")) {
    return make("InvalidArgument", { futureRevision: true });
  }
  if (message.includes("requested lease not found")) {
    return make("NotFound", { leaseNotFound: true });
  }
  if (
    code === GRPC.permissionDenied || code === GRPC.unauthenticated ||
    message.includes("authentication failed") || message.includes("permission denied")
  ) {
    return make("PermissionDenied");
  }
  if (code === GRPC.deadlineExceeded || message.includes("request timed out")) {
    return make("Timeout");
  }
  // etcd answers RESOURCE_EXHAUSTED for a request too large (the caller's fault), but also
  // for a full database (an operator must compact, defragment and disarm: writing again
  // will not help) and for a server too far behind (retry later); any other one (a limit
  // of a proxy in between) is worth retrying.
  if (message.includes(NO_SPACE)) return make("ResourceExhausted");
  if (message.includes(TOO_MANY_REQUESTS)) return make("Unavailable");
  if (
    code === GRPC.invalidArgument || code === GRPC.outOfRange ||
    message.includes("request is too large") || TOO_LARGE.test(message)
  ) {
    return make("InvalidArgument");
  }
  if (code === GRPC.notFound) return make("NotFound");
  // Unavailable, no leader, leader changed, internal, cancelled, or an HTTP error with no
  // gRPC status (a proxy in between): worth retrying later.
  return make("Unavailable");
}

/** The same codes by their gRPC names. */
const GRPC_NAMES: Record<string, number> = {
  InvalidArgument: GRPC.invalidArgument,
  DeadlineExceeded: GRPC.deadlineExceeded,
  NotFound: GRPC.notFound,
  PermissionDenied: GRPC.permissionDenied,
  ResourceExhausted: GRPC.resourceExhausted,
  FailedPrecondition: GRPC.failedPrecondition,
  OutOfRange: GRPC.outOfRange,
  Unauthenticated: GRPC.unauthenticated,
};

function closedError(): InfraError {
  return new InfraError("Closed", "the client is closed", { component: COMPONENT });
}

// ---------------------------------------------------------------------------------------
// fetch with TLS, per runtime.

type Fetch = (url: string, init: RequestInit) => Promise<Response>;

interface DenoHttp {
  createHttpClient(options: { caCerts?: string[]; cert?: string; key?: string }): {
    close(): void;
  };
}

async function loadPem(inline?: string, file?: string): Promise<string | undefined> {
  if (inline !== undefined) return inline;
  if (file === undefined) return undefined;
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    throw new InfraError("InvalidArgument", `cannot read TLS file ${file}`, {
      component: COMPONENT,
      cause: error,
      details: { field: "tls" },
    });
  }
}

/** A `fetch` that presents the configured CA and client certificate, and its release. */
async function tlsFetch(
  tls: CoordConfig["tls"],
): Promise<{ fetch: Fetch; release(): void }> {
  const plain = { fetch: (url: string, init: RequestInit) => fetch(url, init), release() {} };
  if (!tls) return plain;
  const ca = await loadPem(tls.ca, tls.caFile);
  const cert = await loadPem(tls.cert, tls.certFile);
  const key = await loadPem(tls.key, tls.keyFile);
  if (ca === undefined && cert === undefined) return plain;
  const deno = (globalThis as { Deno?: DenoHttp }).Deno;
  if (deno?.createHttpClient) {
    const client = deno.createHttpClient({
      ...(ca !== undefined ? { caCerts: [ca] } : {}),
      ...(cert !== undefined ? { cert, key } : {}),
    });
    return {
      fetch: (url, init) => fetch(url, { ...init, client } as RequestInit),
      release: () => client.close(),
    };
  }
  if ((globalThis as { Bun?: unknown }).Bun) {
    const options = {
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined ? { cert, key } : {}),
    };
    return {
      fetch: (url, init) => fetch(url, { ...init, tls: options } as RequestInit),
      release() {},
    };
  }
  throw new InfraError(
    "InvalidArgument",
    "the gateway transport cannot present a custom CA or client certificate on this runtime " +
      '(Node\'s fetch takes neither): use transport "grpc", or NODE_EXTRA_CA_CERTS for a CA',
    { component: COMPONENT, details: { field: "tls" } },
  );
}

// ---------------------------------------------------------------------------------------

/** Reads a response body as newline-separated JSON messages. */
async function* messages(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<Record<string, unknown>> {
  const reader = body.getReader();
  const text = new TextDecoder();
  let buffered = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += text.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) yield JSON.parse(line);
      }
    }
    const rest = (buffered + text.decode()).trim();
    if (rest) yield JSON.parse(rest);
  } finally {
    reader.releaseLock();
  }
}

/** The gateway transport; see the module doc. */
export class GatewayTransport implements Transport {
  readonly #endpoints: string[];
  readonly #timeoutMs: number;
  readonly #idleMs: number;
  readonly #credentials: { name: string; password: string } | undefined;
  readonly #fetch: Fetch;
  readonly #release: () => void;
  readonly #closed = new AbortController();
  #current = 0;
  #token: Promise<string | undefined> | undefined;

  private constructor(
    options: GatewayTransportOptions,
    http: { fetch: Fetch; release(): void },
  ) {
    this.#endpoints = options.endpoints;
    this.#timeoutMs = options.requestTimeoutMs;
    this.#idleMs = options.keepAliveTimeMs;
    this.#credentials = options.username !== undefined
      ? { name: options.username, password: options.password ?? "" }
      : undefined;
    this.#fetch = http.fetch;
    this.#release = http.release;
  }

  /**
   * Creates the transport (no request is made yet).
   *
   * @param options Endpoints, credentials, TLS and the request timeout.
   * @returns The transport.
   * @throws {InfraError} `InvalidArgument` for TLS settings this runtime cannot apply.
   */
  static async create(options: GatewayTransportOptions): Promise<GatewayTransport> {
    return new GatewayTransport(options, await tlsFetch(options.tls));
  }

  /** The member calls go to now. */
  #endpoint(): string {
    return this.#endpoints[this.#current % this.#endpoints.length];
  }

  /** Moves calls on from `endpoint` to the next member, once however many calls saw it fail. */
  #failed(endpoint: string): void {
    if (this.#endpoint() === endpoint) this.#current++;
  }

  /**
   * Sends one request to the current member. The next call goes to the next member when
   * this one cannot be reached, does not answer in time (a stopped or overloaded member
   * takes the request and never answers), or answers with a server error (5xx: no leader,
   * leader changed, request timed out, internal); not when the caller aborted, nor for
   * the caller's errors (4xx).
   */
  async #send(
    path: string,
    body: unknown,
    signal: AbortSignal,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const endpoint = this.#endpoint();
    let response: Response;
    try {
      response = await this.#fetch(`${endpoint}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
        signal,
      });
    } catch (error) {
      if (signal.aborted) {
        const aborted = abortError(signal, COMPONENT);
        if (aborted.code === "Timeout") this.#failed(endpoint);
        throw aborted;
      }
      this.#failed(endpoint);
      throw new InfraError("Unavailable", `etcd at ${endpoint} cannot be reached`, {
        component: COMPONENT,
        cause: error,
      });
    }
    if (response.status >= 500) this.#failed(endpoint);
    return response;
  }

  /** The auth token (`undefined` without credentials), fetched once and shared. */
  #authToken(signal: AbortSignal): Promise<string | undefined> {
    const credentials = this.#credentials;
    if (!credentials) return Promise.resolve(undefined);
    this.#token ??= (async () => {
      const response = await this.#send("/v3/auth/authenticate", credentials, signal);
      const answer = await response.json().catch(() => ({})) as GatewayStatus & { token?: string };
      if (response.ok && answer.token) return answer.token;
      // A server without auth takes every request without a token.
      if (answer.code === GRPC.failedPrecondition && /not enabled/.test(answer.message ?? "")) {
        return undefined;
      }
      throw gatewayError(answer, response.status);
    })();
    const token = this.#token;
    token.catch(() => {
      if (this.#token === token) this.#token = undefined;
    });
    return token;
  }

  /** Sends with the auth header; on an expired token, authenticates again once. */
  async #authorized(
    path: string,
    body: unknown,
    signal: AbortSignal,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    for (let attempt = 1;; attempt++) {
      const token = await this.#authToken(signal);
      const response = await this.#send(
        path,
        body,
        signal,
        token ? { ...headers, authorization: token } : headers,
      );
      if (response.ok || !token || attempt > 1) return response;
      const copy = response.clone();
      const status = await copy.json().catch(() => ({})) as GatewayStatus;
      if (!isAuthExpired(gatewayError(status, response.status))) return response;
      this.#token = undefined;
    }
  }

  /** One unary call: the JSON result, or the mapped error. */
  async #unary<T>(path: string, body: unknown, options: CallOptions = {}): Promise<T> {
    if (this.#closed.signal.aborted) throw closedError();
    using scope = scopedSignal({
      signals: [options.signal, this.#closed.signal],
      timeoutMs: this.#timeoutMs,
      component: COMPONENT,
    });
    const signal = scope.signal;
    try {
      const response = await this.#authorized(path, body, signal);
      const text = await response.text();
      let answer: unknown;
      try {
        answer = JSON.parse(text.split("\n")[0] || "{}");
      } catch (error) {
        throw new InfraError("Unavailable", `etcd answered HTTP ${response.status} with no JSON`, {
          component: COMPONENT,
          cause: error,
        });
      }
      const message = answer as { result?: T; error?: GatewayStatus } & GatewayStatus;
      // Streaming endpoints wrap their messages in `result` / `error`.
      if (message.error && typeof message.error === "object") throw gatewayError(message.error);
      if (!response.ok) throw gatewayError(message, response.status);
      return (message.result ?? answer) as T;
    } catch (error) {
      if (this.#closed.signal.aborted) throw closedError();
      if (signal.aborted && !(error instanceof InfraError && error.code !== "Aborted")) {
        throw abortError(signal, COMPONENT);
      }
      throw error;
    }
  }

  async range(request: RangeRequest, options?: CallOptions): Promise<RangeResult> {
    return rangeResult(
      await this.#unary<GatewayRange>("/v3/kv/range", rangeRequest(request), options),
    );
  }

  async txn(request: TxnRequest, options?: CallOptions): Promise<TxnResult> {
    const response = await this.#unary<{
      header?: GatewayHeader;
      succeeded?: boolean;
      responses?: Record<string, unknown>[];
    }>("/v3/kv/txn", {
      compare: request.compare.map(compare),
      success: request.success.map(operation),
      failure: request.failure.map(operation),
    }, options);
    return {
      succeeded: response.succeeded === true,
      revision: Number(response.header?.revision ?? 0),
      results: (response.responses ?? []).map(operationResult),
    };
  }

  async leaseGrant(ttlSeconds: number, options?: CallOptions): Promise<LeaseGrant> {
    const response = await this.#unary<{ ID?: string; TTL?: string; error?: string }>(
      "/v3/lease/grant",
      { TTL: String(ttlSeconds) },
      options,
    );
    if (!response.ID) {
      throw new InfraError("Unavailable", `etcd granted no lease: ${response.error ?? "?"}`, {
        component: COMPONENT,
      });
    }
    return { id: response.ID, ttlSeconds: Number(response.TTL ?? 0) };
  }

  async leaseRevoke(id: string, options?: CallOptions): Promise<void> {
    try {
      await this.#unary("/v3/lease/revoke", { ID: id }, options);
    } catch (error) {
      if (error instanceof InfraError && error.details?.leaseNotFound) return;
      throw error;
    }
  }

  async leaseKeepAlive(id: string, options?: CallOptions): Promise<number> {
    const response = await this.#unary<{ TTL?: string }>(
      "/v3/lease/keepalive",
      { ID: id },
      options,
    );
    return Number(response.TTL ?? 0);
  }

  watch(range: KeyRange, startRevision: number | undefined, sink: WatchSink): WatchSubscription {
    let done = false;
    let stream: AbortController | undefined;
    const release = () => this.#closed.signal.removeEventListener("abort", onClose);
    const end = (why: WatchEnd) => {
      if (done) return;
      done = true;
      release();
      stream?.abort();
      sink.onEnd(why);
    };
    const onClose = () => end({ reason: "error", error: closedError() });
    if (this.#closed.signal.aborted) {
      queueMicrotask(onClose);
      return { cancel: () => Promise.resolve() };
    }
    this.#closed.signal.addEventListener("abort", onClose, { once: true });
    // Where the watch stands: a re-opened stream starts here, so it misses and repeats nothing.
    let next = startRevision;
    let created = false;
    // Whether the watch was opened again for an expired token since it was last created.
    let renewed = false;
    const run = async () => {
      for (;;) {
        const current = new AbortController();
        stream = current;
        const endpoint = this.#endpoint();
        let silent = false;
        let reopen = false;
        let idle: ReturnType<typeof setTimeout> | undefined;
        // Only the opening has a deadline, up to etcd's `created` message, not just the HTTP
        // answer: the gateway may send its headers before the member behind it has answered.
        const openingTimeout = new InfraError(
          "Timeout",
          `etcd did not open the watch within ${this.#timeoutMs} ms`,
          { component: COMPONENT },
        );
        const opening = setTimeout(() => current.abort(openingTimeout), this.#timeoutMs);
        unrefTimer(opening);
        // An HTTP/1.1 stream cannot be pinged, and one whose connection died without a word
        // stays silent forever: one that heard nothing for `idleMs` is opened again.
        const arm = () => {
          clearTimeout(idle);
          idle = setTimeout(() => {
            silent = true;
            current.abort();
          }, this.#idleMs);
          unrefTimer(idle);
        };
        try {
          const response = await this.#openWatch(range, next, current);
          if (!response.ok || !response.body) {
            const status = await response.json().catch(() => ({})) as GatewayStatus;
            throw gatewayError(status, response.status);
          }
          arm();
          const token = this.#token;
          for await (const message of messages(response.body)) {
            if (done) return;
            arm();
            if (message.error) throw gatewayError(message.error as GatewayStatus);
            const result = (message.result ?? {}) as GatewayWatchResponse;
            if (result.canceled) {
              const compactRevision = Number(result.compact_revision ?? 0);
              if (compactRevision > 0) return end({ reason: "compacted", compactRevision });
              const error = gatewayError({
                message: `the watch was cancelled: ${result.cancel_reason || "no reason given"}`,
              });
              // A watch is refused, not failed, when its token expired (a unary call is
              // answered with an error #authorized sees): open it again once with a new one.
              if (isAuthExpired(error) && !renewed) {
                renewed = reopen = true;
                if (this.#token === token) this.#token = undefined;
                break;
              }
              return end({ reason: "error", error });
            }
            if (result.created) {
              clearTimeout(opening);
              renewed = false;
              // A watch from now covers what comes after the revision it was created at.
              next ??= Number(result.header?.revision ?? 0) + 1;
              if (!created) {
                created = true;
                sink.onCreated?.();
              }
            }
            if (!result.events?.length) continue;
            const events: TransportEvent[] = result.events.map((event) => ({
              type: event.type === "DELETE" ? "delete" : "put",
              kv: fromKeyValue(event.kv ?? {}),
            }));
            next = events[events.length - 1].kv.modRevision + 1;
            sink.onEvents(events);
          }
          if (reopen) {
            current.abort();
            continue;
          }
          throw new InfraError("Unavailable", "etcd: the watch stream ended", {
            component: COMPONENT,
          });
        } catch (thrown) {
          if (done) return;
          if (silent && next !== undefined) continue;
          // The body's reader fails with an AbortError of its own: say why it was aborted.
          const error = current.signal.reason === openingTimeout ? openingTimeout : thrown;
          // Broken or cancelled by the member (no leader, leader changed), or silent at its
          // opening: the watch opened again above goes to the next one.
          if (InfraError.is(error, "Unavailable", "Timeout")) this.#failed(endpoint);
          throw error;
        } finally {
          clearTimeout(opening);
          clearTimeout(idle);
        }
      }
    };
    run().catch((error) => {
      if (done) return;
      if (this.#closed.signal.aborted) return end({ reason: "error", error: closedError() });
      end({
        reason: "error",
        error: error instanceof InfraError
          ? error
          : new InfraError("Unavailable", "etcd: the watch stream broke", {
            component: COMPONENT,
            cause: error,
          }),
      });
    });
    return {
      cancel: () => {
        if (!done) {
          done = true;
          release();
          // Ending the HTTP request ends the watch on the server too.
          stream?.abort();
        }
        return Promise.resolve();
      },
    };
  }

  /** Sends a watch's create request. */
  #openWatch(
    range: KeyRange,
    startRevision: number | undefined,
    stream: AbortController,
  ): Promise<Response> {
    return this.#authorized(
      "/v3/watch",
      {
        create_request: {
          ...keyRange(range),
          ...(startRevision !== undefined ? { start_revision: String(startRevision) } : {}),
        },
      },
      stream.signal,
      { "grpc-metadata-hasleader": "true" },
    );
  }

  async compact(revision: number, options?: CallOptions): Promise<void> {
    await this.#unary("/v3/kv/compaction", { revision: String(revision), physical: true }, options);
  }

  close(): Promise<void> {
    if (!this.#closed.signal.aborted) {
      this.#closed.abort(closedError());
      this.#release();
    }
    return Promise.resolve();
  }
}
