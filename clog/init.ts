/**
 * Setting logging up: the process-wide configuration ({@link init}, {@link getLogger})
 * and independent loggers ({@link create}).
 *
 * @module
 */

import {
  checkOptions,
  type HotReloadable,
  type HotReloadOptions,
  InfraError,
  throwIfAborted,
} from "../base/mod.ts";
import type { ClogConfig } from "./config.ts";
import { type ClogDependencies, Core } from "./core.ts";
import { CoreLogger } from "./logger.ts";
import type { Logger } from "./types.ts";

/**
 * The root logger of a configuration, returned by {@link init} and {@link create}: a
 * {@link Logger} (at the service root namespace) that also reloads, flushes and closes the
 * configuration.
 */
export interface RootLogger extends Logger, HotReloadable<ClogConfig>, AsyncDisposable {
  /** The configuration in force (a copy), or undefined after `close()`. */
  readonly config: ClogConfig | undefined;
  /**
   * Applies a new configuration to every logger of this root, including loggers obtained
   * earlier: level, formats, redaction and sinks. Sinks whose settings did not change keep
   * their buffers and open files. The dependencies given at creation stay in force.
   *
   * @param config The new, complete config.
   * @param options An optional signal.
   * @throws {InfraError} `InvalidArgument` naming the bad field (the old config stays), or
   *   when `options` is not an object or its `signal` not an AbortSignal; `Closed` after
   *   `close()`, `Aborted` when the signal fired first.
   */
  hotReload(config: ClogConfig, options?: HotReloadOptions): Promise<void>;
  /** Writes out buffered lines now (synchronously for files and the console). */
  flush(): void;
  /**
   * Flushes and closes every sink (files are closed); the loggers go silent. Idempotent.
   * The root of an {@link init} that a later `init` replaced closes only itself.
   */
  close(): Promise<void>;
}

class Root extends CoreLogger implements RootLogger {
  #closed: Promise<void> | undefined;

  constructor(core: Core) {
    super(core, undefined, "", undefined);
  }

  get config(): ClogConfig | undefined {
    if (this.#closed !== undefined || this.core.config === undefined) return undefined;
    return structuredClone(this.core.config);
  }

  async hotReload(config: ClogConfig, options?: HotReloadOptions): Promise<void> {
    throwIfAborted(checkOptions(options, "clog", "hotReload").signal, "clog");
    if (this.#closed !== undefined) {
      throw new InfraError("Closed", "the logger was closed", { component: "clog" });
    }
    await this.core.apply(config, this.core.deps);
  }

  flush(): void {
    this.core.flush();
  }

  close(): Promise<void> {
    // The root of an earlier init(): the configuration in force is a later one's.
    if (this.core === processCore && this !== initRoot) return this.#closed ??= Promise.resolve();
    return this.#closed ??= this.core.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The process-wide configuration: silent until {@link init}. */
const processCore = new Core();
/** The root the last {@link init} returned: the one whose `close()` ends it. */
let initRoot: Root | undefined;

/**
 * Configures process-wide logging, once, at the start of the application. Every logger
 * from {@link getLogger}, including those obtained before this call (by libraries, at
 * import time), writes according to `config` from now on and follows later hot reloads.
 * Calling it again replaces the configuration and the dependencies: closing a root an
 * earlier call returned then closes only that root (its `config` is undefined and its
 * `hotReload` says `Closed`), and the later configuration stays in force.
 *
 * @param config The configuration (see {@link defaultConfig}).
 * @param dependencies Streams and custom sinks that the config names, and a clock.
 * @returns The root logger: log with it, pass it (or its namespaces) to components, bind it
 *   to the config center for hot reload, close it at shutdown.
 * @throws {InfraError} `InvalidArgument` naming the bad field; `PermissionDenied` or
 *   `Unavailable` when a log file cannot be opened.
 *
 * @example
 * ```ts
 * import { defaultConfig, getLogger, init } from "@gochat/infra/clog";
 *
 * await using logger = init({ ...defaultConfig("production"), service: "im-logic" });
 * logger.info("started", { port: 8080 });
 * getLogger("coord").debug("not written: the level is info");
 * ```
 */
export function init(config: ClogConfig, dependencies: ClogDependencies = {}): RootLogger {
  void processCore.apply(config, dependencies);
  return initRoot = new Root(processCore);
}

/**
 * An independent configuration with its own root logger, untouched by {@link init} and
 * not reached through {@link getLogger}: for tests, or for a second log stream (an audit
 * log) with its own sinks.
 *
 * @param config The configuration.
 * @param dependencies Streams and custom sinks that the config names, and a clock.
 * @returns Its root logger.
 * @throws {InfraError} As {@link init}.
 *
 * @example
 * ```ts
 * import { create, type LogRecord } from "@gochat/infra/clog";
 *
 * const records: LogRecord[] = [];
 * const logger = create(
 *   { sinks: [{ type: "custom", name: "memory" }] },
 *   { sinks: { memory: (record) => void records.push(record) } },
 * );
 * logger.namespace("audit").warn("role changed", { userId: 7 });
 * console.assert(records[0].namespace === "audit");
 * ```
 */
export function create(config: ClogConfig, dependencies: ClogDependencies = {}): RootLogger {
  const core = new Core();
  void core.apply(config, dependencies);
  return new Root(core);
}

/**
 * The process-wide logger for `namespace`. Libraries and components call this when no
 * logger was injected. It is silent until the application calls {@link init}, and from
 * then on follows the process-wide configuration (and its hot reloads). Cheap: call it at
 * module level.
 *
 * @param namespace Dotted namespace below the service root, e.g. `"coord"`.
 * @returns The logger.
 *
 * @example
 * ```ts
 * import { getLogger } from "@gochat/infra/clog";
 *
 * const logger = getLogger("im-logic").namespace("get_user");
 * logger.info("user loaded", { userId: 42 });
 * ```
 */
export function getLogger(namespace = ""): Logger {
  return new CoreLogger(processCore, undefined, namespace, undefined);
}
