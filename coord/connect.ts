/**
 * `connect`: a coord client on etcd.
 *
 * @module
 */

import { InfraError, retry, timeoutSignal } from "../base/mod.ts";
import { getLogger, type Logger } from "../clog/mod.ts";
import { CoordClient } from "./client.ts";
import { checkConfig, type CoordConfig } from "./config.ts";
import { EtcdTransport } from "./etcd.ts";
import { GatewayTransport } from "./gateway.ts";
import type { Transport } from "./transport.ts";
import type { Coord } from "./types.ts";

const COMPONENT = "coord";

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith("[");
}

/**
 * The transport a (checked) config asks for; no request is made yet.
 *
 * @param config A config that passed {@link checkConfig}.
 * @returns The gRPC or the gateway transport.
 */
export function openTransport(config: CoordConfig): Promise<Transport> {
  return config.transport === "gateway"
    ? GatewayTransport.create(config)
    : EtcdTransport.create(config);
}

/** Dependencies of {@link connect}. */
export interface CoordDependencies {
  /** Where coord logs; default `getLogger("coord")`. */
  logger?: Logger;
}

/**
 * Connects to etcd. The config is validated first; then etcd must answer within
 * `dialTimeoutMs`.
 *
 * @param config Endpoints, credentials, TLS, timeouts, namespace and session TTL.
 * @param dependencies The logger.
 * @returns The client; close it (or `await using`) to release everything it holds.
 * @throws {InfraError} `InvalidArgument` naming a bad config field; `Unavailable` when etcd
 * does not answer in time; `PermissionDenied` for rejected credentials.
 *
 * @example
 * ```ts ignore
 * import * as coord from "@gochat/infra/coord";
 *
 * await using client = await coord.connect({
 *   ...coord.defaultConfig("development"),
 *   namespace: "/chat",
 * });
 * await client.kv.set("/config/dev/global/greeting", { text: "hello" });
 * ```
 */
export async function connect(
  config: CoordConfig,
  dependencies: CoordDependencies = {},
): Promise<Coord> {
  const checked = checkConfig(config);
  const logger = dependencies.logger ?? getLogger("coord");
  if (
    checked.transport !== "gateway" && checked.tls &&
    checked.endpoints.some((endpoint) => isIpAddress(new URL(endpoint).hostname))
  ) {
    logger.warn(
      "TLS endpoints given as IP addresses fail on Deno and Bun (an IP is no TLS server name); " +
        "use a host name that the server certificate names",
      { endpoints: checked.endpoints },
    );
  }
  const transport = await openTransport(checked);
  const deadline = timeoutSignal(checked.dialTimeoutMs, COMPONENT);
  try {
    await retry(
      (_attempt, call) =>
        transport.range({ key: `${checked.namespace}/`, limit: 1, keysOnly: true }, call),
      {
        maxAttempts: Infinity,
        deadlineMs: checked.dialTimeoutMs,
        initialDelayMs: 50,
        maxDelayMs: 500,
        signal: deadline,
      },
    );
  } catch (error) {
    await transport.close();
    if (InfraError.is(error, "PermissionDenied", "InvalidArgument")) throw error;
    throw new InfraError(
      "Unavailable",
      `etcd at ${checked.endpoints.join(", ")} did not answer within ${checked.dialTimeoutMs} ms`,
      { component: COMPONENT, cause: error },
    );
  }
  logger.info("connected to etcd", {
    endpoints: checked.endpoints,
    namespace: checked.namespace,
    transport: checked.transport ?? "grpc",
  });
  return new CoordClient(transport, checked, logger);
}
