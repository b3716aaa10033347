/**
 * The Redis driver: ioredis (single node, Sentinel, Cluster) behind the narrow
 * {@link Connection}. It maps every failure to an `InfraError`, fails fast while Redis is
 * down (bounded offline queue, per-command timeout), reconnects by itself, runs scripts
 * with EVALSHA and recovers from NOSCRIPT with EVAL on the node that answered (so it never
 * relies on SCRIPT LOAD reaching every cluster node), sends the scripts of batches as EVAL
 * (so NOSCRIPT never reorders a batch), and splits batches by slot.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { ConnectionOptions } from "node:tls";
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import { abortable, InfraError, scopedSignal, unrefTimer } from "../base/mod.ts";
import { getLogger, type Logger } from "../clog/mod.ts";
import { createCache } from "./cache.ts";
import type { CacheSettings } from "./core.ts";
import { checkReload, parseNode, resolveConfig } from "./config.ts";
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
import {
  CacheCommand,
  CommandDeadlines,
  probeCommandInternals,
  queueHolds,
  withDeadline,
} from "./deadlines.ts";
import { closedError, isNoScript, toCacheError } from "./errors.ts";
import { clusterSlot } from "./keys.ts";
import { checkDependencies } from "./validate.ts";
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

/**
 * ioredis options of the main connection (exported for tests of the mapping). With
 * `ioredisTimeouts`, ioredis arms its own timer per command (the fallback when the
 * sweeper of {@link CommandDeadlines} cannot run).
 */
export function clientOptions(
  config: CacheConfig,
  ioredisTimeouts = false,
): { single?: RedisOptions; cluster?: ClusterOptions } {
  const tls = tlsOptions(config);
  const common = {
    username: config.username || undefined,
    password: config.password || undefined,
    connectTimeout: config.connectTimeoutMs,
    // Normally no ioredis commandTimeout (a timer per command): CommandDeadlines sweeps.
    commandTimeout: ioredisTimeouts ? config.commandTimeoutMs : undefined,
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

/**
 * Which ioredis internals the connection may lean on (see `deadlines.ts`): a reason when
 * it may not, `undefined` when it may. Tests force the fallbacks through it.
 */
export interface Internals {
  /** Why per-command deadlines cannot use the queue sweeper (then: ioredis's timers). */
  deadlines?: string;
  /** Why auto-pipelining cannot cork the sockets (then: no corking). */
  corking?: string;
}

type Stream = { cork(): void; uncork(): void };

function corkable(stream: unknown): stream is Stream {
  return typeof stream === "object" && stream !== null &&
    typeof (stream as Stream).cork === "function" &&
    typeof (stream as Stream).uncork === "function";
}

/** The sockets of a client (`stream`: an ioredis internal, checked before use). */
function streamsOf(client: Client): unknown[] {
  const nodes: unknown[] = client instanceof Cluster ? client.nodes("all") : [client];
  return nodes.map((node) => (node as { stream?: unknown } | undefined)?.stream);
}

const mapError = (error: unknown): never => {
  throw toCacheError(error);
};

class RedisConnection implements Connection {
  readonly driver = "redis" as const;
  readonly mode: "single" | "sentinel" | "cluster";
  readonly #client: Client;
  readonly #cluster: boolean;
  readonly #logger: Logger;
  /** The config the client was built with: its retry strategies read the delays from it. */
  readonly #config: CacheConfig;
  #timeoutMs: number;
  readonly #channels = new Map<string, Set<SubscriptionHandlers>>();
  readonly #deadlines: CommandDeadlines | undefined;
  /** Commands go as {@link CacheCommand}s swept for deadlines (else ioredis's `call`). */
  #sweeping: boolean;
  #autoPipelining: boolean;
  /** Whether the sockets can be corked (the internals allow it). */
  #corkable: boolean;
  #corked = false;
  #subscriber: Promise<Client> | undefined;
  /** Set as close begins: a subscriber opened after it would never be closed. */
  #closed = false;

  constructor(client: Client, config: CacheConfig, logger: Logger, internals: Internals) {
    this.#client = client;
    this.#config = config;
    this.mode = config.mode;
    this.#cluster = config.mode === "cluster";
    this.#logger = logger;
    this.#timeoutMs = config.commandTimeoutMs;
    this.#sweeping = internals.deadlines === undefined;
    this.#deadlines = this.#sweeping
      ? new CommandDeadlines(
        config.commandTimeoutMs,
        client,
        (reason) => this.#stopSweeping(reason),
      )
      : undefined;
    this.#corkable = internals.corking === undefined;
    this.#autoPipelining = config.autoPipelining && this.#corkable;
    const fallbacks = [
      internals.deadlines && `deadlines by ioredis's commandTimeout (${internals.deadlines})`,
      config.autoPipelining && internals.corking &&
      `no auto-pipelining (${internals.corking})`,
    ].filter(Boolean);
    if (fallbacks.length > 0) {
      logger.warn("ioredis internals are not as expected; falling back", {
        fallbacks: fallbacks.join("; "),
      });
    }
  }

  /**
   * Checks on the live connection that a swept command really sits in ioredis's queue as
   * the sweeper expects, and that the sockets can be corked; falls back otherwise.
   */
  async verifyInternals(): Promise<void> {
    if (this.#sweeping) {
      const probe = new CacheCommand("ping", [], TEXT);
      const reply = this.#client.sendCommand(probe) as Promise<unknown>;
      const clients = this.#client instanceof Cluster ? this.#client.nodes("all") : [this.#client];
      if (!queueHolds(clients, probe)) {
        this.#stopSweeping("a sent command is not in commandQueue as { command }");
      }
      await reply;
    }
    if (this.#corkable && !streamsOf(this.#client).some(corkable)) {
      this.#corkable = false;
      this.#autoPipelining = false;
      this.#logger.warn("ioredis internals are not as expected; falling back", {
        fallbacks: "no auto-pipelining (the connection has no corkable stream)",
      });
    }
  }

  /** From now on: ioredis's public `call` with its own per-command timer. */
  #stopSweeping(reason: string): void {
    if (!this.#sweeping) return;
    this.#sweeping = false;
    this.#deadlines?.stop();
    this.#applyCommandTimeout();
    this.#logger.warn("ioredis internals are not as expected; falling back", {
      fallbacks: `deadlines by ioredis's commandTimeout (${reason})`,
    });
  }

  /** ioredis's own per-command timer (the fallback) takes the current timeout. */
  #applyCommandTimeout(): void {
    const timeout = this.#timeoutMs;
    const apply = (options: unknown) => {
      if (typeof options === "object" && options !== null) {
        (options as RedisOptions).commandTimeout = timeout;
      }
    };
    const client = this.#client;
    if (client instanceof Cluster) {
      apply(client.options.redisOptions);
      for (const node of client.nodes("all")) apply(node.options);
    } else {
      apply(client.options);
    }
  }

  /**
   * Applies the fields of a hot reload that the open connection can take: the command
   * timeout, the reconnection delays (read by the retry strategies on every attempt) and
   * auto-pipelining. The others were refused before (`checkReload`).
   */
  reconfigure(config: CacheConfig): void {
    this.#config.reconnectMinDelayMs = config.reconnectMinDelayMs;
    this.#config.reconnectMaxDelayMs = config.reconnectMaxDelayMs;
    this.#autoPipelining = config.autoPipelining && this.#corkable;
    if (config.commandTimeoutMs !== this.#timeoutMs) {
      this.#timeoutMs = config.commandTimeoutMs;
      if (this.#deadlines) this.#deadlines.timeoutMs = config.commandTimeoutMs;
      if (!this.#sweeping) this.#applyCommandTimeout();
    }
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
    if (this.#sweeping) {
      const command = new CacheCommand(lowerCase(name), args, binary ? BINARY : TEXT);
      return this.#client.sendCommand(command) as Promise<Reply>;
    }
    const client = this.#client;
    const reply = binary ? client.callBuffer(name, ...args) : client.call(name, ...args);
    return reply.then(undefined, mapError) as Promise<Reply>;
  }

  /**
   * Auto-pipelining: the sockets stay corked until the current burst of microtasks ends,
   * so every command issued in it leaves in one write (instead of one system call each).
   * Each command still settles on its own. Every cork is paired with its uncork on the
   * same socket; a socket replaced meanwhile (reconnect) is simply not corked.
   */
  #cork(): void {
    const streams = streamsOf(this.#client).filter(corkable);
    for (const stream of streams) stream.cork();
    this.#corked = true;
    queueMicrotask(() => {
      this.#corked = false;
      for (const stream of streams) stream.uncork();
    });
  }

  async batch(commands: readonly Command[]): Promise<BatchOutcome[]> {
    if (!this.#cluster) return await this.#pipeline(commands);
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
      ...[...groups].map(async ([, indexes]) => {
        const results = await this.#pipeline(indexes.map((i) => commands[i]));
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

  async *scanPrefix(prefix: string): AsyncIterable<string[]> {
    const pattern = prefix.replace(/[*?[\]\\]/g, "\\$&") + "*";
    const nodes = this.#client instanceof Cluster ? this.#client.nodes("master") : [this.#client];
    for (const node of nodes) {
      let cursor = "0";
      do {
        // Sent to the node directly, past the command deadline of #send: bounded here.
        using deadline = scopedSignal({ timeoutMs: this.#timeoutMs, component: "cache" });
        const [next, keys] = await abortable(
          node.scan(cursor, "MATCH", pattern, "COUNT", 1_000).catch(mapError),
          deadline.signal,
          "cache",
        );
        cursor = next;
        if (keys.length > 0) yield keys;
      } while (cursor !== "0");
    }
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.#send("PUBLISH", [channel, message], false);
  }

  async subscribe(channel: string, handlers: SubscriptionHandlers): Promise<Subscription> {
    const subscriber = await this.#openSubscriber();
    // A close while the subscriber opened quits it: say Closed, not the quit's error.
    if (this.#closed) throw closedError();
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
    this.#closed = true;
    this.#deadlines?.stop();
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
      timer = setTimeout(resolve, this.#timeoutMs);
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

  /**
   * One ioredis pipeline. Scripts in it go as EVAL, never EVALSHA: an EVALSHA that met
   * NOSCRIPT (after a restart or SCRIPT FLUSH) would have to run again after the commands
   * behind it, out of order. EVAL also caches the script on that node for later EVALSHAs.
   */
  async #pipeline(commands: readonly Command[]): Promise<BatchOutcome[]> {
    const pipeline = this.#client.pipeline();
    for (const command of commands) {
      const [name, args] = command.kind === "command" ? [command.name, toArgs(command.args)] : [
        "EVAL",
        [command.script.lua, command.keys.length, ...command.keys, ...toArgs(command.args)],
      ];
      if (command.binary) pipeline.callBuffer(name, args);
      else pipeline.call(name, args);
    }
    let results: [Error | null, unknown][];
    try {
      results = (await withDeadline(pipeline.exec(), this.#timeoutMs)) ?? [];
    } catch (error) {
      const mapped = toCacheError(error);
      return commands.map(() => ({ ok: false, error: mapped }));
    }
    return commands.map((_, i): BatchOutcome => {
      const [error, reply] = results[i] ?? [new Error("no reply"), null];
      return error
        ? { ok: false, error: toCacheError(error) }
        : { ok: true, reply: reply as Reply };
    });
  }

  /**
   * A Cluster keeps its subscriptions on one connection of its own (ioredis's
   * `ClusterSubscriber`), which it replaces by itself when it drops, at once and maybe on
   * another node, with no event on the Cluster: messages published until the new one has
   * subscribed are lost unseen (an L1 would serve values invalidated meanwhile until its
   * TTL). So that connection is watched here: its loss interrupts every subscription, and
   * they resume once every channel is subscribed again on the connection that replaced it
   * (subscribing there and waiting for the reply tells when the server delivers again).
   * Leans on `Cluster#subscriber.getInstance()`, checked: without it (a warning), only the
   * Cluster's own close and ready are seen, as for a single node.
   */
  #watchClusterSubscriber(cluster: Cluster): { start(): void } | false {
    const inner = (cluster as unknown as { subscriber?: { getInstance?: unknown } }).subscriber;
    const getInstance = inner?.getInstance;
    if (typeof getInstance !== "function") {
      this.#logger.warn("ioredis internals are not as expected; falling back", {
        fallbacks:
          "cluster subscriber connection not watched (no Cluster#subscriber.getInstance): invalidations lost while ioredis moves it go unseen",
      });
      return false;
    }
    type Instance = Redis;
    const current = (): Instance | undefined => {
      const instance = getInstance.call(inner) as Instance | null | undefined;
      return instance && typeof instance.subscribe === "function" &&
          typeof instance.once === "function"
        ? instance
        : undefined;
    };
    const everyHandler = this.#everyHandler;
    let watched: Instance | undefined;
    let interrupted = false;
    let resuming = false;
    const watch = (instance: Instance) => {
      watched = instance;
      instance.once("close", () => {
        if (watched !== instance) return;
        watched = undefined;
        lost();
      });
    };
    const lost = () => {
      if (this.#closed) return;
      if (!interrupted) {
        interrupted = true;
        this.#logger.debug("cluster subscriber connection lost; resubscribing");
        everyHandler((handlers) => handlers.onInterrupted?.());
      }
      if (!resuming) void resume();
    };
    const resume = async () => {
      resuming = true;
      let delayMs = 10;
      try {
        while (!this.#closed) {
          const instance = current();
          if (instance !== undefined && instance.status !== "end") {
            if (watched !== instance) watch(instance);
            try {
              const channels = [...this.#channels.keys()];
              if (channels.length > 0) await instance.subscribe(...channels);
              if (watched === instance && instance.status === "ready" && !this.#closed) {
                interrupted = false;
                this.#logger.debug("cluster subscriber resubscribed");
                everyHandler((handlers) => handlers.onResubscribed?.());
                return;
              }
            } catch {
              // That connection went too: the next one.
            }
          }
          await new Promise<void>((resolve) => unrefTimer(setTimeout(resolve, delayMs)));
          delayMs = Math.min(delayMs * 2, 1_000);
        }
      } finally {
        resuming = false;
      }
    };
    return {
      start: () => {
        const instance = current();
        if (instance !== undefined && instance.status !== "end") watch(instance);
        else lost();
      },
    };
  }

  /** Calls `notify` with the handlers of every subscription. */
  readonly #everyHandler = (notify: (handlers: SubscriptionHandlers) => void): void => {
    for (const set of this.#channels.values()) for (const handlers of [...set]) notify(handlers);
  };

  #openSubscriber(): Promise<Client> {
    if (this.#closed) return Promise.reject(closedError());
    if (!this.#subscriber) {
      const opening = (async () => {
        const subscriber: Client = this.#client instanceof Cluster
          ? this.#client.duplicate()
          : this.#client.duplicate();
        watchHealth(subscriber, this.#logger, "subscriber");
        const everyHandler = this.#everyHandler;
        let first = true;
        let interrupted = false;
        // A Cluster's subscriptions are watched on the connection that carries them.
        const watched = subscriber instanceof Cluster && this.#watchClusterSubscriber(subscriber);
        subscriber.on("close", () => {
          if (watched || first || interrupted) return;
          interrupted = true;
          everyHandler((handlers) => handlers.onInterrupted?.());
        });
        subscriber.on("ready", async () => {
          if (first || watched) {
            first = false;
            return;
          }
          // ioredis re-sends SUBSCRIBE right after "ready"; subscribing again and waiting
          // for the reply tells when the server delivers again (the gap is over only then).
          const channels = [...this.#channels.keys()];
          try {
            if (channels.length > 0) await subscriber.subscribe(...channels);
          } catch (error) {
            this.#logger.warn("resubscribing failed; waiting for the next reconnection", {
              error,
            });
            return;
          }
          interrupted = false;
          everyHandler((handlers) => handlers.onResubscribed?.());
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
        if (watched) watched.start();
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

async function open(
  config: CacheConfig,
  logger: Logger,
  internals: Internals,
): Promise<RedisConnection> {
  const options = clientOptions(config, internals.deadlines !== undefined);
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
  let connection: RedisConnection | undefined;
  let gaveUp = false;
  try {
    await Promise.race([
      (async () => {
        await client.connect();
        if (gaveUp) return;
        connection = new RedisConnection(client, config, logger, internals);
        await connection.verifyInternals();
      })(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new InfraError(
                "Timeout",
                `cannot connect to ${
                  config.nodes.join(", ")
                }: no connection within ${config.connectTimeoutMs} ms`,
                { component: "cache" },
              ),
            ),
          config.connectTimeoutMs,
        );
      }),
    ]);
  } catch (error) {
    gaveUp = true;
    await connection?.close().catch(() => {});
    client.disconnect();
    const denied = lastError !== undefined &&
      InfraError.is(toCacheError(lastError), "PermissionDenied");
    const mapped = toCacheError(
      denied ? lastError : error,
      `cannot connect to ${config.nodes.join(", ")}`,
    );
    if (!InfraError.is(mapped, "Timeout", "Internal")) throw mapped;
    // The message already names the component: not twice.
    const message = mapped.message.replace(/^cache: /, "");
    throw new InfraError("Unavailable", message, { component: "cache", cause: error });
  } finally {
    clearTimeout(timer);
    client.off("error", remember);
  }
  return connection!;
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
  return await connectWith(config, deps, { deadlines: probeCommandInternals() });
}

/**
 * {@link connect} with the ioredis internals it may use stated (tests force the
 * fallbacks with it; not part of the public API).
 */
export async function connectWith(
  config: ConfigInput<CacheConfig>,
  deps: CacheDependencies,
  internals: Internals,
): Promise<Cache> {
  const resolved = resolveConfig(config);
  const logger = checkDependencies(deps, "connect").logger ?? getLogger("cache");
  // The client's retry strategies read their delays from this object: it stays the client's.
  const connection = await open(structuredClone(resolved), logger, internals);
  let current = resolved;
  return await createCache(connection, settingsOf(resolved), logger, (input) => {
    const next = resolveConfig(input, current);
    return {
      changed: checkReload(current, next),
      settings: settingsOf(next),
      apply: () => {
        connection.reconfigure(next);
        current = next;
      },
    };
  });
}

function settingsOf(config: CacheConfig): CacheSettings {
  return {
    keyPrefix: config.keyPrefix,
    codec: config.codec,
    defaultTtlMs: config.defaultTtlMs,
    getOrSet: { ...config.getOrSet },
    l1: { ...config.l1 },
  };
}
