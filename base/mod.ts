/**
 * The ground every `@gochat/infra` component stands on:
 *
 * - {@link InfraError} with stable {@link ErrorCode}s: callers branch on `code`;
 * - {@link HotReloadable}: the contract between the config center and components;
 * - AbortSignal helpers: {@link timeoutSignal}, {@link anySignal}, {@link scopedSignal},
 *   {@link delay};
 * - {@link retry} with exponential backoff and full jitter;
 * - {@link createCircuitBreaker}: closed, open and half-open, with state-change events;
 * - lifecycle helpers: {@link closeOnce} and {@link ResourceStack};
 * - {@link configCheck} (config validation naming the field);
 * - {@link encodeJson} and {@link decodeJson}: JSON that refuses what it would not bring
 *   back as it went in ({@link jsonProblem} says why), and names what was not JSON.
 *
 * @example Retry behind a circuit breaker, within a deadline
 * ```ts
 * import { createCircuitBreaker, InfraError, retry, timeoutSignal } from "@gochat/infra/base";
 *
 * const breaker = createCircuitBreaker({ name: "profile-service" });
 * const profile = await breaker.execute(() =>
 *   retry(() => Promise.resolve({ name: "ada" }), {
 *     maxAttempts: 4,
 *     signal: timeoutSignal(2_000),
 *   })
 * );
 * console.assert(profile.name === "ada");
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./hot_reload.ts";
export * from "./options.ts";
export * from "./signal.ts";
export * from "./retry.ts";
export * from "./circuit_breaker.ts";
export * from "./lifecycle.ts";
export * from "./config_check.ts";
export * from "./json.ts";
export { jsonProblem } from "./json_values.ts";
