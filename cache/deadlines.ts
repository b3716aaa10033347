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
 * @module
 */

import { Command as RedisCommand } from "ioredis";
import type { Cluster, Redis } from "ioredis";
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

/** The sweeper of one connection's queues. */
export class CommandDeadlines {
  readonly #timeoutMs: number;
  readonly #clients: () => Redis[];
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(timeoutMs: number, client: Redis | Cluster) {
    this.#timeoutMs = timeoutMs;
    this.#clients = "nodes" in client && typeof client.nodes === "function"
      ? () => (client as Cluster).nodes("all")
      : () => [client as Redis];
    this.#timer = setInterval(
      () => this.#sweep(),
      Math.max(10, Math.min(250, Math.floor(timeoutMs / 10))),
    );
    unrefTimer(this.#timer);
  }

  /** Stops the sweeper. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** Settles like `reply` (mapped), or fails with `Timeout` after the deadline: for batches. */
  race<T>(reply: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(this.#timeout()), this.#timeoutMs);
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

  #timeout(): InfraError {
    return new InfraError("Timeout", `Redis did not answer within ${this.#timeoutMs} ms`, {
      component: "cache",
    });
  }

  #sweep(): void {
    const deadline = Date.now() - this.#timeoutMs;
    for (const client of this.#clients()) {
      const queue = client.commandQueue;
      for (let i = 0; i < queue.length; i++) {
        const command = queue.peekAt(i)?.command;
        // Other commands (pipelines, the handshake) have their own deadline or none.
        if (!(command instanceof CacheCommand)) continue;
        if (command.issuedAt > deadline) break;
        if (!command.isSettled) command.reject(this.#timeout());
      }
    }
  }
}
