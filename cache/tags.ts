/**
 * Tags: `deleteByTag` invalidates every entry carrying a tag, lazily and in O(1) Redis
 * work per tag, whatever the number of entries.
 *
 * - Each tag has an invalidation record in Redis (`KeySpace.tagKey`): absent until the
 *   tag is first invalidated, then a random token that every `deleteByTag` replaces
 *   (`SET PX`, one command per tag). Tokens are compared for equality only, never ordered:
 *   no clock is read anywhere, so clock skew between processes (or between the masters
 *   of a cluster) cannot matter.
 * - A tagged entry is stored as an envelope: a mark byte, a JSON header of
 *   `[tag record key, token]` pairs (the tokens read *before* the value was computed or
 *   written), the mark again, then the encoded value. A read compares the recorded tokens
 *   with the current ones: one differs, the tag was invalidated after the entry was
 *   written (or while its value was being loaded), and the read is a miss.
 * - Every read of the cache checks tags the same way: the entry first (a value, or for
 *   `exists`, `ttl`, `expire`, `delete` and conditional sets only its header, returned by
 *   a script of its slot), then the tokens of its tags (one MGET per slot for all the
 *   entries of the call). Taking the tokens after the entry makes the check sound without
 *   one script over both (impossible in a cluster: records and entries live in other
 *   slots): tokens still equal to the entry's mean no invalidation came between its write
 *   and the check; a changed one means the entry was invalid at some moment of the read.
 * - An untagged value is stored as it is, and the only cost a read pays is a look at its
 *   first byte. A string or bytes value that happens to begin with the mark byte is
 *   stored in an envelope without tags, so it is never mistaken for one.
 * - The records live `TAG_RECORD_TTL_MS` (renewed by every invalidation) and a tagged
 *   entry may live at most `MAX_TAGGED_LIFE_MS` in Redis, shorter: an entry never outlives
 *   the record that invalidates it, so a record that expired cannot make an old entry
 *   valid again. What a record costs is bounded by the tags invalidated in the last
 *   `TAG_RECORD_TTL_MS`, not by entries or calls.
 * - With L1 on, the current tokens are kept in L1 like values (under the record's key), and
 *   `deleteByTag` broadcasts the record keys on the invalidation channel: the other
 *   instances drop the tokens they hold and read the new ones from Redis on their next
 *   tagged read (eventually consistent, as L1 is). Without L1 a tagged read costs one
 *   more round trip (an MGET of its records; one per slot in a cluster, in parallel).
 *
 * @module
 */

import { throwIfAborted } from "../base/mod.ts";
import { decodeValue, type Encoded } from "./codec.ts";
import { command, type Reply } from "./connection.ts";
import type { CacheCore } from "./core.ts";
import { randomToken } from "./core.ts";
import { invalidArgument } from "./errors.ts";
import type { KeySpace } from "./keys.ts";
import type { Codec } from "./types.ts";

/** Most tags one entry carries, and most tags one `deleteByTag` call names. */
export const MAX_TAGS = 64;
/** Longest tag, in UTF-16 code units. */
export const MAX_TAG_LENGTH = 256;
/** Longest time a tagged entry may live in Redis (TTL, stale window and grace together). */
export const MAX_TAGGED_LIFE_MS = 30 * 24 * 3_600_000;
/** How long a tag's invalidation record lives after the last invalidation. */
export const TAG_RECORD_TTL_MS = MAX_TAGGED_LIFE_MS + 24 * 3_600_000;

/** A tag record key and the token read from it (`""`: the tag was never invalidated). */
export type TagPair = [key: string, token: string];

const MARK = "\x01";
const MARK_BYTE = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Checks the `tags` option: an array of 1 to {@link MAX_TAGS} non-empty strings of at most
 * {@link MAX_TAG_LENGTH} characters; returns them without repeats. `undefined` passes.
 */
export function checkTags(tags: unknown, field = "tags"): string[] | undefined {
  if (tags === undefined) return undefined;
  if (!Array.isArray(tags)) {
    throw invalidArgument(`${field} must be an array of strings`, field);
  }
  if (tags.length === 0 || tags.length > MAX_TAGS) {
    throw invalidArgument(
      `${field} must hold 1 to ${MAX_TAGS} tags, got ${tags.length}`,
      field,
    );
  }
  tags.forEach((tag, i) => {
    if (typeof tag !== "string" || tag.length === 0 || tag.length > MAX_TAG_LENGTH) {
      throw invalidArgument(
        `${field}[${i}] must be a non-empty string of at most ${MAX_TAG_LENGTH} characters`,
        `${field}[${i}]`,
      );
    }
  });
  return [...new Set(tags as string[])];
}

/**
 * Throws `InvalidArgument` (naming `tags`) when `options` carry `tags` (a caller without
 * types may pass them anywhere): only string values written by `set`, `setMany` or
 * `getOrSet` keep tags, in an envelope around the value; a hash, set, sorted set or
 * counter has none, and silently ignoring the tags would leave entries that deleteByTag
 * cannot reach. `what` names the call.
 */
export function refuseTags(options: unknown, what: string): void {
  if (
    options !== null && typeof options === "object" &&
    (options as { tags?: unknown }).tags !== undefined
  ) {
    throw invalidArgument(
      `${what} takes no tags: only values written by set, setMany or getOrSet carry tags (a hash, set, sorted set or counter has no envelope to keep them in)`,
      "tags",
    );
  }
}

/** Throws `InvalidArgument` unless a tagged entry with this Redis lifetime expires in time. */
export function checkTaggedLife(lifeMs: number, field = "ttlMs"): void {
  if (lifeMs === 0 || lifeMs > MAX_TAGGED_LIFE_MS) {
    throw invalidArgument(
      `a tagged entry must expire within ${MAX_TAGGED_LIFE_MS} ms (30 days), TTL, stale window and grace included; got ${
        lifeMs === 0 ? "no expiry" : `${lifeMs} ms`
      }`,
      field,
    );
  }
}

export function isWrapped(data: Encoded): boolean {
  return typeof data === "string"
    ? data.charCodeAt(0) === MARK_BYTE
    : data.length > 0 && data[0] === MARK_BYTE;
}

/**
 * What is stored for `data` carrying `pairs`: `data` itself when untagged (and not
 * starting with the mark), else the envelope.
 */
export function wrapEntry(data: Encoded, pairs: readonly TagPair[] | undefined): Encoded {
  if ((pairs === undefined || pairs.length === 0) && !isWrapped(data)) return data;
  const header = MARK + JSON.stringify(pairs ?? []) + MARK;
  if (typeof data === "string") return header + data;
  const head = encoder.encode(header);
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  out.set(data, head.length);
  return out;
}

/** A stored entry read back: its tag pairs (none when untagged) and the encoded value. */
export interface Entry {
  readonly pairs: readonly TagPair[];
  readonly payload: Encoded;
}

const NO_PAIRS: readonly TagPair[] = [];

function isPair(pair: unknown): pair is TagPair {
  return Array.isArray(pair) && pair.length === 2 && typeof pair[0] === "string" &&
    typeof pair[1] === "string";
}

/** Parses what Redis holds for a value (an envelope that does not parse is a plain value). */
export function readEntry(data: Encoded): Entry {
  if (!isWrapped(data)) return { pairs: NO_PAIRS, payload: data };
  const end = typeof data === "string" ? data.indexOf(MARK, 1) : data.indexOf(MARK_BYTE, 1);
  if (end < 0) return { pairs: NO_PAIRS, payload: data };
  const header = typeof data === "string"
    ? data.slice(1, end)
    : decoder.decode(data.subarray(1, end));
  let pairs: unknown;
  try {
    pairs = JSON.parse(header);
  } catch {
    return { pairs: NO_PAIRS, payload: data };
  }
  if (!Array.isArray(pairs) || !pairs.every(isPair)) return { pairs: NO_PAIRS, payload: data };
  return {
    pairs: pairs as TagPair[],
    payload: typeof data === "string" ? data.slice(end + 1) : data.subarray(end + 1),
  };
}

/** The encoded value inside what Redis holds (the data itself when untagged). */
export function payloadOf(data: Encoded): Encoded {
  return isWrapped(data) ? readEntry(data).payload : data;
}

/** Whether `data` carries tags (only then does a read need to check them). */
export function isTagged(data: Encoded): boolean {
  return isWrapped(data) && readEntry(data).pairs.length > 0;
}

/** The tag records of one cache: reading the current tokens, checking, invalidating. */
export class TagRecords {
  readonly #core: CacheCore;

  constructor(core: CacheCore) {
    this.#core = core;
  }

  /** The current token of each record key (L1 first, then one MGET per slot). */
  async current(recordKeys: readonly string[], signal?: AbortSignal): Promise<string[]> {
    const core = this.#core;
    const l1 = core.l1;
    const out: string[] = new Array(recordKeys.length);
    const missing: number[] = [];
    recordKeys.forEach((key, i) => {
      const hit = l1?.get(key);
      if (hit !== undefined && typeof hit.data === "string") out[i] = hit.data;
      else missing.push(i);
    });
    if (missing.length === 0) return out;
    const epoch = l1?.epoch ?? 0;
    const keys = missing.map((i) => recordKeys[i]);
    const groups = core.groupBySlot(keys);
    const replies = await Promise.all(groups.map((group) => {
      const groupKeys = group.map((i) => keys[i]);
      return core.send(command("MGET", groupKeys, groupKeys[0]), signal);
    }));
    groups.forEach((group, g) => {
      const values = replies[g] as Reply[];
      group.forEach((i, j) => {
        const token = typeof values[j] === "string" ? values[j] as string : "";
        out[missing[i]] = token;
        l1?.set(keys[i], token, false, TAG_RECORD_TTL_MS, epoch);
      });
    });
    return out;
  }

  /** The pairs to record for `tags` of `keys`, read before the value is computed. */
  async pairs(keys: KeySpace, tags: readonly string[], signal?: AbortSignal): Promise<TagPair[]> {
    const recordKeys = tags.map((tag) => keys.tagKey(tag));
    const tokens = await this.current(recordKeys, signal);
    return recordKeys.map((key, i) => [key, tokens[i]]);
  }

  /** Whether no tag of the entry was invalidated since it was written. */
  async valid(pairs: readonly TagPair[], signal?: AbortSignal): Promise<boolean> {
    if (pairs.length === 0) return true;
    const tokens = await this.current(pairs.map((pair) => pair[0]), signal);
    return pairs.every((pair, i) => pair[1] === tokens[i]);
  }

  /**
   * Decodes values read from Redis (`null`: a miss); a tagged one whose tags were
   * invalidated is a miss too. The tags of all of them are checked in one look-up.
   */
  async decode<T>(
    values: readonly (Encoded | null)[],
    codec: Codec,
    signal?: AbortSignal,
  ): Promise<(T | undefined)[]> {
    const entries = values.map((data) => data === null ? undefined : readEntry(data));
    const valid = await this.#check(entries.map((entry) => entry?.pairs ?? NO_PAIRS), signal);
    return entries.map((entry, i) =>
      entry !== undefined && valid[i] ? decodeValue(entry.payload, codec) as T : undefined
    );
  }

  /**
   * Per tag header of an entry (as the cache's scripts return it; `""` for an untagged
   * entry or none), whether the entry is still valid. One look-up for all of them.
   */
  validHeaders(headers: readonly string[], signal?: AbortSignal): Promise<boolean[]> {
    return this.#check(headers.map((h) => h === "" ? NO_PAIRS : readEntry(h).pairs), signal);
  }

  /** Per list of pairs, whether none of its tags was invalidated (one look-up for all). */
  async #check(
    lists: readonly (readonly TagPair[])[],
    signal?: AbortSignal,
  ): Promise<boolean[]> {
    if (lists.every((pairs) => pairs.length === 0)) return lists.map(() => true);
    const recordKeys = [...new Set(lists.flatMap((pairs) => pairs.map(([key]) => key)))];
    const tokens = await this.current(recordKeys, signal);
    const current = new Map(recordKeys.map((key, i) => [key, tokens[i]]));
    return lists.map((pairs) => pairs.every(([key, token]) => current.get(key) === token));
  }

  /**
   * {@link TagRecords.valid} from L1 alone: `undefined` when some token is not in L1 (the
   * caller asks Redis).
   */
  validCached(pairs: readonly TagPair[]): boolean | undefined {
    const l1 = this.#core.l1;
    if (l1 === undefined) return undefined;
    let valid = true;
    for (const [key, token] of pairs) {
      const hit = l1.get(key);
      if (hit === undefined || typeof hit.data !== "string") return undefined;
      if (hit.data !== token) valid = false;
    }
    return valid;
  }

  /**
   * Invalidates `tags` of `keys`: a new token in each record, then the record keys are
   * broadcast on the L1 channel like any write.
   */
  async invalidate(keys: KeySpace, tags: readonly string[], signal?: AbortSignal): Promise<void> {
    const core = this.#core;
    const recordKeys = tags.map((tag) => keys.tagKey(tag));
    core.checkOpen();
    throwIfAborted(signal, "cache");
    core.detachTagged(recordKeys);
    const commands = recordKeys.map((key) =>
      command("SET", [key, randomToken(8), "PX", TAG_RECORD_TTL_MS], key)
    );
    await core.write(
      recordKeys,
      () =>
        core.connection.batch(commands).then((outcomes) => {
          for (const outcome of outcomes) if (!outcome.ok) throw outcome.error;
        }),
      signal,
      [], // a tag record is no value: nothing to end
    );
  }
}
