/**
 * The in-process L1 tier: a bounded LRU of encoded values (bytes kept in a copy of their
 * own, and each hit decodes afresh, so callers never share a mutable object), with TTLs
 * never longer than the value's TTL in Redis, and an invalidation epoch that keeps a read
 * racing an invalidation from caching the old value.
 *
 * @module
 */

import type { Encoded } from "./codec.ts";
import { encodedSize, ownedBytes } from "./codec.ts";
import type { L1Config } from "./types.ts";

/** An L1 entry: an encoded value, or a cached "not found". */
export interface L1Entry {
  /** The encoded value; undefined for "not found". */
  readonly data: Encoded | undefined;
  /** Whether `data` is bytes (a hit must be read with a codec of the same kind). */
  readonly binary: boolean;
  /** Local expiry, ms since the epoch. */
  readonly expiresAt: number;
  /**
   * When the value expires in Redis (ms since the epoch; Infinity without TTL): a getOrSet
   * serving values `staleWhileRevalidateMs` before that as stale must not take the entry
   * as fresh after `storedUntil - staleWhileRevalidateMs`.
   */
  readonly storedUntil: number;
  /**
   * The grace period the value was stored with (it expired at `storedUntil - graceMs`);
   * -1 when unknown: a plain read does not see getOrSet's grace marker.
   */
  readonly graceMs: number;
  /** Estimated size in bytes. */
  readonly size: number;
}

/** The LRU. */
export class L1Cache {
  readonly #entries = new Map<string, L1Entry>();
  #maxEntries: number;
  #maxBytes: number;
  #ttlMs: number;
  readonly #now: () => number;
  #bytes = 0;
  #epoch = 0;
  #suspended = false;

  constructor(config: L1Config, now: () => number = Date.now) {
    this.#maxEntries = config.maxEntries;
    this.#maxBytes = config.maxBytes;
    this.#ttlMs = config.ttlMs;
    this.#now = now;
  }

  /**
   * New bounds, keeping the entries within them: the least recently used go first when
   * there are too many, and none lives past the new TTL from now.
   */
  configure(config: L1Config): void {
    this.#maxEntries = config.maxEntries;
    this.#maxBytes = config.maxBytes;
    if (config.ttlMs < this.#ttlMs) {
      const latest = this.#now() + config.ttlMs;
      for (const [key, entry] of this.#entries) {
        if (entry.expiresAt > latest) this.#entries.set(key, { ...entry, expiresAt: latest });
      }
    }
    this.#ttlMs = config.ttlMs;
    this.#evict();
  }

  /** Bumped by every invalidation; a read fills L1 only if it did not change meanwhile. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /** The live entry of `key` (and marks it recently used); none while suspended. */
  get(key: string): L1Entry | undefined {
    if (this.#suspended) return undefined;
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#remove(key, entry);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry;
  }

  /**
   * The entry of `key` as {@link L1Cache.get} gives it, but only while it is fresh for a
   * reader that serves values as stale for `staleMs` before they expire in Redis (getOrSet
   * with `staleWhileRevalidateMs`): past that the reader must ask Redis, which has it
   * refreshed. The entry stays for plain reads (Redis serves the value until it expires).
   * An entry a plain read put there is never fresh here: its value may be in grace (only
   * Redis knows), so getOrSet asks Redis once and keeps an entry of its own.
   */
  getFresh(key: string, staleMs: number): L1Entry | undefined {
    const entry = this.get(key);
    if (entry === undefined || entry.data === undefined) return entry;
    if (entry.graceMs < 0) return undefined;
    if (staleMs === 0) return entry;
    return entry.storedUntil - staleMs > this.#now() ? entry : undefined;
  }

  /**
   * Stores an entry whose value lives `ttlMs` more in Redis (Infinity: no TTL), for at most
   * that long and the L1 TTL (≤ 0 or below 1 ms stores nothing), unless an invalidation
   * happened since `epoch` was read. `graceMs`: the part of `ttlMs` that is grace (-1:
   * unknown). Bytes are kept as an exact-size copy (see `ownedBytes`).
   */
  set(
    key: string,
    data: Encoded | undefined,
    binary: boolean,
    ttlMs: number,
    epoch: number,
    graceMs = 0,
  ): void {
    if (epoch !== this.#epoch || this.#suspended) return;
    const ttl = Math.min(this.#ttlMs, ttlMs);
    if (!(ttl >= 1)) return;
    const size = (data === undefined ? 0 : encodedSize(data)) + key.length * 2 + 64;
    if (size > this.#maxBytes) return;
    const old = this.#entries.get(key);
    if (old) this.#remove(key, old);
    const now = this.#now();
    const storedUntil = now + ttlMs;
    this.#entries.set(key, {
      data: data === undefined ? undefined : ownedBytes(data),
      binary,
      expiresAt: now + ttl,
      storedUntil,
      graceMs,
      size,
    });
    this.#bytes += size;
    this.#evict();
  }

  /** Drops the least recently used entries until within the bounds. */
  #evict(): void {
    while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const [oldestKey, oldest] = this.#entries.entries().next().value!;
      this.#remove(oldestKey, oldest);
    }
  }

  /** Drops keys (and bumps the epoch). */
  invalidate(keys: readonly string[]): void {
    this.#epoch++;
    for (const key of keys) {
      const entry = this.#entries.get(key);
      if (entry) this.#remove(key, entry);
    }
  }

  /** Drops the keys that start with `prefix` (and bumps the epoch). */
  invalidatePrefix(prefix: string): void {
    this.#epoch++;
    for (const [key, entry] of this.#entries) {
      if (key.startsWith(prefix)) this.#remove(key, entry);
    }
  }

  /** Drops everything (after a gap in the invalidation stream). */
  clear(): void {
    this.#epoch++;
    this.#entries.clear();
    this.#bytes = 0;
  }

  /**
   * Drops everything and neither serves nor keeps entries until {@link L1Cache.resume}:
   * while invalidations cannot arrive, nothing may be trusted.
   */
  suspend(): void {
    this.clear();
    this.#suspended = true;
  }

  /** Serves and keeps entries again (reads that began while suspended still keep none). */
  resume(): void {
    this.clear();
    this.#suspended = false;
  }

  /** Whether the L1 is suspended. */
  get suspended(): boolean {
    return this.#suspended;
  }

  #remove(key: string, entry: L1Entry): void {
    this.#entries.delete(key);
    this.#bytes -= entry.size;
  }
}
