/**
 * The chat service: accepts messages, keeps each room's recent window, and holds what an
 * instance needs to run among others: a leased instance id for its Snowflake message ids,
 * its registration in the service registry, and its settings from the config center,
 * hot-reloaded.
 *
 * Accepting a message is a short pipeline, each step a seam for a component to come:
 *
 * 1. validate against the settings in force;
 * 2. (ratelimit: `allow(userId)` per user, 429 when denied);
 * 3. a Snowflake id from the leased instance id (503 `LockLost` while the lease is lost, until
 *    coord re-claims the id: one generator follows the lease throughout);
 * 4. claim the `clientMessageId` (`DuplicateGuard`; `once` later), 409 for a repeat;
 * 5. (db: insert into the message table of the room's shard);
 * 6. append to the room's recent window (`RecentMessages`);
 * 7. (mq: publish to the delivery topic, keyed by room).
 *
 * @module
 */

import { hostname } from "node:os";
import process from "node:process";
import {
  closeOnce,
  type HotReloadable,
  type HotReloadOptions,
  InfraError,
  throwIfAborted,
  timeoutSignal,
} from "../../base/mod.ts";
import type { Cache } from "../../cache/mod.ts";
import { getLogger, type Logger, type RootLogger } from "../../clog/mod.ts";
import type { Coord, InstanceIdLease, Registration, TypedConfig } from "../../coord/mod.ts";
import { type Snowflake, snowflake } from "../../uid/mod.ts";
import {
  type ChatConfig,
  chatConfigKey,
  chatConfigSchema,
  checkChatConfig,
  defaultChatConfig,
  SERVICE,
} from "./config.ts";
import { cacheDuplicateGuard, type DuplicateGuard } from "./duplicates.ts";
import {
  type ChatOperations,
  compose,
  type Handler,
  type Health,
  type Middleware,
  requestContext,
  routes,
} from "./http.ts";
import {
  type ChatMessage,
  checkLimit,
  checkMessageInput,
  checkRoom,
  type MessageInput,
} from "./messages.ts";
import { cacheRecentMessages, type RecentMessages } from "./recent_messages.ts";

/** What the chat service runs on. The caller owns these and closes them after the service. */
export interface ChatDependencies {
  /** Config center, registry and instance-id allocator. */
  coord: Coord;
  /** Recent windows and duplicate claims. */
  cache: Cache;
  /** Where the service logs; default `getLogger("")` (the service root). */
  logger?: Logger;
  /** clog's root, bound to the `logLevel` setting; absent: the level is left alone. */
  logRoot?: RootLogger;
  /** The recent windows; default {@link cacheRecentMessages} on `cache`. */
  recent?: RecentMessages;
  /** The duplicate claims; default {@link cacheDuplicateGuard} on `cache`. */
  duplicates?: DuplicateGuard;
  /** Middleware inside the request context (metrics, auth, ...), outermost first. */
  middleware?: Middleware[];
}

/** Options of {@link startChat}. */
export interface ChatOptions {
  /** The environment of the config key `/config/{env}/chat/app`. */
  env: string;
  /** Abandons the start. */
  signal?: AbortSignal;
}

/** A running chat service instance. */
export interface ChatService extends ChatOperations, HotReloadable<ChatConfig>, AsyncDisposable {
  /** The leased instance id, in every message id. */
  readonly instanceId: number;
  /** The config-center key of the settings. */
  readonly configKey: string;
  /** The settings in force. */
  readonly config: ChatConfig;
  /** The config-center revision of the settings in force (0 = defaults). */
  readonly configRevision: number;
  /** The fetch handler, middleware included. */
  readonly handler: Handler;
  /**
   * Registers this instance in the service registry under `chat/chat-{instanceId}`. The
   * registration is withdrawn on close, and while the instance-id lease is lost (an
   * instance that cannot issue ids should get no traffic); once coord re-claims the id the
   * service registers again, as a new registration (close the service, not the
   * registration, to leave for good).
   *
   * @param address Where clients reach it, e.g. `http://10.0.0.5:8080`.
   * @param options An optional signal.
   * @returns The registration made now.
   */
  register(address: string, options?: { signal?: AbortSignal }): Promise<Registration>;
  /** Deregisters, stops following the config, releases the instance id. Idempotent. */
  close(): Promise<void>;
}

class Chat implements ChatService {
  readonly handler: Handler;
  readonly configKey: string;
  #settings: ChatConfig = { ...defaultChatConfig };
  #deps: Required<Pick<ChatDependencies, "coord" | "cache" | "recent" | "duplicates">>;
  #logger: Logger;
  #lease: InstanceIdLease;
  readonly #ids: Snowflake;
  #typed: TypedConfig<ChatConfig> | undefined;
  #registration: Registration | undefined;
  /** Where `register` was asked to register this instance (again after a re-claim). */
  #address: string | undefined;
  #registering: Promise<unknown> = Promise.resolve();
  #closing = false;

  constructor(deps: ChatDependencies, lease: InstanceIdLease, configKey: string) {
    this.#deps = {
      coord: deps.coord,
      cache: deps.cache,
      recent: deps.recent ?? cacheRecentMessages(deps.cache),
      duplicates: deps.duplicates ?? cacheDuplicateGuard(deps.cache),
    };
    this.#logger = deps.logger ?? getLogger("");
    this.#lease = lease;
    // One generator for the life of the service: it issues nothing while the lease is lost
    // and carries on, with larger ids, once coord re-claims the id.
    this.#ids = snowflake({}, { lease });
    this.configKey = configKey;
    this.handler = compose(
      [requestContext(this.#logger.namespace("http")), ...(deps.middleware ?? [])],
      routes(this),
    );
    lease.onStateChange((state) => this.#onLease(state));
  }

  /** Follows the instance-id lease: no traffic unless it is held (uid stops the ids itself). */
  #onLease(state: InstanceIdLease["state"]): void {
    if (this.#closing) return;
    const instanceId = this.#lease.id;
    if (state === "lost") {
      this.#logger.error("instance-id lease lost: no message ids until it is re-claimed", {
        instanceId,
        reason: this.#lease.signal.reason,
      });
      void this.#registration?.close();
    } else if (state === "taken") {
      this.#logger.error("instance id taken by another instance: restart to lease a new one", {
        instanceId,
      });
    } else if (state === "held") {
      this.#logger.info("instance id re-claimed; taking messages again", { instanceId });
      const address = this.#address;
      if (address !== undefined) {
        this.#registering = this.#registerAt(address).catch((error) => {
          if (!this.#closing) this.#logger.error("could not register again", { error });
        });
      }
    }
  }

  get instanceId(): number {
    return this.#lease.id;
  }

  get config(): ChatConfig {
    return { ...this.#settings };
  }

  get configRevision(): number {
    return this.#typed?.revision ?? 0;
  }

  /** Follows the config center; called once by {@link startChat}. */
  async follow(typed: TypedConfig<ChatConfig>, logRoot: RootLogger | undefined): Promise<void> {
    this.#typed = typed;
    await typed.bind(this);
    if (logRoot) {
      await typed.bind(logRoot, {
        select: (value) => ({ ...logRoot.config, level: value.logLevel }),
      });
    }
  }

  hotReload(config: ChatConfig, options: HotReloadOptions = {}): Promise<void> {
    throwIfAborted(options.signal, SERVICE);
    const next = checkChatConfig(config);
    const previous = this.#settings;
    const changed = Object.fromEntries(
      (Object.keys(next) as (keyof ChatConfig)[])
        .filter((key) => next[key] !== previous[key])
        .map((key) => [key, `${previous[key]} → ${next[key]}`]),
    );
    this.#settings = next;
    if (Object.keys(changed).length > 0) {
      this.#logger.info("settings applied", { key: this.configKey, changed });
    }
    return Promise.resolve();
  }

  async post(
    room: string,
    body: unknown,
    options: { signal?: AbortSignal } = {},
  ): Promise<ChatMessage> {
    const settings = this.#settings; // one request sees one version of the settings
    let input: MessageInput;
    try {
      checkRoom(room);
      input = checkMessageInput(body, settings.maxMessageLength);
    } catch (error) {
      this.#logger.info("message refused", {
        field: (error as InfraError).details?.field,
        reason: (error as Error).message,
      });
      throw error;
    }
    // Seam: ratelimit.allow(input.userId) goes here (429 RateLimited when denied).
    const id = this.#ids.nextString();
    const message: ChatMessage = {
      id, // first: the recent window orders equal scores by the member's bytes
      room,
      userId: input.userId,
      text: input.text,
      clientMessageId: input.clientMessageId,
      sentAt: new Date(this.#ids.decompose(id).timestampMs).toISOString(),
    };
    const { duplicates, recent } = this.#deps;
    const first = await duplicates.claim(message, settings.dedupeTtlMs, options);
    if (first !== undefined) {
      this.#logger.info("duplicate refused", {
        room,
        userId: input.userId,
        clientMessageId: input.clientMessageId,
        messageId: first,
      });
      throw new InfraError(
        "Conflict",
        `clientMessageId "${input.clientMessageId}" was already accepted as message ${first}`,
        {
          component: SERVICE,
          details: { field: "clientMessageId", messageId: first },
        },
      );
    }
    try {
      // Seam: db insert into the room's shard here, before the window; mq publish after it.
      await recent.append(message, settings.recentWindow, settings.recentTtlMs, options);
    } catch (error) {
      await duplicates.release(message).catch((releaseError) =>
        this.#logger.warn("could not release a duplicate claim", { error: releaseError })
      );
      throw error;
    }
    this.#logger.debug("message accepted", { room, messageId: id, userId: input.userId });
    return message;
  }

  async read(
    room: string,
    limit: string | null,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ window: number; messages: ChatMessage[] }> {
    const window = this.#settings.recentWindow;
    checkRoom(room);
    const count = checkLimit(limit, window);
    return { window, messages: await this.#deps.recent.read(room, count, options) };
  }

  async health(): Promise<Health> {
    const lease = this.#lease.state;
    const checks: Record<string, string> = {
      instanceId: lease === "held" ? "ok" : `lease ${lease}`,
      registration: this.#registration?.state ?? "not registered",
    };
    try {
      await this.#deps.cache.ping({ signal: timeoutSignal(1_000, SERVICE) });
      checks.cache = "ok";
    } catch (error) {
      checks.cache = InfraError.is(error) ? error.code : "error";
    }
    const ok = checks.instanceId === "ok" && checks.cache === "ok" &&
      checks.registration !== "lost";
    return {
      status: ok ? "ok" : "unavailable",
      instanceId: this.instanceId,
      checks,
      config: { revision: this.configRevision, ...this.#settings },
    };
  }

  async register(address: string, options: { signal?: AbortSignal } = {}): Promise<Registration> {
    if (this.#closing) {
      throw new InfraError("Closed", "the chat service is closed", { component: SERVICE });
    }
    if (this.#address !== undefined) {
      throw new InfraError("Conflict", "this instance is already registered", {
        component: SERVICE,
      });
    }
    if (this.#lease.state !== "held") {
      throw new InfraError("LockLost", "the instance-id lease was lost", { component: SERVICE });
    }
    this.#address = address;
    try {
      return await this.#registerAt(address, options);
    } catch (error) {
      this.#address = undefined;
      throw error;
    }
  }

  async #registerAt(address: string, options: { signal?: AbortSignal } = {}) {
    const registration = await this.#deps.coord.registry.register({
      service: SERVICE,
      id: `${SERVICE}-${this.instanceId}`,
      address,
      metadata: { instanceId: this.instanceId, startedAt: new Date().toISOString() },
    }, options);
    if (this.#closing || this.#lease.state !== "held") {
      // Lost (or closing) while registering: no traffic for this period.
      await registration.close();
      return registration;
    }
    this.#registration = registration;
    this.#logger.info("registered", { service: SERVICE, id: registration.instance.id, address });
    return registration;
  }

  close: () => Promise<void> = closeOnce(async () => {
    this.#closing = true;
    // Leave the registry first, so that no new traffic is routed here while we stop.
    await this.#registering;
    await this.#registration?.close();
    await this.#typed?.close();
    await this.#lease.close();
    this.#logger.info("stopped", { instanceId: this.instanceId });
  });

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Starts a chat service instance: leases an instance id, loads and follows its settings,
 * and binds clog's level to them. Serve `service.handler`, then call `register(address)`.
 *
 * @param deps Coord, cache, logger, clog's root, replaceable steps, middleware.
 * @param options The config environment and a signal.
 * @returns The running service.
 * @throws {InfraError} `ResourceExhausted` when every instance id is taken; what coord
 *   throws when the config cannot be loaded.
 */
export async function startChat(
  deps: ChatDependencies,
  options: ChatOptions,
): Promise<ChatService> {
  const logger = deps.logger ?? getLogger("");
  const lease = await deps.coord.leaseInstanceId(SERVICE, {
    holder: `${hostname()}:${process.pid}`,
    signal: options.signal,
  });
  const key = chatConfigKey(options.env);
  const chat = new Chat({ ...deps, logger }, lease, key);
  try {
    const typed = await deps.coord.config(key, {
      schema: chatConfigSchema,
      defaults: { ...defaultChatConfig },
      signal: options.signal,
    });
    await chat.follow(typed, deps.logRoot);
    logger.info("chat service started", {
      instanceId: lease.id,
      configKey: key,
      configRevision: typed.revision,
    });
    return chat;
  } catch (error) {
    await chat.close();
    throw error;
  }
}
