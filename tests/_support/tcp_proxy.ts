/**
 * A loopback TCP proxy that a test can stall: the connections open at that moment stop
 * carrying bytes in either direction but stay open (as across a dead network path, where
 * no FIN or RST ever arrives), while new connections pass as before.
 */
import { createConnection, createServer, type Socket } from "node:net";

/** A running proxy. */
export interface TcpProxy {
  /** `http://127.0.0.1:<port>` of the proxy. */
  endpoint: string;
  /** Stalls every connection open now; later ones are not affected. */
  stall(): void;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Closes the proxy and every connection. */
  close(): Promise<void>;
}

/**
 * Starts a proxy in front of `target` (`http://host:port`).
 *
 * @param target The server's URL.
 * @returns The proxy.
 */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  const live = new Set<{ client: Socket; server: Socket; stalled: boolean }>();
  let accepted = 0;
  const proxy = createServer((client) => {
    accepted++;
    const server = createConnection({ host: hostname, port: Number(port) });
    const pair = { client, server, stalled: false };
    live.add(pair);
    client.on("data", (chunk) => pair.stalled || server.write(chunk));
    server.on("data", (chunk) => pair.stalled || client.write(chunk));
    const drop = () => {
      live.delete(pair);
      client.destroy();
      server.destroy();
    };
    // A stalled connection stays open even when one side ends: nothing passes any more.
    client.on("close", () => pair.stalled || drop());
    server.on("close", () => pair.stalled || drop());
    client.on("error", () => {});
    server.on("error", () => {});
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const address = proxy.address();
  if (address === null || typeof address === "string") throw new Error("no proxy port");
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    stall() {
      for (const pair of live) pair.stalled = true;
    },
    get accepted() {
      return accepted;
    },
    close() {
      for (const pair of live) {
        pair.client.destroy();
        pair.server.destroy();
      }
      live.clear();
      return new Promise((resolve) => proxy.close(() => resolve()));
    },
  };
}
