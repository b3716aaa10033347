/**
 * The etcd transport over the etcd3 npm client (gRPC). It speaks etcd's raw KV, Lease and
 * Watch APIs and leaves every higher-level behaviour (resuming watches, sessions, locks) to
 * the shared code above the {@link Transport} seam. What it takes from etcd3: connection
 * pooling over several endpoints, password auth and TLS.
 *
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { readFile } from "node:fs/promises";
import {
  castGrpcError,
  castGrpcErrorMessage,
  ClientClosedError,
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdError,
  EtcdInvalidAuthTokenError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  EtcdWatchStreamEnded,
  GRPCDeadlineExceededError,
  GRPCGenericError,
  GRPCInvalidArgumentError,
  GRPCNotFoundError,
  GRPCOutOfRangeError,
  GRPCResourceExhastedError,
  GRPCUnauthenticatedError,
  type ICompare,
  type IDuplexStream,
  type IKeyValue,
  type ILeaseKeepAliveRequest,
  type ILeaseKeepAliveResponse,
  type IRangeRequest,
  type IRangeResponse,
  type IRequestOp,
  type IResponseOp,
  isRecoverableError,
  type IWatchRequest,
  type IWatchResponse,
} from "etcd3";
import { abortable, createCircuitBreaker, InfraError, unrefTimer } from "../base/mod.ts";
import type { CoordConfig } from "./config.ts";
import type {
  CallOptions,
  Compare,
  KeyRange,
  KeyValue,
  LeaseGrant,
  Operation,
  OperationResult,
  RangeRequest,
  RangeResult,
  Transport,
  TransportEvent,
  TxnRequest,
  TxnResult,
  WatchEnd,
  WatchSink,
  WatchSubscription,
} from "./transport.ts";
import {
  decodeValue,
  isAuthExpired,
  NO_SPACE,
  prefixRangeEnd,
  TOO_LARGE,
  TOO_MANY_REQUESTS,
} from "./transport.ts";

const COMPONENT = "coord";

/**
 * Maps an etcd3 / gRPC error to an InfraError with a stable code.
 *
 * @param error What etcd3 threw.
 * @returns The InfraError to throw.
 */
export function etcdError(error: unknown): InfraError {
  if (error instanceof InfraError) {
    if (error.code === "CircuitOpen") {
      return new InfraError("Unavailable", "etcd is unreachable (circuit open)", {
        component: COMPONENT,
        cause: error,
      });
    }
    return error;
  }
  // Stream errors arrive as raw gRPC errors; unary ones were already typed by etcd3.
  if (error instanceof Error && error.constructor === Error) error = castGrpcError(error);
  const message = error instanceof Error ? error.message : String(error);
  const make = (code: InfraError["code"], details?: Record<string, unknown>) =>
    new InfraError(code, `etcd: ${message}`, { component: COMPONENT, cause: error, details });
  if (error instanceof ClientClosedError) return make("Closed");
  if (message.includes("required revision has been compacted")) {
    return make("NotFound", { compacted: true });
  }
  if (message.includes("required revision is a future revision")) {
    return make("InvalidArgument", { futureRevision: true });
  }
  if (error instanceof EtcdLeaseInvalidError) return make("NotFound", { leaseNotFound: true });
  if (
    error instanceof EtcdPermissionDeniedError || error instanceof EtcdAuthenticationFailedError ||
    error instanceof EtcdInvalidAuthTokenError || error instanceof GRPCUnauthenticatedError
  ) {
    return make("PermissionDenied");
  }
  if (error instanceof GRPCDeadlineExceededError || message.includes("request timed out")) {
    return make("Timeout");
  }
  // RESOURCE_EXHAUSTED is the caller's fault only for a message too large (see gateway.ts'
  // twin); grpc-js also gives it to the calls of a connection etcd ended for pinging more
  // often than its --grpc-keepalive-min-time ("Bandwidth exhausted"): worth retrying.
  if (message.includes(NO_SPACE)) return make("ResourceExhausted");
  if (message.includes(TOO_MANY_REQUESTS)) return make("Unavailable");
  if (
    error instanceof GRPCInvalidArgumentError || error instanceof GRPCOutOfRangeError ||
    message.includes("request is too large") || TOO_LARGE.test(message)
  ) {
    return make("InvalidArgument");
  }
  if (error instanceof GRPCResourceExhastedError) return make("Unavailable");
  if (error instanceof GRPCNotFoundError) return make("NotFound");
  // The connection or the server failing (gRPC UNAVAILABLE, INTERNAL, CANCELLED, a broken
  // stream, no leader, ...): worth retrying later.
  if (
    error instanceof GRPCGenericError || error instanceof EtcdError ||
    error instanceof EtcdWatchStreamEnded ||
    (error instanceof Error && (isRecoverableError(error) || error.name === "BrokenCircuitError"))
  ) {
    return make("Unavailable");
  }
  return make("Internal");
}

function toBuffer(text: string): Buffer {
  return Buffer.from(text, "utf8");
}

function keyRange(range: KeyRange): { key: Buffer; range_end?: Buffer } {
  const key = toBuffer(range.key);
  if (!range.prefix) return { key };
  return {
    key: range.key === "" ? Buffer.from([0]) : key,
    range_end: Buffer.from(prefixRangeEnd(key)),
  };
}

function fromKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString("utf8"),
    ...(kv.value ? decodeValue(kv.value) : { value: "" }),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
    lease: String(kv.lease ?? "0"),
  };
}

const SORT_TARGETS = { key: "Key", create: "Create", mod: "Mod" } as const;
const SORT_ORDERS = { ascend: "Ascend", descend: "Descend" } as const;

function rangeRequest(request: RangeRequest): IRangeRequest {
  const out: IRangeRequest = { ...keyRange(request) };
  if (request.limit) out.limit = request.limit;
  if (request.sort) {
    out.sort_target = SORT_TARGETS[request.sort.target];
    out.sort_order = SORT_ORDERS[request.sort.order];
  }
  if (request.maxCreateRevision !== undefined) out.max_create_revision = request.maxCreateRevision;
  if (request.keysOnly) out.keys_only = true;
  if (request.revision !== undefined) out.revision = request.revision;
  return out;
}

function rangeResult(response: IRangeResponse): RangeResult {
  return {
    kvs: response.kvs.map(fromKeyValue),
    count: Number(response.count),
    revision: Number(response.header.revision),
  };
}

const COMPARE_RESULTS = { "==": "Equal", "!=": "NotEqual", "<": "Less", ">": "Greater" } as const;

function compare(c: Compare): ICompare {
  const out: ICompare = { key: toBuffer(c.key), result: COMPARE_RESULTS[c.result] };
  switch (c.target) {
    case "create":
      return { ...out, target: "Create", create_revision: c.value };
    case "mod":
      return { ...out, target: "Mod", mod_revision: c.value };
    case "version":
      return { ...out, target: "Version", version: c.value };
    case "lease":
      return { ...out, target: "Lease", lease: c.value };
    case "value":
      return { ...out, target: "Value", value: toBuffer(String(c.value)) };
  }
}

function operation(op: Operation): IRequestOp {
  switch (op.type) {
    case "put":
      return {
        request_put: {
          key: toBuffer(op.key),
          value: toBuffer(op.value),
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

function operationResult(response: IResponseOp): OperationResult {
  if (response.response_range) {
    return { type: "range", result: rangeResult(response.response_range) };
  }
  const deleted = response.response_delete_range;
  if (deleted) {
    return {
      type: "delete",
      deleted: Number(deleted.deleted),
      ...(deleted.prev_kvs?.length ? { prevKvs: deleted.prev_kvs.map(fromKeyValue) } : {}),
    };
  }
  const previous = response.response_put?.prev_kv;
  return previous ? { type: "put", prevKv: fromKeyValue(previous) } : { type: "put" };
}

/** A cockatiel-shaped policy (etcd3 calls only `execute`). */
interface Policy {
  execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T>;
}

const NEVER = new AbortController().signal;

/** etcd3's global policy: none. coord retries where an operation is safe to repeat. */
const noPolicy: Policy = {
  execute: async (fn) => await fn({ signal: NEVER }),
};

/**
 * Per-endpoint breaker: after a connection failure or a timeout the endpoint is skipped for
 * one second (then one call tries it again), so a dead or stopped cluster member costs a
 * call at most one timeout per second while the others answer: etcd3 picks a member at
 * random for every call, and three timeouts in a row on a member that takes requests and
 * never answers would use up a call's retries. (etcd3's default keeps a dead single
 * endpoint blocked for five seconds after it is back.) Only
 * what says the member is unwell counts: etcd3 also marks RESOURCE_EXHAUSTED recoverable,
 * and a full database (every write refused, reads fine) or a request too large would
 * otherwise turn the next reads into "circuit open".
 */
function hostPolicy(): Policy {
  const breaker = createCircuitBreaker({
    name: "etcd-endpoint",
    failureThreshold: 1,
    openTimeoutMs: 1_000,
    isFailure: (error) =>
      error instanceof Error && isRecoverableError(error) &&
      ["Unavailable", "Timeout"].includes(etcdError(error).code),
  });
  return { execute: (fn) => breaker.execute(async () => await fn({ signal: NEVER })) };
}

/** grpc-js's per-call options and client interceptors, as etcd3's stream calls take them. */
type StreamCallOptions = NonNullable<Parameters<Etcd3["watchClient"]["watch"]>[0]>;
type Interceptor = NonNullable<StreamCallOptions["interceptors"]>[number];

/**
 * Opens watch streams with etcd's `hasleader: true` metadata, as Go's
 * `clientv3.WithRequireLeader` does (and go-zero's discov with it). A member cut off from
 * its cluster keeps an ordinary watch stream open and silent for as long as the partition
 * lasts; one carrying this header it cancels ("etcdserver: no leader", after about three
 * election timeouts without a leader), so the resilient watch above resubscribes from its
 * last revision, to another member when there is one. etcd3 takes no metadata of its own
 * for a stream, but passes grpc-js call options on: this interceptor (grpc-js's public
 * per-call hook) forwards every operation of the next call and adds the header when the
 * call starts, on a copy (the auth token's metadata is shared by every call). grpc-js types
 * an interceptor's result as its `InterceptingCall` class, which would mean a direct
 * dependency on grpc-js; what it uses of the result is the call interface, which the
 * forwarding proxy is.
 */
const requireLeader: Interceptor = (options, nextCall) => {
  const call = nextCall(options);
  const forwarding = new Proxy(call, {
    get(target, property) {
      if (property === "start") {
        return (...[metadata, listener]: Parameters<typeof target.start>) => {
          const withLeader = metadata.clone();
          withLeader.set("hasleader", "true");
          target.start(withLeader, listener);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return forwarding as ReturnType<Interceptor>;
};

interface KeepAliveChannel {
  stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;
  waiters: Map<string, { resolve(ttl: number): void; reject(error: unknown): void }[]>;
}

/** Everything the transport needs from the coord config. */
export type EtcdTransportOptions = Pick<
  CoordConfig,
  | "endpoints"
  | "username"
  | "password"
  | "tls"
  | "requestTimeoutMs"
  | "keepAliveTimeMs"
  | "keepAliveTimeoutMs"
>;

async function credentials(
  tls: NonNullable<CoordConfig["tls"]>,
): Promise<{ rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer }> {
  const load = async (inline?: string, file?: string) => {
    if (inline !== undefined) return Buffer.from(inline);
    if (file === undefined) return undefined;
    try {
      return Buffer.from(await readFile(file));
    } catch (error) {
      throw new InfraError("InvalidArgument", `cannot read TLS file ${file}`, {
        component: COMPONENT,
        cause: error,
        details: { field: "tls" },
      });
    }
  };
  return {
    // grpc-js takes null for "the system roots"; etcd3's typing wants a Buffer.
    rootCertificate: (await load(tls.ca, tls.caFile)) as Buffer,
    privateKey: await load(tls.key, tls.keyFile),
    certChain: await load(tls.cert, tls.certFile),
  };
}

/** The etcd transport; see the module doc. */
export class EtcdTransport implements Transport {
  readonly #options: EtcdTransportOptions;
  readonly #tls: Awaited<ReturnType<typeof credentials>> | undefined;
  readonly #timeoutMs: number;
  readonly #watches = new Set<() => void>();
  #client: Etcd3;
  /** Whether calls authenticate (credentials given, and etcd has auth on as far as known). */
  #auth: boolean;
  #keepAlive: Promise<KeepAliveChannel> | undefined;
  #closed = false;

  private constructor(
    options: EtcdTransportOptions,
    tls: Awaited<ReturnType<typeof credentials>> | undefined,
  ) {
    this.#options = options;
    this.#tls = tls;
    this.#timeoutMs = options.requestTimeoutMs;
    this.#auth = options.username !== undefined;
    this.#client = this.#build();
  }

  /**
   * Creates the client (no connection is made yet).
   *
   * @param options Endpoints, credentials, TLS and timeouts.
   * @returns The transport.
   */
  static async create(options: EtcdTransportOptions): Promise<EtcdTransport> {
    return new EtcdTransport(options, options.tls ? await credentials(options.tls) : undefined);
  }

  #build(): Etcd3 {
    const options = this.#options;
    const timeoutMs = this.#timeoutMs;
    return new Etcd3({
      hosts: options.endpoints,
      ...(this.#auth
        ? { auth: { username: options.username!, password: options.password ?? "" } }
        : {}),
      ...(this.#tls ? { credentials: this.#tls } : {}),
      grpcOptions: {
        "grpc.keepalive_time_ms": options.keepAliveTimeMs,
        "grpc.keepalive_timeout_ms": options.keepAliveTimeoutMs,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 2_000,
        // grpc-js receives at most 4 MiB by default, etcd sends up to 2 GiB (Go clientv3
        // receives as much): a large range or a watch replay batch would fail. Sending is
        // unlimited in grpc-js already; etcd's own request limit applies.
        "grpc.max_receive_message_length": -1,
      },
      defaultCallOptions: (context) => context.isStream ? {} : { deadline: Date.now() + timeoutMs },
      faultHandling: {
        global: noPolicy as never,
        host: (() => hostPolicy()) as never,
      },
    });
  }

  /**
   * Whether a call that failed with `error` on `client` is worth making again on the
   * current client: it was replaced meanwhile, or etcd says it has no auth, and calls from
   * now on go without a token, as Go's clientv3 does (etcd3 would fail every call while it
   * tries to authenticate; the gateway transport does the same).
   */
  #again(client: Etcd3, error: unknown): boolean {
    if (this.#closed) return false;
    if (client !== this.#client) return true;
    if (!this.#auth || !String(error).includes("authentication is not enabled")) return false;
    this.#auth = false;
    this.#client = this.#build();
    // Nothing worked on it: every call asks for a token first.
    client.close();
    return true;
  }

  #call<T>(work: (client: Etcd3) => Promise<T>, options: CallOptions = {}): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new InfraError("Closed", "the client is closed", { component: COMPONENT }),
      );
    }
    const attempt = (): Promise<T> => {
      const client = this.#client;
      let promise: Promise<T>;
      try {
        promise = work(client);
      } catch (error) {
        return Promise.reject(etcdError(error));
      }
      return promise.catch((error) =>
        this.#again(client, error) ? attempt() : Promise.reject(etcdError(error))
      );
    };
    return abortable(attempt(), options.signal, COMPONENT);
  }

  range(request: RangeRequest, options?: CallOptions): Promise<RangeResult> {
    return this.#call(
      async (client) => rangeResult(await client.kv.range(rangeRequest(request))),
      options,
    );
  }

  txn(request: TxnRequest, options?: CallOptions): Promise<TxnResult> {
    return this.#call(async (client) => {
      const response = await client.kv.txn({
        compare: request.compare.map(compare),
        success: request.success.map(operation),
        failure: request.failure.map(operation),
      });
      return {
        succeeded: response.succeeded,
        revision: Number(response.header.revision),
        results: response.responses.map(operationResult),
      };
    }, options);
  }

  leaseGrant(ttlSeconds: number, options?: CallOptions): Promise<LeaseGrant> {
    return this.#call(async (client) => {
      const response = await client.leaseClient.leaseGrant({ TTL: ttlSeconds });
      if (response.error) throw new InfraError("Unavailable", `etcd: ${response.error}`);
      return { id: String(response.ID), ttlSeconds: Number(response.TTL) };
    }, options);
  }

  leaseRevoke(id: string, options?: CallOptions): Promise<void> {
    return this.#call(async (client) => {
      try {
        await client.leaseClient.leaseRevoke({ ID: id });
      } catch (error) {
        if (error instanceof EtcdLeaseInvalidError) return;
        throw error;
      }
    }, options);
  }

  leaseKeepAlive(id: string, options?: CallOptions): Promise<number> {
    return this.#call(async () => {
      const channel = await this.#keepAliveChannel();
      return await new Promise<number>((resolve, reject) => {
        const list = channel.waiters.get(id) ?? [];
        channel.waiters.set(id, list);
        const waiter = {
          resolve: (ttl: number) => {
            clearTimeout(timer);
            resolve(ttl);
          },
          reject: (error: unknown) => {
            clearTimeout(timer);
            reject(error);
          },
        };
        list.push(waiter);
        const timer = setTimeout(() => {
          // No answer in time: the stream is probably dead; start over on the next call.
          this.#dropKeepAlive(
            channel,
            new InfraError("Timeout", "lease keepalive timed out", { component: COMPONENT }),
          );
        }, this.#timeoutMs);
        unrefTimer(timer);
        try {
          channel.stream.write({ ID: id });
        } catch (error) {
          this.#dropKeepAlive(channel, etcdError(error));
        }
      });
    }, options);
  }

  #keepAliveChannel(): Promise<KeepAliveChannel> {
    this.#keepAlive ??= this.#client.leaseClient.leaseKeepAlive().then((stream) => {
      const channel: KeepAliveChannel = { stream, waiters: new Map() };
      stream.on("data", (response) => {
        const id = String(response.ID);
        const waiter = channel.waiters.get(id)?.shift();
        waiter?.resolve(Number(response.TTL));
      });
      stream.on("error", (error) => this.#dropKeepAlive(channel, etcdError(error)));
      stream.on("end", () =>
        this.#dropKeepAlive(
          channel,
          new InfraError("Unavailable", "etcd: lease keepalive stream ended", {
            component: COMPONENT,
          }),
        ));
      return channel;
    }, (error) => {
      this.#keepAlive = undefined;
      throw error;
    });
    return this.#keepAlive;
  }

  #dropKeepAlive(channel: KeepAliveChannel, error: unknown): void {
    const current = this.#keepAlive;
    if (current) {
      current.then((c) => {
        if (c === channel) this.#keepAlive = undefined;
      }, () => {});
    }
    for (const list of channel.waiters.values()) {
      for (const waiter of list.splice(0)) waiter.reject(error);
    }
    try {
      channel.stream.cancel();
    } catch {
      // already gone
    }
  }

  watch(range: KeyRange, startRevision: number | undefined, sink: WatchSink): WatchSubscription {
    let stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
    let watchId: string | undefined;
    let done = false;
    // Set below, once the request is sent; ended watches clear it.
    let opening: ReturnType<typeof setTimeout> | undefined = undefined;
    const teardown = () => {
      clearTimeout(opening);
      this.#watches.delete(closed);
      if (!stream) return;
      try {
        if (watchId !== undefined) stream.write({ cancel_request: { watch_id: watchId } });
        stream.end();
      } catch {
        // the stream is already broken
      }
      try {
        // Cancelling the HTTP/2 stream ends the server-side watch: no leaked watchers.
        stream.cancel();
      } catch {
        // already gone
      }
    };
    let cancelled = false;
    const end = (why: WatchEnd | Promise<WatchEnd>) => {
      if (done) return;
      done = true;
      teardown();
      if (!(why instanceof Promise)) return sink.onEnd(why);
      why.then((later) => {
        if (!cancelled) sink.onEnd(later);
      });
    };
    const closed = () =>
      end({
        reason: "error",
        error: new InfraError("Closed", "the client is closed", { component: COMPONENT }),
      });
    this.#watches.add(closed);
    if (this.#closed) {
      queueMicrotask(closed);
      return { cancel: () => Promise.resolve() };
    }
    // Only the opening has a deadline (as over the gateway): a member that accepts the
    // stream but never answers (stopped, overloaded) would otherwise hold the watch until
    // keepalive gives up on the whole connection, or forever while its pings are answered.
    opening = setTimeout(() =>
      end({
        reason: "error",
        error: new InfraError(
          "Timeout",
          `etcd did not open the watch within ${this.#timeoutMs} ms`,
          {
            component: COMPONENT,
          },
        ),
      }), this.#timeoutMs);
    unrefTimer(opening);
    const client = this.#client;
    client.watchClient.watch({ interceptors: [requireLeader] }).then((opened) => {
      stream = opened;
      if (done) {
        teardown();
        return;
      }
      opened.on("data", (response: IWatchResponse) => {
        if (done) return;
        if (response.created) {
          watchId = String(response.watch_id);
          clearTimeout(opening);
        }
        if (response.created && !response.canceled) sink.onCreated?.();
        if (response.canceled) {
          const compactRevision = Number(response.compact_revision);
          // A refused watch (no read permission on the range) arrives as created+canceled with
          // a reason, not as a stream error: map the reason like any etcd error, so that a
          // permanent refusal is not resubscribed forever as if etcd were unavailable.
          if (compactRevision > 0) return end({ reason: "compacted", compactRevision });
          const error = etcdError(
            castGrpcErrorMessage(
              `the watch was cancelled: ${response.cancel_reason || "no reason given"}`,
            ),
          );
          if (!isAuthExpired(error)) return end({ reason: "error", error });
          // Refused for an expired auth token: etcd3 authenticates again only when a unary
          // call is told so. Make one (a keys-only read of one watched key), after which the
          // watch opened again above carries the new token; a refusal of the read is the
          // answer (a user who may not read these keys).
          return end(
            this.range({ ...range, limit: 1, keysOnly: true }).then(
              () => ({
                reason: "error",
                error: new InfraError("Unavailable", "etcd: the watch's auth token expired", {
                  component: COMPONENT,
                  cause: error,
                }),
              }),
              (refused) => ({ reason: "error", error: refused }),
            ),
          );
        }
        if (response.events.length === 0) return;
        const events: TransportEvent[] = response.events.map((event) => ({
          type: event.type === "Delete" ? "delete" : "put",
          kv: fromKeyValue(event.kv),
        }));
        sink.onEvents(events);
      });
      opened.on("error", (error: unknown) => end({ reason: "error", error: etcdError(error) }));
      opened.on("end", () =>
        end({
          reason: "error",
          error: new InfraError("Unavailable", "etcd: the watch stream ended", {
            component: COMPONENT,
          }),
        }));
      opened.write({
        create_request: {
          ...keyRange(range),
          ...(startRevision !== undefined ? { start_revision: startRevision } : {}),
        },
      });
    }, (error) => {
      // No auth on etcd after all: the watch opened again above goes without a token.
      const again = this.#again(client, error);
      end({
        reason: "error",
        error: again
          ? new InfraError("Unavailable", "etcd: the watch is opened again", {
            component: COMPONENT,
            cause: error,
          })
          : etcdError(error),
      });
    });
    return {
      cancel: () => {
        cancelled = true;
        if (!done) {
          done = true;
          teardown();
        }
        return Promise.resolve();
      },
    };
  }

  compact(revision: number, options?: CallOptions): Promise<void> {
    return this.#call(async (client) => {
      await client.kv.compact({ revision, physical: true });
    }, options);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    // Every watch ends with Closed (its stream is cancelled), also one not opened yet.
    for (const closed of [...this.#watches]) closed();
    const keepAlive = this.#keepAlive;
    this.#keepAlive = undefined;
    keepAlive?.then((channel) => {
      this.#dropKeepAlive(
        channel,
        new InfraError("Closed", "the client is closed", { component: COMPONENT }),
      );
    }, () => {});
    this.#client.close();
    return Promise.resolve();
  }
}
