/**
 * The one error type every component throws.
 *
 * @module
 */

/**
 * Stable error codes. Callers branch on these, never on message text.
 *
 * - `InvalidArgument`: bad input or config; nothing was changed.
 * - `NotFound`: the key, record or member does not exist.
 * - `Conflict`: a compare-and-set or create-only write lost against another writer.
 * - `Timeout`: the operation's deadline passed.
 * - `Unavailable`: the backing service cannot be reached; retrying later may succeed.
 * - `Aborted`: the caller's AbortSignal fired.
 * - `Closed`: the resource was closed before or during the call.
 * - `LockLost`: ownership (a lock, lease, leadership or instance id) was lost.
 * - `RateLimited`: a rate limit denied the call.
 * - `CircuitOpen`: a circuit breaker rejected the call without running it.
 * - `ResourceExhausted`: a bounded pool (ids, slots, capacity) has nothing left.
 * - `ClockBackwards`: the wall clock moved backwards further than tolerated.
 * - `PermissionDenied`: the service refused the credentials or the operation.
 * - `Internal`: a bug or an unexpected state; report it.
 */
export type ErrorCode =
  | "InvalidArgument"
  | "NotFound"
  | "Conflict"
  | "Timeout"
  | "Unavailable"
  | "Aborted"
  | "Closed"
  | "LockLost"
  | "RateLimited"
  | "CircuitOpen"
  | "ResourceExhausted"
  | "ClockBackwards"
  | "PermissionDenied"
  | "Internal";

/** Every {@link ErrorCode}, for validation and exhaustive tests. */
export const ERROR_CODES: readonly ErrorCode[] = [
  "InvalidArgument",
  "NotFound",
  "Conflict",
  "Timeout",
  "Unavailable",
  "Aborted",
  "Closed",
  "LockLost",
  "RateLimited",
  "CircuitOpen",
  "ResourceExhausted",
  "ClockBackwards",
  "PermissionDenied",
  "Internal",
];

/** Options of an {@link InfraError} beside its code and message. */
export interface InfraErrorOptions {
  /** The component that raised the error (`"cache"`, `"coord"`, ...). */
  component?: string;
  /** The underlying error, kept for logs and debugging. */
  cause?: unknown;
  /** Machine-readable context, e.g. `{ field: "ttlMs" }` for a bad config field. */
  details?: Record<string, unknown>;
}

/**
 * The error every `@gochat/infra` component throws.
 *
 * @example Branch on the code
 * ```ts
 * import { InfraError } from "@gochat/infra/base";
 *
 * try {
 *   throw new InfraError("NotFound", "user:1 is not cached", { component: "cache" });
 * } catch (error) {
 *   if (InfraError.is(error, "NotFound")) {
 *     // load from the database instead
 *   }
 * }
 * ```
 */
export class InfraError extends Error {
  /** The stable code to branch on. */
  readonly code: ErrorCode;
  /** The component that raised it, or `""` when unknown. */
  readonly component: string;
  /** Machine-readable context; empty when there is none. */
  readonly details: Readonly<Record<string, unknown>>;

  /**
   * Creates an error; the message is prefixed with the component when one is given.
   *
   * @param code The stable error code.
   * @param message A sentence for humans; never parse it.
   * @param options Component, cause and details.
   */
  constructor(code: ErrorCode, message: string, options: InfraErrorOptions = {}) {
    super(
      options.component ? `${options.component}: ${message}` : message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "InfraError";
    this.code = code;
    this.component = options.component ?? "";
    this.details = options.details ?? {};
  }

  /**
   * Whether `error` is an InfraError, optionally with one of the given codes.
   *
   * @param error Anything caught.
   * @param codes Codes to accept; none means any code.
   * @returns True when `error` is an InfraError with an accepted code.
   */
  static is(error: unknown, ...codes: ErrorCode[]): error is InfraError {
    return error instanceof InfraError &&
      (codes.length === 0 || codes.includes(error.code));
  }
}

/**
 * Whether an error is worth retrying: `Unavailable` and `Timeout` InfraErrors.
 * This is the default predicate of `retry`.
 *
 * @param error Anything caught.
 * @returns True for transient failures.
 *
 * @example
 * ```ts
 * import { InfraError, isTransient } from "@gochat/infra/base";
 *
 * console.assert(isTransient(new InfraError("Unavailable", "redis is down")));
 * console.assert(!isTransient(new InfraError("InvalidArgument", "bad key")));
 * ```
 */
export function isTransient(error: unknown): boolean {
  return InfraError.is(error, "Unavailable", "Timeout");
}
