/**
 * The `namespace` option: a transport that writes every key under a root prefix and reports
 * keys without it, so nothing above it (config keys, lock queues, registry paths) ever sees
 * or doubles the prefix.
 *
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

import { checkKey } from "./keys.ts";
import type {
  KeyValue,
  Operation,
  OperationResult,
  RangeRequest,
  RangeResult,
  Transport,
  TransportEvent,
} from "./transport.ts";

/**
 * Wraps `transport` so that every key lives under `namespace`.
 *
 * @param transport The underlying transport.
 * @param namespace The root prefix (`""` returns `transport` itself).
 * @returns The namespaced transport.
 */
export function namespaced(transport: Transport, namespace: string): Transport {
  if (namespace === "") return transport;
  // Every key below the namespace starts with "/": without it, namespace "/app" and key
  // "x" would name "/appx", another namespace's key.
  const inward = (key: string) => namespace + checkKey(key);
  const outwardKv = (kv: KeyValue): KeyValue => ({ ...kv, key: kv.key.slice(namespace.length) });
  const outwardRange = (result: RangeResult): RangeResult => ({
    ...result,
    kvs: result.kvs.map(outwardKv),
  });
  const inwardRange = (request: RangeRequest): RangeRequest => ({
    ...request,
    key: inward(request.key),
  });
  const inwardOp = (op: Operation): Operation =>
    op.type === "range" ? { type: "range", request: inwardRange(op.request) } : {
      ...op,
      key: inward(op.key),
    };
  const outwardResult = (result: OperationResult): OperationResult => {
    if (result.type === "range") return { type: "range", result: outwardRange(result.result) };
    if (result.type === "put") {
      return result.prevKv ? { ...result, prevKv: outwardKv(result.prevKv) } : result;
    }
    return result.prevKvs ? { ...result, prevKvs: result.prevKvs.map(outwardKv) } : result;
  };
  return {
    range: async (request, options) =>
      outwardRange(await transport.range(inwardRange(request), options)),
    txn: async (request, options) => {
      const result = await transport.txn({
        compare: request.compare.map((c) => ({ ...c, key: inward(c.key) })),
        success: request.success.map(inwardOp),
        failure: request.failure.map(inwardOp),
      }, options);
      return { ...result, results: result.results.map(outwardResult) };
    },
    leaseGrant: (ttl, options) => transport.leaseGrant(ttl, options),
    leaseRevoke: (id, options) => transport.leaseRevoke(id, options),
    leaseKeepAlive: (id, options) => transport.leaseKeepAlive(id, options),
    watch: (range, startRevision, sink) =>
      transport.watch({ ...range, key: inward(range.key) }, startRevision, {
        onCreated: () => sink.onCreated?.(),
        onEvents: (events) =>
          sink.onEvents(events.map((e): TransportEvent => ({ ...e, kv: outwardKv(e.kv) }))),
        onEnd: (end) => sink.onEnd(end),
      }),
    compact: (revision, options) => transport.compact(revision, options),
    close: () => transport.close(),
  };
}
