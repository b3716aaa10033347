/**
 * What every part of the cache shares: the connection, the key space, the settings, the
 * L1 and its invalidation broadcast, the key events, and the lifecycle (closed state,
 * background work drained on close).
 *
 * @module
 */

import { abortable, throwIfAborted } from "../base/mod.ts";
import type { Logger } from "../clog/mod.ts";
import {
  type BatchOutcome,
  type Command,
  command,
  type Connection,
  type Reply,
  type Subscription,
} from "./connection.ts";
import { closedError } from "./errors.ts";
import { KeyEvents } from "./events.ts";
import { absentKeyOf, KeySpace } from "./keys.ts";
import { L1Cache } from "./l1.ts";
import { type CacheMetrics, cacheMetrics } from "./metrics.ts";
import { END_NOT_FOUND } from "./scripts.ts";
import { TagRecords } from "./tags.ts";
import type { Codec, GetOrSetConfig, L1Config } from "./types.ts";

/** Most keys in one invalidation message or one DEL of cached not-founds. */
const INVALIDATION_BATCH = 1_000;

/** L1's bounds for the fallback copies; each lives until its grace ends, not `ttlMs`. */
function fallbackBounds(l1: L1Config): L1Config {
  return { ...l1, ttlMs: 2 ** 31 - 1 };
}

/** The settings the cache runs with (the driver-independent part of the config). */
export interface CacheSettings {
  /** Prepended to every key and channel. */
  keyPrefix: string;
  /** Default codec. */
  codec: Codec;
  /** Default TTL of set and getOrSet. */
  defaultTtlMs: number;
  /** getOrSet defaults. */
  getOrSet: GetOrSetConfig;
  /** The L1 tier. */
  l1: L1Config;
}

/** The replies of a batch; throws the first failure. */
export function repliesOf(outcomes: readonly BatchOutcome[]): Reply[] {
  return outcomes.map((outcome) => {
    if (!outcome.ok) throw outcome.error;
    return outcome.reply;
  });
}

/** A random hex token (lock owners, instance ids). */
export function randomToken(bytes = 16): string {
  const buffer = new Uint8Array(bytes);
  crypto.getRandomValues(buffer);
  let out = "";
  for (const byte of buffer) out += byte.toString(16).padStart(2, "0");
  return out;
}

/** The shared machinery. */
export class CacheCore {
  readonly connection: Connection;
  readonly keys: KeySpace;
  readonly settings: CacheSettings;
  readonly logger: Logger;
  readonly l1: L1Cache | undefined;
  /**
   * With L1 on: the last copy of each value getOrSet read or stored with a grace period,
   * kept until its grace ends, within L1's bounds, served only when Redis cannot be
   * reached. Unlike L1 it survives the loss of the invalidation channel (a fallback is
   * stale by definition); writes in this process and invalidations heard drop copies.
   */
  readonly fallbacks: L1Cache | undefined;
  readonly events: KeyEvents;
  /** This instance's id, to ignore its own invalidation messages. */
  readonly instanceId: string = randomToken(8);
  /** The L1 invalidation channel. */
  readonly l1Channel: string;
  /** OpenTelemetry counters. */
  readonly metrics: CacheMetrics = cacheMetrics();
  /** The tag invalidation records. */
  readonly tags: TagRecords = new TagRecords(this);
  /**
   * In-process getOrSet flights by full key, then by the variant of the callers they serve
   * (the codec and the options that decide how a caller waits; see `GetOrSet`).
   */
  readonly flights: Map<string, Map<string, Promise<unknown>>> = new Map();
  /** The tag record keys of in-process getOrSet flights called with tags. */
  readonly flightTags: Map<Promise<unknown>, readonly string[]> = new Map();
  /** Aborts when the cache closes (loaders' signal, waits). */
  readonly lifetime: AbortController = new AbortController();
  /**
   * Aborts with `Closed` as close begins, before the drain: a wait nothing else would end
   * (a blocking lock) ends at once rather than hold the close up, while the work close
   * drains goes on under `lifetime`.
   */
  readonly #closing = new AbortController();
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #stoppers = new Set<() => void>();
  #l1Subscription: Subscription | undefined;
  /** Cached "not found" markers of the current burst of writes, deleted together. */
  #notFound: { replaced: string[]; unsure: string[] } | undefined;
  /** The invalidations of the current burst of writes, published together. */
  #burst: { keys: Set<string>; published: Promise<void> } | undefined;
  #closed = false;

  constructor(connection: Connection, settings: CacheSettings, logger: Logger) {
    this.connection = connection;
    this.settings = settings;
    this.logger = logger;
    this.keys = new KeySpace(settings.keyPrefix);
    this.l1 = settings.l1.enabled ? new L1Cache(settings.l1) : undefined;
    this.fallbacks = settings.l1.enabled ? new L1Cache(fallbackBounds(settings.l1)) : undefined;
    this.events = new KeyEvents(connection, this.keys.channel("events"), logger);
    this.l1Channel = this.keys.channel("l1");
  }

  /** Subscribes to L1 invalidations when L1 is on. */
  async start(): Promise<void> {
    const l1 = this.l1;
    if (!l1) return;
    this.#l1Subscription = await this.connection.subscribe(this.l1Channel, {
      onMessage: (message) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(message);
        } catch {
          return;
        }
        if (!Array.isArray(parsed) || parsed[0] === this.instanceId) return;
        const keys = parsed.slice(1).filter((k): k is string => typeof k === "string");
        l1.invalidate(keys);
        this.fallbacks?.invalidate(keys);
        // A cleared namespace: `{ "prefix": keyPrefix }` entries.
        for (const entry of parsed) {
          if (typeof entry === "object" && entry !== null && typeof entry.prefix === "string") {
            this.#dropPrefix(entry.prefix);
          }
        }
      },
      onInterrupted: () => {
        // Other instances' invalidations cannot reach us now: serve nothing from L1.
        this.logger.info("L1 invalidation channel lost; L1 suspended until resubscribed");
        l1.suspend();
      },
      onResubscribed: () => {
        // Invalidations sent while we were disconnected are lost: start over.
        this.logger.info("L1 invalidation channel resubscribed; L1 resumes empty");
        l1.resume();
      },
    });
  }

  /**
   * Whether writes publish L1 invalidations: always with an L1 of its own, and without one
   * when `l1.publishInvalidations` says so (a writer whose keys other instances hold in L1).
   */
  get broadcasts(): boolean {
    return this.l1 !== undefined || this.settings.l1.publishInvalidations;
  }

  /**
   * Puts hot-reloaded settings in force without dropping state: later calls read the new
   * TTLs and getOrSet defaults, L1 takes its new bounds (evicting the least recently used
   * entries beyond them, shortening entries beyond a shorter TTL), publishing follows
   * `l1.publishInvalidations`. The prefix, the codec and `l1.enabled` never change here.
   */
  reconfigure(next: CacheSettings): void {
    const settings = this.settings;
    settings.defaultTtlMs = next.defaultTtlMs;
    settings.getOrSet = { ...next.getOrSet };
    settings.l1 = { ...next.l1, enabled: settings.l1.enabled };
    this.l1?.configure(settings.l1);
    this.fallbacks?.configure(fallbackBounds(settings.l1));
  }

  /** Aborted (with `Closed`) once close has begun. */
  get closing(): AbortSignal {
    return this.#closing.signal;
  }

  /** Throws `Closed` after close. */
  checkOpen(): void {
    if (this.#closed) {
      throw closedError();
    }
  }

  /**
   * Sends one command, honouring the caller's signal: an already-aborted signal sends
   * nothing (no state change); one that fires later stops the wait, not the command.
   */
  send(command: Command, signal?: AbortSignal): Promise<Reply> {
    this.checkOpen();
    throwIfAborted(signal, "cache");
    const reply = this.connection.call(command);
    return signal ? abortable(reply, signal, "cache") : reply;
  }

  /** Sends a batch; throws the first failure (callers that want every outcome use the connection). */
  sendAll(commands: readonly Command[], signal?: AbortSignal): Promise<Reply[]> {
    this.checkOpen();
    throwIfAborted(signal, "cache");
    const replies = this.connection.batch(commands).then(repliesOf);
    return signal ? abortable(replies, signal, "cache") : replies;
  }

  /**
   * Sends a write of `fullKeys` (`send` puts it on the wire) and keeps the other tiers in
   * step with it, the same way for every write (set, setMany, delete, expire, increment,
   * pipelines, scripts): in-process getOrSet flights of the keys are detached and their L1
   * entries dropped before it is sent; once Redis answered (or failed: it may have applied
   * it) L1 drops them again, so that a read racing the write cannot keep the old value,
   * and the other instances are told. A caller's signal stops its wait, never that.
   *
   * `valueKeys` (default: all of them) are the keys a successful write surely gives a new
   * value (a plain set, setMany): getOrSet's companion of theirs ends with it, a cached "not
   * found" and a grace marker alike. `unsureKeys` are the keys it may leave as they were
   * (an increment that fails, a script, which may only read): only a cached "not found" of
   * theirs ends, since a value may now be there; a grace marker stays, so that a value in
   * grace is not taken for a fresh one. (A conditional set ends both in its own script.)
   */
  write<T>(
    fullKeys: readonly string[],
    send: () => Promise<T>,
    signal?: AbortSignal,
    valueKeys: readonly string[] = fullKeys,
    unsureKeys: readonly string[] = [],
  ): Promise<T> {
    this.checkOpen();
    throwIfAborted(signal, "cache");
    if (fullKeys.length === 0) return abortable(send(), signal, "cache");
    this.detachFlights(fullKeys);
    this.l1?.invalidate(fullKeys);
    this.fallbacks?.invalidate(fullKeys);
    const reply = send();
    if (valueKeys.length > 0) this.#endNotFound(valueKeys, true);
    if (unsureKeys.length > 0) this.#endNotFound(unsureKeys, false);
    const settled = this.broadcasts ? reply.finally(() => this.invalidate(fullKeys)) : reply;
    return signal ? abortable(settled, signal, "cache") : settled;
  }

  /**
   * A view of this core whose callers' keys live in `keys` (a namespace): everything else
   * (connection, L1, flights, channels, lifecycle) is this core's.
   */
  view(keys: KeySpace): CacheCore {
    const bound = new Map<PropertyKey, unknown>();
    return new Proxy(this, {
      get(target, property) {
        if (property === "keys") return keys;
        const value = Reflect.get(target, property, target);
        if (typeof value !== "function") return value;
        let fn = bound.get(property);
        if (fn === undefined) bound.set(property, fn = value.bind(target));
        return fn;
      },
    });
  }

  /**
   * After the keys under `prefixes` were cleared: drops them from L1 and the fallback
   * copies, detaches their flights, and tells the other instances.
   */
  async clearedPrefixes(prefixes: readonly string[]): Promise<void> {
    for (const prefix of prefixes) this.#dropPrefix(prefix);
    if (!this.broadcasts) return;
    try {
      await this.connection.publish(
        this.l1Channel,
        JSON.stringify([this.instanceId, ...prefixes.map((prefix) => ({ prefix }))]),
      );
    } catch (error) {
      this.logger.warn("L1 invalidation broadcast failed", { prefixes, error });
    }
  }

  #dropPrefix(keyPrefix: string): void {
    this.l1?.invalidatePrefix(keyPrefix);
    this.fallbacks?.invalidatePrefix(keyPrefix);
    for (const fullKey of [...this.flights.keys()]) {
      if (fullKey.startsWith(keyPrefix)) this.flights.delete(fullKey);
    }
  }

  /** Groups indexes of `fullKeys` by cluster slot (one group outside a cluster). */
  groupBySlot(fullKeys: readonly string[]): number[][] {
    if (this.connection.mode !== "cluster") return [fullKeys.map((_, i) => i)];
    const groups = new Map<number, number[]>();
    fullKeys.forEach((key, i) => {
      const slot = this.connection.slotOf(key);
      const group = groups.get(slot);
      if (group) group.push(i);
      else groups.set(slot, [i]);
    });
    return [...groups.values()];
  }

  /**
   * After a write of `fullKeys` in this process: later getOrSet callers start a new flight
   * instead of joining a load that began before the write (and may return older data).
   */
  detachFlights(fullKeys: readonly string[]): void {
    if (this.flights.size === 0) return;
    for (const key of fullKeys) this.flights.delete(key);
  }

  /**
   * After an invalidation of the tag records `recordKeys` in this process: later getOrSet
   * callers with one of those tags start a new flight instead of joining a load that began
   * before it.
   */
  detachTagged(recordKeys: readonly string[]): void {
    if (this.flightTags.size === 0) return;
    for (const [fullKey, variants] of this.flights) {
      for (const [variant, flight] of variants) {
        const tags = this.flightTags.get(flight);
        if (tags?.some((tag) => recordKeys.includes(tag))) variants.delete(variant);
      }
      if (variants.size === 0) this.flights.delete(fullKey);
    }
  }

  /** The L1 invalidation message for `fullKeys`. */
  invalidationMessage(fullKeys: readonly string[]): string {
    return JSON.stringify([this.instanceId, ...fullKeys]);
  }

  /**
   * After a write: drops the keys from this L1 and tells the other instances. The keys of
   * every write answered in one burst of microtasks go in one message (a busy writer
   * publishes once per burst, not once per write); the promise settles once it was
   * published. A failed broadcast is logged, not thrown (the write itself succeeded).
   */
  invalidate(fullKeys: readonly string[]): Promise<void> {
    this.l1?.invalidate(fullKeys);
    this.fallbacks?.invalidate(fullKeys);
    if (!this.broadcasts) return Promise.resolve();
    let burst = this.#burst;
    if (!burst) {
      const keys = new Set<string>();
      const published = new Promise<void>((resolve) =>
        queueMicrotask(() => {
          this.#burst = undefined;
          resolve(this.#publish([...keys]));
        })
      );
      burst = this.#burst = { keys, published };
    }
    for (const key of fullKeys) burst.keys.add(key);
    return burst.published;
  }

  /**
   * Deletes getOrSet's cached "not found" of keys just written, right behind the write on
   * the same connection (so in its slot, after it): without this, a "not found" cached
   * before a `set` would come back once the value expired or was removed by someone else.
   * With `replaced` (the write surely gave the key a new value) a grace marker goes too;
   * otherwise (`END_NOT_FOUND`) only a "not found" does. The markers of every write issued
   * in one burst go in one command per slot and kind, and nobody waits for it: a plain
   * write costs one more command per burst, not per call, and no round trip.
   */
  #endNotFound(fullKeys: readonly string[], replaced: boolean): void {
    let markers = this.#notFound;
    if (markers === undefined) {
      markers = this.#notFound = { replaced: [], unsure: [] };
      queueMicrotask(this.#deleteMarkers);
    }
    const list = replaced ? markers.replaced : markers.unsure;
    for (let i = 0; i < fullKeys.length; i++) list.push(absentKeyOf(this.keys, fullKeys[i]));
  }

  /** Sends the DELs of the burst's markers (no one waits: QUIT on close lets them finish). */
  readonly #deleteMarkers = (): void => {
    const { replaced, unsure } = this.#notFound!;
    this.#notFound = undefined;
    this.#sendPerSlot(replaced, (keys) => command("DEL", keys, keys[0]));
    this.#sendPerSlot(unsure, (keys) => ({
      kind: "script",
      script: END_NOT_FOUND,
      keys,
      args: [],
      binary: false,
    }));
  };

  /** Sends `build(keys)` for the keys of each slot, at most INVALIDATION_BATCH a command. */
  #sendPerSlot(markers: string[], build: (keys: string[]) => Command): void {
    if (markers.length === 0) return;
    const groups = this.connection.mode === "cluster"
      ? this.groupBySlot(markers).map((group) => group.map((i) => markers[i]))
      : [markers];
    for (const group of groups) {
      for (let i = 0; i < group.length; i += INVALIDATION_BATCH) {
        const keys = group.length <= INVALIDATION_BATCH
          ? group
          : group.slice(i, i + INVALIDATION_BATCH);
        this.connection.call(build(keys)).catch(this.#markersNotDeleted);
      }
    }
  }

  readonly #markersNotDeleted = (error: unknown): void => {
    this.logger.warn("could not drop the cached not-found of written keys", { error });
  };

  async #publish(fullKeys: string[]): Promise<void> {
    const messages: Promise<void>[] = [];
    for (let i = 0; i < fullKeys.length; i += INVALIDATION_BATCH) {
      const keys = fullKeys.slice(i, i + INVALIDATION_BATCH);
      messages.push(this.connection.publish(this.l1Channel, this.invalidationMessage(keys)));
    }
    try {
      await Promise.all(messages);
    } catch (error) {
      this.logger.warn("L1 invalidation broadcast failed", { keys: fullKeys.length, error });
    }
  }

  /** Keeps `task` for close() to wait on. */
  track<T>(task: Promise<T>): Promise<T> {
    this.#tasks.add(task);
    const forget = () => this.#tasks.delete(task);
    task.then(forget, forget);
    return task;
  }

  /** Registers a timer stopper (lock auto-extension) run on close; returns its remover. */
  onClose(stop: () => void): () => void {
    this.#stoppers.add(stop);
    return () => this.#stoppers.delete(stop);
  }

  /** Stops accepting calls, drains background work (bounded), then closes the connection. */
  async close(drainMs: number): Promise<void> {
    this.#closed = true;
    this.#closing.abort(closedError());
    if (this.#tasks.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...this.#tasks]),
        new Promise((resolve) => (timer = setTimeout(resolve, drainMs))),
      ]);
      clearTimeout(timer);
    }
    this.lifetime.abort(closedError());
    for (const stop of this.#stoppers) stop();
    this.#stoppers.clear();
    await this.events.close();
    await this.#l1Subscription?.unsubscribe().catch(() => {});
    await this.connection.close();
  }
}
