/**
 * The HTTP face of the chat service: a web-standard fetch handler
 * `(Request) => Promise<Response>` (Deno.serve, Bun.serve, or Node through an adapter), its
 * routes, and Hono-style middleware `(request, next) => Promise<Response>`, the seam where
 * the `metrics` component's request instrumentation slots in.
 *
 * | route                          | answer                                            |
 * | ------------------------------ | ------------------------------------------------- |
 * | `POST /rooms/:room/messages`   | 201 `{ message }`; 409 for a repeated id; 400     |
 * | `GET /rooms/:room/messages`    | 200 `{ room, window, messages }` (`?limit=`)      |
 * | `GET /healthz`                 | 200 or 503 `{ status, instanceId, checks, ... }`  |
 *
 * Errors are `{ error: { code, message, field?, details?, requestId } }`.
 *
 * @module
 */

import { decodeJson, InfraError } from "../../base/mod.ts";
import { contextFields, type Logger, withContext } from "../../clog/mod.ts";
import { uuidv7 } from "../../uid/mod.ts";
import { SERVICE } from "./config.ts";
import { errorResponse } from "./http_errors.ts";
import type { ChatMessage } from "./messages.ts";

/** A web-standard fetch handler. */
export type Handler = (request: Request) => Promise<Response>;

/** Middleware around a {@link Handler}: call `next` to go on, or answer by itself. */
export type Middleware = (request: Request, next: Handler) => Promise<Response>;

/** What `GET /healthz` reports. */
export interface Health {
  /** `"ok"` when the instance can accept messages. */
  status: "ok" | "unavailable";
  /** The leased instance id in every message id. */
  instanceId: number;
  /** One entry per dependency: `"ok"` or what is wrong. */
  checks: Record<string, string>;
  /** The settings in force and their config-center revision (0 = defaults). */
  config: { revision: number } & Record<string, unknown>;
}

/** What the routes call: the chat service's operations. */
export interface ChatOperations {
  /** Accepts a message (body not yet validated). */
  post(room: string, body: unknown, options?: { signal?: AbortSignal }): Promise<ChatMessage>;
  /** Reads a room's recent window; `limit` is the raw query parameter. */
  read(
    room: string,
    limit: string | null,
    options?: { signal?: AbortSignal },
  ): Promise<{ window: number; messages: ChatMessage[] }>;
  /** Checks the instance and its dependencies. */
  health(): Promise<Health>;
}

/** Bodies larger than this are refused before parsing. */
const MAX_BODY_BYTES = 64 * 1024;
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const MESSAGES_ROUTE = /^\/rooms\/([^/]+)\/messages$/;

/**
 * Chains middleware around a handler; the first one is the outermost.
 *
 * @param middleware The middleware, outermost first.
 * @param handler The innermost handler.
 * @returns The chained handler.
 */
export function compose(middleware: readonly Middleware[], handler: Handler): Handler {
  return middleware.reduceRight<Handler>(
    (next, layer) => (request) => layer(request, next),
    handler,
  );
}

/**
 * Gives every request an id (the caller's `x-request-id` when it sends a sane one, a UUID
 * v7 otherwise), runs the rest of the chain inside `withContext({ requestId })` so every
 * line it logs, in any component, carries the id, echoes the id in the response, and logs
 * one access line per request (debug, or error for a 5xx).
 *
 * @param logger Where access lines go.
 * @returns The middleware.
 */
export function requestContext(logger: Logger): Middleware {
  return (request, next) => {
    const offered = request.headers.get("x-request-id");
    const requestId = offered !== null && REQUEST_ID.test(offered) ? offered : uuidv7();
    return withContext({ requestId }, async () => {
      const started = performance.now();
      const { pathname } = new URL(request.url);
      let response: Response;
      try {
        response = await next(request);
      } catch (error) {
        logger.error("request failed", { method: request.method, path: pathname, error });
        response = errorResponse(error, requestId);
      }
      const fields = {
        method: request.method,
        path: pathname,
        status: response.status,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
      };
      if (response.status >= 500) logger.error("request", fields);
      else logger.debug("request", fields);
      const headers = new Headers(response.headers);
      headers.set("x-request-id", requestId);
      return new Response(response.body, { status: response.status, headers });
    });
  };
}

async function readJson(request: Request): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  const text = declared > MAX_BODY_BYTES ? undefined : await request.text();
  if (text === undefined || text.length > MAX_BODY_BYTES) {
    throw new InfraError("InvalidArgument", `body must be at most ${MAX_BODY_BYTES} bytes`, {
      component: SERVICE,
      details: { field: "body" },
    });
  }
  try {
    return decodeJson(text, SERVICE, "the request body");
  } catch (error) {
    throw new InfraError("InvalidArgument", (error as Error).message, {
      component: SERVICE,
      details: { field: "body" },
    });
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new InfraError("InvalidArgument", "room is not valid percent-encoding", {
      component: SERVICE,
      details: { field: "room" },
    });
  }
}

function requestIdOf(request: Request): string | undefined {
  const { requestId } = contextFields();
  return typeof requestId === "string"
    ? requestId
    : request.headers.get("x-request-id") ?? undefined;
}

function methodNotAllowed(request: Request, allow: string): Response {
  const error = new InfraError(
    "InvalidArgument",
    `${request.method} is not allowed here (allowed: ${allow})`,
    { component: SERVICE, details: { field: "method" } },
  );
  return errorResponse(error, requestIdOf(request), { allow }, 405);
}

/**
 * The routes, without middleware. Errors thrown by the operations become responses here
 * (innermost), so middleware sees the final status.
 *
 * @param chat The operations.
 * @returns The handler.
 */
export function routes(chat: ChatOperations): Handler {
  return async (request) => {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/healthz") {
        if (request.method !== "GET") return methodNotAllowed(request, "GET");
        const health = await chat.health();
        return Response.json(health, { status: health.status === "ok" ? 200 : 503 });
      }
      const match = MESSAGES_ROUTE.exec(url.pathname);
      if (match) {
        const room = decodeSegment(match[1]);
        // No request.signal: Deno fires it after every response (legacy behaviour), and each
        // step is bounded by its own deadline (the cache's commandTimeoutMs).
        if (request.method === "POST") {
          const message = await chat.post(room, await readJson(request));
          return Response.json({ message }, { status: 201 });
        }
        if (request.method === "GET") {
          const read = await chat.read(room, url.searchParams.get("limit"));
          return Response.json({ room, ...read });
        }
        return methodNotAllowed(request, "GET, POST");
      }
      throw new InfraError("NotFound", `no route for ${url.pathname}`, { component: SERVICE });
    } catch (error) {
      return errorResponse(error, requestIdOf(request));
    }
  };
}
