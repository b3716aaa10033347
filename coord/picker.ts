/**
 * Client-side choice among service instances.
 *
 * @module
 */

import { describeValue, InfraError } from "../base/mod.ts";
import type { PickStrategy, ServiceInstance } from "./types.ts";

/** Chooses one instance of a list; see {@link createPicker}. */
export type Pick = (instances: readonly ServiceInstance[]) => ServiceInstance | undefined;

/**
 * A picking function: `"round-robin"` cycles through the list (a counter shared by all calls
 * of this picker), `"random"` chooses uniformly.
 *
 * @param strategy How to choose.
 * @returns The function; it returns undefined for an empty list.
 * @throws {InfraError} `InvalidArgument` for an unknown strategy.
 *
 * @example
 * ```ts
 * import { createPicker } from "@gochat/infra/coord";
 *
 * const pick = createPicker("round-robin");
 * const instances = [
 *   { service: "im-logic", id: "a", address: "10.0.0.1:9000" },
 *   { service: "im-logic", id: "b", address: "10.0.0.2:9000" },
 * ];
 * console.assert(pick(instances)?.id === "a" && pick(instances)?.id === "b");
 * ```
 */
export function createPicker(strategy: PickStrategy = "round-robin"): Pick {
  if (strategy === "random") {
    return (instances) =>
      instances.length === 0 ? undefined : instances[Math.floor(Math.random() * instances.length)];
  }
  if (strategy === "round-robin") {
    let next = 0;
    return (instances) => {
      if (instances.length === 0) return undefined;
      const instance = instances[next % instances.length];
      next = (next + 1) % Number.MAX_SAFE_INTEGER;
      return instance;
    };
  }
  throw new InfraError(
    "InvalidArgument",
    `strategy must be "round-robin" or "random", got ${describeValue(strategy)}`,
    { component: "coord", details: { field: "strategy" } },
  );
}
