/**
 * Per-command deadlines and error mapping at the cost of one closure per command.
 *
 * ioredis's `commandTimeout` arms and clears a timer for every command (about a third of
 * the throughput), and keeping in-flight commands in a set of our own makes V8 promote
 * them to the old generation (scavenges get ten times slower). ioredis already holds every
 * in-flight command in its `commandQueue`, in send order; so commands carry their issue
 * time, and one sweeper timer walks the front of each queue and fails the overdue ones
 * with `Timeout`. A command fails at most a tenth of the timeout late.
 *
 * That leans on ioredis internals (`Command#reject`/`isSettled`, `Redis#commandQueue` and
 * its `{ command }` entries), which a patch release may change. So they are checked before
 * they are used ({@link probeCommandInternals} at connect, {@link queueHolds} on the live
 * connection), the sweeper checks them again on every pass and never throws, and the
 * connection falls back to ioredis's public `call` with its own `commandTimeout` when any
 * check fails: slower, never hanging. (Commands already in flight when a sweep discovers
 * the change keep no deadline of their own: they settle when Redis answers or the
 * connection drops.)
 *
 * @module
 */

import { Command as RedisCommand, Redis } from "ioredis";
import type { Cluster } from "ioredis";
import { InfraError, unrefTimer } from "../base/mod.ts";
import { toCacheError } from "./errors.ts";

/** A command of the cache: it knows when it was issued and maps its errors. */
export class CacheCommand extends RedisCommand {
  /** When it was issued (ms since the epoch). */
  readonly issuedAt: number = Date.now();

  constructor(
    name: string,
    args: (string | number | Uint8Array)[],
    options: { replyEncoding: "utf8" | null },
  ) {
    super(name, args as string[], options);
    const reject = this.reject;
    this.reject = (error: Error) => reject(toCacheError(error));
  }
}

/** The part of ioredis's `Denque` the sweeper reads. */
interface CommandQueue {
  readonly length: number;
  peekAt(index: number): unknown;
}

function isQueue(value: unknown): value is CommandQueue {
  return typeof value === "object" && value !== null &&
    typeof (value as CommandQueue).length === "number" &&
    typeof (value as CommandQueue).peekAt === "function";
}

function queueOf(client: unknown): CommandQueue | undefined {
  const queue = (client as { commandQueue?: unknown } | undefined)?.commandQueue;
  return isQueue(queue) ? queue : undefined;
}

let probed: string | undefined | null = null;

/**
 * Why the sweeper cannot run on the installed ioredis (a field it relies on is missing or
 * changed shape), or `undefined` when it can. Checked once per process, without I/O.
 */
export function probeCommandInternals(): string | undefined {
  if (probed !== null) return probed;
  try {
    const command = new CacheCommand("ping", [], { replyEncoding: "utf8" });
    const fields = command as unknown as { isSettled?: unknown; promise?: unknown };
    if (typeof command.reject !== "function" || typeof command.resolve !== "function") {
      probed = "ioredis Command has no resolve/reject functions";
    } else if (typeof fields.isSettled !== "boolean") {
      probed = "ioredis Command has no boolean isSettled";
    } else if (!(fields.promise instanceof Promise)) {
      probed = "ioredis Command has no promise";
    } else {
      // A client that never connects (lazyConnect) holds its queues from construction.
      const client = new Redis({ lazyConnect: true, retryStrategy: () => null });
      probed = queueOf(client) ? undefined : "ioredis Redis has no commandQueue (length, peekAt)";
    }
  } catch (error) {
    probed = `probing ioredis internals failed: ${(error as Error)?.message ?? error}`;
  }
  return probed;
}

/**
 * Whether `command`, just sent on a ready connection, sits in one of the clients' command
 * queues as `{ command }`: the entry shape the sweeper relies on.
 */
export function queueHolds(clients: readonly unknown[], command: CacheCommand): boolean {
  for (const client of clients) {
    const queue = queueOf(client);
    if (!queue) continue;
    for (let i = queue.length - 1; i >= 0; i--) {
      if ((queue.peekAt(i) as { command?: unknown } | undefined)?.command === command) return true;
    }
  }
  return false;
}

function timeoutError(timeoutMs: number): InfraError {
  return new InfraError("Timeout", `Redis did not answer within ${timeoutMs} ms`, {
    component: "cache",
  });
}

/**
 * Settles like `reply` (errors mapped), or fails with `Timeout` after `timeoutMs`: the
 * deadline of a batch (one timer per batch, not per command).
 */
export function withDeadline<T>(reply: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timeoutError(timeoutMs)), timeoutMs);
    reply.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(toCacheError(error));
      },
    );
  });
}

/** The sweeper of one connection's queues. */
export class CommandDeadlines {
  #timeoutMs: number;
  readonly #clients: () => unknown[];
  readonly #onBroken: (reason: string) => void;
  #timer: ReturnType<typeof setInterval>;
  #broken = false;

  /**
   * @param onBroken Called once, and the sweeping stops, when a pass finds the internals
   *   changed (the connection then falls back to ioredis's own timeouts).
   */
  constructor(
    timeoutMs: number,
    client: Redis | Cluster | (() => unknown[]),
    onBroken: (reason: string) => void,
  ) {
    this.#timeoutMs = timeoutMs;
    this.#onBroken = onBroken;
    this.#clients = typeof client === "function"
      ? client
      : "nodes" in client && typeof client.nodes === "function"
      ? () => (client as Cluster).nodes("all")
      : () => [client];
    this.#timer = this.#arm();
  }

  #arm(): ReturnType<typeof setInterval> {
    const timer = setInterval(
      () => this.sweep(),
      Math.max(10, Math.min(250, Math.floor(this.#timeoutMs / 10))),
    );
    unrefTimer(timer);
    return timer;
  }

  /** The deadline; a new one applies to the commands in flight too (hot reload). */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  set timeoutMs(ms: number) {
    this.#timeoutMs = ms;
    if (this.#broken) return;
    clearInterval(this.#timer);
    this.#timer = this.#arm();
  }

  /** Stops the sweeper. */
  stop(): void {
    clearInterval(this.#timer);
  }

  #timeout(): InfraError {
    return timeoutError(this.#timeoutMs);
  }

  /** One pass (the timer runs it); fails the overdue commands. Never throws. */
  sweep(): void {
    if (this.#broken) return;
    try {
      const deadline = Date.now() - this.#timeoutMs;
      for (const client of this.#clients()) {
        const queue = queueOf(client);
        if (!queue) return this.#break("a client has no commandQueue (length, peekAt)");
        for (let i = 0; i < queue.length; i++) {
          const entry = queue.peekAt(i);
          if (typeof entry !== "object" || entry === null || !("command" in entry)) {
            return this.#break("commandQueue entries are not { command }");
          }
          const command = entry.command;
          // Other commands (pipelines, the handshake) have their own deadline or none.
          if (!(command instanceof CacheCommand)) continue;
          if (command.issuedAt > deadline) break;
          if (!command.isSettled) command.reject(this.#timeout());
        }
      }
    } catch (error) {
      this.#break(`sweeping failed: ${(error as Error)?.message ?? error}`);
    }
  }

  #break(reason: string): void {
    this.#broken = true;
    this.stop();
    this.#onBroken(reason);
  }
}
