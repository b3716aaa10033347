/**
 * Lifecycle helpers for resources that implement `AsyncDisposable`: an idempotent close,
 * and a stack that closes many resources in reverse order.
 *
 * @module
 */

import { InfraError } from "./errors.ts";

/** A resource with an idempotent, graceful `close()`, usable with `await using`. */
export interface Closeable extends AsyncDisposable {
  /** Releases the resource; calling it again returns the same promise. */
  close(): Promise<void>;
}

/**
 * Wraps a close function so that it runs once: every call, concurrent or later, returns
 * the promise of the first.
 *
 * @param close The real close.
 * @returns The idempotent close.
 *
 * @example
 * ```ts
 * import { closeOnce } from "@gochat/infra/base";
 *
 * let closed = 0;
 * const close = closeOnce(async () => { closed++; });
 * await Promise.all([close(), close()]);
 * await close();
 * console.assert(closed === 1);
 * ```
 */
export function closeOnce(close: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= Promise.resolve().then(close));
}

/** Anything {@link ResourceStack.use} accepts. */
export type Disposable = AsyncDisposable | { close(): Promise<void> | void };

/**
 * Resources closed together, last added first (a service's shutdown in one line). Errors
 * of individual closes do not stop the others; they are thrown at the end (one as it is,
 * several together).
 *
 * @example
 * ```ts
 * import { ResourceStack } from "@gochat/infra/base";
 *
 * const order: string[] = [];
 * await using resources = new ResourceStack();
 * resources.defer(() => { order.push("db"); });
 * resources.defer(() => { order.push("cache"); });
 * await resources.close();
 * console.assert(order.join() === "cache,db");
 * ```
 */
export class ResourceStack implements Closeable {
  #entries: (() => PromiseLike<void> | void)[] = [];
  #close: () => Promise<void> = closeOnce(() => this.#closeAll());
  #closed = false;

  /**
   * Adds a resource to close, and returns it (so `const x = stack.use(await connect())`).
   *
   * @param resource An `AsyncDisposable` or an object with `close()`.
   * @returns The same resource.
   * @throws {InfraError} `InvalidArgument` when `resource` has neither; `Closed` when the
   * stack was already closed.
   */
  use<R extends Disposable>(resource: R): R {
    const candidate = resource as Partial<AsyncDisposable & { close: unknown }> | null;
    if (typeof candidate?.[Symbol.asyncDispose] === "function") {
      this.defer(() => (resource as AsyncDisposable)[Symbol.asyncDispose]());
    } else if (typeof candidate?.close === "function") {
      this.defer(() => (resource as { close(): Promise<void> | void }).close());
    } else {
      throw new InfraError(
        "InvalidArgument",
        `resource stack: use() takes an AsyncDisposable or an object with close(), got ${
          resource === null ? "null" : typeof resource
        }`,
        { component: "base" },
      );
    }
    return resource;
  }

  /**
   * Adds a cleanup function.
   *
   * @param cleanup Runs on close, before everything added earlier.
   * @throws {InfraError} `Closed` when the stack was already closed.
   */
  defer(cleanup: () => PromiseLike<void> | void): void {
    if (this.#closed) {
      throw new InfraError("Closed", "resource stack is already closed", { component: "base" });
    }
    this.#entries.push(cleanup);
  }

  /**
   * Closes everything in reverse order of addition. Idempotent.
   *
   * @throws {unknown} The error of the one close that failed, unchanged (callers keep its
   * code); `Internal` InfraError with an `AggregateError` cause when several failed.
   */
  close(): Promise<void> {
    this.#closed = true;
    return this.#close();
  }

  /** Same as {@link ResourceStack.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #closeAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const cleanup of this.#entries.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    this.#entries = [];
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      throw new InfraError("Internal", `${errors.length} resources failed to close`, {
        component: "base",
        cause: new AggregateError(errors, "close failures"),
      });
    }
  }
}
