/**
 * The narrow internal client both drivers implement: send commands (one or a batch), run
 * scripts with NOSCRIPT recovery, publish and subscribe. Everything above it (prefixing,
 * codecs, locks, getOrSet, L1) is written once against this interface, so the memory
 * driver and the Redis driver share their semantics by construction.
 *
 * @module
 */

import type { InfraError } from "../base/mod.ts";
import type { CacheMode, RawClient, ScriptReply } from "./types.ts";

/** A command argument. */
export type Arg = string | number | Uint8Array;

/** What a command returns: RESP values as JavaScript values. */
export type Reply = null | number | string | Uint8Array | Reply[];

/** A Lua script with its SHA1 and, for the memory driver, a JavaScript twin. */
export interface ScriptSource {
  /** The Lua source. */
  readonly lua: string;
  /** Its SHA1 in hex, computed locally. */
  readonly sha: string;
  /** How many of the arguments are keys. */
  readonly keyCount: number;
  /** The JavaScript implementation the memory driver runs, if any. */
  readonly memory?: MemoryScript;
  /** The twin works on byte strings, as Lua does (see `defineScript`). */
  readonly byteStrings?: boolean;
}

/** `redis.call` as the JavaScript twin of a script sees it. */
export interface ScriptContext {
  /** Runs one command atomically inside the script; throws Redis's error reply. */
  call(command: string, ...args: (string | number | Uint8Array)[]): ScriptReply;
}

/** The JavaScript twin of a Lua script: same KEYS (prefixed) and ARGV (strings). */
export type MemoryScript = (
  redis: ScriptContext,
  keys: string[],
  args: string[],
) => ScriptReply | boolean | undefined;

/** One command of a call or a batch. */
export type Command =
  | {
    readonly kind: "command";
    /** Upper-case command name. */
    readonly name: string;
    /** Arguments, keys already prefixed. */
    readonly args: readonly Arg[];
    /** The first key, for cluster routing of batches; undefined for keyless commands. */
    readonly key: string | undefined;
    /** Bulk replies as bytes. */
    readonly binary: boolean;
  }
  | {
    readonly kind: "script";
    readonly script: ScriptSource;
    readonly keys: readonly string[];
    readonly args: readonly Arg[];
    readonly binary: boolean;
  };

/** One outcome of a batch: the reply, or the mapped error of that command alone. */
export type BatchOutcome = { ok: true; reply: Reply } | { ok: false; error: InfraError };

/** A subscription to one channel. */
export interface Subscription {
  /** Stops delivering messages. */
  unsubscribe(): Promise<void>;
}

/** Callbacks of a subscription. */
export interface SubscriptionHandlers {
  /** A message arrived. */
  onMessage(message: string): void;
  /**
   * The connection carrying the subscription was lost: messages published from now until
   * {@link SubscriptionHandlers.onResubscribed} are lost.
   */
  onInterrupted?(): void;
  /**
   * The subscription is in place again after a gap during which messages may have been
   * lost (not called for the first subscribe). Messages published from now on arrive.
   */
  onResubscribed?(): void;
}

/** What a driver offers the cache. */
export interface Connection {
  /** Which driver this is. */
  readonly driver: "redis" | "memory";
  /** Single node, Sentinel, Cluster or memory. */
  readonly mode: CacheMode;
  /** Runs one command; rejects with a mapped InfraError. */
  call(command: Command): Promise<Reply>;
  /**
   * Runs commands in one round trip where the topology allows (a pipeline; in a cluster one
   * pipeline per slot, in parallel). Results come back in input order.
   */
  batch(commands: readonly Command[]): Promise<BatchOutcome[]>;
  /** The cluster slot of a full key, or 0 outside a cluster (used to split multi-key calls). */
  slotOf(fullKey: string): number;
  /**
   * The keys that start with `prefix`, in batches: SCAN MATCH on every master (on a
   * cluster, each master in turn). A key written or deleted during the scan may or may not
   * be listed; a key may be listed twice.
   */
  scanPrefix(prefix: string): AsyncIterable<string[]>;
  /** Publishes a message on a channel (not prefixed here). */
  publish(channel: string, message: string): Promise<void>;
  /** Subscribes to a channel through a dedicated connection, created on first use. */
  subscribe(channel: string, handlers: SubscriptionHandlers): Promise<Subscription>;
  /** Checks the server answers. */
  ping(): Promise<void>;
  /** The escape hatch. */
  raw(): RawClient;
  /** Closes all connections; pending commands finish first. */
  close(): Promise<void>;
}

/** A plain command. */
export function command(
  name: string,
  args: readonly Arg[],
  key: string | undefined,
  binary = false,
): Command {
  return { kind: "command", name, args, key, binary };
}
