/**
 * Rejecting a message whose `clientMessageId` was already accepted from the same sender
 * (a client retry after a lost response, a double tap): one `SET NX` with a short TTL.
 *
 * This is the seam where the `once` component slots in: `once.do(key, accept)` also stores
 * the accepted message and hands it to the duplicates instead of only its id.
 *
 * @module
 */

import type { Cache, CallOptions } from "../../cache/mod.ts";
import type { ChatMessage } from "./messages.ts";

/** Claims of client message ids. */
export interface DuplicateGuard {
  /**
   * Claims the message's `clientMessageId` for its sender.
   *
   * @param message The message about to be accepted.
   * @param ttlMs How long the claim is remembered.
   * @param options An optional signal.
   * @returns `undefined` when this call claimed it; otherwise the id of the message that
   *   claimed it first.
   */
  claim(message: ChatMessage, ttlMs: number, options?: CallOptions): Promise<string | undefined>;
  /**
   * Gives a claim up, when accepting the message failed after the claim, so that the
   * client's retry is not taken for a duplicate of a message that was never stored.
   *
   * @param message The message whose claim to give up.
   * @param options An optional signal.
   */
  release(message: ChatMessage, options?: CallOptions): Promise<void>;
}

/**
 * The cache key of a claim: one per sender and client message id (user ids cannot contain
 * `:`, so two pairs never share a key).
 *
 * @param userId The sender.
 * @param clientMessageId The sender's message id.
 * @returns The key (before the cache's prefix).
 */
export function dedupeKey(userId: string, clientMessageId: string): string {
  return `dedupe:{${userId}}:${clientMessageId}`;
}

/**
 * Claims kept in a cache.
 *
 * @param cache The cache.
 * @returns The guard.
 */
export function cacheDuplicateGuard(cache: Cache): DuplicateGuard {
  // Delete the claim only while it is still ours: after its TTL a retry may have claimed
  // the key for another message. One atomic step, and its twin for the memory driver.
  const releaseOwn = cache.script(
    `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0`,
    {
      keys: 1,
      memory: (redis, keys, args) =>
        redis.call("GET", keys[0]) === args[0] ? redis.call("DEL", keys[0]) : 0,
    },
  );
  return {
    async claim(message, ttlMs, options = {}) {
      const key = dedupeKey(message.userId, message.clientMessageId);
      const write = { ...options, ttlMs, ifAbsent: true, codec: "string" } as const;
      // Two attempts: the first claim may expire between our SET NX and our GET.
      for (let attempt = 0; attempt < 2; attempt++) {
        if (await cache.set(key, message.id, write)) return undefined;
        const first = await cache.get<string>(key, { ...options, codec: "string" });
        if (first !== undefined) return first;
      }
      return "unknown";
    },
    async release(message, options = {}) {
      const key = dedupeKey(message.userId, message.clientMessageId);
      await releaseOwn.run([key], [message.id], options);
    },
  };
}
