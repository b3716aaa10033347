/**
 * A session: one lease kept alive in the background, and a signal that fires when the lease
 * may be lost. Every lock, election, registration and instance id is bound to a session,
 * like in etcd's Go `concurrency` package: one the client opens for it (shared by the locks
 * and campaigns of one TTL, or a registration's or an id's own), or one the caller opened
 * with `client.session()` and handed over (the public face of this class: {@link
 * PublicSession}), so that any number of them share one lease and one keepalive.
 *
 * Why a local deadline: etcd expires a lease TTL after the last keepalive it *received*,
 * and we can only know when we *sent* it. So the session declares itself lost at
 * `sent + TTL - margin` of the last confirmed keepalive: strictly before etcd could expire
 * the lease and hand what it guarded to someone else. (etcd3's own `lost` event comes about
 * 2×TTL late.) Once lost, a session never comes back; its lease is revoked in the
 * background as soon as etcd answers, so waiters behind it do not wait for the expiry.
 *
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

import { InfraError, retry, unrefTimer } from "../base/mod.ts";
import type { Logger } from "../clog/mod.ts";
import { leaseHex, type Transport } from "./transport.ts";
import type { Session as PublicSession } from "./types.ts";

const COMPONENT = "coord";

/** Monotonic milliseconds. */
function now(): number {
  return performance.now();
}

/** Options of {@link Session.open}. */
export interface SessionOpenOptions {
  /** Logs keepalive trouble and loss. */
  logger: Logger;
  /** Gives up the grant. */
  signal?: AbortSignal;
  /**
   * Fires when the owner closes (the client): a lost lease then stops being revoked in the
   * background (the transport is closing; the lease expires on its own), so that no retry
   * timer outlives the client.
   */
  until?: AbortSignal;
}

/** See the module doc. */
export class Session implements PublicSession {
  /** Decimal lease id. */
  readonly id: string;
  /** Lease id in lower-case hex (how keys name it). */
  readonly hex: string;
  /** The requested TTL in ms (etcd may grant more; the local deadline uses this). */
  readonly ttlMs: number;
  readonly #transport: Transport;
  readonly #logger: Logger;
  readonly #lost = new AbortController();
  readonly #margin: number;
  readonly #until: AbortSignal | undefined;
  #deadline: number;
  #keepAliveTimer: ReturnType<typeof setTimeout> | undefined;
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #failures = 0;
  #closing: Promise<void> | undefined;

  private constructor(
    transport: Transport,
    id: string,
    ttlMs: number,
    sentAt: number,
    logger: Logger,
    until: AbortSignal | undefined,
  ) {
    this.#transport = transport;
    this.#until = until;
    this.id = id;
    this.hex = leaseHex(id);
    this.ttlMs = ttlMs;
    this.#logger = logger;
    // Room for clock-rate drift and for the time between the deadline and the abort.
    this.#margin = Math.min(1_000, Math.max(50, ttlMs / 10));
    this.#deadline = sentAt + ttlMs - this.#margin;
    this.#armDeadline();
    this.#scheduleKeepAlive(this.#interval());
  }

  /**
   * Grants a lease and starts keeping it alive.
   *
   * @param transport The transport.
   * @param ttlMs The TTL in ms (rounded up to whole seconds for etcd).
   * @param options Logger and signal.
   * @returns The live session.
   */
  static async open(
    transport: Transport,
    ttlMs: number,
    options: SessionOpenOptions,
  ): Promise<Session> {
    const sentAt = now();
    const grant = await transport.leaseGrant(Math.ceil(ttlMs / 1000), { signal: options.signal });
    const session = new Session(transport, grant.id, ttlMs, sentAt, options.logger, options.until);
    if (options.signal?.aborted) {
      await session.close();
      throw new InfraError("Aborted", "the operation was aborted", { component: COMPONENT });
    }
    return session;
  }

  /** The decimal lease id (public name of {@link Session.id}). */
  get leaseId(): string {
    return this.id;
  }

  /**
   * Fires (reason: a `LockLost` InfraError) when the lease may be lost, or (`Closed`) when
   * the session is closed or abandoned; never un-fires.
   */
  get signal(): AbortSignal {
    return this.#lost.signal;
  }

  /**
   * Whether the lease is still believed alive. Checks the local deadline now, so that an
   * event loop too busy to run the deadline timer cannot stretch the session past it:
   * reading `alive` after the deadline declares the session lost (and fires `signal`).
   */
  get alive(): boolean {
    if (!this.#lost.signal.aborted && now() >= this.#deadline) {
      this.#lose("no keepalive was confirmed within the lease TTL");
    }
    return !this.#lost.signal.aborted;
  }

  /**
   * Declares the session lost now (e.g. etcd answered that the lease does not exist).
   *
   * @param why For the log and the signal's reason.
   */
  invalidate(why: string): void {
    this.#lose(why);
  }

  #interval(): number {
    return Math.max(100, Math.floor(this.ttlMs / 3));
  }

  #scheduleKeepAlive(delayMs: number): void {
    if (this.#stopped) return;
    this.#keepAliveTimer = setTimeout(() => this.#keepAlive(), delayMs);
    unrefTimer(this.#keepAliveTimer);
  }

  #armDeadline(): void {
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = setTimeout(() => {
      if (now() >= this.#deadline) {
        this.#lose("no keepalive was confirmed within the lease TTL");
      } else {
        this.#armDeadline();
      }
    }, Math.max(0, this.#deadline - now()));
    unrefTimer(this.#deadlineTimer);
  }

  async #keepAlive(): Promise<void> {
    if (this.#stopped) return;
    const sentAt = now();
    try {
      const ttl = await this.#transport.leaseKeepAlive(this.id);
      if (this.#stopped) return;
      if (ttl <= 0) {
        this.#lose("the lease expired or was revoked");
        return;
      }
      if (this.#failures > 0) {
        this.#logger.info("lease keepalive recovered", {
          lease: this.hex,
          failures: this.#failures,
        });
      }
      this.#failures = 0;
      this.#deadline = Math.max(this.#deadline, sentAt + this.ttlMs - this.#margin);
      this.#armDeadline();
      this.#scheduleKeepAlive(this.#interval());
    } catch (error) {
      if (this.#stopped) return;
      this.#failures++;
      if (this.#failures === 1) {
        this.#logger.warn("lease keepalive failed; retrying", { lease: this.hex, error });
      }
      // Retry sooner than the normal cadence: the deadline is approaching.
      this.#scheduleKeepAlive(Math.max(50, Math.floor(this.#interval() / 3)));
    }
  }

  #lose(why: string): void {
    if (this.#lost.signal.aborted) return;
    this.#stop();
    this.#logger.warn("lease lost", { lease: this.hex, reason: why });
    this.#lost.abort(
      new InfraError("LockLost", `lease ${this.hex} lost: ${why}`, { component: COMPONENT }),
    );
    // etcd may still hold the lease (it extends leases across a restart): revoke it once
    // reachable so what it guarded is freed now rather than a TTL later.
    void this.#revokeInBackground();
  }

  #stop(): void {
    this.#stopped = true;
    if (this.#keepAliveTimer !== undefined) clearTimeout(this.#keepAliveTimer);
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
  }

  async #revokeInBackground(): Promise<void> {
    try {
      await retry((_attempt, call) => this.#transport.leaseRevoke(this.id, call), {
        maxAttempts: Infinity,
        deadlineMs: Math.max(2 * this.ttlMs, 10_000),
        initialDelayMs: 200,
        maxDelayMs: 2_000,
        signal: this.#until,
      });
    } catch {
      // It expires on its own.
    }
  }

  /**
   * Ends the session: stops the keepalive and revokes the lease (deleting its keys).
   * Idempotent. Never throws: an unreachable etcd lets the lease expire instead.
   */
  async close(): Promise<void> {
    // A lost session is already being revoked in the background; do not wait for etcd.
    if (this.#lost.signal.aborted && this.#closing === undefined) return;
    if (this.#closing === undefined) {
      this.#stop();
      this.#lost.abort(
        new InfraError("Closed", `lease ${this.hex} was closed`, { component: COMPONENT }),
      );
      this.#closing = (async () => {
        try {
          await retry((_attempt, call) => this.#transport.leaseRevoke(this.id, call), {
            maxAttempts: 3,
            initialDelayMs: 50,
          });
        } catch (error) {
          this.#logger.warn("could not revoke lease; it will expire", {
            lease: this.hex,
            error,
          });
        }
      })();
    }
    await this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Stops keeping the lease alive without revoking it, as a crashed process would. */
  abandon(): void {
    if (this.#lost.signal.aborted) return;
    this.#stop();
    this.#lost.abort(
      new InfraError("Closed", `lease ${this.hex} was abandoned`, { component: COMPONENT }),
    );
  }
}
