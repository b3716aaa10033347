/**
 * Transports with test hooks around coord's transport seam: override some calls, end live
 * watches as a lost connection would, take the whole transport down for a while, deliver
 * requests late or hold watch events back.
 */
import { abortable, InfraError } from "../../base/mod.ts";
import type {
  Transport,
  TransportEvent,
  TxnRequest,
  TxnResult,
  WatchEnd,
  WatchSink,
  WatchSubscription,
} from "../../coord/transport.ts";

/**
 * A watch that etcd refuses: `sink` ends with `error` (default `PermissionDenied`) right
 * after the call returns, as a real refusal arrives, and the subscription has nothing to cancel.
 */
export function refusedWatch(
  sink: WatchSink,
  error: InfraError = new InfraError("PermissionDenied", "etcd: permission denied"),
): WatchSubscription {
  setTimeout(() => sink.onEnd({ reason: "error", error }), 0);
  return { cancel: () => Promise.resolve() };
}

/** A transport that runs `overrides` instead of some of `transport`'s methods. */
export function intercept(transport: Transport, overrides: Partial<Transport>): Transport {
  return {
    range: (request, options) => transport.range(request, options),
    txn: (request, options) => transport.txn(request, options),
    leaseGrant: (ttl, options) => transport.leaseGrant(ttl, options),
    leaseRevoke: (id, options) => transport.leaseRevoke(id, options),
    leaseKeepAlive: (id, options) => transport.leaseKeepAlive(id, options),
    watch: (range, start, sink) => transport.watch(range, start, sink),
    compact: (revision, options) => transport.compact(revision, options),
    close: () => transport.close(),
    ...overrides,
  };
}

/** Wraps `transport` so that every watch's end is also pushed to `ends`, in order. */
export function recordingWatchEnds(transport: Transport, ends: WatchEnd[]): Transport {
  return intercept(transport, {
    watch: (range, start, sink) =>
      transport.watch(range, start, {
        onCreated: () => sink.onCreated?.(),
        onEvents: (events) => sink.onEvents(events),
        onEnd(end) {
          ends.push(end);
          sink.onEnd(end);
        },
      }),
  });
}

/** A transport whose live watch subscriptions a test can end, as a lost connection would. */
export interface Interruptible {
  /** The transport to give the client. */
  transport: Transport;
  /** Ends every live subscription with `error` (default `Unavailable`). */
  interrupt(error?: InfraError): Promise<void>;
}

/** Wraps `transport` so that its watches can be ended by the test (see {@link Interruptible}). */
export function interruptible(transport: Transport): Interruptible {
  const live = new Set<{ sink: WatchSink; subscription: WatchSubscription }>();
  return {
    transport: intercept(transport, {
      watch(range, start, sink) {
        const entry = {
          sink,
          subscription: transport.watch(range, start, {
            onCreated: () => sink.onCreated?.(),
            onEvents: (events) => sink.onEvents(events),
            onEnd: (end) => {
              live.delete(entry);
              sink.onEnd(end);
            },
          }),
        };
        live.add(entry);
        return {
          cancel: () => {
            live.delete(entry);
            return entry.subscription.cancel();
          },
        };
      },
    }),
    async interrupt(error = new InfraError("Unavailable", "simulated connection loss")) {
      for (const entry of [...live]) {
        live.delete(entry);
        await entry.subscription.cancel();
        entry.sink.onEnd({ reason: "error", error });
      }
    },
  };
}

/** A transport that a test can take down, as an unreachable etcd (see {@link outage}). */
export interface Outage {
  /** The transport to give the client. */
  transport: Transport;
  /** From now on every call fails `Unavailable` and every watch ends. */
  begin(): Promise<void>;
  /** Calls go through again. */
  end(): void;
}

/** Wraps `transport` so that the test can make it unreachable and reachable again. */
export function outage(transport: Transport): Outage {
  let down = false;
  const unavailable = () => new InfraError("Unavailable", "simulated outage");
  const guard = <T>(call: () => Promise<T>): Promise<T> =>
    down ? Promise.reject(unavailable()) : call();
  const links = interruptible(intercept(transport, {
    range: (request, options) => guard(() => transport.range(request, options)),
    txn: (request, options) => guard(() => transport.txn(request, options)),
    leaseGrant: (ttl, options) => guard(() => transport.leaseGrant(ttl, options)),
    leaseRevoke: (id, options) => guard(() => transport.leaseRevoke(id, options)),
    leaseKeepAlive: (id, options) => guard(() => transport.leaseKeepAlive(id, options)),
    compact: (revision, options) => guard(() => transport.compact(revision, options)),
    watch(range, start, sink) {
      return down ? refusedWatch(sink, unavailable()) : transport.watch(range, start, sink);
    },
  }));
  return {
    transport: links.transport,
    async begin() {
      down = true;
      await links.interrupt(unavailable());
    },
    end() {
      down = false;
    },
  };
}

/**
 * A transport whose matching transactions reach the store only after `ms`, as on a slow
 * link: the caller's signal stops the caller's wait at once but, as with etcd3 over gRPC,
 * not the request, which still lands (or fails) later. `settled` resolves once every
 * delayed request has been applied.
 */
export function delayed(
  transport: Transport,
  options: { matches(request: TxnRequest): boolean; ms: number },
): { transport: Transport; settled(): Promise<void> } {
  const inFlight = new Set<Promise<unknown>>();
  return {
    transport: intercept(transport, {
      txn(request, callOptions) {
        if (!options.matches(request)) return transport.txn(request, callOptions);
        const sent = new Promise<TxnResult>((resolve, reject) =>
          setTimeout(() => transport.txn(request).then(resolve, reject), options.ms)
        );
        const tracked = sent.catch(() => {});
        inFlight.add(tracked);
        void tracked.then(() => inFlight.delete(tracked));
        return abortable(sent, callOptions?.signal);
      },
    }),
    async settled() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
  };
}

/** A transport whose watch events a test can hold back and then deliver as one batch. */
export interface Holding {
  /** The transport to give the client. */
  transport: Transport;
  /** From now on, events are kept instead of delivered. */
  hold(): void;
  /** How many events are kept. */
  readonly held: number;
  /** Delivers the kept events, per subscription in one batch, and stops holding. */
  release(): void;
}

/** Wraps `transport` so that watch events can be held and delivered together. */
export function holding(transport: Transport): Holding {
  let holding = false;
  const waiting = new Map<WatchSink, TransportEvent[]>();
  return {
    transport: intercept(transport, {
      watch(range, start, sink) {
        const subscription = transport.watch(range, start, {
          onCreated: () => sink.onCreated?.(),
          onEvents(events) {
            if (!holding) return sink.onEvents(events);
            waiting.set(sink, [...(waiting.get(sink) ?? []), ...events]);
          },
          onEnd: (end) => sink.onEnd(end),
        });
        return {
          cancel() {
            waiting.delete(sink);
            return subscription.cancel();
          },
        };
      },
    }),
    hold() {
      holding = true;
    },
    get held() {
      let count = 0;
      for (const events of waiting.values()) count += events.length;
      return count;
    },
    release() {
      holding = false;
      const batches = [...waiting];
      waiting.clear();
      for (const [sink, events] of batches) sink.onEvents(events);
    },
  };
}
