/**
 * The fingers-crossed gate of a sink (see `FingersCrossedConfig`): formatted lines, or
 * records for a custom sink, wait in bounded buffers until a record at the trigger level
 * releases those of its branch.
 *
 * A buffer belongs to a key: one key for the whole sink, a `withContext` scope, or a
 * namespace. Keys form a tree (a scope's parent is the scope around it; a namespace's is
 * the namespace above it), and a trigger releases the buffers of its key, of the keys above
 * it and of those below it. The buffers are kept in a `Map` in the order they were last
 * written to, which makes the least recently written one the first to go.
 *
 * @module
 */

import {
  DEFAULT_FINGERS_CROSSED_BUFFER_SIZE,
  DEFAULT_FINGERS_CROSSED_MAX_BUFFERS,
  type FingersCrossedConfig,
} from "./config.ts";
import type { LogContext } from "./context.ts";
import { LEVEL_VALUES } from "./levels.ts";

/** The most characters the buffers of one sink hold together (about 16 MiB). */
export const MAX_HELD_CHARS = 8 * 1024 * 1024;

/** The records a trigger releases, in the order they were logged. */
export interface Release<T> {
  /** The held records. */
  readonly items: T[];
  /** When each was logged. */
  readonly times: number[];
  /** How many records of the released buffers were dropped before (bounds, memory). */
  readonly dropped: number;
}

/** What {@link FingersCrossed.offer} returns for a record to write now, with nothing before it. */
export const PASS: Release<never> = Object.freeze({ items: [], times: [], dropped: 0 });

/** The key of the sink's one buffer, without isolation. */
const SHARED = Symbol("shared");
/** The key of the lines logged outside any `withContext` scope. */
const OUTSIDE = Symbol("outside");
/** Above the top of the key tree. */
const NONE = Symbol("none");

type Key = LogContext | string | symbol;

interface Entry<T> {
  readonly item: T;
  readonly time: number;
  /** Order of arrival across the sink's buffers. */
  readonly seq: number;
  /** Characters it holds. */
  readonly size: number;
}

/** The held records of one key, oldest first. */
class Held<T> {
  readonly key: Key;
  /** The entries; those before {@link Held.#head} were dropped and are cleared. */
  #entries: (Entry<T> | undefined)[] = [];
  /** Index of the oldest entry still held. */
  #head = 0;
  /** Characters held. */
  chars = 0;
  /** Records dropped since the buffer was last released. */
  dropped = 0;
  /** Records pass through instead of being held (after a trigger). */
  passing = false;

  constructor(key: Key) {
    this.key = key;
  }

  get length(): number {
    return this.#entries.length - this.#head;
  }

  push(entry: Entry<T>): void {
    this.#entries.push(entry);
    this.chars += entry.size;
  }

  /** Drops the oldest entry, counting it; returns its size. */
  dropOldest(): number {
    const size = this.#entries[this.#head]!.size;
    // Cleared, not only skipped: a dropped record must not stay in memory until the next
    // compaction (which a buffer that stopped growing never reaches).
    this.#entries[this.#head++] = undefined;
    // Compact now and then, so that dropping stays O(1) on average.
    if (this.#head >= 1024 && this.#head * 2 >= this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    this.chars -= size;
    this.dropped++;
    return size;
  }

  /** Takes every entry out. */
  take(): Entry<T>[] {
    const held = this.#head === 0 ? this.#entries : this.#entries.slice(this.#head);
    const taken = held as Entry<T>[]; // the cleared ones are before the head
    this.#entries = [];
    this.#head = 0;
    this.chars = 0;
    return taken;
  }
}

/** The parent of a namespace: `a.b` for `a.b.c`, the root `""` for `a`. */
function parentNamespace(name: string): Key {
  if (name === "") return NONE;
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(0, dot);
}

/** The gate of one sink, of one set of `fingersCrossed` settings. */
export class FingersCrossed<T> {
  /** The settings, normalized: a reload that leaves them equal keeps the gate. */
  readonly id: string;
  readonly #trigger: number;
  readonly #bufferSize: number;
  readonly #maxBuffers: number;
  readonly #isolate: "context" | "namespace" | undefined;
  readonly #passThrough: boolean;
  /** The buffers, least recently written to first. */
  readonly #buffers = new Map<Key, Held<T>>();
  /** The buffer written last (already last in {@link FingersCrossed.#buffers}). */
  #last: Held<T> | undefined;
  #chars = 0;
  #seq = 0;
  /**
   * The records of buffers that {@link FingersCrossed.#maxBuffers} discarded, counted as
   * dropped when their key holds again: of scopes, for as long as the scope lives; of the
   * other keys (namespaces), for the last `maxBuffers` of them.
   */
  readonly #evictedScopes = new WeakMap<LogContext, number>();
  readonly #evictedKeys = new Map<string | symbol, number>();

  /** @param config Validated settings. */
  constructor(config: FingersCrossedConfig) {
    const trigger = config.triggerLevel ?? "error";
    this.#trigger = LEVEL_VALUES[trigger];
    this.#bufferSize = config.bufferSize ?? DEFAULT_FINGERS_CROSSED_BUFFER_SIZE;
    this.#isolate = config.isolate;
    this.#maxBuffers = this.#isolate === undefined
      ? 1
      : config.maxBuffers ?? DEFAULT_FINGERS_CROSSED_MAX_BUFFERS;
    this.#passThrough = (config.afterTrigger ?? "passThrough") === "passThrough";
    this.id = JSON.stringify([
      trigger,
      this.#bufferSize,
      this.#isolate ?? null,
      this.#maxBuffers,
      this.#passThrough,
    ]);
  }

  /**
   * Takes one record: holds it (`undefined`), or says to write it now, after the records
   * it releases ({@link PASS} when there are none).
   *
   * @param item The formatted line or record.
   * @param time When it was logged.
   * @param level Its level value.
   * @param scope The innermost `withContext` scope it was logged in.
   * @param namespace Its logger's namespace.
   * @param size The characters it holds.
   */
  offer(
    item: T,
    time: number,
    level: number,
    scope: LogContext | undefined,
    namespace: string,
    size: number,
  ): Release<T> | undefined {
    const key = this.#isolate === undefined
      ? SHARED
      : this.#isolate === "context"
      ? scope ?? OUTSIDE
      : namespace;
    if (level >= this.#trigger) return this.#release(key);
    const held = this.#bufferOf(key);
    if (held.passing) return PASS;
    held.push({ item, time, seq: this.#seq++, size });
    this.#chars += size;
    if (held.length > this.#bufferSize) this.#chars -= held.dropOldest();
    if (this.#chars > MAX_HELD_CHARS) this.#makeRoom(held);
    return undefined;
  }

  #parent(key: Key): Key {
    if (this.#isolate === "namespace") return parentNamespace(key as string);
    if (typeof key === "symbol") return NONE;
    return (key as LogContext).parent ?? NONE;
  }

  /** Whether `key` is `ancestor` or below it. */
  #within(key: Key, ancestor: Key): boolean {
    for (let k = key; k !== NONE; k = this.#parent(k)) if (k === ancestor) return true;
    return false;
  }

  /** The buffer of `key`, made the most recently written to (created when missing). */
  #bufferOf(key: Key): Held<T> {
    let held = this.#buffers.get(key);
    if (held === undefined) {
      held = new Held<T>(key);
      held.dropped = this.#takeEvicted(key);
      // Below what passes through, a new scope or namespace passes through too.
      if (this.#passThrough) {
        for (let k = this.#parent(key); k !== NONE && !held.passing; k = this.#parent(k)) {
          held.passing = this.#buffers.get(k)?.passing === true;
        }
      }
      this.#buffers.set(key, held);
      if (this.#buffers.size > this.#maxBuffers) this.#evict(this.#buffers.values().next().value!);
    } else if (held !== this.#last) {
      this.#buffers.delete(key);
      this.#buffers.set(key, held);
    }
    this.#last = held;
    return held;
  }

  /** Discards the least recently written buffer for a new one, remembering what it held. */
  #evict(held: Held<T>): void {
    const lost = held.length + held.dropped;
    if (lost > 0) {
      if (typeof held.key === "object") this.#evictedScopes.set(held.key, lost);
      else {
        this.#evictedKeys.set(held.key, lost);
        if (this.#evictedKeys.size > this.#maxBuffers) {
          this.#evictedKeys.delete(this.#evictedKeys.keys().next().value!);
        }
      }
    }
    this.#discard(held);
  }

  /** The records an earlier buffer of `key` lost when it was discarded (then forgotten). */
  #takeEvicted(key: Key): number {
    if (typeof key === "object") {
      const lost = this.#evictedScopes.get(key) ?? 0;
      this.#evictedScopes.delete(key);
      return lost;
    }
    const lost = this.#evictedKeys.get(key) ?? 0;
    this.#evictedKeys.delete(key);
    return lost;
  }

  /** Forgets a buffer and its records. */
  #discard(held: Held<T>): void {
    this.#buffers.delete(held.key);
    this.#chars -= held.chars;
    if (this.#last === held) this.#last = undefined;
  }

  /**
   * Too many characters held: the records of the least recently written buffers go first,
   * then the oldest of `current`, whose newest record stays. Each drop is counted.
   */
  #makeRoom(current: Held<T>): void {
    for (const held of this.#buffers.values()) {
      if (held === current) continue;
      while (held.length > 0 && this.#chars > MAX_HELD_CHARS) this.#chars -= held.dropOldest();
      if (this.#chars <= MAX_HELD_CHARS) return;
    }
    while (this.#chars > MAX_HELD_CHARS && current.length > 1) {
      this.#chars -= current.dropOldest();
    }
  }

  /** A trigger for `key`: takes the records of its branch out, oldest first. */
  #release(key: Key): Release<T> {
    const released: Held<T>[] = [];
    for (const held of this.#buffers.values()) {
      if (this.#within(held.key, key) || this.#within(key, held.key)) released.push(held);
    }
    let entries: Entry<T>[] = [];
    // A trigger whose own buffer was discarded still tells what that buffer held.
    let dropped = this.#buffers.has(key) ? 0 : this.#takeEvicted(key);
    for (const held of released) {
      this.#chars -= held.chars;
      const taken = held.take();
      entries = entries.length === 0 ? taken : entries.concat(taken);
      dropped += held.dropped;
      held.dropped = 0;
      // What triggered (and what is below it) passes through; the rest holds again.
      if (this.#passThrough && this.#within(held.key, key)) held.passing = true;
      else if (!held.passing) this.#discard(held);
    }
    if (this.#passThrough) this.#bufferOf(key).passing = true;
    if (entries.length === 0 && dropped === 0) return PASS;
    if (released.length > 1) entries.sort((a, b) => a.seq - b.seq);
    return {
      items: entries.map((entry) => entry.item),
      times: entries.map((entry) => entry.time),
      dropped,
    };
  }
}
