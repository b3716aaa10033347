/**
 * The coord client: the primitives assembled over one transport. Both drivers (`connect`
 * for etcd, `memory` for the embedded store) build it here, so they share every behaviour
 * above the transport.
 *
 * Internal: the public face is {@link Coord}.
 *
 * @module
 */

import { closeOnce } from "../base/mod.ts";
import type { Logger } from "../clog/mod.ts";
import { createConfigCenter } from "./config_center.ts";
import { CoordContext } from "./context.ts";
import { createElection } from "./election.ts";
import { leaseInstanceId } from "./instance_id.ts";
import { coordOptions } from "./keys.ts";
import { acquireLock, withLock } from "./lock.ts";
import { namespaced } from "./namespace.ts";
import { createRegistry } from "./registry.ts";
import type { Transport } from "./transport.ts";
import { openTypedConfig } from "./typed_config.ts";
import type {
  ConfigCenter,
  Coord,
  Election,
  InstanceIdLease,
  InstanceIdOptions,
  Lock,
  LockOptions,
  ServiceRegistry,
  Session,
  SessionOptions,
  TypedConfig,
  TypedConfigOptions,
} from "./types.ts";

/** What a client needs beside its transport. */
export interface ClientSettings {
  /** Root prefix of every key. */
  namespace: string;
  /** Deadline of one request. */
  requestTimeoutMs: number;
  /** Default lease TTL. */
  sessionTtlMs: number;
}

/** See the module doc. */
export class CoordClient implements Coord {
  readonly kv: ConfigCenter;
  readonly registry: ServiceRegistry;
  readonly #context: CoordContext;
  readonly #transport: Transport;

  /**
   * Assembles a client.
   *
   * @param transport The raw transport (the client namespaces it and closes it).
   * @param settings Namespace and timeouts.
   * @param logger The component logger.
   */
  constructor(transport: Transport, settings: ClientSettings, logger: Logger) {
    this.#transport = transport;
    this.#context = new CoordContext(namespaced(transport, settings.namespace), logger, settings);
    this.kv = createConfigCenter(this.#context);
    this.registry = createRegistry(this.#context);
  }

  async config<T>(
    key: string | readonly string[],
    options: TypedConfigOptions<T>,
  ): Promise<TypedConfig<T>> {
    return await openTypedConfig(this.#context, key, coordOptions(options, "config"));
  }

  async session(options?: SessionOptions): Promise<Session> {
    return await this.#context.openCallerSession(coordOptions(options, "session"));
  }

  async lock(name: string, options?: LockOptions): Promise<Lock> {
    return (await acquireLock(this.#context, name, coordOptions(options, "lock"), true))!;
  }

  async tryLock(name: string, options?: LockOptions): Promise<Lock | undefined> {
    return await acquireLock(this.#context, name, coordOptions(options, "tryLock"), false);
  }

  async withLock<R>(
    name: string,
    fn: (lock: Lock) => Promise<R> | R,
    options?: LockOptions,
  ): Promise<R> {
    return await withLock(this.#context, name, fn, coordOptions(options, "withLock"));
  }

  election(name: string): Election {
    return createElection(this.#context, name);
  }

  async leaseInstanceId(service: string, options?: InstanceIdOptions): Promise<InstanceIdLease> {
    return await leaseInstanceId(
      this.#context,
      service,
      coordOptions(options, "leaseInstanceId"),
    );
  }

  close: () => Promise<void> = closeOnce(async () => {
    await this.#context.close();
    await this.#transport.close();
  });

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Stops everything without cleaning up in etcd (no deregistration, no lease revoke), as a
   * crashed process would: what it held disappears only when its leases expire. For tests.
   */
  async abandon(): Promise<void> {
    await this.#context.abandon();
    await this.#transport.close();
  }

  /** The underlying (namespaced) transport, for tests (compaction, raw reads). */
  get transport(): Transport {
    return this.#context.transport;
  }
}
