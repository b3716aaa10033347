/**
 * The one mapping from Redis (and ioredis) failures to `InfraError` codes. The memory
 * driver raises the same Redis reply texts, so both drivers map alike.
 *
 * @module
 */

import { type ErrorCode, InfraError } from "../base/mod.ts";

const COMPONENT = "cache";

/** A Redis error reply (`WRONGTYPE ...`, `NOSCRIPT ...`) raised by the memory driver. */
export class ReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReplyError";
  }
}

const UNAVAILABLE_REPLIES = [
  "LOADING",
  "BUSY",
  "CLUSTERDOWN",
  "TRYAGAIN",
  "MASTERDOWN",
  "READONLY",
  "NOREPLICAS",
  // The server refuses writes until its persistence works again (stop-writes-on-bgsave-error).
  "MISCONF",
];
const PERMISSION_REPLIES = ["NOPERM", "NOAUTH", "WRONGPASS"];
// A command its ACL refuses inside a script comes back as ERR (Redis 7.0, then 7.2+).
const PERMISSION_TEXTS = ["The user executing the script can't", "ACL failure in script"];
const CONFLICT_TEXTS = [
  "not an integer",
  "not a valid float",
  "would overflow",
  "increment would produce NaN",
  "is not a float",
];
const UNAVAILABLE_TEXTS = [
  "Connection is closed",
  "Stream isn't writeable",
  "isn't ready and enableOfflineQueue",
  "None of startup nodes is available",
  "Failed to refresh slots cache",
  "All sentinels are unreachable",
  "Too many Cluster redirections",
  "Connection in subscriber mode",
  // ioredis's AbortError for pipelined commands cut off by a connection close.
  "Command aborted due to connection close",
  // The server is at maxclients: a later connection may get in.
  "max number of clients reached",
];
const UNAVAILABLE_SYSCALL_CODES = [
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
];

function codeOf(error: Error): ErrorCode {
  const message = error.message ?? "";
  const name = error.name ?? error.constructor?.name ?? "";
  if (name === "MaxRetriesPerRequestError" || name === "ClusterAllFailedError") {
    return "Unavailable";
  }
  if (message.startsWith("Command timed out")) return "Timeout";
  const syscall = (error as { code?: unknown }).code;
  if (typeof syscall === "string" && UNAVAILABLE_SYSCALL_CODES.includes(syscall)) {
    return "Unavailable";
  }
  if (UNAVAILABLE_TEXTS.some((text) => message.includes(text))) return "Unavailable";
  if (message.includes("should belong to the same slots allocation group")) {
    return "InvalidArgument";
  }
  const word = message.split(" ", 1)[0];
  if (word === "WRONGTYPE" || word === "CONFLICT") return "Conflict";
  if (word === "CROSSSLOT") return "InvalidArgument";
  if (word === "OOM") return "ResourceExhausted";
  if (UNAVAILABLE_REPLIES.includes(word)) return "Unavailable";
  if (PERMISSION_REPLIES.includes(word)) return "PermissionDenied";
  if (PERMISSION_TEXTS.some((text) => message.includes(text))) return "PermissionDenied";
  if (word === "ERR" || word === "NOSCRIPT" || /^[A-Z]+$/.test(word)) {
    return CONFLICT_TEXTS.some((text) => message.includes(text)) ? "Conflict" : "InvalidArgument";
  }
  return "Internal";
}

/**
 * The `InfraError` for any failure of a Redis call. InfraErrors pass through unchanged.
 *
 * - connection refused, reset or closed, offline, retries exhausted, cluster down,
 *   `LOADING`/`BUSY`/`READONLY` → `Unavailable`;
 * - `Command timed out` → `Timeout`;
 * - `WRONGTYPE`, a value that is not a number for an increment → `Conflict` (the stored
 *   state, not the call, is at odds);
 * - `CROSSSLOT`, syntax and argument errors, script errors → `InvalidArgument`;
 * - `NOAUTH`/`NOPERM`/`WRONGPASS`, and a command a script's user may not run →
 *   `PermissionDenied`; `OOM` → `ResourceExhausted`.
 */
export function toCacheError(error: unknown, what?: string): InfraError {
  if (error instanceof InfraError) return error;
  if (!(error instanceof Error)) {
    return new InfraError("Internal", `unexpected failure: ${String(error)}`, {
      component: COMPONENT,
      cause: error,
    });
  }
  const code = codeOf(error);
  let message = what ? `${what}: ${error.message}` : error.message;
  if (error.message.startsWith("CROSSSLOT")) {
    message += " (keys of one call must share a hash tag such as {user:1} in a cluster)";
  }
  return new InfraError(code, message, { component: COMPONENT, cause: error });
}

/** Whether `error` is Redis's `NOSCRIPT` reply (the script is not cached on that node). */
export function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("NOSCRIPT");
}

/** An `InvalidArgument` error of the cache, naming the offending option. */
export function invalidArgument(message: string, field?: string): InfraError {
  return new InfraError("InvalidArgument", message, {
    component: COMPONENT,
    details: field ? { field } : {},
  });
}

/** The `Closed` error of a call made (or still waiting) once the cache began to close. */
export function closedError(): InfraError {
  return new InfraError("Closed", "the cache is closed", { component: COMPONENT });
}
