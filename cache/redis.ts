/**
 * The Redis driver: ioredis (single node, Sentinel, Cluster) behind the narrow
 * {@link Connection}. It maps every failure to an `InfraError`, fails fast while Redis is
 * down (bounded offline queue, per-command timeout), reconnects by itself, runs scripts
 * with EVALSHA and recovers from NOSCRIPT with EVAL on the node that answered (so it never
 * relies on SCRIPT LOAD reaching every cluster node), and splits batches by slot.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { ConnectionOptions } from "node:tls";
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import { InfraError, unrefTimer } from "../base/mod.ts";
import { getLogger, type Logger } from "../clog/mod.ts";
import { createCache } from "./cache.ts";
import { parseNode, resolveConfig } from "./config.ts";
import type {
  Arg,
  BatchOutcome,
  Command,
  Connection,
  Reply,
  ScriptSource,
  Subscription,
  SubscriptionHandlers,
} from "./connection.ts";
import { CacheCommand, CommandDeadlines } from "./deadlines.ts";
import { isNoScript, toCacheError } from "./errors.ts";
import { clusterSlot } from "./keys.ts";
import type { Cache, CacheConfig, CacheDependencies, ConfigInput, RawClient } from "./types.ts";

type Client = Redis | Cluster;

// ioredis takes Buffers; a plain Uint8Array would be stringified ("1,2,3").
function toArgs(args: readonly Arg[]): (string | number | Buffer)[] {
  let out: (string | number | Buffer)[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg instanceof Uint8Array && !Buffer.isBuffer(arg)) {
      out ??= args.slice() as (string | number | Buffer)[];
      out[i] = Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength);
    }
  }
  return out ?? (args as (string | number | Buffer)[]);
}

const TEXT = { replyEncoding: "utf8" as const };
const BINARY = { replyEncoding: null };
const LOWER = new Map<string, string>();

// ioredis lower-cases the name on every flag lookup; handing it lower case is cheaper.
function lowerCase(name: string): string {
  let lower = LOWER.get(name);
  if (lower === undefined) LOWER.set(name, lower = name.toLowerCase());
  return lower;
}

function firstKey(command: Command): string | undefined {
  return command.kind === "command" ? command.key : command.keys[0];
}

function tlsOptions(config: CacheConfig): ConnectionOptions | undefined {
  const { tls } = config;
  if (!tls.enabled) return undefined;
  return {
    ca: tls.caPem || undefined,
    cert: tls.certPem || undefined,
    key: tls.keyPem || undefined,
    servername: tls.serverName || undefined,
    rejectUnauthorized: tls.verify,
  };
}

function retryStrategy(config: CacheConfig): (times: number) => number {
  return (times) => {
    const cap = Math.min(
      config.reconnectMaxDelayMs,
      config.reconnectMinDelayMs * 2 ** Math.min(times - 1, 20),
    );
    // Jitter spreads the reconnections of many clients after a server restart.
    return Math.max(config.reconnectMinDelayMs, Math.round(cap * (0.5 + Math.random() * 0.5)));
  };
}

/** ioredis options of the main connection (exported for tests of the mapping). */
export function clientOptions(
  config: CacheConfig,
): { single?: RedisOptions; cluster?: ClusterOptions } {
  const tls = tlsOptions(config);
  const common = {
    username: config.username || undefined,
    password: config.password || undefined,
    connectTimeout: config.connectTimeoutMs,
    // No ioredis commandTimeout (a timer per command): CommandDeadlines sweeps instead.
    maxRetriesPerRequest: config.maxRetriesPerRequest,
    connectionName: config.connectionName || undefined,
    tls,
  };
  if (config.mode === "cluster") {
    return {
      cluster: {
        redisOptions: common,
        enableOfflineQueue: config.offlineQueue,
        lazyConnect: true,
        clusterRetryStrategy: retryStrategy(config),
        slotsRefreshTimeout: Math.min(config.connectTimeoutMs, 5_000),
        // Node addresses from CLUSTER SLOTS are IPs; skipping DNS keeps TLS servername intact.
        dnsLookup: (address, callback) => callback(null, address),
      },
    };
  }
  const base: RedisOptions = {
    ...common,
    db: config.db,
    enableOfflineQueue: config.offlineQueue,
    lazyConnect: true,
    retryStrategy: retryStrategy(config),
  };
  if (config.mode === "sentinel") {
    return {
      single: {
        ...base,
        sentinels: config.nodes.map((node, i) => parseNode(node, `nodes[${i}]`)),
        name: config.sentinel.masterName,
        sentinelUsername: config.sentinel.username || undefined,
        sentinelPassword: config.sentinel.password || undefined,
        enableTLSForSentinelMode: config.tls.enabled,
        sentinelTLS: tls,
        sentinelRetryStrategy: retryStrategy(config),
        sentinelCommandTimeout: config.commandTimeoutMs,
      },
    };
  }
  return { single: { ...base, ...parseNode(config.nodes[0], "nodes[0]") } };
}

/** Logs connection errors once per outage, and the recovery. */
function watchHealth(client: Client, logger: Logger, what: string): void {
  let down = false;
  client.on("error", (error: Error) => {
    if (!down) logger.warn(`${what}: connection error; reconnecting`, { error: error.message });
    else logger.debug(`${what}: still unreachable`, { error: error.message });
    down = true;
  });
  client.on("ready", () => {
    if (down) logger.info(`${what}: reconnected`);
    down = false;
  });
}

class RedisConnection implements Connection {
  readonly driver = "redis" as const;
  readonly mode: "single" | "sentinel" | "cluster";
  readonly #client: Client;
  readonly #cluster: boolean;
  readonly #logger: Logger;
  readonly #closeTimeoutMs: number;
  /** Scripts known to be cached, per node (for EVALSHA inside pipelines). */
  readonly #loaded = new Map<string, Set<string>>();
  readonly #channels = new Map<string, Set<SubscriptionHandlers>>();
  readonly #deadlines: CommandDeadlines;
  readonly #autoPipelining: boolean;
  #corked = false;
  #subscriber: Promise<Client> | undefined;

  constructor(client: Client, config: CacheConfig, logger: Logger) {
    this.#client = client;
    this.mode = config.mode;
    this.#cluster = config.mode === "cluster";
    this.#logger = logger;
    this.#closeTimeoutMs = config.commandTimeoutMs;
    this.#deadlines = new CommandDeadlines(config.commandTimeoutMs, client);
    this.#autoPipelining = config.autoPipelining;
  }

  call(command: Command): Promise<Reply> {
    if (command.kind === "script") {
      return this.#runScript(command.script, command.keys, command.args, command.binary);
    }
    return this.#send(command.name, toArgs(command.args), command.binary);
  }

  /** Sends one command under the command deadline; errors come back mapped. */
  #send(name: string, args: (string | number | Buffer)[], binary: boolean): Promise<Reply> {
    if (this.#autoPipelining && !this.#corked) this.#cork();
    const command = new CacheCommand(lowerCase(name), args, binary ? BINARY : TEXT);
    return this.#client.sendCommand(command) as Promise<Reply>;
  }

  /**
   * Auto-pipelining: the sockets stay corked until the current burst of microtasks ends,
   * so every command issued in it leaves in one write (instead of one system call each).
   * Each command still settles on its own.
   */
  #cork(): void {
    const client = this.#client;
    const streams = client instanceof Cluster
      ? client.nodes("all").map((node) => node.stream)
      : [client.stream];
    for (const stream of streams) stream?.cork();
    this.#corked = true;
    queueMicrotask(() => {
      this.#corked = false;
      for (const stream of streams) stream?.uncork();
    });
  }

  async batch(commands: readonly Command[]): Promise<BatchOutcome[]> {
    if (!this.#cluster) return await this.#pipeline(commands, "node");
    // One pipeline per slot (ioredis sends a pipeline to one node), in parallel.
    const outcomes: BatchOutcome[] = new Array(commands.length);
    const groups = new Map<number, number[]>();
    const lone: number[] = [];
    commands.forEach((command, i) => {
      const key = firstKey(command);
      if (key === undefined) return lone.push(i);
      const slot = clusterSlot(key);
      const group = groups.get(slot);
      if (group) group.push(i);
      else groups.set(slot, [i]);
    });
    await Promise.all([
      ...[...groups].map(async ([slot, indexes]) => {
        const node = (this.#client as Cluster).slots[slot]?.[0] ?? `slot:${slot}`;
        const results = await this.#pipeline(indexes.map((i) => commands[i]), node);
        indexes.forEach((index, j) => (outcomes[index] = results[j]));
      }),
      ...lone.map(async (i) => {
        outcomes[i] = await this.call(commands[i]).then(
          (reply) => ({ ok: true as const, reply }),
          (error) => ({ ok: false as const, error: toCacheError(error) }),
        );
      }),
    ]);
    return outcomes;
  }

  slotOf(fullKey: string): number {
    return this.#cluster ? clusterSlot(fullKey) : 0;
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.#send("PUBLISH", [channel, message], false);
  }

  async subscribe(channel: string, handlers: SubscriptionHandlers): Promise<Subscription> {
    const subscriber = await this.#openSubscriber();
    let set = this.#channels.get(channel);
    if (!set) {
      this.#channels.set(channel, set = new Set());
      try {
        await subscriber.subscribe(channel);
      } catch (error) {
        this.#channels.delete(channel);
        throw toCacheError(error, `subscribe ${channel}`);
      }
    }
    set.add(handlers);
    return {
      unsubscribe: async () => {
        set!.delete(handlers);
        if (set!.size === 0 && this.#channels.get(channel) === set) {
          this.#channels.delete(channel);
          await subscriber.unsubscribe(channel).catch(() => {});
        }
      },
    };
  }

  async ping(): Promise<void> {
    await this.#send("PING", [], false);
  }

  raw(): RawClient {
    return {
      call: (name, ...args) => this.#send(name, toArgs(args), false),
      callBuffer: (name, ...args) => this.#send(name, toArgs(args), true),
      native: this.#client,
    };
  }

  async close(): Promise<void> {
    this.#deadlines.stop();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    const clients: Client[] = [this.#client];
    if (subscriber) {
      const sub = await subscriber.catch(() => undefined);
      if (sub) clients.push(sub);
    }
    await Promise.all(clients.map((client) => this.#quit(client)));
  }

  /** QUIT lets pending replies arrive first; a server that is down gets a plain disconnect. */
  async #quit(client: Client): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#closeTimeoutMs);
      unrefTimer(timer);
    });
    try {
      if (client.status === "ready") await Promise.race([client.quit().catch(() => {}), timeout]);
    } finally {
      clearTimeout(timer);
      client.disconnect();
    }
  }

  async #runScript(
    script: ScriptSource,
    keys: readonly string[],
    args: readonly Arg[],
    binary: boolean,
  ): Promise<Reply> {
    const tail = [keys.length, ...keys, ...toArgs(args)];
    try {
      return await this.#send("EVALSHA", [script.sha, ...tail], binary);
    } catch (error) {
      if (!isNoScript((error as InfraError).cause ?? error)) throw error;
      // EVAL goes to the node that owns the keys, the one that answered NOSCRIPT, and
      // caches the script there for the next EVALSHA.
      return await this.#send("EVAL", [script.lua, ...tail], binary);
    }
  }

  async #pipeline(commands: readonly Command[], node: string): Promise<BatchOutcome[]> {
    const loaded = this.#loaded.get(node) ?? this.#loaded.set(node, new Set()).get(node)!;
    const pipeline = this.#client.pipeline();
    const sentSha: boolean[] = [];
    for (const command of commands) {
      if (command.kind === "command") {
        const args = toArgs(command.args);
        if (command.binary) pipeline.callBuffer(command.name, args);
        else pipeline.call(command.name, args);
        sentSha.push(false);
        continue;
      }
      const { script, keys, binary } = command;
      const useSha = loaded.has(script.sha);
      const args = [
        useSha ? script.sha : script.lua,
        keys.length,
        ...keys,
        ...toArgs(command.args),
      ];
      const name = useSha ? "EVALSHA" : "EVAL";
      if (binary) pipeline.callBuffer(name, args);
      else pipeline.call(name, args);
      sentSha.push(useSha);
    }
    let results: [Error | null, unknown][];
    try {
      results = (await this.#deadlines.race(pipeline.exec())) ?? [];
    } catch (error) {
      const mapped = toCacheError(error);
      return commands.map(() => ({ ok: false, error: mapped }));
    }
    return await Promise.all(commands.map(async (command, i): Promise<BatchOutcome> => {
      const [error, reply] = results[i] ?? [new Error("no reply"), null];
      if (command.kind === "script") {
        if (!error) {
          loaded.add(command.script.sha);
        } else if (sentSha[i] && isNoScript(error)) {
          // Flushed since: that script did not run; run it again alone (EVALSHA, then EVAL).
          loaded.delete(command.script.sha);
          return await this.call(command).then(
            (reply) => ({ ok: true as const, reply }),
            (error) => ({ ok: false as const, error: toCacheError(error) }),
          );
        }
      }
      return error
        ? { ok: false, error: toCacheError(error) }
        : { ok: true, reply: reply as Reply };
    }));
  }

  #openSubscriber(): Promise<Client> {
    if (!this.#subscriber) {
      const opening = (async () => {
        const subscriber: Client = this.#client instanceof Cluster
          ? this.#client.duplicate()
          : this.#client.duplicate();
        watchHealth(subscriber, this.#logger, "subscriber");
        let first = true;
        subscriber.on("ready", () => {
          if (first) {
            first = false;
            return;
          }
          for (const set of this.#channels.values()) {
            for (const handlers of [...set]) handlers.onResubscribed?.();
          }
        });
        subscriber.on("message", (channel: string, message: string) => {
          const set = this.#channels.get(channel);
          if (set) { for (const handlers of [...set]) handlers.onMessage(message); }
        });
        try {
          await subscriber.connect();
        } catch (error) {
          subscriber.disconnect();
          throw toCacheError(error, "subscriber connection");
        }
        return subscriber;
      })();
      this.#subscriber = opening;
      opening.catch(() => {
        if (this.#subscriber === opening) this.#subscriber = undefined;
      });
    }
    return this.#subscriber;
  }
}

async function open(config: CacheConfig, logger: Logger): Promise<RedisConnection> {
  const options = clientOptions(config);
  const client: Client = options.cluster
    ? new Cluster(config.nodes.map((node, i) => parseNode(node, `nodes[${i}]`)), options.cluster)
    : new Redis(options.single!);
  watchHealth(client, logger, config.mode);
  // The connect promise often only says "Connection is closed"; the error event before it
  // says why (WRONGPASS, a TLS failure).
  let lastError: unknown;
  const remember = (error: unknown) => (lastError = error);
  client.on("error", remember);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new InfraError("Timeout", `no connection within ${config.connectTimeoutMs} ms`, {
                component: "cache",
              }),
            ),
          config.connectTimeoutMs,
        );
      }),
    ]);
  } catch (error) {
    client.disconnect();
    const denied = lastError !== undefined &&
      InfraError.is(toCacheError(lastError), "PermissionDenied");
    const mapped = toCacheError(
      denied ? lastError : error,
      `cannot connect to ${config.nodes.join(", ")}`,
    );
    throw InfraError.is(mapped, "Timeout", "Internal")
      ? new InfraError("Unavailable", mapped.message, { component: "cache", cause: error })
      : mapped;
  } finally {
    clearTimeout(timer);
    client.off("error", remember);
  }
  return new RedisConnection(client, config, logger);
}

/**
 * Connects to Redis (single node, Sentinel or Cluster) and returns the cache once the
 * connection is ready.
 *
 * @param config A partial or complete {@link CacheConfig}; missing fields come from
 *   `defaultConfig("development")`.
 * @param deps The logger (default `getLogger("cache")`).
 * @returns The cache.
 * @throws {InfraError} `InvalidArgument` for a bad config (naming the field), `Unavailable`
 *   when Redis cannot be reached in `connectTimeoutMs`, `PermissionDenied` for rejected
 *   credentials.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@gochat/infra/cache";
 *
 * await using cache = await connect({ nodes: ["127.0.0.1:6379"], keyPrefix: "im:" });
 * await cache.set("user:1", { name: "Ada" }, { ttlMs: 60_000 });
 * ```
 */
export async function connect(
  config: ConfigInput<CacheConfig> = {},
  deps: CacheDependencies = {},
): Promise<Cache> {
  const resolved = resolveConfig(config);
  const logger = deps.logger ?? getLogger("cache");
  const connection = await open(resolved, logger);
  return await createCache(connection, {
    keyPrefix: resolved.keyPrefix,
    codec: resolved.codec,
    defaultTtlMs: resolved.defaultTtlMs,
    getOrSet: resolved.getOrSet,
    l1: resolved.l1,
  }, logger);
}
