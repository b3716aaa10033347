/**
 * Distributed coordination over etcd: a config center with hot reload, a service registry,
 * FIFO distributed locks, leader election and leased instance ids, plus an embedded memory
 * driver with the same semantics.
 *
 * - {@link connect} opens a client on etcd: over gRPC with the etcd3 npm client (the default),
 *   or over etcd's JSON gateway with plain `fetch` (`transport: "gateway"`, for runtimes where
 *   grpc-js does not run); {@link memory} one on the embedded store. All return a
 *   {@link Coord} with the same semantics. The gateway does password auth (its token renewed
 *   when etcd expires it) and TLS with the system roots, or a custom CA or client certificate
 *   on Deno and Bun; the fault, cluster and security tests run over both transports.
 * - `client.kv`: JSON values with revisions, compare-and-set, `getAndSet` / `getAndDelete`
 *   (what a write replaced or a delete removed, in the same request: etcd's `prev_kv`),
 *   multi-key transactions with optimistic concurrency (`kv.transaction`, etcd's STM), and
 *   watches (ReadableStreams) that resume after etcd restarts without missing an update and
 *   recover from compaction. Watches require an etcd leader, so one on a member cut off from
 *   its cluster is cancelled and resumes instead of going silent.
 *   A value JSON would not bring back as it is (`NaN`, a `Map`, a class instance, a cycle,
 *   ...), there or as an election value, registry metadata or typed-config defaults, is
 *   `InvalidArgument` naming its path (`value.limits.rate: NaN ...`), and nothing is
 *   written; a stored text that is not JSON, or a value that is not UTF-8 text at all
 *   (bytes from another client, never read as the U+FFFD text they would decode to), is
 *   `InvalidArgument` on `get` naming the key, and an `invalid` event in a watch.
 * - `client.config(key, { schema, defaults })`: a typed value validated by any Standard
 *   Schema library, kept last-good, pushed to `HotReloadable` components; given
 *   {@link configLayers} (or any list of keys) it merges the shared `global` config and the
 *   service's own over the defaults.
 * - `client.registry`: register with lease keepalive and automatic re-registration;
 *   discover, watch, pick (round-robin, random).
 * - `client.lock` / `tryLock` / `withLock`: etcd Mutex semantics (FIFO by create revision,
 *   fencing token, an AbortSignal that fires when ownership is lost).
 * - `client.session({ ttlMs })`: one lease and one keepalive for any number of locks,
 *   campaigns, registrations and instance ids (`{ session }` in their options), as Go's
 *   `concurrency.Session`: its `signal` fires when the lease may be lost, everything bound
 *   to it ends with it, and closing it releases them all in one revoke.
 * - `client.election(name)`: campaign, leader, observe, resign.
 * - `client.leaseInstanceId(service)`: a unique id for uid's Snowflake generator, re-claimed
 *   after a loss when it is still free.
 * - Watches stay bounded however slowly they are read: a `kv.watch` holds at most
 *   `bufferSize` events (past that it pauses the etcd watch and resumes where it stopped
 *   once the reader catches up, losing nothing); `registry.watch` and election `observe`
 *   hand out states, so a slow reader gets the newest list or leader, never a backlog.
 *
 * @example Config with hot reload, on the embedded driver
 * ```ts
 * import * as coord from "@gochat/infra/coord";
 * import { z } from "zod";
 *
 * await using client = coord.memory();
 * const key = coord.configKey({ env: "dev", component: "greeter" });
 * const greeting = await client.config(key, {
 *   schema: z.object({ text: z.string().min(1) }),
 *   defaults: { text: "hello" },
 * });
 * const changed = new Promise((resolve) => greeting.onChange(resolve));
 * await client.kv.set(key, { text: "hi" });
 * await changed;
 * console.assert(greeting.current().text === "hi");
 * await greeting.close();
 * ```
 *
 * @example Register, discover and lock on etcd
 * ```ts ignore
 * import * as coord from "@gochat/infra/coord";
 *
 * await using client = await coord.connect(coord.defaultConfig("development"));
 * await using registration = await client.registry.register({
 *   service: "im-logic",
 *   id: "logic-1",
 *   address: "10.0.0.5:9000",
 * });
 * const instances = await client.registry.discover("im-logic");
 * await client.withLock("daily-report", async (lock) => {
 *   // pass lock.signal to the work: it fires if the lock is lost
 * });
 * ```
 *
 * @module
 */

export type {
  BindOptions,
  ConfigCenter,
  ConfigEntry,
  ConfigEvent,
  ConfigList,
  ConfigSchema,
  ConfigSchemaIssue,
  ConfigSchemaProps,
  ConfigSchemaResult,
  ConfigTransaction,
  Coord,
  DeleteOptions,
  DeleteResult,
  Election,
  Fence,
  InstanceIdLease,
  InstanceIdOptions,
  InstanceIdState,
  InvalidEntry,
  LeaderInfo,
  Leadership,
  ListOptions,
  Lock,
  LockOptions,
  PickerOptions,
  PickStrategy,
  RegisterOptions,
  Registration,
  RegistrationState,
  ServiceInstance,
  ServicePicker,
  ServiceRegistry,
  Session,
  SessionOptions,
  SetOptions,
  SetResult,
  SignalOptions,
  TransactionOptions,
  TransactionResult,
  TypedConfig,
  TypedConfigOptions,
  WatchOptions,
} from "./types.ts";
export {
  checkConfig,
  type CoordConfig,
  type CoordEnvironment,
  type CoordTlsConfig,
  type CoordTransportKind,
  defaultConfig,
} from "./config.ts";
export {
  configKey,
  type ConfigKeyParts,
  configLayers,
  configPrefix,
  parseConfigKey,
} from "./keys.ts";
export { createPicker, type Pick } from "./picker.ts";
export { connect, type CoordDependencies } from "./connect.ts";
export {
  createMemoryStore,
  memory,
  type MemoryConfig,
  type MemoryDependencies,
  type SharedMemoryStore,
} from "./memory.ts";
