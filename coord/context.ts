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
} from "../base/mod.ts";
import type { Logger } from "../clog/mod.ts";
import { Session } from "./session.ts";
import type { Transport } from "./transport.ts";

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
   * Runs `fn` on the shared session of this TTL. When etcd answers that the session's lease
   * is gone (revoked, or expired before the session noticed), the session is declared lost
   * and `fn` runs again on a new one.
   *
   * @param ttlMs The lease TTL.
   * @param signal Gives up.
   * @param fn The work.
   * @returns What `fn` returned.
   */
  async withSession<T>(
    ttlMs: number,
    signal: AbortSignal | undefined,
    fn: (session: Session) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1;; attempt++) {
      const session = await this.session(ttlMs, signal);
      try {
        return await fn(session);
      } catch (error) {
        const gone = InfraError.is(error, "NotFound") && error.details.leaseNotFound === true;
        if (!gone || attempt >= 3) throw error;
        session.invalidate("etcd no longer knows the lease");
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
    for (const resource of this.#resources) resource.abandon?.();
    this.#resources.clear();
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.allSettled(sessions.map(async (pending) => (await pending).abandon()));
  }
}
