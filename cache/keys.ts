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

/** Throws `InvalidArgument` unless `key` is a non-empty string. */
export function checkKey(key: unknown, what = "key"): asserts key is string {
  if (typeof key !== "string" || key.length === 0) {
    throw new InfraError("InvalidArgument", `${what} must be a non-empty string`, {
      component: COMPONENT,
      details: { field: what },
    });
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

/** Applies one prefix to every key, after checking it. */
export class KeySpace {
  /** The prefix of the cache (may be empty): companions and channels are derived from it. */
  readonly prefix: string;
  /**
   * The prefix of the caller's keys: the cache's prefix, then the namespace path
   * (`users:admins:`) in a {@link KeySpace.namespace} view; `prefix` otherwise.
   */
  readonly keyPrefix: string;
  /** The namespace path (`""` outside namespaces, else `users:` or `users:admins:`). */
  readonly path: string;

  constructor(prefix: string, path = "") {
    checkPrefix(prefix);
    this.prefix = prefix;
    this.path = path;
    this.keyPrefix = prefix + path;
  }

  /** The key space of the namespace `name` inside this one (`name` already checked). */
  namespace(name: string): KeySpace {
    return new KeySpace(this.prefix, `${this.path}${name}:`);
  }

  /** The full key of `key`; `InvalidArgument` for an empty or non-string key. */
  full(key: string, what = "key"): string {
    if (typeof key !== "string" || key.length === 0) checkKey(key, what);
    return this.keyPrefix + key;
  }

  /**
   * The key of a tag's invalidation record. Tags belong to the key space (a namespace has
   * its own); the record lives under the cache's prefix, outside the namespace's keys, so
   * that clearing a namespace leaves the records of other namespaces alone.
   */
  tagKey(tag: string): string {
    return `${this.prefix}__gochat_cache:tag:${this.path}|${tag}`;
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
   * A key derived from `fullKey` (already prefixed) that starts with the prefix too (so
   * prefix-based ACLs cover it) and lands in the same cluster slot, so one script may touch
   * both: `fullKey + suffix` when the key has a hash tag, otherwise
   * `prefix + "{" + fullKey + "}" + suffix` (the tag is the whole original key, which hashes
   * the same). A key that contains `}` but no valid tag cannot be wrapped; it gets the plain
   * suffix (and another slot).
   */
  companion(fullKey: string, suffix: string): string {
    if (hashTag(fullKey) !== undefined || fullKey.includes("}")) return fullKey + suffix;
    return `${this.prefix}{${fullKey}}${suffix}`;
  }

  /** A channel name under the prefix (channels share it so tenants do not hear each other). */
  channel(name: string): string {
    return `${this.prefix}__gochat_cache:${name}`;
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
