/**
 * The hot-reload contract between the config center and the components it configures.
 *
 * @module
 */

/** Options of {@link HotReloadable.hotReload}. */
export interface HotReloadOptions {
  /** Aborts a reload that takes too long; the component keeps its old config then. */
  signal?: AbortSignal;
}

/**
 * A component whose configuration can change while it runs. `coord`'s config manager
 * watches a key, validates the new value and calls `hotReload` with it.
 *
 * Implementations validate `config` first and reject an invalid one with an `InfraError`
 * (`InvalidArgument`) while keeping the current config in force; they apply a valid one
 * without dropping state (open connections, buckets, buffered log lines).
 *
 * @typeParam C The component's config type.
 *
 * @example
 * ```ts
 * import type { HotReloadable } from "@gochat/infra/base";
 *
 * class Greeter implements HotReloadable<{ greeting: string }> {
 *   greeting = "hello";
 *   hotReload(config: { greeting: string }): Promise<void> {
 *     this.greeting = config.greeting;
 *     return Promise.resolve();
 *   }
 * }
 * await new Greeter().hotReload({ greeting: "hi" });
 * ```
 */
export interface HotReloadable<C> {
  /**
   * Applies a new config.
   *
   * @param config The new, complete config.
   * @param options An optional signal.
   * @throws {InfraError} `InvalidArgument` when the config is rejected (nothing changes).
   */
  hotReload(config: C, options?: HotReloadOptions): Promise<void>;
}
