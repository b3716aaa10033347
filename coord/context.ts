/**
 * What every coord primitive shares inside one client: the transport, the logger, the
 * timeouts, the retry policy, the shared sessions and the list of open resources that
 * `close()` must close.
 *
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

import { abortable, type AttemptOptions, InfraError, retry } from "../base/mod.ts";
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
        const closed = this.#closed.signal;
        pending = this.retrying(
          ({ signal }) => Session.open(this.transport, ttlMs, { logger: this.logger, signal }),
          closed,
        );
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
   * Adds a resource to close with the client.
   *
   * @param resource The resource.
   * @returns A function that removes it (call it when the resource closes by itself).
   */
  track(resource: Tracked): () => void {
    this.#resources.add(resource);
    return () => this.#resources.delete(resource);
  }

  /** Closes every tracked resource, then the shared sessions. */
  async close(): Promise<void> {
    this.#closed.abort(
      new InfraError("Closed", "the coord client is closed", { component: "coord" }),
    );
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
    for (const resource of this.#resources) resource.abandon?.();
    this.#resources.clear();
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.allSettled(sessions.map(async (pending) => (await pending).abandon()));
  }
}
