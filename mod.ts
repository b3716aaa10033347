/**
 * `@gochat/infra`: production-grade infrastructure components for distributed TypeScript
 * backends, on Deno, Node and Bun. Each component is a namespace here and a subpath export
 * of its own (`@gochat/infra/base`, ...), so importing one never loads the drivers of
 * another.
 *
 * @example
 * ```ts
 * import { base } from "@gochat/infra";
 *
 * const error = new base.InfraError("NotFound", "no such user", { component: "demo" });
 * console.assert(base.InfraError.is(error, "NotFound"));
 * ```
 *
 * @module
 */

export * as base from "./base/mod.ts";
export * as clog from "./clog/mod.ts";
export * as cache from "./cache/mod.ts";
export * as coord from "./coord/mod.ts";
export * as uid from "./uid/mod.ts";
