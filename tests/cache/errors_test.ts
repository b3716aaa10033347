/**
 * The mapping of Redis and ioredis failures to InfraError codes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { toCacheError } from "../../cache/errors.ts";

function named(name: string, message: string, code?: string): Error {
  const error = new Error(message);
  error.name = name;
  if (code) (error as Error & { code: string }).code = code;
  return error;
}

test("errors: driver failures map to stable codes", () => {
  const cases: [Error, string][] = [
    [new Error("connect ECONNREFUSED 127.0.0.1:6379"), "Internal"],
    [named("Error", "connect ECONNREFUSED 127.0.0.1:6379", "ECONNREFUSED"), "Unavailable"],
    [new Error("Connection is closed."), "Unavailable"],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), "Unavailable"],
    [
      named("MaxRetriesPerRequestError", "Reached the max retries per request limit"),
      "Unavailable",
    ],
    [named("ClusterAllFailedError", "Failed to refresh slots cache."), "Unavailable"],
    [new Error("Command timed out"), "Timeout"],
    [named("AbortError", "Command aborted due to connection close"), "Unavailable"],
    [new Error("WRONGTYPE Operation against a key holding the wrong kind of value"), "Conflict"],
    [new Error("ERR value is not an integer or out of range"), "Conflict"],
    [new Error("ERR syntax error"), "InvalidArgument"],
    [new Error("CROSSSLOT Keys in request don't hash to the same slot"), "InvalidArgument"],
    [new Error("LOADING Redis is loading the dataset in memory"), "Unavailable"],
    [new Error("CLUSTERDOWN The cluster is down"), "Unavailable"],
    [new Error("READONLY You can't write against a read only replica."), "Unavailable"],
    [
      new Error("WRONGPASS invalid username-password pair or user is disabled."),
      "PermissionDenied",
    ],
    [new Error("NOPERM this user has no permissions to run the 'get' command"), "PermissionDenied"],
    // What Redis 7.0 and 7.2+ answer for a command a script's user may not run.
    [
      new Error(
        "ERR The user executing the script can't publish to the channel mentioned in the command script: c557, on @user_script:1.",
      ),
      "PermissionDenied",
    ],
    [
      new Error(
        "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments script: 429f, on @user_script:1.",
      ),
      "PermissionDenied",
    ],
    [
      new Error(
        "ERR ACL failure in script: No permissions to access a channel script: c557, on @user_script:1.",
      ),
      "PermissionDenied",
    ],
    [new Error("ERR user_script:1: boom script: 8290, on @user_script:1."), "InvalidArgument"],
    [new Error("OOM command not allowed when used memory > 'maxmemory'."), "ResourceExhausted"],
    [
      new Error("MISCONF Redis is configured to save RDB snapshots, but it's currently unable"),
      "Unavailable",
    ],
    [new Error("ERR max number of clients reached"), "Unavailable"],
    [new Error("something odd"), "Internal"],
  ];
  for (const [error, code] of cases) {
    const mapped = toCacheError(error);
    assert.equal(mapped.code, code, error.message);
    assert.equal(mapped.component, "cache");
    assert.equal(mapped.cause, error);
  }
});

test("errors: an InfraError passes through unchanged, and CROSSSLOT explains hash tags", () => {
  const original = new InfraError("Timeout", "late", { component: "cache" });
  assert.equal(toCacheError(original), original);
  assert.match(
    toCacheError(new Error("CROSSSLOT Keys in request don't hash to the same slot")).message,
    /hash tag/,
  );
});
