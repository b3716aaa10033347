/**
 * `getOrSet`: cache-aside with stampede protection.
 *
 * - In-process, concurrent callers of one key share one flight (singleflight), so a
 *   thousand callers cost one script call and at most one loader call. A flight serves the
 *   callers that wait alike (codec, grace, soft, hard and wait timeouts); one that waits
 *   otherwise gets a flight of its own, which finds the fill lock taken and waits for the
 *   load as another process would. A write of the key in this process (`set`, `delete`,
 *   ...) detaches the flights: later callers start anew.
 * - Across processes, one script reads the value and, on a miss, takes a per-key fill lock
 *   (`SET NX PX` with an owner token) in the same round trip. The lock holder runs the
 *   loader (extending the lock while it runs), writes the value, releases the lock and
 *   publishes the key in one more script. The others wait for that event (polling with
 *   backoff as a fallback) and read the value; if the holder failed or died, one of them
 *   takes the lock over.
 * - The fill is fenced: it stores only while the loader still holds the fill lock (not if
 *   the lock expired and another loader took over, nor after a `delete`, which drops the
 *   lock) and only if the value did not change meanwhile (a `set` during the load wins).
 *   So a slow loader never overwrites a newer value with an older one.
 * - "Not found" (the loader returned `undefined`) is cached under a companion key for
 *   `negativeTtlMs`, so plain reads of the key are unaffected. It ends with any write that
 *   may give the key a value (`set`, `setMany`, `increment`, a script, their pipeline
 *   forms: the write deletes the companion right behind itself) and with `delete`; so it
 *   never outlives a value written after it (one that expired, or that another client
 *   removed).
 * - TTLs are jittered down by up to `jitter`·TTL, so keys filled together expire apart.
 * - With `staleWhileRevalidateMs`, values live that much longer than their TTL; in that
 *   window they are served at once while the caller that wins the lock refreshes them.
 * - Fail-safe: with `graceMs`, values live that much longer again, and a marker beside
 *   the value (the companion that otherwise holds a cached "not found") says so, so every
 *   reader agrees when the value expired. An expired value is loaded again as on a miss,
 *   but kept as the fallback: the callers get it instead of the loader's error or
 *   `Timeout`, and the fill lock turns into a back-off lock for `graceBackoffMs` during
 *   which every process serves the fallback without calling the loader. With
 *   `softTimeoutMs`, callers get the fallback once the loader took that long, and the load
 *   lands in the background. With L1 on, the last copy of each such value is also kept in
 *   process for when Redis cannot be reached (see `CacheCore.fallbacks`).
 * - `hardTimeoutMs` abandons a loader: its signal aborts, nothing is stored, the lock is
 *   released, and the callers get `Timeout` (or the fallback).
 *
 * @module
 */

import {
  abortable,
  describeValue,
  InfraError,
  scopedSignal,
  throwIfAborted,
  unrefTimer,
} from "../base/mod.ts";
import { decodeValue, type Encoded, encodeValue, isBinary } from "./codec.ts";
import type { Command, Reply } from "./connection.ts";
import type { CacheCore } from "./core.ts";
import { randomToken } from "./core.ts";
import { invalidArgument } from "./errors.ts";
import type { KeyWaiter } from "./events.ts";
import { OUTCOME, RESULT } from "./metrics.ts";
import { companionsOf } from "./keys.ts";
import { FILL, GET_OR_LOCK, LOCK_EXTEND, TAG_LOCK } from "./scripts.ts";
import {
  checkTaggedLife,
  checkTags,
  isWrapped,
  payloadOf,
  readEntry,
  type TagPair,
  wrapEntry,
} from "./tags.ts";
import type { Codec, GetOrSetConfig, GetOrSetOptions, Loader } from "./types.ts";
import { checkCodec, checkDurationMs, checkTtl, optionsOf } from "./validate.ts";

const COMPONENT = "cache";

interface Settings {
  ttlMs: number;
  negativeTtlMs: number;
  jitter: number;
  staleMs: number;
  lockTtlMs: number;
  waitTimeoutMs: number;
  graceMs: number;
  graceBackoffMs: number;
  softTimeoutMs: number;
  hardTimeoutMs: number;
  codec: Codec;
  tags: string[] | undefined;
}

type Result = "hit" | "stale" | "negative" | "loaded" | "waited" | "grace";
type Outcome = { found: true; data: Encoded; result: Result } | { found: false; result: Result };

interface Flight {
  key: string;
  full: string;
  keys: string[];
  token: string;
  settings: Settings;
  loader: Loader<unknown>;
  /** The stale value a refresh replaces (the fill stores only if it is still there). */
  expected?: Encoded;
  /** A value in grace, served if the loader fails or is slow. */
  fallback?: Encoded;
}

/** The tag pairs of a tagged "not found" marker (`n` and their JSON), or none. */
function negativePairs(marker: Encoded): readonly TagPair[] {
  const text = typeof marker === "string" ? marker : new TextDecoder().decode(marker);
  if (!text.startsWith("n")) return [];
  return readEntry(`\x01${text.slice(1)}\x01`).pairs;
}

/** Errors that mean Redis could not answer (a fallback copy may serve then). */
function unreachable(error: unknown): boolean {
  return InfraError.is(error, "Unavailable") || InfraError.is(error, "Timeout");
}

/** A TTL drawn uniformly from [ttl·(1−jitter), ttl] (0 stays 0). */
export function jitteredTtl(
  ttlMs: number,
  jitter: number,
  random: () => number = Math.random,
): number {
  if (ttlMs === 0 || jitter === 0) return ttlMs;
  return Math.max(1, ttlMs - Math.floor(random() * ttlMs * jitter));
}

/** Runs getOrSet calls for one cache. */
export class GetOrSet {
  readonly #core: CacheCore;
  readonly #flights: Map<string, Map<string, Promise<unknown>>>;

  constructor(core: CacheCore) {
    this.#core = core;
    this.#flights = core.flights;
  }

  async run<T>(
    key: string,
    loader: Loader<T>,
    getOrSetOptions?: GetOrSetOptions,
  ): Promise<T | undefined> {
    const core = this.#core;
    const options = optionsOf(getOrSetOptions, "getOrSet");
    core.checkOpen();
    throwIfAborted(options.signal, COMPONENT);
    const full = core.keys.full(key);
    if (typeof loader !== "function") throw invalidArgument("loader must be a function", "loader");
    const settings = this.#settings(options);
    const { codec } = settings;
    const l1 = core.l1?.getFresh(full, settings.staleMs);
    if (
      l1 && l1.binary === isBinary(codec) &&
      (l1.data === undefined || !isWrapped(l1.data) || this.#validCached(l1.data))
    ) {
      core.metrics.getOrSet.add(1, RESULT.l1_hit);
      return l1.data === undefined ? undefined : decodeValue(payloadOf(l1.data), codec) as T;
    }
    // Callers share a flight only when they would wait alike: another caller's grace or
    // timeouts must not decide this one's outcome. Callers of other variants fly apart and
    // wait for the load as another process would (one loader across them all).
    const variant =
      `${codec}|${settings.graceMs}|${settings.softTimeoutMs}|${settings.hardTimeoutMs}|${settings.waitTimeoutMs}`;
    let variants = this.#flights.get(full);
    let flight = variants?.get(variant) as Promise<Outcome> | undefined;
    if (!flight) {
      const keys = [full, ...companionsOf(core.keys, full)];
      const state: Flight = { key, full, keys, token: randomToken(), settings, loader };
      const started = core.track(this.#fly(state));
      flight = started;
      if (variants === undefined) this.#flights.set(full, variants = new Map());
      variants.set(variant, started);
      const tags = settings.tags;
      if (tags !== undefined) {
        core.flightTags.set(started, tags.map((tag) => core.keys.tagKey(tag)));
      }
      const forget = () => {
        const current = this.#flights.get(full);
        if (current?.get(variant) === started) {
          current.delete(variant);
          if (current.size === 0) this.#flights.delete(full);
        }
        if (tags !== undefined) core.flightTags.delete(started);
      };
      started.then(forget, forget);
    }
    const outcome = await abortable(flight, options.signal, COMPONENT);
    core.metrics.getOrSet.add(1, RESULT[outcome.result]);
    // Each caller decodes its own copy: no two callers share a mutable object.
    return outcome.found ? decodeValue(payloadOf(outcome.data), codec) as T : undefined;
  }

  /** Whether the tags of an L1 entry are known (from L1) to be still valid. */
  #validCached(data: Encoded): boolean {
    const { pairs } = readEntry(data);
    return pairs.length === 0 || this.#core.tags.validCached(pairs) === true;
  }

  #settings(options: GetOrSetOptions): Settings {
    const defaults = this.#core.settings.getOrSet;
    /**
     * An option in ms ≥ 0, or ≥ 1 with `positive`, else its default; at most what a timer
     * holds, as in the config.
     */
    const ms = (field: Exclude<keyof GetOrSetConfig, "jitter">, positive = false) =>
      checkDurationMs(options[field] ?? defaults[field], field, positive ? 1 : 0);
    const jitter = options.jitter ?? defaults.jitter;
    if (typeof jitter !== "number" || !(jitter >= 0 && jitter <= 1)) {
      throw invalidArgument(
        `jitter must be a number in [0, 1], got ${describeValue(jitter)}`,
        "jitter",
      );
    }
    const softTimeoutMs = ms("softTimeoutMs");
    const hardTimeoutMs = ms("hardTimeoutMs");
    if (hardTimeoutMs > 0 && hardTimeoutMs <= softTimeoutMs) {
      throw invalidArgument(
        `hardTimeoutMs (${hardTimeoutMs}) must be longer than softTimeoutMs (${softTimeoutMs})`,
        "hardTimeoutMs",
      );
    }
    const ttlMs = checkTtl(options.ttlMs ?? this.#core.settings.defaultTtlMs, "ttlMs");
    const negativeTtlMs = ms("negativeTtlMs");
    const staleMs = ms("staleWhileRevalidateMs");
    const graceMs = ms("graceMs");
    const tags = checkTags(options.tags);
    if (tags !== undefined) {
      checkTaggedLife(ttlMs === 0 ? 0 : ttlMs + staleMs + graceMs);
      if (negativeTtlMs > 0) checkTaggedLife(negativeTtlMs, "negativeTtlMs");
    }
    return {
      ttlMs,
      negativeTtlMs,
      jitter,
      staleMs,
      lockTtlMs: ms("lockTtlMs", true),
      waitTimeoutMs: ms("waitTimeoutMs", true),
      graceMs,
      graceBackoffMs: ms("graceBackoffMs"),
      softTimeoutMs,
      hardTimeoutMs,
      codec: checkCodec(options.codec, this.#core.settings.codec),
      tags,
    };
  }

  async #fly(flight: Flight): Promise<Outcome> {
    const core = this.#core;
    const { settings } = flight;
    const binary = isBinary(settings.codec);
    const started = Date.now();
    let waiter: KeyWaiter | undefined;
    let backoffMs = 10;
    let fallback: Encoded | undefined;
    try {
      for (;;) {
        const epoch = core.l1?.epoch ?? 0;
        const copyEpoch = core.fallbacks?.epoch ?? 0;
        let reply: Reply[];
        try {
          reply = await core.send({
            kind: "script",
            script: GET_OR_LOCK,
            keys: flight.keys,
            args: [flight.token, settings.lockTtlMs, settings.staleMs, settings.graceMs],
            binary,
          }) as Reply[];
        } catch (error) {
          // The value in grace this flight already read, else this process's copy.
          const copy = unreachable(error) ? fallback ?? this.#fallbackCopy(flight) : undefined;
          if (copy === undefined) throw error;
          core.logger.debug("Redis unreachable: getOrSet serves a fallback", {
            key: flight.key,
            error,
          });
          return { found: true, data: copy, result: "grace" };
        }
        const state = Number(reply[0]);
        const data = reply[1] as Encoded;
        const ttl = Number(reply[2]);
        const locked = Number(reply[3]);
        const extra = Number(reply[4]);
        // An entry a tag invalidated is expired: loaded again (one loader across processes),
        // kept as the fallback when it was stored with grace and the caller uses grace.
        const pairs = state === 1 && isWrapped(data)
          ? readEntry(data).pairs
          : state === 2
          ? negativePairs(data)
          : [];
        let invalidated = false;
        if (pairs.length > 0 && !(await core.tags.valid(pairs))) {
          invalidated = true;
          const kept = state === 1 && settings.graceMs > 0 && extra > 0 ? data : undefined;
          const taken = state === 1 && locked === 1 ? 1 : Number(
            await core.send({
              kind: "script",
              script: TAG_LOCK,
              keys: flight.keys,
              args: [
                flight.token,
                settings.lockTtlMs,
                state === 1 ? "v" : "n",
                data,
                kept === undefined ? "0" : "1",
              ],
              binary: false,
            }),
          );
          if (taken === -1) continue;
          if (taken === 1) {
            return await this.#load({
              ...flight,
              expected: state === 1 ? data : undefined,
              fallback: kept,
            });
          }
          if (taken === 2 && kept !== undefined) {
            return { found: true, data: kept, result: "grace" };
          }
          fallback = kept;
        }
        if (invalidated) {
          // Another caller loads the entry a tag invalidated: wait for it below.
        } else if (state === 1) {
          const stale = ttl >= 0 && ttl <= settings.staleMs;
          if (locked === 1) this.#refresh({ ...flight, expected: data });
          if (!stale) core.l1?.set(flight.full, data, binary, ttl < 0 ? Infinity : ttl, epoch);
          if (extra > 0 && ttl >= 0) this.#keepCopy(flight, data, ttl + extra, extra, copyEpoch);
          return { found: true, data, result: stale ? "stale" : waiter ? "waited" : "hit" };
        } else if (state === 3) {
          fallback = data;
          this.#keepCopy(flight, data, ttl, extra, copyEpoch);
          if (locked === 2) return { found: true, data, result: "grace" };
          if (locked === 1) return await this.#load({ ...flight, expected: data, fallback: data });
        } else if (state === 2) {
          // A tagged "not found" stays out of L1 (an L1 miss holds no tags to check).
          if (pairs.length === 0) {
            core.l1?.set(flight.full, undefined, binary, ttl < 0 ? Infinity : ttl, epoch);
          }
          return { found: false, result: waiter ? "waited" : "negative" };
        } else {
          fallback = undefined;
          // extra = 1: a value past this caller's grace is still there; the fill replaces it.
          if (locked === 1) {
            return await this.#load({ ...flight, expected: extra === 1 ? data : undefined });
          }
        }
        if (!waiter) {
          // Register for the fill event, then read again before waiting (no lost wake-up).
          core.checkOpen();
          waiter = await core.events.register(flight.full);
          continue;
        }
        // The other loader is waited for no longer than hardTimeoutMs (this caller would
        // abandon a loader of its own by then), and with a fallback at hand no longer than
        // the soft timeout.
        let waitMs = settings.waitTimeoutMs;
        let bound = "waitTimeoutMs";
        if (settings.hardTimeoutMs > 0 && settings.hardTimeoutMs < waitMs) {
          waitMs = settings.hardTimeoutMs;
          bound = "hardTimeoutMs";
        }
        if (fallback !== undefined && settings.softTimeoutMs > 0) {
          waitMs = Math.min(waitMs, settings.softTimeoutMs);
        }
        const remaining = waitMs - (Date.now() - started);
        if (remaining <= 0) {
          if (fallback !== undefined) return { found: true, data: fallback, result: "grace" };
          throw new InfraError(
            "Timeout",
            `waited ${waitMs} ms (${bound}) for another loader of ${flight.key}`,
            { component: COMPONENT },
          );
        }
        const lockLeft = state === 0 && !invalidated && ttl > 0 ? ttl + 1 : backoffMs;
        await waiter.wait(Math.min(backoffMs, lockLeft, remaining), core.lifetime.signal);
        backoffMs = Math.min(backoffMs * 2, 500);
      }
    } finally {
      waiter?.dispose();
    }
  }

  /** Keeps this process's copy of a value stored with grace (only for callers using grace). */
  #keepCopy(
    flight: Flight,
    data: Encoded,
    storedMs: number,
    graceMs: number,
    epoch: number,
  ): void {
    if (flight.settings.graceMs === 0 || graceMs === 0) return;
    this.#core.fallbacks?.set(
      flight.full,
      data,
      isBinary(flight.settings.codec),
      storedMs,
      epoch,
      graceMs,
    );
  }

  /** This process's copy of the key, if it expired no more than the caller's grace ago. */
  #fallbackCopy(flight: Flight): Encoded | undefined {
    const { settings } = flight;
    if (settings.graceMs === 0) return undefined;
    const copy = this.#core.fallbacks?.get(flight.full);
    if (copy === undefined || copy.data === undefined) return undefined;
    if (copy.binary !== isBinary(settings.codec)) return undefined;
    const expiredFor = Date.now() - (copy.storedUntil - copy.graceMs);
    return expiredFor <= settings.graceMs ? copy.data : undefined;
  }

  /**
   * Loads while holding the fill lock (see {@link GetOrSet.#complete}). With a fallback
   * and `softTimeoutMs`, a load slower than that answers with the fallback and lands in the
   * background.
   */
  #load(flight: Flight): Promise<Outcome> {
    const completion = this.#complete(flight);
    const { softTimeoutMs } = flight.settings;
    const fallback = flight.fallback;
    if (fallback === undefined || softTimeoutMs === 0) return completion;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const soft = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => {
        this.#core.track(completion.catch((error) => {
          this.#core.logger.warn("a load past its soft timeout failed in the background", {
            key: flight.key,
            error,
          });
        }));
        resolve({ found: true, data: fallback, result: "grace" });
      }, softTimeoutMs);
    });
    return Promise.race([completion, soft]).finally(() => clearTimeout(timer));
  }

  /**
   * Runs the loader while holding the fill lock, stores the result, releases, wakes. A
   * failure (or the hard timeout) with a fallback at hand answers with the fallback and
   * leaves a back-off lock for `graceBackoffMs`.
   */
  async #complete(flight: Flight): Promise<Outcome> {
    const core = this.#core;
    const { settings } = flight;
    const stopExtending = this.#keepLock(flight);
    let value: unknown;
    let data: Encoded | undefined;
    let pairs: TagPair[] | undefined;
    try {
      // The tokens are read before the loader runs: an invalidation during the load makes
      // what it stores invalid at once.
      if (settings.tags !== undefined) {
        pairs = await core.tags.pairs(core.keys, settings.tags, core.lifetime.signal);
      }
      value = await this.#callLoader(flight);
      if (value !== undefined) {
        data = wrapEntry(encodeValue(value, settings.codec, "loaded value"), pairs);
      }
    } catch (error) {
      core.metrics.loads.add(1, OUTCOME.error);
      stopExtending();
      const fallback = flight.fallback;
      await this.#fill(
        flight,
        fallback === undefined ? "r" : "b",
        "",
        fallback === undefined ? 0 : settings.graceBackoffMs,
      ).catch((releaseError) =>
        core.logger.warn("could not release the fill lock after a loader failure", {
          key: flight.key,
          error: releaseError,
        })
      );
      if (fallback === undefined) throw error;
      core.logger.warn("getOrSet loader failed; serving the value in grace", {
        key: flight.key,
        error,
        backoffMs: settings.graceBackoffMs,
      });
      return { found: true, data: fallback, result: "grace" };
    }
    stopExtending();
    const epoch = core.l1?.epoch ?? 0;
    const copyEpoch = core.fallbacks?.epoch ?? 0;
    const binary = isBinary(settings.codec);
    core.metrics.loads.add(1, data === undefined ? OUTCOME.not_found : OUTCOME.value);
    if (data === undefined) {
      const marker = pairs === undefined ? "" : `n${JSON.stringify(pairs)}`;
      const stored = await this.#store(flight, "a", marker, settings.negativeTtlMs);
      if (stored && settings.negativeTtlMs > 0 && pairs === undefined) {
        core.l1?.set(flight.full, undefined, binary, settings.negativeTtlMs, epoch);
      }
      return { found: false, result: "loaded" };
    }
    const ttl = jitteredTtl(settings.ttlMs, settings.jitter);
    const liveMs = ttl + settings.staleMs;
    const stored = await this.#store(flight, "v", data, ttl === 0 ? 0 : liveMs + settings.graceMs);
    if (stored) {
      core.l1?.set(flight.full, data, binary, ttl === 0 ? Infinity : liveMs, epoch);
      if (ttl > 0) {
        this.#keepCopy(flight, data, liveMs + settings.graceMs, settings.graceMs, copyEpoch);
      }
    }
    return { found: true, data, result: "loaded" };
  }

  /**
   * Calls the loader with a signal that aborts on close and, after `hardTimeoutMs`, when
   * the load is abandoned with `Timeout` (a late result is then dropped).
   */
  async #callLoader(flight: Flight): Promise<unknown> {
    const core = this.#core;
    const { hardTimeoutMs } = flight.settings;
    if (hardTimeoutMs === 0) {
      return await flight.loader({ key: flight.key, signal: core.lifetime.signal });
    }
    using scope = scopedSignal({
      signals: [core.lifetime.signal],
      timeoutMs: hardTimeoutMs,
      component: COMPONENT,
    });
    const loading = (async () => await flight.loader({ key: flight.key, signal: scope.signal }))();
    try {
      return await abortable(loading, scope.signal, COMPONENT);
    } catch (error) {
      if (!InfraError.is(error, "Timeout") || !scope.signal.aborted) throw error;
      throw new InfraError(
        "Timeout",
        `the loader of ${flight.key} ran longer than hardTimeoutMs (${hardTimeoutMs} ms) and was abandoned`,
        { component: COMPONENT, cause: error },
      );
    }
  }

  /**
   * {@link GetOrSet.#fill} after a successful load: a fill that fails (Redis went away
   * while the loader ran) is logged and counted, not thrown; the callers still get what the
   * loader returned, which is the truth they asked for. Nothing is cached then, and the
   * fill lock expires by its TTL.
   */
  async #store(flight: Flight, mode: "v" | "a", data: Encoded, ttlMs: number): Promise<boolean> {
    try {
      return await this.#fill(flight, mode, data, ttlMs);
    } catch (error) {
      this.#core.metrics.fillFailures.add(1);
      this.#core.logger.warn(
        "getOrSet could not store a loaded value; the callers get it uncached",
        { key: flight.key, error },
      );
      return false;
    }
  }

  /** Refreshes a stale value in the background (this caller holds the lock). */
  #refresh(flight: Flight): void {
    const task = this.#load({ ...flight }).catch((error) => {
      this.#core.logger.warn("background refresh failed; the stale value stays until it expires", {
        key: flight.key,
        error,
      });
    });
    this.#core.track(task);
  }

  /**
   * Stores the loaded value (or "not found") if the fill lock is still ours and the key
   * did not change meanwhile, releases the lock, wakes the waiters; true when it stored.
   */
  async #fill(
    flight: Flight,
    mode: "v" | "a" | "b" | "r",
    data: Encoded = "",
    ttlMs = 0,
  ): Promise<boolean> {
    const core = this.#core;
    const l1Channel = core.broadcasts ? core.l1Channel : "";
    const command: Command = {
      kind: "script",
      script: FILL,
      keys: flight.keys,
      args: [
        flight.token,
        mode,
        data,
        ttlMs,
        core.events.channel,
        flight.full,
        l1Channel,
        l1Channel ? core.invalidationMessage([flight.full]) : "",
        flight.expected === undefined ? "0" : "1",
        flight.expected ?? "",
        flight.settings.graceMs,
      ],
      binary: false,
    };
    const stored = Number(await core.connection.call(command)) === 1;
    if (!stored && (mode === "v" || mode === "a")) {
      core.logger.debug(
        "getOrSet did not store a loaded value: its fill lock was lost or the key changed meanwhile",
        { key: flight.key },
      );
    }
    return stored;
  }

  /** Extends the fill lock every third of its TTL while the loader runs. */
  #keepLock(flight: Flight): () => void {
    const { lockTtlMs } = flight.settings;
    const timer = setInterval(() => {
      this.#core.connection.call({
        kind: "script",
        script: LOCK_EXTEND,
        keys: [flight.keys[2]],
        args: [flight.token, lockTtlMs],
        binary: false,
      }).catch((error) =>
        this.#core.logger.warn("could not extend a fill lock", { key: flight.key, error })
      );
    }, Math.max(1, Math.floor(lockTtlMs / 3)));
    unrefTimer(timer);
    const removeStopper = this.#core.onClose(() => clearInterval(timer));
    return () => {
      clearInterval(timer);
      removeStopper();
    };
  }
}
