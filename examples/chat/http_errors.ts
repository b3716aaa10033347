/**
 * Errors as HTTP responses: the `InfraError` code decides the status, and the body says
 * what went wrong in a form a client can branch on (`error.code`, `error.field`).
 *
 * @module
 */

import { type ErrorCode, InfraError } from "../../base/mod.ts";

const STATUS: Readonly<Record<ErrorCode, number>> = {
  InvalidArgument: 400,
  PermissionDenied: 403,
  NotFound: 404,
  Conflict: 409,
  RateLimited: 429,
  Aborted: 499,
  Internal: 500,
  Unavailable: 503,
  Closed: 503,
  LockLost: 503,
  CircuitOpen: 503,
  ResourceExhausted: 503,
  ClockBackwards: 503,
  Timeout: 504,
};

/** The body of every error response. */
export interface ErrorBody {
  /** What went wrong. */
  error: {
    /** The `InfraError` code: branch on this. */
    code: ErrorCode;
    /** A sentence for humans. */
    message: string;
    /** The request field at fault, for `InvalidArgument`. */
    field?: string;
    /** Machine-readable context (e.g. the id of the message a duplicate repeats). */
    details?: Record<string, unknown>;
    /** The request id, to find the request's log lines. */
    requestId?: string;
  };
}

/**
 * The HTTP status of an error code.
 *
 * @param code The code.
 * @returns The status.
 */
export function httpStatus(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

/**
 * The response for an error. Anything that is not an `InfraError` is a bug: a 500 whose
 * body does not leak its message. Details are sent for client errors (4xx) only.
 *
 * @param error What was thrown.
 * @param requestId The request id, echoed in the body.
 * @param headers Extra headers (e.g. `Allow` for a 405).
 * @param status Overrides the status derived from the code.
 * @returns The JSON response.
 */
export function errorResponse(
  error: unknown,
  requestId?: string,
  headers: Record<string, string> = {},
  status?: number,
): Response {
  const known = error instanceof InfraError;
  const code: ErrorCode = known ? error.code : "Internal";
  const final = status ?? httpStatus(code);
  // Details of a client error describe the client's input; those of a server error may
  // describe internals (driver results, causes), which stay in the logs.
  const { field, ...details } = known && final < 500 ? error.details : {};
  const body: ErrorBody = {
    error: {
      code,
      message: known ? error.message : "internal error",
      ...(typeof field === "string" ? { field } : {}),
      ...(Object.keys(details).length > 0 ? { details } : {}),
      ...(requestId ? { requestId } : {}),
    },
  };
  return Response.json(body, { status: final, headers });
}
