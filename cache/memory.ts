/**
 * The memory driver: the same {@link Cache} over an in-process keyspace, for unit tests
 * and single-process tools. Scripts run through their JavaScript twin.
 *
 * @module
 */

import { getLogger } from "../clog/mod.ts";
import { createCacheNow } from "./cache.ts";
import { checkReload, resolveMemoryConfig } from "./config.ts";
import type { CacheSettings } from "./core.ts";
import type {
  BatchOutcome,
  Command,
  Connection,
  Reply,
  Subscription,
  SubscriptionHandlers,
} from "./connection.ts";
import { closedError, invalidArgument, toCacheError } from "./errors.ts";
import { MemoryKeyspace } from "./memory_store.ts";
import { checkDependencies } from "./validate.ts";
import type {
  Cache,
  ConfigInput,
  MemoryCacheConfig,
  MemoryCacheDependencies,
  MemoryStore,
  MemoryStoreOptions,
  RawClient,
} from "./types.ts";

/**
 * A memory keyspace that several memory caches can share (like processes sharing one
 * Redis): they see the same keys, TTLs and pub/sub messages.
 *
 * @param options The clock TTLs are measured with (inject one to test expiry).
 * @returns The store.
 *
 * @example Two caches over one store
 * ```ts
 * import { memory, memoryStore } from "@gochat/infra/cache";
 *
 * const store = memoryStore();
 * await using a = memory({}, { store });
 * await using b = memory({}, { store });
 * await a.set("greeting", "hi");
 * console.assert((await b.get("greeting")) === "hi");
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryKeyspace(options);
}

class MemoryConnection implements Connection {
  readonly driver = "memory" as const;
  readonly mode = "memory" as const;
  readonly #store: MemoryKeyspace;
  readonly #unsubscribers = new Set<() => void>();
  #closed = false;

  constructor(store: MemoryKeyspace) {
    this.#store = store;
  }

  call(command: Command): Promise<Reply> {
    try {
      return Promise.resolve(this.#execute(command));
    } catch (error) {
      return Promise.reject(toCacheError(error));
    }
  }

  batch(commands: readonly Command[]): Promise<BatchOutcome[]> {
    return Promise.resolve(commands.map((command) => {
      try {
        return { ok: true, reply: this.#execute(command) };
      } catch (error) {
        return { ok: false, error: toCacheError(error) };
      }
    }));
  }

  slotOf(): number {
    return 0;
  }

  async *scanPrefix(prefix: string): AsyncIterable<string[]> {
    this.#checkOpen();
    const keys = this.#store.keysWithPrefix(prefix);
    for (let i = 0; i < keys.length; i += 1_000) yield keys.slice(i, i + 1_000);
  }

  publish(channel: string, message: string): Promise<void> {
    this.#checkOpen();
    this.#store.publish(channel, message);
    return Promise.resolve();
  }

  subscribe(channel: string, handlers: SubscriptionHandlers): Promise<Subscription> {
    this.#checkOpen();
    const stop = this.#store.subscribe(channel, handlers.onMessage);
    this.#unsubscribers.add(stop);
    return Promise.resolve({
      unsubscribe: () => {
        stop();
        this.#unsubscribers.delete(stop);
        return Promise.resolve();
      },
    });
  }

  ping(): Promise<void> {
    this.#checkOpen();
    return Promise.resolve();
  }

  raw(): RawClient {
    const run = (binary: boolean) => (name: string, ...args: (string | number | Uint8Array)[]) =>
      this.call({ kind: "command", name: name.toUpperCase(), args, key: undefined, binary });
    return { call: run(false), callBuffer: run(true), native: undefined };
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const stop of this.#unsubscribers) stop();
    this.#unsubscribers.clear();
    return Promise.resolve();
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError();
  }

  #execute(command: Command): Reply {
    this.#checkOpen();
    if (command.kind === "command") {
      return this.#store.execute(command.name, command.args, command.binary);
    }
    const twin = command.script.memory;
    if (!twin) {
      throw invalidArgument(
        "this script has no JavaScript twin for the memory driver: pass cache.script(lua, { keys, memory })",
        "memory",
      );
    }
    return this.#store.runScript(
      twin,
      command.keys,
      command.args,
      command.binary,
      command.script.byteStrings ?? false,
    );
  }
}

/**
 * A cache in process memory with the semantics of the Redis driver (TTLs, data types,
 * the lock, the Bloom filter, getOrSet and its stampede protection, pipelines). Scripts
 * need a JavaScript twin (`cache.script(lua, { keys, memory })`); L1 does not apply.
 * Numbers read and come back as from Redis 7 on x86-64: integers by Redis's rules (`"007"`
 * is none), `INCRBYFLOAT` in 80-bit long double with Redis's digits
 * (`1000.19999999999999996`, `1000000000000000000000`), hexadecimal floats, scores as
 * `%.17g`. Not reproduced: subnormal long doubles (below about 3.4e-4932, refused) and the
 * 5,120-character limit of a formatted long double.
 *
 * @param config Prefix, codec, default TTL and getOrSet defaults (all optional).
 * @param deps The logger, and a {@link MemoryStore} to share between caches.
 * @returns The cache (ready at once).
 * @throws {InfraError} `InvalidArgument` for a bad config.
 *
 * @example
 * ```ts
 * import { memory } from "@gochat/infra/cache";
 *
 * await using cache = memory();
 * await cache.set("user:1", { name: "Ada" }, { ttlMs: 60_000 });
 * const user = await cache.get<{ name: string }>("user:1");
 * console.assert(user?.name === "Ada");
 * ```
 */
export function memory(
  config: ConfigInput<MemoryCacheConfig> = {},
  deps: MemoryCacheDependencies = {},
): Cache {
  const resolved = resolveMemoryConfig(config);
  checkDependencies(deps, "memory");
  const store = deps.store ?? new MemoryKeyspace();
  if (!(store instanceof MemoryKeyspace)) {
    throw invalidArgument("deps.store must come from memoryStore()", "store");
  }
  const logger = deps.logger ?? getLogger("cache");
  let current = resolved;
  return createCacheNow(new MemoryConnection(store), settingsOf(resolved), logger, (input) => {
    // Fields of the Redis driver only are unknown here (InvalidArgument naming them).
    const next = resolveMemoryConfig(input as ConfigInput<MemoryCacheConfig>, current);
    return {
      changed: checkReload(current, next),
      settings: settingsOf(next),
      apply: () => (current = next),
    };
  });
}

function settingsOf(config: MemoryCacheConfig): CacheSettings {
  return {
    ...config,
    getOrSet: { ...config.getOrSet },
    l1: { enabled: false, maxEntries: 1, maxBytes: 1, ttlMs: 1, publishInvalidations: false },
  };
}
