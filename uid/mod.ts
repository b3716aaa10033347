/**
 * Unique ids that are never duplicated: Snowflake (63-bit, time-ordered, per instance) and
 * UUID v7 (RFC 9562, monotonic within the process).
 *
 * Use Snowflake for primary keys and message ids where a compact, sortable integer matters;
 * its 10-bit instance id must be unique among running instances, so take it as a lease from
 * `coord`'s instance-id allocator or give it explicitly. On a lease, one generator follows it
 * for its whole life: `LockLost` while the lease is lost, ids again (still increasing) once
 * coord re-claims the id, and `LockLost` for good once the id is taken, the session it was
 * leased on expired, or the lease closed. Use UUID v7 where no coordination is wanted
 * (request ids, public resource ids).
 *
 * Snowflake `next()` never returns a duplicate: 4,096 ids in one millisecond make it wait
 * for the next one; a clock that moves back by up to `maxClockBackwardsMs` is waited out, and
 * a larger step fails with `ClockBackwards` until the clock catches up.
 *
 * Both kinds sort by time, so a time range is an id range: {@link compose} builds the
 * smallest and largest Snowflake id of a millisecond, {@link uuidv7Bound} the smallest and
 * largest UUID v7 (for `WHERE id BETWEEN` or a paging cursor, with no timestamp column).
 *
 * @example Snowflake with a fixed instance id, and UUID v7
 * ```ts
 * import { decompose, snowflake, uuidv7, uuidv7Timestamp } from "@gochat/infra/uid";
 *
 * const ids = snowflake({ instanceId: 42 });
 * const messageId = ids.nextString(); // e.g. "187535720448172032": instance 42 at
 * // 2025-06-01T12:00:00Z
 * console.assert(decompose(messageId).instanceId === 42);
 *
 * const requestId = uuidv7(); // e.g. "019a4b3c-5d6e-7f01-8a2b-3c4d5e6f7a8b"
 * console.assert(uuidv7Timestamp(requestId) <= Date.now());
 * ```
 *
 * @example Snowflake on a leased instance id from coord
 * ```ts ignore
 * import * as coord from "@gochat/infra/coord";
 * import { snowflake } from "@gochat/infra/uid";
 *
 * await using client = await coord.connect(coord.defaultConfig("production"));
 * await using lease = await client.leaseInstanceId("im-logic");
 * const ids = snowflake({}, { lease }); // one generator, across etcd outages too
 * ```
 *
 * @module
 */

export * from "./types.ts";
export * from "./snowflake.ts";
export * from "./uuid_v7.ts";
