/**
 * The instance-id allocator behind uid's Snowflake worker ids: id `n` of a service is the key
 * `/ids/{service}/{n}`, created only if absent (`CreateRevision == 0`) under the holder's
 * own lease. One range read finds the taken ids; the allocator then tries free ones in
 * order (the preferred id first) and reads again only when all of them were taken
 * meanwhile, instead of the Go original's one transaction per id. etcd guarantees that two
 * live leases never hold the same key, and the session's local deadline fires the lease's
 * signal before etcd could expire it and hand the id to another process.
 *
 * Internal: the public face is {@link InstanceIdLease} (`coord.leaseInstanceId`).
 *
 * @module
 */

import { closeOnce, configCheck, encodeJson, InfraError } from "../base/mod.ts";
import { checkTtl } from "./config.ts";
import type { CoordContext } from "./context.ts";
import { checkSegment, IDS_ROOT } from "./keys.ts";
import { Ownership } from "./ownership.ts";
import { Session } from "./session.ts";
import type { InstanceIdLease, InstanceIdOptions } from "./types.ts";

const COMPONENT = "coord";
const check = configCheck(COMPONENT);
/** Largest `maxId` accepted. */
const ID_LIMIT = 65_535;
/** Full re-reads before giving up when every free id keeps being taken by others. */
const ROUNDS = 8;

function randomHolder(): string {
  return Math.random().toString(36).slice(2, 10);
}

/**
 * Leases an instance id.
 *
 * @param context The client context.
 * @param service The service name.
 * @param options Range, TTL, preferred id, holder and signal.
 * @returns The lease.
 */
export async function leaseInstanceId(
  context: CoordContext,
  service: string,
  options: InstanceIdOptions = {},
): Promise<InstanceIdLease> {
  checkSegment(service, "service");
  const maxId = check.integer(options.maxId ?? 1023, "maxId", { min: 0, max: ID_LIMIT });
  if (options.preferId !== undefined) {
    check.integer(options.preferId, "preferId", { min: 0, max: maxId });
  }
  const holder = options.holder === undefined
    ? randomHolder()
    : check.string(options.holder, "holder");
  const ttlMs = checkTtl(options.ttlMs ?? context.sessionTtlMs);
  context.ensureOpen();
  const { transport, logger } = context;
  const prefix = `${IDS_ROOT}/${service}/`;
  const signal = options.signal;

  const session = await context.retrying(
    () => Session.open(transport, ttlMs, { logger, signal }),
    signal,
  );
  const value = encodeJson({ holder, lease: session.hex, since: new Date().toISOString() });
  let claimed: { id: number; revision: number } | undefined;
  try {
    for (let round = 0; round < ROUNDS && !claimed; round++) {
      const taken = await context.retrying(
        () => transport.range({ key: prefix, prefix: true, keysOnly: true }, { signal }),
        signal,
      );
      const used = new Set(taken.kvs.map((kv) => Number(kv.key.slice(prefix.length))));
      const free: number[] = [];
      if (options.preferId !== undefined && !used.has(options.preferId)) {
        free.push(options.preferId);
      }
      for (let id = 0; id <= maxId; id++) {
        if (!used.has(id) && id !== options.preferId) free.push(id);
      }
      if (free.length === 0) {
        throw new InfraError("ResourceExhausted", `every instance id of ${service} is taken`, {
          component: COMPONENT,
          details: { service, maxId },
        });
      }
      for (const id of free) {
        const key = `${prefix}${id}`;
        const result = await context.retrying(
          () =>
            transport.txn({
              compare: [{ key, target: "create", result: "==", value: 0 }],
              success: [{ type: "put", key, value, lease: session.id }],
              failure: [{ type: "range", request: { key, keysOnly: true } }],
            }, { signal }),
          signal,
        );
        if (result.succeeded) {
          claimed = { id, revision: result.revision };
          break;
        }
        // A retried transaction may find the key it put itself.
        const existing = result.results[0];
        const kv = existing?.type === "range" ? existing.result.kvs[0] : undefined;
        if (kv && kv.lease !== "0" && BigInt(kv.lease) === BigInt(session.id)) {
          claimed = { id, revision: kv.createRevision };
          break;
        }
      }
    }
    if (!claimed) {
      throw new InfraError(
        "ResourceExhausted",
        `could not claim an instance id of ${service}: free ids kept being taken`,
        { component: COMPONENT, details: { service, maxId } },
      );
    }
  } catch (error) {
    await session.close();
    throw error;
  }

  const { id } = claimed;
  const key = `${prefix}${id}`;
  const ownership = new Ownership(context, session, key, claimed.revision, `instance id ${key}`);
  logger.info("instance id leased", { service, id, lease: session.hex });
  const close = closeOnce(async () => {
    untrack();
    await ownership.release();
    await session.close();
  });
  const untrack = context.track({ close, abandon: () => session.abandon() });
  return {
    service,
    id,
    get signal() {
      return ownership.signal;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
