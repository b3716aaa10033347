/**
 * Leader election with etcd `Election` semantics: candidates queue under
 * `/elections/{name}/` (see `queue.ts`); the head of the queue leads and its key's value is
 * what it proclaims; observers watch the prefix and report the head after each change (the
 * head as it is when read: a slow observer gets the newest leader, not the ones it missed).
 *
 * Internal: the public face is {@link Election} (`coord.election(name)`).
 *
 * @module
 */

import { decodeJson, encodeJson, InfraError, scopedSignal } from "../base/mod.ts";
import type { CoordContext } from "./context.ts";
import { checkSegment, coordOptions, ELECTIONS_ROOT } from "./keys.ts";
import { Ownership, removeLeasedKey } from "./ownership.ts";
import { joinQueue, queueKey, waitForTurn } from "./queue.ts";
import type { KeyValue } from "./transport.ts";
import type { Election, LeaderInfo, Leadership, LockOptions, SignalOptions } from "./types.ts";
import { readStart } from "./watch.ts";
import { stateStream } from "./watch_stream.ts";

const COMPONENT = "coord";

/**
 * What a leader's key holds: JSON, or (from another etcd client) its text, or its bytes when
 * they are not text: never a lossy decoding that would pass for what the leader proclaimed.
 */
function toLeader<T>(kv: KeyValue): LeaderInfo<T> {
  let value: T;
  if (kv.bytes !== undefined) {
    value = new Uint8Array(kv.bytes) as T;
  } else {
    try {
      value = decodeJson<T>(kv.value, COMPONENT);
    } catch {
      value = kv.value as T;
    }
  }
  return { key: kv.key, value, revision: kv.createRevision };
}

class HeldLeadership implements Leadership {
  readonly election: string;
  readonly #context: CoordContext;
  readonly #ownership: Ownership;

  constructor(context: CoordContext, election: string, ownership: Ownership) {
    this.#context = context;
    this.election = election;
    this.#ownership = ownership;
  }

  get key(): string {
    return this.#ownership.key;
  }

  get fencingToken(): number {
    return this.#ownership.fencingToken;
  }

  get signal(): AbortSignal {
    return this.#ownership.signal;
  }

  async proclaim(value: unknown, options?: SignalOptions): Promise<void> {
    options = coordOptions(options, "leadership.proclaim");
    const text = encodeJson(value, COMPONENT);
    const session = this.#ownership.session;
    const lost = () =>
      new InfraError("LockLost", `leadership of ${this.election} was lost`, {
        component: COMPONENT,
      });
    if (!session.alive) throw lost();
    const result = await this.#context.retrying(
      (call) =>
        this.#context.transport.txn({
          // The lease too: a put by someone else keeps the create revision, and writing the
          // key back under our lease would leave it at the head of the queue, owned by nobody.
          compare: [
            { key: this.key, target: "create", result: "==", value: this.fencingToken },
            { key: this.key, target: "lease", result: "==", value: session.id },
          ],
          success: [{ type: "put", key: this.key, value: text, lease: session.id }],
          failure: [],
        }, call),
      options.signal,
    );
    if (!result.succeeded) throw lost();
  }

  resign(): Promise<void> {
    return this.#ownership.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.resign();
  }
}

/**
 * An election of a client.
 *
 * @param context The client context.
 * @param name The election name.
 * @returns The election.
 */
export function createElection(context: CoordContext, name: string): Election {
  checkSegment(name, "name");
  const prefix = `${ELECTIONS_ROOT}/${name}/`;
  const range = { key: prefix, prefix: true } as const;

  return {
    name,

    async campaign(value: unknown, options?: LockOptions): Promise<Leadership> {
      options = coordOptions(options, "election.campaign");
      const text = encodeJson(value, COMPONENT);
      const binding = context.bindSession(options, `a campaign in ${name}`);
      return await context.opening(`a campaign in ${name}`, async (closing) => {
        using scope = scopedSignal({ signals: [options.signal, closing], component: COMPONENT });
        const signal = scope.signal;
        return await context.withSession(binding, signal, async (session) => {
          const key = queueKey(prefix, session);
          try {
            const entry = await joinQueue(context, session, prefix, key, text, signal);
            if (!entry.owner) await waitForTurn(context, session, prefix, entry, signal);
            const ownership = new Ownership(
              context,
              session,
              key,
              entry.revision,
              `leadership of ${name}`,
            );
            return new HeldLeadership(context, name, ownership);
          } catch (error) {
            await removeLeasedKey(context, session, key);
            throw error;
          }
        }, `a campaign in ${name}`);
      }, (leadership) => leadership.resign());
    },

    async leader<T>(options?: SignalOptions): Promise<LeaderInfo<T> | undefined> {
      options = coordOptions(options, "election.leader");
      context.ensureOpen();
      const result = await context.retrying(
        (call) =>
          context.transport.range({
            ...range,
            sort: { target: "create", order: "ascend" },
            limit: 1,
          }, call),
        options.signal,
      );
      return result.kvs.length === 0 ? undefined : toLeader<T>(result.kvs[0]);
    },

    observe<T>(options?: SignalOptions): ReadableStream<LeaderInfo<T> | undefined> {
      options = coordOptions(options, "election.observe");
      context.ensureOpen();
      const candidates = new Map<string, KeyValue>();
      let reported: KeyValue | undefined | null = null;
      const head = (): KeyValue | undefined => {
        let first: KeyValue | undefined;
        for (const kv of candidates.values()) {
          if (!first || kv.createRevision < first.createRevision) first = kv;
        }
        return first;
      };
      return stateStream<LeaderInfo<T> | undefined>(context, {
        range,
        what: `election ${name}`,
        signal: options.signal,
        start: async (signal) => {
          const { start, kvs } = await context.retryingForever(
            (call) => readStart(context.transport, range, call),
            signal,
          );
          for (const kv of kvs) candidates.set(kv.key, kv);
          return start;
        },
        apply: (changes) => {
          for (const change of changes) {
            if (change.type === "put") candidates.set(change.kv.key, change.kv);
            else if (change.type === "delete") candidates.delete(change.kv.key);
            else candidates.clear();
          }
        },
        // Only a change of leader (or of what it proclaims) is reported.
        snapshot: () => {
          const now = head();
          const same = reported !== null && now?.key === reported?.key &&
            now?.modRevision === reported?.modRevision;
          if (same) return undefined;
          reported = now;
          return { state: now === undefined ? undefined : toLeader<T>(now) };
        },
      });
    },
  };
}
