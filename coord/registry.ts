/**
 * Service registry (go-zero's discov publisher/subscriber, Kratos' etcd registry): an
 * instance lives at `/services/{service}/{id}` under its own lease. The registration watches
 * its own key and puts it back when it is deleted, and registers again under a new lease
 * (jittered backoff) after the old one is lost. Discovery reads the prefix; watching it
 * streams the whole instance list as it is when read, after each change (a slow reader gets
 * the newest list, not the ones it missed).
 *
 * Internal: the public face is {@link ServiceRegistry} (`coord.registry`).
 *
 * @module
 */

import {
  closeOnce,
  configCheck,
  delay,
  encodeJson,
  InfraError,
  scopedSignal,
} from "../base/mod.ts";
import type { Logger } from "../clog/mod.ts";
import { decodeStored } from "./config_center.ts";
import { type CoordContext, type SessionBinding, sessionEnded } from "./context.ts";
import { checkSegment, coordOptions, SERVICES_ROOT } from "./keys.ts";
import { ObservedState } from "./observed_state.ts";
import { removeLeasedKey } from "./ownership.ts";
import { createPicker } from "./picker.ts";
import type { Session } from "./session.ts";
import type { KeyValue } from "./transport.ts";
import type {
  PickerOptions,
  RegisterOptions,
  Registration,
  RegistrationState,
  ServiceInstance,
  ServicePicker,
  ServiceRegistry,
  SignalOptions,
} from "./types.ts";
import { readStart, runWatch } from "./watch.ts";
import { stateStream } from "./watch_stream.ts";

const COMPONENT = "coord";
const check = configCheck(COMPONENT);

function servicePrefix(service: string): string {
  return `${SERVICES_ROOT}/${checkSegment(service, "service")}/`;
}

/**
 * Checks an instance to register and encodes it: metadata that JSON would not bring back
 * as it is (`instance.metadata.weight: NaN ...`) is `InvalidArgument`, before any lease.
 */
function checkInstance(instance: ServiceInstance): { instance: ServiceInstance; text: string } {
  const raw = check.object(instance, "instance");
  check.knownKeys(raw, "instance", ["service", "id", "address", "metadata"]);
  const copy: ServiceInstance = {
    service: checkSegment(raw.service, "instance.service"),
    id: checkSegment(raw.id, "instance.id"),
    address: check.string(raw.address, "instance.address"),
  };
  if (raw.metadata !== undefined) {
    copy.metadata = check.object(raw.metadata, "instance.metadata");
  }
  return { instance: copy, text: encodeJson(copy, COMPONENT, "instance") };
}

/**
 * Decodes a registry entry; undefined for one that is not a valid instance (written by
 * another tool, say), which is skipped with a warning rather than failing the discovery.
 */
function toInstance(kv: KeyValue, logger: Logger): ServiceInstance | undefined {
  let error: unknown;
  try {
    const value = decodeStored<ServiceInstance>(kv);
    if (
      typeof value === "object" && value !== null && typeof value.service === "string" &&
      typeof value.id === "string" && typeof value.address === "string"
    ) {
      return value;
    }
  } catch (thrown) {
    error = thrown;
  }
  logger.warn("registry entry is not a service instance; skipped", {
    key: kv.key,
    revision: kv.modRevision,
    error,
  });
  return undefined;
}

function byId(a: ServiceInstance, b: ServiceInstance): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** One period of being registered: a session and the key put under it. */
interface Period {
  session: Session;
  ended: AbortController;
}

/** Why watching the registration's own key ended (a failure throws instead). */
type PeriodEnd = "deleted" | "lost" | "closed";

/** Backoff between failed rounds of the supervisor (any step: lease, put, read, watch). */
const ROUND_BACKOFF = { initialDelayMs: 200, maxDelayMs: 5_000 };

class ServiceRegistration implements Registration {
  readonly instance: ServiceInstance;
  readonly #context: CoordContext;
  readonly #key: string;
  readonly #value: string;
  readonly #ttlMs: number;
  readonly #closing = new AbortController();
  readonly #state: ObservedState<RegistrationState>;
  /** The caller's session it is bound to, if any: the only session it may use. */
  readonly #caller: Session | undefined;
  readonly #onSessionEnd = () => this.#endWithSession();
  /** The live or last session; a deleted key is put back under it while it lives. */
  #session: Session | undefined;
  /** The current period, or the last one (ended) while the registration is lost. */
  #period: Period | undefined;
  #supervisor: Promise<void> = Promise.resolve();
  #untrack: () => void = () => {};

  constructor(
    context: CoordContext,
    instance: ServiceInstance,
    text: string,
    binding: SessionBinding,
  ) {
    this.#context = context;
    this.instance = instance;
    this.#key = `${servicePrefix(instance.service)}${instance.id}`;
    this.#value = text;
    this.#ttlMs = binding.ttlMs;
    this.#caller = binding.caller;
    this.#session = binding.caller;
    this.#state = new ObservedState<RegistrationState>(
      "lost",
      context.logger,
      `registration ${this.#key}`,
    );
  }

  get state(): RegistrationState {
    return this.#state.current;
  }

  get signal(): AbortSignal {
    return this.#period?.ended.signal ?? this.#closing.signal;
  }

  onStateChange(listener: (state: RegistrationState) => void): () => void {
    return this.#state.subscribe(listener);
  }

  /** First registration: failures go to the caller. */
  async start(signal: AbortSignal): Promise<void> {
    try {
      await this.#register(signal);
    } catch (error) {
      // A put given up in flight may still land: under the caller's session it would stay.
      if (this.#caller) await removeLeasedKey(this.#context, this.#caller, this.#key);
      else await this.#session?.close();
      throw error;
    }
    this.#untrack = this.#context.track({
      close: () => this.close(),
      abandon: () => {
        this.#closing.abort();
        if (!this.#caller) this.#session?.abandon();
      },
    });
    if (this.#caller?.signal.aborted) this.#endWithSession();
    else this.#caller?.signal.addEventListener("abort", this.#onSessionEnd, { once: true });
    this.#supervisor = this.#supervise();
  }

  /**
   * The caller's session ended: so does the registration, for good (it may not take a lease
   * of its own), at once: `closed` with a closed session, `expired` with a lost one.
   */
  #endWithSession(): void {
    const session = this.#caller!;
    if (this.#closing.signal.aborted) return;
    const reason = session.signal.reason;
    const closed = InfraError.is(reason, "Closed");
    this.#closing.abort();
    this.#untrack();
    this.#period?.ended.abort(
      new InfraError(
        closed ? "Closed" : "LockLost",
        `registration ${this.#key} ${closed ? "closed" : "lost"} with its session`,
        { component: COMPONENT, cause: reason },
      ),
    );
    this.#state.set(closed ? "closed" : "expired");
    if (!closed) {
      this.#context.logger.warn("registration expired with its session; it cannot be restored", {
        key: this.#key,
        lease: session.hex,
      });
    }
  }

  /**
   * Puts the key under the live session (after a deletion), or under a new lease when there
   * is none, and starts a period.
   */
  async #register(signal: AbortSignal): Promise<void> {
    // Scoped signals here and below, not AbortSignal.any: the caller's signal and the
    // registration's closing signal outlive any number of periods.
    using scope = scopedSignal({ signals: [signal, this.#closing.signal], component: COMPONENT });
    const stop = scope.signal;
    for (let attempt = 1;; attempt++) {
      let session = this.#session;
      if (!session?.alive) {
        if (this.#caller) throw sessionEnded(this.#caller, `the registration of ${this.#key}`);
        session = await this.#context.openSession(this.#ttlMs, stop);
        this.#session = session;
      }
      try {
        await this.#put(session, stop);
      } catch (error) {
        const gone = InfraError.is(error, "NotFound") && error.details.leaseNotFound === true;
        if (this.#caller && !gone && !this.#caller.alive) {
          throw sessionEnded(this.#caller, `the registration of ${this.#key}`);
        }
        if (!gone || attempt >= 2) throw error;
        // Revoked behind the session's back: a new lease at once.
        session.invalidate("etcd no longer knows the lease");
        continue;
      }
      this.#period = { session, ended: new AbortController() };
      this.#state.set("registered");
      return;
    }
  }

  async #put(session: Session, signal: AbortSignal): Promise<unknown> {
    using scope = scopedSignal({ signals: [signal, session.signal], component: COMPONENT });
    return await this.#context.retrying(
      (call) =>
        this.#context.transport.txn({
          compare: [],
          success: [{ type: "put", key: this.#key, value: this.#value, lease: session.id }],
          failure: [],
        }, call),
      scope.signal,
    );
  }

  /**
   * Watches the registration's own key until the period ends: the key was deleted, the
   * lease was lost, or the registration closes.
   *
   * @throws what the read or the watch failed with for good (e.g. `PermissionDenied`): the
   * period goes on, the supervisor watches again after a backoff.
   */
  async #watch(period: Period): Promise<PeriodEnd> {
    const { transport, logger } = this.#context;
    const stop = new AbortController();
    using scope = scopedSignal({
      signals: [stop.signal, period.session.signal, this.#closing.signal],
      component: COMPONENT,
    });
    const until = scope.signal;
    const ended = (): PeriodEnd | undefined =>
      this.#closing.signal.aborted ? "closed" : period.session.signal.aborted ? "lost" : undefined;
    let deleted = false;
    try {
      const read = await this.#context.retryingForever(
        (call) => readStart(transport, { key: this.#key }, call),
        until,
      );
      if (read.kvs.length === 0) return "deleted";
      await runWatch({
        transport,
        range: { key: this.#key },
        start: read.start,
        signal: until,
        logger,
        what: `registration ${this.#key}`,
        onChanges: (changes) => {
          for (const change of changes) {
            if (change.type === "delete") {
              deleted = true;
              stop.abort();
              return;
            }
            if (change.type === "put" && change.kv.lease !== period.session.id) {
              logger.warn("another registration wrote this instance's key", { key: this.#key });
            }
          }
        },
      });
    } catch (error) {
      if (deleted) return "deleted";
      const why = ended();
      if (why) return why;
      throw error;
    } finally {
      stop.abort();
    }
    if (deleted) return "deleted";
    // The watch returns by itself only when the transport closed under it.
    return ended() ?? "closed";
  }

  /**
   * Keeps the registration up, round after round: (re-)register when the period ended, then
   * watch the key until it ends again. Every failed round, whatever step failed, waits a
   * jittered, capped exponential backoff before the next one (a registration whose reads
   * are refused keeps its lease and retries its watch, it does not re-register in a loop);
   * a failure is logged as a warning when a run of failures begins, then at debug level.
   */
  async #supervise(): Promise<void> {
    const { logger } = this.#context;
    const closing = this.#closing.signal;
    let failures = 0;
    while (!closing.aborted) {
      try {
        if (failures > 0) await this.#context.backoff(failures, closing, ROUND_BACKOFF);
        let period = this.#period!;
        if (period.ended.signal.aborted) {
          const previous = period.session;
          await this.#register(closing);
          period = this.#period!;
          logger.info(
            period.session === previous
              ? "registration restored"
              : "registration restored under a new lease",
            { key: this.#key, lease: period.session.hex },
          );
        }
        const why = await this.#watch(period);
        if (why === "closed") return;
        // The watch did its job: whatever failed before is over.
        failures = 0;
        logger.warn("registration lost; restoring it", { key: this.#key, reason: why });
        period.ended.abort(
          new InfraError("LockLost", `registration ${this.#key} lost (${why})`, {
            component: COMPONENT,
          }),
        );
        this.#state.set("lost");
      } catch (error) {
        if (closing.aborted) return;
        failures++;
        const fields = { key: this.#key, state: this.state, attempt: failures, error };
        if (failures === 1) logger.warn("registration trouble; retrying with backoff", fields);
        else logger.debug("registration trouble persists; retrying", fields);
      }
    }
  }

  close: () => Promise<void> = closeOnce(async () => {
    this.#untrack();
    this.#closing.abort();
    this.#caller?.signal.removeEventListener("abort", this.#onSessionEnd);
    await this.#supervisor;
    this.#state.set("closed");
    this.#period?.ended.abort(
      new InfraError("Closed", `registration ${this.#key} closed`, { component: COMPONENT }),
    );
    // Revoking the lease deletes the key; the caller's session lives on without it.
    if (this.#caller) await removeLeasedKey(this.#context, this.#caller, this.#key);
    else await this.#session?.close();
  });

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

class LivePicker implements ServicePicker {
  #instances: readonly ServiceInstance[] = [];
  readonly #pick: (instances: readonly ServiceInstance[]) => ServiceInstance | undefined;
  readonly #stop = new AbortController();
  readonly #open: () => ReadableStream<ServiceInstance[]>;
  readonly #logger: Logger;
  readonly #service: string;
  #reading: Promise<void> = Promise.resolve();

  constructor(
    strategy: PickerOptions["strategy"],
    service: string,
    open: (stop: AbortSignal) => ReadableStream<ServiceInstance[]>,
    logger: Logger,
  ) {
    this.#pick = createPicker(strategy);
    this.#service = service;
    this.#open = () => open(this.#stop.signal);
    this.#logger = logger;
  }

  async start(signal?: AbortSignal): Promise<void> {
    const reader = this.#open().getReader();
    const first = await reader.read().catch((error) => {
      this.#stop.abort();
      throw error;
    });
    if (signal?.aborted) {
      this.#stop.abort();
      await reader.cancel();
      throw new InfraError("Aborted", "the operation was aborted", { component: COMPONENT });
    }
    if (!first.done) this.#instances = first.value;
    this.#reading = this.#follow(reader);
  }

  /**
   * Keeps the list current. The watch resumes by itself over outages; when it fails for
   * good (a permission taken away, say) it is logged and opened again with backoff, keeping
   * the last list meanwhile: a picker that stopped following would hand out departed
   * instances, and never the new ones, for as long as the process lives.
   */
  async #follow(reader: ReadableStreamDefaultReader<ServiceInstance[]>): Promise<void> {
    let delayMs = 200;
    for (;;) {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          this.#instances = value;
          delayMs = 200;
        }
      } catch (error) {
        if (this.#stop.signal.aborted || InfraError.is(error, "Closed")) return;
        const wait = Math.round(delayMs * (0.5 + Math.random() / 2));
        this.#logger.error("the picker's service watch failed; opening it again", {
          service: this.#service,
          error,
          delayMs: wait,
        });
        try {
          await delay(wait, { signal: this.#stop.signal });
        } catch {
          return; // closed
        }
        delayMs = Math.min(delayMs * 2, 5_000);
        reader = this.#open().getReader();
      }
    }
  }

  get stopSignal(): AbortSignal {
    return this.#stop.signal;
  }

  pick(): ServiceInstance | undefined {
    return this.#pick(this.#instances);
  }

  instances(): readonly ServiceInstance[] {
    return this.#instances;
  }

  close: () => Promise<void> = closeOnce(async () => {
    this.#stop.abort();
    await this.#reading;
  });

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Builds the service registry of a client.
 *
 * @param context The client context.
 * @returns The registry.
 */
export function createRegistry(context: CoordContext): ServiceRegistry {
  const watch = (service: string, options?: SignalOptions) => {
    options = coordOptions(options, "registry.watch");
    const prefix = servicePrefix(service);
    context.ensureOpen();
    const instances = new Map<string, ServiceInstance>();
    const list = () => [...instances.values()].sort(byId);
    return stateStream<ServiceInstance[]>(context, {
      range: { key: prefix, prefix: true },
      what: `service ${service}`,
      signal: options.signal,
      start: async (signal) => {
        const { start, kvs } = await context.retryingForever(
          (call) => readStart(context.transport, { key: prefix, prefix: true }, call),
          signal,
        );
        for (const kv of kvs) {
          const instance = toInstance(kv, context.logger);
          if (instance) instances.set(kv.key, instance);
        }
        return start;
      },
      apply: (changes) => {
        for (const change of changes) {
          if (change.type === "reset") instances.clear();
          const instance = change.type === "put"
            ? toInstance(change.kv, context.logger)
            : undefined;
          if (instance) instances.set(change.kv.key, instance);
          else instances.delete(change.kv.key);
        }
      },
      snapshot: () => ({ state: list() }),
    });
  };

  return {
    async register(instance: ServiceInstance, options?: RegisterOptions) {
      options = coordOptions(options, "registry.register");
      const checked = checkInstance(instance);
      const what = `the registration of ${checked.instance.service}/${checked.instance.id}`;
      const binding = context.bindSession(options, what);
      return await context.opening(
        what,
        async (closing) => {
          using scope = scopedSignal({ signals: [options.signal, closing], component: COMPONENT });
          const registration = new ServiceRegistration(
            context,
            checked.instance,
            checked.text,
            binding,
          );
          await registration.start(scope.signal);
          return registration;
        },
        (registration) => registration.close(),
      );
    },

    async discover(service: string, options?: SignalOptions) {
      options = coordOptions(options, "registry.discover");
      const prefix = servicePrefix(service);
      context.ensureOpen();
      const result = await context.retrying(
        (call) => context.transport.range({ key: prefix, prefix: true }, call),
        options.signal,
      );
      return result.kvs.map((kv) => toInstance(kv, context.logger))
        .filter((i): i is ServiceInstance => i !== undefined)
        .sort(byId);
    },

    watch,

    async picker(service: string, options?: PickerOptions) {
      options = coordOptions(options, "registry.picker");
      const callerSignal = options.signal;
      // Lets go of the caller's signal once the picker stops (a scope lets go when it fires).
      const picker = new LivePicker(
        options.strategy,
        service,
        (stop) =>
          watch(service, { signal: scopedSignal({ signals: [callerSignal, stop] }).signal }),
        context.logger,
      );
      return await context.opening(`a picker of ${service}`, async () => {
        await picker.start(options.signal);
        const untrack = context.track(picker);
        picker.stopSignal.addEventListener("abort", untrack, { once: true });
        return picker;
      }, () => picker.close());
    },
  };
}
