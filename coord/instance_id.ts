/**
 * The instance-id allocator behind uid's Snowflake worker ids: id `n` of a service is the key
 * `/ids/{service}/{n}`, created only if absent (`CreateRevision == 0`) under the holder's
 * own lease. One range read finds the taken ids; the allocator then tries free ones in
 * order (the preferred id first) and reads again only when all of them were taken
 * meanwhile, instead of the Go original's one transaction per id. etcd guarantees that two
 * live leases never hold the same key, and the session's local deadline fires the lease's
 * signal before etcd could expire it and hand the id to another process.
 *
 * After a loss the lease re-claims its own id, and nothing else (the Go original opened a
 * new session and silently dropped its ids, so two processes could use one): on a new
 * lease, create-only again, or moved over from this holder's own old lease while etcd still
 * keeps that one (then nobody else can hold the key). When another holder has the id, the
 * lease is over (`taken`). A new period starts on a later wall-clock millisecond than the
 * last one ended, so no Snowflake id of the new period (from the same generator, which
 * follows the lease, or a new one) can repeat a timestamp of the one before.
 *
 * Internal: the public face is {@link InstanceIdLease} (`coord.leaseInstanceId`).
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
import { type CoordContext, type SessionBinding, sessionEnded } from "./context.ts";
import { checkSegment, IDS_ROOT } from "./keys.ts";
import { ObservedState } from "./observed_state.ts";
import { Ownership, removeLeasedKey } from "./ownership.ts";
import { Session } from "./session.ts";
import type { InstanceIdLease, InstanceIdOptions, InstanceIdState } from "./types.ts";

const COMPONENT = "coord";
const check = configCheck(COMPONENT);
/** Largest `maxId` accepted. */
const ID_LIMIT = 65_535;
/** Full re-reads before giving up when every free id keeps being taken by others. */
const ROUNDS = 8;

function randomHolder(): string {
  return Math.random().toString(36).slice(2, 10);
}

/** What an id key holds: who holds it, under which lease, since when (for operators). */
/**
 * The value of a claimed id key: who holds it, and a token unique to this claim, by which
 * a claim that finds the key under its own lease tells its own retried write from the key
 * of another id lease on the same (caller's) session.
 */
function claimValue(holder: string, session: Session): string {
  return encodeJson({
    holder,
    lease: session.hex,
    since: new Date().toISOString(),
    claim: crypto.randomUUID(),
  });
}

/** A claimed key: its create revision, and the revision from which it is under our lease. */
interface Claim {
  revision: number;
  since: number;
}

/**
 * Claims `key` for `session`: creates it when absent, or moves it over from one of
 * `previous` (this holder's own earlier leases, still alive in etcd). Safe to retry.
 *
 * @returns The claim, or undefined when someone else holds the key.
 */
async function claimKey(
  context: CoordContext,
  session: Session,
  key: string,
  value: string,
  previous: ReadonlySet<string>,
  signal?: AbortSignal,
): Promise<Claim | undefined> {
  const { transport } = context;
  for (;;) {
    const result = await context.retrying(
      (call) =>
        transport.txn({
          compare: [{ key, target: "create", result: "==", value: 0 }],
          success: [{ type: "put", key, value, lease: session.id }],
          failure: [{ type: "range", request: { key } }],
        }, call),
      signal,
    );
    if (result.succeeded) return { revision: result.revision, since: result.revision };
    const existing = result.results[0];
    const kv = existing?.type === "range" ? existing.result.kvs[0] : undefined;
    // Deleted since: try again.
    if (!kv) continue;
    const lease = BigInt(kv.lease).toString();
    if (lease === BigInt(session.id).toString()) {
      // A retried transaction may find the key it put itself; on a caller's session, the
      // key may be another id lease's (its value is not this claim's).
      return kv.value === value
        ? { revision: kv.createRevision, since: kv.modRevision }
        : undefined;
    }
    if (lease === "0" || !previous.has(lease)) return undefined;
    const moved = await context.retrying(
      (call) =>
        transport.txn({
          compare: [{ key, target: "lease", result: "==", value: kv.lease }],
          success: [{ type: "put", key, value, lease: session.id }],
          failure: [],
        }, call),
      signal,
    );
    if (moved.succeeded) return { revision: kv.createRevision, since: moved.revision };
    // The old lease went (taking the key along) or a retry moved it already: look again.
  }
}

/** One period of holding the id: a session and the ownership of the key under it. */
interface Period {
  session: Session;
  ownership: Ownership;
}

function whenAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

class LeasedInstanceId implements InstanceIdLease {
  readonly service: string;
  readonly id: number;
  readonly #context: CoordContext;
  readonly #key: string;
  readonly #holder: string;
  readonly #ttlMs: number;
  /** The caller's session it is bound to, if any: the only session it may use. */
  readonly #caller: Session | undefined;
  readonly #onSessionEnd = () => this.#endWithSession();
  readonly #closing = new AbortController();
  /** Lease ids of the earlier periods: the key may still be attached to one of them. */
  readonly #previous = new Set<string>();
  readonly #state: ObservedState<InstanceIdState>;
  #period: Period;
  /** Wall-clock ms when the last period ended. */
  #endedAt = 0;
  #supervisor: Promise<void>;
  readonly #untrack: () => void;

  constructor(
    context: CoordContext,
    service: string,
    id: number,
    holder: string,
    binding: SessionBinding,
    period: Period,
  ) {
    this.#context = context;
    this.service = service;
    this.id = id;
    this.#key = keyOf(service, id);
    this.#holder = holder;
    this.#ttlMs = binding.ttlMs;
    this.#caller = binding.caller;
    this.#period = period;
    this.#state = new ObservedState<InstanceIdState>(
      "held",
      context.logger,
      `instance id ${this.#key}`,
    );
    this.#follow(period);
    this.#supervisor = this.#supervise();
    this.#untrack = context.track({
      close: () => this.close(),
      abandon: () => {
        this.#closing.abort();
        if (!this.#caller) this.#period.session.abandon();
      },
    });
    if (this.#caller?.signal.aborted) this.#endWithSession();
    else this.#caller?.signal.addEventListener("abort", this.#onSessionEnd, { once: true });
  }

  /**
   * The caller's session ended: so does the lease, for good (it may not take a lease of its
   * own): `closed` with a closed session, `expired` with a lost one.
   */
  #endWithSession(): void {
    if (this.#closing.signal.aborted) return;
    const session = this.#caller!;
    const closed = InfraError.is(session.signal.reason, "Closed");
    this.#closing.abort();
    this.#untrack();
    this.#state.set(closed ? "closed" : "expired");
    if (!closed) {
      this.#context.logger.warn("instance id expired with its session; it cannot be re-claimed", {
        service: this.service,
        id: this.id,
        lease: session.hex,
      });
    }
  }

  get state(): InstanceIdState {
    // Checks the deadline now; a passed one ends the period synchronously (see #follow).
    void this.#period.session.alive;
    return this.#state.current;
  }

  get signal(): AbortSignal {
    void this.#period.session.alive;
    return this.#period.ownership.signal;
  }

  onStateChange(listener: (state: InstanceIdState) => void): () => void {
    return this.#state.subscribe(listener);
  }

  /**
   * Marks the lease lost the moment the period's signal fires (also when `state`'s deadline
   * check fires it), unless the period was released (`Closed`: the client is closing).
   */
  #follow(period: Period): void {
    const signal = period.ownership.signal;
    signal.addEventListener("abort", () => {
      if (period !== this.#period || this.#closing.signal.aborted) return;
      if (InfraError.is(signal.reason, "Closed")) return;
      this.#endedAt = Date.now();
      this.#state.set("lost");
    }, { once: true });
  }

  async #supervise(): Promise<void> {
    const { logger } = this.#context;
    for (;;) {
      const period = this.#period;
      const ended = period.ownership.signal;
      // Scoped, not AbortSignal.any: the closing signal outlives any number of periods (and
      // a scope lets go of its signals once it fires, which is when this wait ends).
      await whenAborted(scopedSignal({ signals: [ended, this.#closing.signal] }).signal);
      if (this.#closing.signal.aborted || InfraError.is(ended.reason, "Closed")) return;
      logger.warn("instance id lost; no ids until it is re-claimed", {
        service: this.service,
        id: this.id,
        reason: ended.reason,
      });
      // On the caller's session the key will be claimed again under the same lease: the
      // release (a delete of the key while under that lease) must be done by then.
      if (this.#caller) await period.ownership.release();
      else void period.ownership.release();
      if (!this.#caller) {
        this.#previous.add(BigInt(period.session.id).toString());
        // A lost session revokes its lease by itself; a live one (key deleted or
        // overwritten) has nothing left to guard.
        void period.session.close();
      }
      const next = await this.#reclaim();
      if (next === undefined) return;
      this.#period = next;
      this.#follow(next);
      this.#state.set("held");
      logger.info("instance id re-claimed", {
        service: this.service,
        id: this.id,
        lease: next.session.hex,
      });
    }
  }

  /** Claims the id again under a new session, retrying until done, taken or closed. */
  async #reclaim(): Promise<Period | undefined> {
    const { transport, logger } = this.#context;
    const stop = this.#closing.signal;
    const caller = this.#caller;
    // On the caller's session, one claim value for every attempt: an attempt that failed
    // after its write landed leaves a key the next one must know for its own.
    const callerValue = caller && claimValue(this.#holder, caller);
    for (let attempt = 1; !stop.aborted; attempt++) {
      // Our own session, to close when the attempt fails; never the caller's.
      let session: Session | undefined;
      try {
        if (caller && !caller.alive) return undefined;
        session = caller ?? await Session.open(transport, this.#ttlMs, {
          logger,
          signal: stop,
          until: this.#context.closed,
        });
        const claim = await claimKey(
          this.#context,
          session,
          this.#key,
          callerValue ?? claimValue(this.#holder, session),
          this.#previous,
          stop,
        );
        if (!claim) {
          if (!caller) await session.close();
          logger.error("instance id taken by another holder while lost; lease a new one", {
            service: this.service,
            id: this.id,
          });
          this.#state.set("taken");
          return undefined;
        }
        const wait = this.#endedAt - Date.now() + 1;
        if (wait > 0) await delay(wait, { signal: stop });
        if (!session.alive) throw new InfraError("LockLost", "lost again while re-claiming");
        const ownership = new Ownership(
          this.#context,
          session,
          this.#key,
          claim.revision,
          `instance id ${this.#key}`,
          claim.since,
        );
        return { session, ownership };
      } catch (error) {
        if (session && !caller) {
          this.#previous.add(BigInt(session.id).toString());
          void session.close();
        }
        if (stop.aborted) return undefined;
        const fields = { service: this.service, id: this.id, error };
        if (attempt === 1) logger.warn("instance id re-claim failed; retrying", fields);
        else logger.debug("instance id re-claim failed; retrying", fields);
        try {
          await this.#context.backoff(attempt, stop, { initialDelayMs: 200, maxDelayMs: 2_000 });
        } catch {
          return undefined;
        }
      }
    }
    return undefined;
  }

  close: () => Promise<void> = closeOnce(async () => {
    this.#untrack();
    this.#closing.abort();
    this.#caller?.signal.removeEventListener("abort", this.#onSessionEnd);
    await this.#supervisor;
    this.#state.set("closed");
    const period = this.#period;
    await period.ownership.release();
    // The caller's session lives on without the id.
    if (!this.#caller) await period.session.close();
  });

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function keyOf(service: string, id: number): string {
  return `${IDS_ROOT}/${service}/${id}`;
}

/**
 * Leases an instance id.
 *
 * @param context The client context.
 * @param service The service name.
 * @param options Range, TTL, preferred id, holder and signal.
 * @returns The lease.
 */
export async function leaseInstanceId(
  context: CoordContext,
  service: string,
  options: InstanceIdOptions = {},
): Promise<InstanceIdLease> {
  checkSegment(service, "service");
  const maxId = check.integer(options.maxId ?? 1023, "maxId", { min: 0, max: ID_LIMIT });
  if (options.preferId !== undefined) {
    check.integer(options.preferId, "preferId", { min: 0, max: maxId });
  }
  const holder = options.holder === undefined
    ? randomHolder()
    : check.string(options.holder, "holder");
  const binding = context.bindSession(options, `an instance id of ${service}`);
  return await context.opening(`an instance id of ${service}`, async (closing) => {
    using scope = scopedSignal({ signals: [options.signal, closing], component: COMPONENT });
    const request = { service, maxId, holder, binding, preferId: options.preferId };
    return await claimInstanceId(context, request, scope.signal);
  }, (lease) => lease.close());
}

/** What {@link claimInstanceId} claims: the checked options of {@link leaseInstanceId}. */
interface IdRequest {
  service: string;
  maxId: number;
  holder: string;
  binding: SessionBinding;
  preferId: number | undefined;
}

/** Claims a free id under a new session (the work of {@link leaseInstanceId}). */
async function claimInstanceId(
  context: CoordContext,
  request: IdRequest,
  signal: AbortSignal,
): Promise<InstanceIdLease> {
  const { service, maxId, holder, binding, preferId } = request;
  const { transport, logger } = context;
  const prefix = `${IDS_ROOT}/${service}/`;

  const session = binding.caller ?? await context.openSession(binding.ttlMs, signal);
  const value = claimValue(holder, session);
  let claimed: { id: number; claim: Claim } | undefined;
  const tried: string[] = [];
  try {
    for (let round = 0; round < ROUNDS && !claimed; round++) {
      const taken = await context.retrying(
        (call) => transport.range({ key: prefix, prefix: true, keysOnly: true }, call),
        signal,
      );
      const used = new Set(taken.kvs.map((kv) => Number(kv.key.slice(prefix.length))));
      const free: number[] = [];
      if (preferId !== undefined && !used.has(preferId)) free.push(preferId);
      for (let id = 0; id <= maxId; id++) {
        if (!used.has(id) && id !== preferId) free.push(id);
      }
      if (free.length === 0) {
        throw new InfraError("ResourceExhausted", `every instance id of ${service} is taken`, {
          component: COMPONENT,
          details: { service, maxId },
        });
      }
      for (const id of free) {
        tried.push(keyOf(service, id));
        const claim = await claimKey(
          context,
          session,
          keyOf(service, id),
          value,
          new Set(),
          signal,
        );
        if (claim) {
          claimed = { id, claim };
          break;
        }
      }
    }
    if (!claimed) {
      throw new InfraError(
        "ResourceExhausted",
        `could not claim an instance id of ${service}: free ids kept being taken`,
        { component: COMPONENT, details: { service, maxId } },
      );
    }
  } catch (error) {
    if (binding.caller) {
      // A claim given up in flight may have landed: the caller's session would keep it.
      // Only keys with this claim's value: the caller's session may hold others' ids.
      await Promise.all(tried.map((key) => removeLeasedKey(context, session, key, { value })));
      if (!binding.caller.alive) throw sessionEnded(binding.caller, `an instance id of ${service}`);
    } else {
      await session.close();
    }
    throw error;
  }

  const { id, claim } = claimed;
  const key = keyOf(service, id);
  const ownership = new Ownership(context, session, key, claim.revision, `instance id ${key}`);
  logger.info("instance id leased", { service, id, lease: session.hex });
  return new LeasedInstanceId(context, service, id, holder, binding, { session, ownership });
}
