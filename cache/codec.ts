/**
 * Value serialization. Every value the cache stores (string values, hash field values, set
 * and sorted-set members) goes through one codec; keys and hash field names are plain
 * strings.
 *
 * @module
 */

import { decodeJson, encodeJson, InfraError } from "../base/mod.ts";
import type { Codec } from "./types.ts";

const COMPONENT = "cache";
const decoder = new TextDecoder();

/** Every {@link Codec} name, for validation. */
export const CODECS: readonly Codec[] = ["json", "string", "bytes"];

/** What Redis stores for a value: text, or bytes for the `bytes` codec. */
export type Encoded = string | Uint8Array;

/**
 * Encodes `value` with `codec`; `InvalidArgument` when it has no form in that codec. The
 * JSON codec refuses what JSON would not bring back as it was (base's `encodeJson`),
 * naming the offending part's path from `root`.
 */
export function encodeValue(value: unknown, codec: Codec, root = "value"): Encoded {
  if (codec === "json") return encodeJson(value, COMPONENT, root);
  if (codec === "string") {
    if (typeof value !== "string") {
      throw new InfraError(
        "InvalidArgument",
        `the "string" codec stores strings only, got ${describeType(value)}`,
        { component: COMPONENT },
      );
    }
    return value;
  }
  if (!(value instanceof Uint8Array)) {
    throw new InfraError(
      "InvalidArgument",
      `the "bytes" codec stores Uint8Arrays only, got ${describeType(value)}`,
      { component: COMPONENT },
    );
  }
  return value;
}

/**
 * Decodes what Redis returned for a value stored with `codec`. Bytes come back as a fresh
 * copy: the same data reaches several callers (an L1 entry, one getOrSet flight), and a
 * caller that writes into its result must not change what the others get.
 */
export function decodeValue(data: Encoded, codec: Codec): unknown {
  if (codec === "bytes") {
    return typeof data === "string" ? new TextEncoder().encode(data) : ownedBytes(data);
  }
  const text = typeof data === "string" ? data : decoder.decode(data);
  return codec === "json" ? decodeJson(text, COMPONENT, "the stored value") : text;
}

/** Whether replies for `codec` should be requested as bytes. */
export function isBinary(codec: Codec): boolean {
  return codec === "bytes";
}

/**
 * `data` as the cache may keep it: bytes copied into a plain Uint8Array of their exact
 * size. A reply from ioredis is a view into the socket chunk it arrived in (and a value
 * from a caller is the caller's to change), so keeping the view would pin that whole chunk
 * and let L1's `maxBytes` count far less than it holds.
 */
export function ownedBytes(data: Encoded): Encoded {
  return typeof data === "string" ? data : new Uint8Array(data);
}

/** The size in bytes (UTF-16 units for text, an estimate) of an encoded value, for L1 bounds. */
export function encodedSize(data: Encoded): number {
  return typeof data === "string" ? data.length * 2 : data.byteLength;
}

// Node's Buffer is a Uint8Array subclass; callers get a plain Uint8Array view of the same
// memory so that results compare and print the same on every runtime.
function plainBytes(data: Uint8Array): Uint8Array {
  return data.constructor === Uint8Array
    ? data
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * A reply whose bytes (at any depth, a script's nested tables too) are plain Uint8Array
 * views, as every other reply the cache returns.
 */
export function plainReply<T>(reply: T): T {
  if (reply instanceof Uint8Array) return plainBytes(reply) as T;
  if (Array.isArray(reply)) return reply.map(plainReply) as T;
  return reply;
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "a Uint8Array";
  return typeof value;
}
