/**
 * Serving a fetch handler on whatever runtime runs the code: `Deno.serve` on Deno, and
 * `node:http` (through a small Request/Response bridge) on Node and Bun. The handler
 * itself never learns which.
 *
 * @module
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { closeOnce } from "../../base/mod.ts";
import type { Handler } from "./http.ts";

/** A listening HTTP server. */
export interface HttpServer extends AsyncDisposable {
  /** Its base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Stops accepting connections and waits for in-flight requests. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link serve}. */
export interface ServeOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  hostname?: string;
  /** Port; 0 (the default) picks a free one. */
  port?: number;
}

/**
 * Serves `handler` until the returned server is closed.
 *
 * @param handler The fetch handler.
 * @param options Where to listen.
 * @returns The server, once it listens.
 */
export function serve(handler: Handler, options: ServeOptions = {}): Promise<HttpServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 0;
  return typeof Deno === "undefined"
    ? serveNode(handler, hostname, port)
    : Promise.resolve(serveDeno(handler, hostname, port));
}

function serveDeno(handler: Handler, hostname: string, port: number): HttpServer {
  const server = Deno.serve({ hostname, port, onListen: () => {} }, handler);
  const close = closeOnce(() => server.shutdown());
  return {
    url: `http://${hostname}:${server.addr.port}`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function serveNode(handler: Handler, hostname: string, port: number): Promise<HttpServer> {
  const server = createServer((incoming, outgoing) => void bridge(handler, incoming, outgoing));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const close = closeOnce(() =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    })
  );
  return { url: `http://${hostname}:${address.port}`, close, [Symbol.asyncDispose]: close };
}

async function bridge(
  handler: Handler,
  incoming: IncomingMessage,
  outgoing: ServerResponse,
): Promise<void> {
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(incoming.headers)) {
      for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
        headers.append(name, item);
      }
    }
    const method = incoming.method ?? "GET";
    const hasBody = method !== "GET" && method !== "HEAD";
    const abort = new AbortController();
    outgoing.once("close", () => abort.abort());
    const request = new Request(`http://${incoming.headers.host ?? "localhost"}${incoming.url}`, {
      method,
      headers,
      body: hasBody ? Readable.toWeb(incoming) as ReadableStream<Uint8Array> : undefined,
      signal: abort.signal,
      duplex: "half",
    } as RequestInit);
    const response = await handler(request);
    outgoing.statusCode = response.status;
    response.headers.forEach((value, name) => outgoing.setHeader(name, value));
    outgoing.end(new Uint8Array(await response.arrayBuffer()));
  } catch {
    outgoing.statusCode = 500;
    outgoing.end();
  }
}
