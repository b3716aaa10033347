/**
 * The {@link Cache} itself, written once over the driver-neutral {@link Connection}: the
 * Redis driver and the memory driver differ only in the connection they hand it.
 *
 * @module
 */

import { abortable, type HotReloadOptions, throwIfAborted } from "../base/mod.ts";
import type { Logger } from "../clog/mod.ts";
import { createBloom } from "./bloom.ts";
import { decodeValue, type Encoded, encodeValue, isBinary } from "./codec.ts";
import { createHashes, createSets, createSortedSets } from "./collections.ts";
import { type Command, command, type Connection } from "./connection.ts";
import { CacheCore, type CacheSettings, repliesOf } from "./core.ts";
import { invalidArgument } from "./errors.ts";
import { GetOrSet } from "./get_or_set.ts";
import { lock, tryLock } from "./lock.ts";
import { RESULT } from "./metrics.ts";
import { createPipeline } from "./pipeline.ts";
import { SET_MANY_WITH_TTL } from "./scripts.ts";
import {
  checkTaggedLife,
  checkTags,
  isWrapped,
  payloadOf,
  readEntry,
  refuseTags,
  type TagPair,
  wrapEntry,
} from "./tags.ts";
import {
  counterStep,
  countLive,
  deleteCommand,
  expireCommand,
  expireOutcome,
  isConditional,
  type KnownEntry,
  probeCommand,
  probed,
  sendSet,
  sendStep,
  setCommand,
  setOutcome,
  ttlOutcome,
} from "./strings.ts";
import type {
  BloomFilter,
  BloomOptions,
  Cache,
  CacheConfig,
  CacheMode,
  CacheNamespace,
  CallOptions,
  Codec,
  ConfigInput,
  GetOrSetOptions,
  Hashes,
  IncrementOptions,
  Loader,
  Lock,
  LockOptions,
  Pipeline,
  RawClient,
  Script,
  ScriptOptions,
  SetManyOptions,
  SetOptions,
  Sets,
  SortedSets,
  TryLockOptions,
  ValueOptions,
} from "./types.ts";
import { createScript } from "./user_script.ts";
import {
  checkCodec,
  checkFinite,
  checkTtl,
  decodeReply,
  optionsOf,
  parseScore,
} from "./validate.ts";

/** What a cache and its namespace views share: the closing of the one cache they are. */
interface Shared {
  closing: Promise<void> | undefined;
}

const NAMESPACE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

class CacheClient implements Cache {
  readonly driver: "redis" | "memory";
  readonly mode: CacheMode;
  readonly keyPrefix: string;
  readonly hashes: Hashes;
  readonly sets: Sets;
  readonly sortedSets: SortedSets;
  readonly #core: CacheCore;
  readonly #getOrSet: GetOrSet;
  readonly #reload: Reload;
  readonly #shared: Shared;

  constructor(core: CacheCore, reload: Reload, shared: Shared = { closing: undefined }) {
    this.#core = core;
    this.#reload = reload;
    this.#shared = shared;
    this.driver = core.connection.driver;
    this.mode = core.connection.mode;
    this.keyPrefix = core.keys.keyPrefix;
    this.hashes = createHashes(core);
    this.sets = createSets(core);
    this.sortedSets = createSortedSets(core);
    this.#getOrSet = new GetOrSet(core);
  }

  key(key: string): string {
    return this.#core.keys.full(key);
  }

  async get<T = unknown>(key: string, options?: ValueOptions): Promise<T | undefined> {
    options = optionsOf(options, "get");
    const core = this.#core;
    const full = core.keys.full(key);
    const codec = checkCodec(options?.codec, core.settings.codec);
    const binary = isBinary(codec);
    const l1 = core.l1;
    if (l1 === undefined) {
      const reply = await core.send(command("GET", [full], full, binary), options?.signal);
      if (reply === null || !isWrapped(reply as Encoded)) return decodeReply<T>(reply, codec);
      return await this.#readTagged<T>(reply as Encoded, codec, options?.signal);
    }
    const hit = l1.get(full);
    if (hit && hit.binary === binary && (hit.data === undefined || this.#validCached(hit.data))) {
      core.metrics.l1.add(1, RESULT.hit);
      return hit.data === undefined ? undefined : decodeValue(payloadOf(hit.data), codec) as T;
    }
    core.metrics.l1.add(1, RESULT.miss);
    const epoch = l1.epoch;
    const [data, pttl] = await core.sendAll(
      [command("GET", [full], full, binary), command("PTTL", [full], full)],
      options?.signal,
    );
    if (data === null) return undefined;
    if (isWrapped(data as Encoded)) {
      const { pairs } = readEntry(data as Encoded);
      if (pairs.length > 0 && !(await core.tags.valid(pairs, options?.signal))) return undefined;
    }
    const ttl = Number(pttl);
    // Grace unknown here (the marker is not read): getOrSet will not take it as fresh. A
    // value gone by the time PTTL ran (-2: expired, evicted, deleted) is not kept.
    if (ttl !== -2) l1.set(full, data as Encoded, binary, ttl === -1 ? Infinity : ttl, epoch, -1);
    return decodeValue(payloadOf(data as Encoded), codec) as T;
  }

  /** A value read in an envelope: a miss when one of its tags was invalidated. */
  async #readTagged<T>(data: Encoded, codec: Codec, signal?: AbortSignal): Promise<T | undefined> {
    const { pairs, payload } = readEntry(data);
    if (pairs.length > 0 && !(await this.#core.tags.valid(pairs, signal))) return undefined;
    return decodeValue(payload, codec) as T;
  }

  /** Whether an L1 entry may be served: untagged, or its tags known valid from L1. */
  #validCached(data: Encoded): boolean {
    if (!isWrapped(data)) return true;
    const { pairs } = readEntry(data);
    return pairs.length === 0 || this.#core.tags.validCached(pairs) === true;
  }

  async set(key: string, value: unknown, setOptions?: SetOptions): Promise<boolean> {
    const core = this.#core;
    const options = optionsOf(setOptions, "set");
    const codec = checkCodec(options.codec, core.settings.codec);
    const tags = checkTags(options.tags);
    let pairs: TagPair[] | undefined;
    if (tags !== undefined) {
      if (options.keepTtl) {
        throw invalidArgument(
          "keepTtl excludes tags (a tagged entry must expire in time)",
          "keepTtl",
        );
      }
      checkTaggedLife(checkTtl(options.ttlMs ?? core.settings.defaultTtlMs));
      core.keys.full(key);
      // Read before the write: an invalidation racing this set leaves the entry invalid.
      pairs = await core.tags.pairs(core.keys, tags, options.signal);
    }
    const full = [core.keys.full(key)];
    const cmd = setCommand(core, key, value, options, codec, pairs);
    // A conditional set ends getOrSet's companion marker in its script, when it writes.
    const valueKeys = isConditional(options) ? [] : full;
    const reply = await core.write(
      full,
      () => core.connection.call(cmd),
      options.signal,
      valueKeys,
    );
    const outcome = setOutcome(reply);
    if (typeof outcome === "boolean") return outcome;
    // A conditional set that met a tagged entry: check its tags, then decide.
    const send = (next: Command) =>
      core.write(full, () => core.connection.call(next), options.signal, valueKeys);
    const build = (known?: KnownEntry) =>
      setCommand(core, key, value, options, codec, pairs, known);
    return await sendSet(core, send, build, options.signal, reply);
  }

  async getMany<T = unknown>(keys: string[], options?: ValueOptions): Promise<(T | undefined)[]> {
    options = optionsOf(options, "getMany");
    const core = this.#core;
    const codec = checkCodec(options?.codec, core.settings.codec);
    const binary = isBinary(codec);
    const full = core.keys.fullAll(keys);
    const result: (T | undefined)[] = new Array(full.length);
    let pending = full.map((_, i) => i);
    if (core.l1) {
      pending = pending.filter((i) => {
        const hit = core.l1!.get(full[i]);
        if (!hit || hit.binary !== binary) return true;
        if (hit.data !== undefined && !this.#validCached(hit.data)) return true;
        result[i] = hit.data === undefined
          ? undefined
          : decodeValue(payloadOf(hit.data), codec) as T;
        return false;
      });
      if (pending.length === 0) return result;
    }
    const pendingKeys = pending.map((i) => full[i]);
    const groups = core.groupBySlot(pendingKeys);
    const replies = await Promise.all(
      groups.map((group) => {
        const groupKeys = group.map((i) => pendingKeys[i]);
        return core.send(command("MGET", groupKeys, groupKeys[0], binary), options?.signal);
      }),
    );
    const read: (Encoded | null)[] = new Array(pendingKeys.length);
    groups.forEach((group, g) => {
      const values = replies[g] as (Encoded | null)[];
      group.forEach((i, j) => (read[i] = values[j]));
    });
    const decoded = await core.tags.decode<T>(read, codec, options?.signal);
    decoded.forEach((value, i) => (result[pending[i]] = value));
    return result;
  }

  async setMany(
    entries: Record<string, unknown> | [string, unknown][],
    setManyOptions?: SetManyOptions,
  ): Promise<void> {
    const core = this.#core;
    const options = optionsOf(setManyOptions, "setMany");
    const codec = checkCodec(options.codec, core.settings.codec);
    if (entries === null || typeof entries !== "object") {
      throw invalidArgument(
        "entries must be an object or an array of [key, value] pairs",
        "entries",
      );
    }
    const pairs = Array.isArray(entries) ? entries : Object.entries(entries);
    if (pairs.length === 0) throw invalidArgument("entries must not be empty", "entries");
    const ttl = checkTtl(options.ttlMs ?? core.settings.defaultTtlMs);
    const tags = checkTags(options.tags);
    if (tags !== undefined) checkTaggedLife(ttl);
    const full: string[] = [];
    const encoded: Encoded[] = [];
    pairs.forEach((pair, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw invalidArgument(`entries[${i}] must be a [key, value] pair`, `entries[${i}]`);
      }
      full.push(core.keys.full(pair[0], `entries[${i}] key`));
      encoded.push(encodeValue(pair[1], codec, `entries[${i}][1]`));
    });
    // As for set: the tags' tokens are read before the write, once for every entry.
    const tagPairs = tags === undefined
      ? undefined
      : await core.tags.pairs(core.keys, tags, options.signal);
    const data = encoded.map((value) => wrapEntry(value, tagPairs));
    const commands: Command[] = core.groupBySlot(full).map((group) => {
      const keys = group.map((i) => full[i]);
      const values = group.map((i) => data[i]);
      if (ttl === 0) return command("MSET", keys.flatMap((key, j) => [key, values[j]]), keys[0]);
      return {
        kind: "script",
        script: SET_MANY_WITH_TTL,
        keys,
        args: [ttl, ...values],
        binary: false,
      };
    });
    await core.write(
      full,
      () =>
        commands.length === 1
          ? core.connection.call(commands[0])
          : core.connection.batch(commands).then(repliesOf),
      options.signal,
    );
  }

  async delete(keys: string | string[], options?: CallOptions): Promise<number> {
    options = optionsOf(options, "delete");
    const core = this.#core;
    const full = typeof keys === "string" ? [core.keys.full(keys)] : core.keys.fullAll(keys);
    // Per slot, one script deletes each key with getOrSet's companions (a cached "not
    // found", a grace marker, a fill lock) and says which held a tagged entry.
    const commands = core.groupBySlot(full).map((group) =>
      deleteCommand(core, group.map((i) => full[i]))
    );
    const replies = await core.write(
      full,
      () => core.connection.batch(commands).then(repliesOf),
      options?.signal,
      [], // the companions go in the same script
    );
    return await countLive(core, replies.flatMap(probed), options?.signal);
  }

  async exists(keys: string | string[], options?: CallOptions): Promise<number> {
    options = optionsOf(options, "exists");
    const core = this.#core;
    const full = typeof keys === "string" ? [core.keys.full(keys)] : core.keys.fullAll(keys);
    const replies = await Promise.all(
      core.groupBySlot(full).map((group) =>
        core.send(probeCommand(group.map((i) => full[i]), "e"), options?.signal)
      ),
    );
    return await countLive(core, replies.flatMap(probed), options?.signal);
  }

  async expire(key: string, ttlMs: number, options?: CallOptions): Promise<boolean> {
    options = optionsOf(options, "expire");
    const core = this.#core;
    const full = core.keys.full(key);
    const ttl = checkTtl(ttlMs);
    const cmd = expireCommand(core, full, ttl);
    const reply = await core.write(
      [full],
      () => core.connection.call(cmd),
      options?.signal,
      [], // an expiry gives no value: a cached "not found" stays
    );
    return await expireOutcome(core, reply, ttl, options?.signal);
  }

  async ttl(key: string, options?: CallOptions): Promise<number | undefined> {
    options = optionsOf(options, "ttl");
    const core = this.#core;
    const full = core.keys.full(key);
    const reply = await core.send(probeCommand([full], "t"), options?.signal);
    return await ttlOutcome(core, probed(reply)[0], options?.signal);
  }

  async increment(key: string, by = 1, incrementOptions?: IncrementOptions): Promise<number> {
    const core = this.#core;
    const options = optionsOf(incrementOptions, "increment");
    refuseTags(options, "increment");
    const full = core.keys.full(key);
    checkFinite(by, "by");
    const ttl = checkTtl(options.ttlMs ?? 0);
    const step = counterStep(full, by, ttl);
    const send = (cmd: Command) => core.connection.call(cmd);
    // A failed step writes nothing, and a step keeps the counter's TTL: a grace marker stays.
    return parseScore(
      await core.write([full], () => sendStep(send, step), options.signal, [], [full]),
    );
  }

  async deleteByTag(tags: string | string[], options?: CallOptions): Promise<void> {
    options = optionsOf(options, "deleteByTag");
    const core = this.#core;
    const checked = checkTags(typeof tags === "string" ? [tags] : tags ?? null);
    await core.tags.invalidate(core.keys, checked!, options?.signal);
  }

  namespace(name: string): CacheNamespace {
    this.#core.checkOpen();
    if (typeof name !== "string" || !NAMESPACE_NAME.test(name)) {
      throw invalidArgument(
        `a namespace name must be 1 to 64 letters, digits, "_", "-" or ".", got ${
          typeof name === "string" ? JSON.stringify(name) : typeof name
        }`,
        "name",
      );
    }
    const core = this.#core;
    return new NamespaceClient(core.view(core.keys.namespace(name)), this.#reload, this.#shared);
  }

  getOrSet<T>(key: string, loader: Loader<T>, options?: GetOrSetOptions): Promise<T | undefined> {
    return this.#getOrSet.run(key, loader, options);
  }

  // Tracked: close waits for an acquire on the wire, so that a lock it takes meanwhile is
  // released before the connection goes (a blocking wait ends at once with Closed).
  async tryLock(key: string, options: TryLockOptions): Promise<Lock | undefined> {
    this.#core.checkOpen();
    return await this.#core.track(tryLock(this.#core, key, options));
  }

  async lock(key: string, options: LockOptions): Promise<Lock> {
    this.#core.checkOpen();
    return await this.#core.track(lock(this.#core, key, options));
  }

  bloom(key: string, options: BloomOptions): BloomFilter {
    return createBloom(this.#core, key, options);
  }

  script(lua: string, options: ScriptOptions): Script {
    return createScript(this.#core, lua, options);
  }

  pipeline(): Pipeline {
    return createPipeline(this.#core);
  }

  async ping(options?: CallOptions): Promise<void> {
    options = optionsOf(options, "ping");
    this.#core.checkOpen();
    await abortable(this.#core.connection.ping(), options?.signal, "cache");
  }

  raw(): RawClient {
    this.#core.checkOpen();
    return this.#core.connection.raw();
  }

  hotReload(config: ConfigInput<CacheConfig>, options?: HotReloadOptions): Promise<void> {
    try {
      const core = this.#core;
      core.checkOpen();
      throwIfAborted(optionsOf(options, "hotReload").signal, "cache");
      // Everything is checked before anything changes: a refused config changes nothing.
      const plan = this.#reload(config);
      plan.apply();
      core.reconfigure(plan.settings);
      if (plan.changed.length > 0) {
        core.logger.info("config reloaded", { changed: plan.changed.join(", ") });
      }
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  close(): Promise<void> {
    return (this.#shared.closing ??= this.#core.close(this.#core.settings.getOrSet.lockTtlMs));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** {@link Cache.namespace}: the same cache, its keys under `name:`. */
class NamespaceClient extends CacheClient implements CacheNamespace {
  readonly name: string;
  readonly #core: CacheCore;

  constructor(core: CacheCore, reload: Reload, shared: Shared) {
    super(core, reload, shared);
    this.#core = core;
    this.name = core.keys.path.slice(0, -1);
  }

  async clear(options?: CallOptions): Promise<void> {
    options = optionsOf(options, "clear");
    const core = this.#core;
    core.checkOpen();
    throwIfAborted(options?.signal, "cache");
    // Its keys, their companions and the nested namespaces' keys: nothing else starts so.
    const prefixes = core.keys.namespacePrefixes();
    try {
      for (const prefix of prefixes) {
        for await (const batch of core.connection.scanPrefix(prefix)) {
          throwIfAborted(options?.signal, "cache");
          const commands = core.groupBySlot(batch).map((group) => {
            const groupKeys = group.map((i) => batch[i]);
            return command("DEL", groupKeys, groupKeys[0]);
          });
          repliesOf(await core.connection.batch(commands));
        }
      }
    } finally {
      await core.clearedPrefixes(prefixes);
    }
  }
}

/**
 * Builds a cache over a connection and starts it (subscribes to L1 invalidations when L1
 * is on). Used by `connect`.
 */
export async function createCache(
  connection: Connection,
  settings: CacheSettings,
  logger: Logger,
  reload: Reload,
): Promise<Cache> {
  const core = new CacheCore(connection, settings, logger);
  try {
    await core.start();
  } catch (error) {
    await connection.close().catch(() => {});
    throw error;
  }
  return new CacheClient(core, reload);
}

/** Builds a cache that needs no start (no L1): the memory driver. */
export function createCacheNow(
  connection: Connection,
  settings: CacheSettings,
  logger: Logger,
  reload: Reload,
): Cache {
  if (settings.l1.enabled) throw new Error("createCacheNow cannot start an L1");
  return new CacheClient(new CacheCore(connection, settings, logger), reload);
}

/**
 * The driver's part of a hot reload: resolves `input` over the current config, validates
 * it and refuses a change of a fixed field (throwing, with nothing changed), and returns
 * the new settings with `apply`, which puts the driver's own fields in force.
 */
export type Reload = (
  input: ConfigInput<CacheConfig>,
) => { settings: CacheSettings; changed: string[]; apply(): void };
