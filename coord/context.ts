/**
 * What every coord primitive shares inside one client: the transport, the logger, the
 * timeouts, the retry policy, the shared sessions and the list of open resources that
 * `close()` must close.
 *
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

import {
  abortable,
  type AttemptOptions,
  backoffCap,
  delay,
  InfraError,
  retry,
  type RetryOptions,
  scopedSignal,
} from "../base/mod.ts";
import type { Logger } from "../clog/mod.ts";
import { checkTtl } from "./config.ts";
import { Session } from "./session.ts";
import type { Transport } from "./transport.ts";

/**
 * Where a primitive gets its lease: the caller's session (`options.session`), or sessions of
 * `ttlMs` that the client opens for it.
 */
export interface SessionBinding {
  /** The TTL: the caller's session's, or the one asked for. */
  ttlMs: number;
  /** The caller's session, checked (see {@link CoordContext.bindSession}). */
  caller: Session | undefined;
}

/**
 * The error of a primitive bound to a session that has ended: `Closed` for a closed
 * session, `LockLost` for a lost one (as Go's `ErrSessionExpired`).
 *
 * @param session The session.
 * @param what What could not be done, for the message.
 * @returns The error.
 */
export function sessionEnded(session: Session, what: string): InfraError {
  const reason = session.signal.reason;
  const closed = InfraError.is(reason, "Closed");
  return new InfraError(
    closed ? "Closed" : "LockLost",
    `${what}: session ${session.hex} was ${closed ? "closed" : "lost"}`,
    { component: "coord", cause: reason },
  );
}

/** A resource the client closes on `close()`. */
export interface Tracked {
  /** Closes it. */
  close(): Promise<void>;
  /** Stops without cleaning up in etcd (a crash), for fault tests. */
  abandon?(): void;
}

/** See the module doc. */
export class CoordContext {
  /** The (namespaced) transport. */
  readonly transport: Transport;
  /** The component logger. */
  readonly logger: Logger;
  /** Deadline of one request. */
  readonly requestTimeoutMs: number;
  /** Default lease TTL. */
  readonly sessionTtlMs: number;
  readonly #closed = new AbortController();
  readonly #sessions = new Map<number, Promise<Session>>();
  /** The sessions handed out by {@link openCallerSession}: the only ones a caller may bind. */
  readonly #callerSessions = new WeakSet<Session>();
  readonly #resources = new Set<Tracked>();
  /** Openings under way (see {@link opening}); each settles, never rejects. */
  readonly #openings = new Set<Promise<void>>();
  /** Set once `close()` has taken the list of tracked resources to close. */
  #resourcesClosed = false;

  /**
   * Creates the context.
   *
   * @param transport The transport.
   * @param logger The logger.
   * @param settings Timeouts.
   */
  constructor(
    transport: Transport,
    logger: Logger,
    settings: { requestTimeoutMs: number; sessionTtlMs: number },
  ) {
    this.transport = transport;
    this.logger = logger;
    this.requestTimeoutMs = settings.requestTimeoutMs;
    this.sessionTtlMs = settings.sessionTtlMs;
  }

  /** Fires when the client closes. */
  get closed(): AbortSignal {
    return this.#closed.signal;
  }

  /**
   * Throws `Closed` once the client is closed.
   *
   * @throws {InfraError} `Closed`.
   */
  ensureOpen(): void {
    if (this.#closed.signal.aborted) {
      throw new InfraError("Closed", "the coord client is closed", { component: "coord" });
    }
  }

  /**
   * Runs an operation that is safe to repeat, retrying `Unavailable`/`Timeout` with
   * jittered backoff for about two request timeouts: a request caught by an etcd leader
   * failure hangs until its deadline, and the retry then reaches the new leader.
   *
   * @param fn The operation. Pass its `call` (the attempt's signal) to the transport: an
   * attempt abandoned at the deadline or by `signal` then stops its request too.
   * @param signal Stops retrying.
   * @returns What `fn` returned.
   */
  retrying<T>(fn: (call: AttemptOptions) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return retry((_attempt, call) => fn(call), {
      maxAttempts: Infinity,
      deadlineMs: 2 * this.requestTimeoutMs + 1_000,
      initialDelayMs: 50,
      maxDelayMs: 500,
      signal,
    });
  }

  /**
   * Runs an operation that is safe to repeat until it succeeds, a permanent error occurs or
   * `signal` fires (then it throws `Aborted`).
   *
   * @param fn The operation; pass its `call` to the transport, as for {@link retrying}.
   * @param signal Stops retrying.
   * @returns What `fn` returned.
   */
  retryingForever<T>(fn: (call: AttemptOptions) => Promise<T>, signal: AbortSignal): Promise<T> {
    return retry((_attempt, call) => fn(call), {
      maxAttempts: Infinity,
      deadlineMs: Number.MAX_SAFE_INTEGER,
      initialDelayMs: 50,
      maxDelayMs: 1_000,
      signal,
    });
  }

  /**
   * Opens a session (retried like {@link retrying}). An attempt given up meanwhile (the
   * signal fired, the deadline passed) may still get its lease from etcd, even just after
   * its grant came back: such a session is closed again (its lease revoked). When the client
   * is closing this waits for those revokes, so that none runs after the transport has
   * closed and leaves a lease behind to expire on its own.
   *
   * @param ttlMs The lease TTL.
   * @param signal Gives up opening.
   * @returns A live session.
   */
  async openSession(ttlMs: number, signal?: AbortSignal): Promise<Session> {
    const attempts: Promise<Session>[] = [];
    try {
      return await this.retrying((call) => {
        const attempt = Session.open(this.transport, ttlMs, {
          logger: this.logger,
          signal: call.signal,
          until: this.#closed.signal,
        });
        attempts.push(attempt);
        return attempt;
      }, signal);
    } catch (error) {
      const revoked = Promise.allSettled(attempts.map(async (attempt) => (await attempt).close()));
      if (this.#closed.signal.aborted) await revoked;
      throw error;
    }
  }

  /**
   * Opens a session for the caller (`client.session()`): closed with the client, and one
   * that primitives of this client may be bound to (see {@link bindSession}).
   *
   * @param options TTL and a signal that gives up opening.
   * @returns The live session.
   */
  async openCallerSession(
    options: { ttlMs?: number; signal?: AbortSignal } = {},
  ): Promise<Session> {
    if (typeof options !== "object" || options === null) {
      throw new InfraError("InvalidArgument", "session options must be an object", {
        component: "coord",
        details: { field: "options" },
      });
    }
    const ttlMs = checkTtl(options.ttlMs ?? this.sessionTtlMs);
    return await this.opening("a session", async (closing) => {
      using scope = scopedSignal({ signals: [options.signal, closing], component: "coord" });
      const session = await this.openSession(ttlMs, scope.signal);
      this.#callerSessions.add(session);
      const untrack = this.track({
        close: () => session.close(),
        abandon: () => session.abandon(),
      });
      // Ended (closed by the caller, or lost): nothing left for the client to close.
      session.signal.addEventListener("abort", untrack, { once: true });
      return session;
    }, (session) => session.close());
  }

  /**
   * Checks the `ttlMs` and `session` options of a primitive: a session must be one this
   * client handed out (a session of another client would hold keys in its etcd, under its
   * namespace) and still alive, and excludes `ttlMs`.
   *
   * @param options The primitive's options.
   * @param what What is being bound, for messages, e.g. `lock orders`.
   * @returns The binding.
   * @throws {InfraError} `InvalidArgument` for a bad TTL, a session that is not one of this
   * client's, or both options; `LockLost`/`Closed` for a session that has ended.
   */
  bindSession(options: { ttlMs?: unknown; session?: unknown }, what: string): SessionBinding {
    const session = options.session;
    if (session === undefined) {
      return { ttlMs: checkTtl(options.ttlMs ?? this.sessionTtlMs), caller: undefined };
    }
    if (!(session instanceof Session) || !this.#callerSessions.has(session)) {
      throw new InfraError(
        "InvalidArgument",
        "session must be a session of this client (from its session())",
        { component: "coord", details: { field: "session" } },
      );
    }
    if (options.ttlMs !== undefined) {
      throw new InfraError(
        "InvalidArgument",
        "ttlMs and session exclude each other: the session's TTL applies",
        { component: "coord", details: { field: "ttlMs" } },
      );
    }
    if (!session.alive) throw sessionEnded(session, what);
    return { ttlMs: session.ttlMs, caller: session };
  }

  /**
   * The shared session of this TTL (locks and elections), opened on first use and replaced
   * once lost.
   *
   * @param ttlMs The lease TTL.
   * @param signal Gives up opening.
   * @returns A live session.
   */
  async session(ttlMs: number, signal?: AbortSignal): Promise<Session> {
    this.ensureOpen();
    for (;;) {
      let pending = this.#sessions.get(ttlMs);
      if (!pending) {
        // Shared by every caller of this TTL: only the client's closing may stop it, never
        // one caller's signal (each caller gives up on its own, below).
        pending = this.openSession(ttlMs, this.#closed.signal);
        this.#sessions.set(ttlMs, pending);
        pending.catch(() => {
          if (this.#sessions.get(ttlMs) === pending) this.#sessions.delete(ttlMs);
        });
      }
      const session = await abortable(pending, signal, "coord");
      if (session.alive) return session;
      if (this.#sessions.get(ttlMs) === pending) this.#sessions.delete(ttlMs);
    }
  }

  /**
   * Runs `fn` on the caller's session, or on the shared session of the binding's TTL. When
   * etcd answers that the session's lease is gone (revoked, or expired before the session
   * noticed), the session is declared lost; `fn` then runs again on a new shared session,
   * while on the caller's it fails `LockLost` (the caller's session cannot be replaced).
   *
   * @param binding The session or TTL, from {@link bindSession}.
   * @param signal Gives up.
   * @param fn The work.
   * @param what What `fn` does, for the error on a caller's session that has ended.
   * @returns What `fn` returned.
   */
  async withSession<T>(
    binding: SessionBinding,
    signal: AbortSignal | undefined,
    fn: (session: Session) => Promise<T>,
    what: string,
  ): Promise<T> {
    for (let attempt = 1;; attempt++) {
      const session = binding.caller ?? await this.session(binding.ttlMs, signal);
      try {
        return await fn(session);
      } catch (error) {
        const gone = InfraError.is(error, "NotFound") && error.details.leaseNotFound === true;
        if (gone) session.invalidate("etcd no longer knows the lease");
        if (binding.caller && !binding.caller.alive) throw sessionEnded(binding.caller, what);
        if (!gone || attempt >= 3) throw error;
      }
    }
  }

  /**
   * Waits before the next attempt of a background loop (re-registering, re-claiming): full
   * jitter below the capped exponential backoff of attempt `attempt`. Always waits a
   * macrotask at least, so that no failing loop can starve the event loop.
   *
   * @param attempt The attempt that just failed, from 1.
   * @param signal Stops the wait (it then rejects with the signal's error).
   * @param options Initial and maximum cap, in ms.
   */
  backoff(
    attempt: number,
    signal: AbortSignal,
    options: Pick<RetryOptions, "initialDelayMs" | "maxDelayMs">,
  ): Promise<void> {
    return delay(Math.floor(Math.random() * backoffCap(attempt, options)), { signal });
  }

  /**
   * Runs the opening of something the client closes with it (a registration, a lock or a
   * leadership, an instance id, a typed config, a picker). `open` gets the client's closing
   * signal, to pass on to its I/O; `close()` waits until the opening has settled. When the
   * client's close began before the opening finished, what it opened is undone at once
   * (`undo`: a lease revoked, a key deleted) and the call rejects with `Closed`, so nothing
   * opened outlives the client.
   *
   * @param what What is opened, for the error, e.g. `registration of im-logic/1`.
   * @param open Opens it (and tracks what it opened, see {@link track}).
   * @param undo Closes what `open` returned.
   * @returns What `open` returned.
   * @throws {InfraError} `Closed` when the client closes meanwhile (or is closed already);
   * otherwise what `open` threw.
   */
  async opening<T>(
    what: string,
    open: (closing: AbortSignal) => Promise<T>,
    undo: (opened: T) => Promise<void>,
  ): Promise<T> {
    this.ensureOpen();
    const closing = this.#closed.signal;
    const closedMeanwhile = (cause?: unknown) =>
      new InfraError("Closed", `the coord client closed while ${what} was being opened`, {
        component: "coord",
        cause,
      });
    const run = (async () => {
      let opened: T;
      try {
        opened = await open(closing);
      } catch (error) {
        throw closing.aborted ? closedMeanwhile(error) : error;
      }
      if (closing.aborted) {
        try {
          await undo(opened);
        } catch (error) {
          this.logger.warn("could not undo what was opened while the client closed", {
            what,
            error,
          });
        }
        throw closedMeanwhile();
      }
      return opened;
    })();
    const settled = run.then(() => {}, () => {});
    this.#openings.add(settled);
    void settled.then(() => this.#openings.delete(settled));
    return await run;
  }

  /**
   * Adds a resource to close with the client. Call it from inside {@link opening}: an
   * opening that finishes after the client's close began closes its resource itself.
   *
   * @param resource The resource.
   * @returns A function that removes it (call it when the resource closes by itself).
   */
  track(resource: Tracked): () => void {
    if (this.#resourcesClosed) {
      // Too late for close() to see it: nothing opened may outlive the client.
      void resource.close().catch(() => {});
      return () => {};
    }
    this.#resources.add(resource);
    return () => this.#resources.delete(resource);
  }

  /**
   * Closes the client's resources: waits for the openings under way (each undoes what it
   * opened once it sees the close), then closes every tracked resource, then the shared
   * sessions.
   */
  async close(): Promise<void> {
    this.#closed.abort(
      new InfraError("Closed", "the coord client is closed", { component: "coord" }),
    );
    // No opening can start any more (ensureOpen); wait for those under way.
    await Promise.allSettled([...this.#openings]);
    this.#resourcesClosed = true;
    const resources = [...this.#resources];
    this.#resources.clear();
    await Promise.allSettled(resources.map((resource) => resource.close()));
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.allSettled(sessions.map(async (pending) => (await pending).close()));
  }

  /** Stops everything without cleaning up in etcd, as a crashed process would. */
  async abandon(): Promise<void> {
    this.#closed.abort(
      new InfraError("Closed", "the coord client is closed", { component: "coord" }),
    );
    this.#resourcesClosed = true;
    // A copy: abandoning a session ends what is bound to it, which untracks itself.
    const resources = [...this.#resources];
    this.#resources.clear();
    for (const resource of resources) resource.abandon?.();
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.allSettled(sessions.map(async (pending) => (await pending).abandon()));
  }
}
