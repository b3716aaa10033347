/**
 * Key prefixing and Redis Cluster slots: the one place that turns a caller's key into the
 * key Redis sees.
 *
 * The prefix is prepended to every key, including the keys passed to scripts. A prefix may
 * not contain `{` or `}`: Redis Cluster hashes only the part between the first `{` and the
 * next `}`, so braces in the prefix would capture (or break) the hash tag of every key.
 * Without braces, `prefix + "{user:1}:profile"` keeps the caller's tag `user:1`, and keys
 * that share a tag share a slot.
 *
 * @module
 */

import { InfraError } from "../base/mod.ts";

const COMPONENT = "cache";

/**
 * The start of every key the cache keeps for itself (companions, tag records, namespaces;
 * also of its pub/sub channels). A caller's key may not start with it, so no caller's key
 * is ever one of these.
 */
export const RESERVED = "__gochat_cache:";

/**
 * Throws `InvalidArgument` unless `key` is a non-empty string that does not start with
 * {@link RESERVED}.
 */
export function checkKey(key: unknown, what = "key"): asserts key is string {
  if (typeof key !== "string" || key.length === 0) {
    throw new InfraError("InvalidArgument", `${what} must be a non-empty string`, {
      component: COMPONENT,
      details: { field: what },
    });
  }
  if (key.startsWith(RESERVED)) {
    throw new InfraError(
      "InvalidArgument",
      `${what} must not start with "${RESERVED}" (the cache's own keys live there)`,
      { component: COMPONENT, details: { field: what } },
    );
  }
}

/** Throws `InvalidArgument` unless `prefix` is a string without braces. */
export function checkPrefix(prefix: string, field = "keyPrefix"): void {
  if (prefix.includes("{") || prefix.includes("}")) {
    throw new InfraError(
      "InvalidArgument",
      `config.${field} must not contain "{" or "}" (it would change the hash slot of every key)`,
      { component: COMPONENT, details: { field } },
    );
  }
}

/**
 * The hash tag Redis Cluster uses for `key`: the text between the first `{` and the next
 * `}` when it is not empty, otherwise `undefined` (the whole key is hashed).
 */
export function hashTag(key: string): string | undefined {
  const open = key.indexOf("{");
  if (open < 0) return undefined;
  const close = key.indexOf("}", open + 1);
  if (close <= open + 1) return undefined;
  return key.slice(open + 1, close);
}

const slotTags = new Map<number, string>();

/** The shortest decimal number whose slot is `slot` (a tag that puts a key in that slot). */
function slotTag(slot: number): string {
  let tag = slotTags.get(slot);
  if (tag === undefined) {
    // Every slot is reached within a few hundred thousand numbers; each search is run once.
    for (let n = 0; tag === undefined; n++) if (clusterSlot(String(n)) === slot) tag = String(n);
    slotTags.set(slot, tag);
  }
  return tag;
}

/**
 * Applies one prefix to every key, after checking it.
 *
 * The layout (P the prefix, R {@link RESERVED}), in which no two kinds of key can meet:
 * - a caller's key `k`: `P k` (`k` never starts with R);
 * - a key `k` of the namespace `users` (nested: `users/admins`): `P R ns:users: k`;
 * - a companion of a key (getOrSet's marker and fill lock, a lock, a Bloom filter's
 *   bitmap): the key's space (`P`, or the namespace's `P R ns:users:`), then `R {`, a hash
 *   tag that puts it in the key's slot, `}` and the rest (see {@link KeySpace.companion});
 * - a tag's invalidation record: `P R tag:`, the namespace path, `|` and the tag.
 */
export class KeySpace {
  /** The prefix of the cache (may be empty): companions and channels are derived from it. */
  readonly prefix: string;
  /**
   * The prefix of the caller's keys: the cache's prefix, then (in a
   * {@link KeySpace.namespace} view) the namespace's part of the layout; `prefix` otherwise.
   */
  readonly keyPrefix: string;
  /** The namespace path (`""` outside namespaces, else `users:` or `users:admins:`). */
  readonly path: string;

  constructor(prefix: string, path = "") {
    checkPrefix(prefix);
    this.prefix = prefix;
    this.path = path;
    this.keyPrefix = path === ""
      ? prefix
      : `${prefix}${RESERVED}ns:${path.slice(0, -1).replaceAll(":", "/")}:`;
  }

  /** The key space of the namespace `name` inside this one (`name` already checked). */
  namespace(name: string): KeySpace {
    return new KeySpace(this.prefix, `${this.path}${name}:`);
  }

  /**
   * The prefixes of every key that belongs to this namespace: its own keys and companions,
   * and those of the namespaces nested in it (none outside a namespace).
   */
  namespacePrefixes(): string[] {
    if (this.path === "") return [];
    return [this.keyPrefix, `${this.keyPrefix.slice(0, -1)}/`];
  }

  /**
   * The full key of `key`; `InvalidArgument` for an empty or non-string key, or one that
   * starts with {@link RESERVED}.
   */
  full(key: string, what = "key"): string {
    // 95 is "_", the first character of RESERVED: most keys are settled by one comparison.
    if (
      typeof key !== "string" || key.length === 0 ||
      (key.charCodeAt(0) === 95 && key.startsWith(RESERVED))
    ) {
      checkKey(key, what);
    }
    return this.keyPrefix + key;
  }

  /**
   * The key of a tag's invalidation record. Tags belong to the key space (a namespace has
   * its own); the record lives under the cache's prefix, outside the namespace's keys, so
   * that clearing a namespace leaves the records of other namespaces alone.
   */
  tagKey(tag: string): string {
    return `${this.prefix}${RESERVED}tag:${this.path}|${tag}`;
  }

  /** Full keys of a non-empty list of keys. */
  fullAll(keys: readonly string[], what = "keys"): string[] {
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new InfraError("InvalidArgument", `${what} must be a non-empty array of keys`, {
        component: COMPONENT,
        details: { field: what },
      });
    }
    return keys.map((key, i) => this.full(key, `${what}[${i}]`));
  }

  /**
   * A key derived from `fullKey` (a key of this space) that lives in this space's part of
   * the layout (so prefix-based ACLs and a namespace's clear cover it), can be no caller's
   * key, and lands in the same cluster slot, so one script may touch both: the space's
   * prefix and {@link RESERVED}, then
   * - `{tag}` + `fullKey` + `suffix` when the key has a hash tag;
   * - `{` + `fullKey` + `}` + `suffix` when it has no `}` at all (the tag is the whole key,
   *   which hashes the same);
   * - `{n}` + `fullKey` + `suffix` otherwise (a `}` but no valid tag), `n` a number that
   *   hashes to the key's slot.
   */
  companion(fullKey: string, suffix: string): string {
    // The key's own space, read from the key: any KeySpace of the cache (the root's too)
    // names the same companion.
    const head = this.#spaceOf(fullKey) + RESERVED;
    const tag = hashTag(fullKey);
    if (tag !== undefined) return `${head}{${tag}}${fullKey}${suffix}`;
    if (!fullKey.includes("}")) return `${head}{${fullKey}}${suffix}`;
    return `${head}{${slotTag(clusterSlot(fullKey))}}${fullKey}${suffix}`;
  }

  /** The prefix of the space `fullKey` lives in: its namespace's, or the cache's. */
  #spaceOf(fullKey: string): string {
    const namespaces = `${this.prefix}${RESERVED}ns:`;
    if (!fullKey.startsWith(namespaces)) return this.prefix;
    // Namespace paths hold no ":" (names cannot), so the first one after them ends it.
    const end = fullKey.indexOf(":", namespaces.length);
    return end < 0 ? this.prefix : fullKey.slice(0, end + 1);
  }

  /** A channel name under the prefix (channels share it so tenants do not hear each other). */
  channel(name: string): string {
    return `${this.prefix}${RESERVED}${name}`;
  }
}

/**
 * The companion key holding getOrSet's cached "not found" for `fullKey`, or beside a value
 * stored with a grace period, that period (see `GET_OR_LOCK`).
 */
export function absentKeyOf(keys: KeySpace, fullKey: string): string {
  return keys.companion(fullKey, ":absent");
}

/** The companion key of getOrSet's fill lock for `fullKey`. */
export function fillKeyOf(keys: KeySpace, fullKey: string): string {
  return keys.companion(fullKey, ":fill");
}

/**
 * The companion keys a delete of `fullKey` removes too: the cached "not found", and the
 * fill lock, so that a load in flight cannot store what it read before the delete.
 */
export function companionsOf(keys: KeySpace, fullKey: string): [string, string] {
  return [absentKeyOf(keys, fullKey), fillKeyOf(keys, fullKey)];
}

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    table[i] = crc;
  }
  return table;
})();

const encoder = new TextEncoder();

/** The Redis Cluster slot (CRC16-XMODEM of the hash tag or key, mod 16384) of `key`. */
export function clusterSlot(key: string): number {
  const bytes = encoder.encode(hashTag(key) ?? key);
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff];
  return crc % 16384;
}
