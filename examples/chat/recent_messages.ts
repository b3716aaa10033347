/**
 * The recent-messages window of each room: a sorted set per room scored by message id,
 * trimmed to the last N on every append and expiring when the room goes idle. One round
 * trip per append (a pipeline), one per read (the range returns the members with them).
 *
 * When the `db` component lands, messages are persisted to sharded tables first and this
 * window stays the hot read path in front of them.
 *
 * @module
 */

import type { Cache, CallOptions } from "../../cache/mod.ts";
import type { ChatMessage } from "./messages.ts";

/** The recent messages of every room. */
export interface RecentMessages {
  /**
   * Adds a message to its room's window and keeps only the `window` newest.
   *
   * @param message The message.
   * @param window How many messages the room keeps.
   * @param ttlMs How long the window outlives the room's last message.
   * @param options An optional signal.
   */
  append(
    message: ChatMessage,
    window: number,
    ttlMs: number,
    options?: CallOptions,
  ): Promise<void>;
  /**
   * The newest `limit` messages of a room, oldest first.
   *
   * @param room The room.
   * @param limit How many.
   * @param options An optional signal.
   * @returns The messages, in id order.
   */
  read(room: string, limit: number, options?: CallOptions): Promise<ChatMessage[]>;
}

/**
 * The cache key of a room's window. The braces are a hash tag: in a Redis Cluster every key
 * of one room lands on the same node.
 *
 * @param room The room.
 * @returns The key (before the cache's prefix).
 */
export function recentKey(room: string): string {
  return `room:{${room}}:recent`;
}

function byId(a: ChatMessage, b: ChatMessage): number {
  const x = BigInt(a.id);
  const y = BigInt(b.id);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The windows kept in a cache (Redis or the embedded memory driver).
 *
 * @param cache The cache.
 * @returns The recent messages.
 */
export function cacheRecentMessages(cache: Cache): RecentMessages {
  return {
    async append(message, window, ttlMs, options = {}) {
      const key = recentKey(message.room);
      // A score is a double: a 63-bit id loses its lowest bits, but rounding never reorders
      // ids, and members of equal score sort by their bytes, which start with the id (same
      // number of digits for decades), so ranks and trimming follow the exact id order.
      await cache.pipeline()
        .sortedSetAdd(key, [{ member: message, score: Number(message.id) }])
        .sortedSetTrim(key, window)
        .expire(key, ttlMs)
        .exec(options);
    },
    async read(room, limit, options = {}) {
      const newest = await cache.sortedSets.range<ChatMessage>(recentKey(room), 0, limit - 1, {
        ...options,
        reverse: true,
      });
      return newest.map((entry) => entry.member).sort(byId);
    },
  };
}
