/**
 * coord and its signals. An attempt that a retry abandons (at its deadline, on abort, when
 * the session is lost) stops its transport call too, instead of leaving it running.
 * Operations under long-lived signals (the shared session, the client's close signal, a
 * caller's app-wide signal) let go of them when they end: a signal from `AbortSignal.any`
 * stays attached to its inputs until it is garbage collected, and some runtime versions
 * never release it (nodejs/node#54614), so thousands of locks on one session would pile up.
 *
 * Garbage collection cannot be observed deterministically, so the tests count what is
 * attached instead: abort listeners still registered, and every `AbortSignal.any` input
 * (which no code can detach), on signals that have not fired.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { abortError, delay, InfraError } from "../../base/mod.ts";
import { getLogger } from "../../clog/mod.ts";
import { CoordClient } from "../../coord/client.ts";
import { MemoryStore, MemoryTransport } from "../../coord/memory_store.ts";
import type { CallOptions, Transport } from "../../coord/transport.ts";
import { intercept } from "../_support/coord_transport.ts";
import { waitUntil } from "../_support/process.ts";
import { aborted, type HarnessFactory, rejectsWith, TTL, withHarness } from "./contract.ts";
import { memoryHarness } from "./_harness.ts";

/** A call that never answers; it fails once its signal fires, which `seen` records. */
function hanging(seen: (AbortSignal | undefined)[]) {
  return (_request: unknown, options?: CallOptions): Promise<never> => {
    seen.push(options?.signal);
    return new Promise((_, reject) => {
      const signal = options?.signal;
      signal?.addEventListener("abort", () => reject(abortError(signal)), { once: true });
    });
  };
}

/** A client on the embedded store with short request deadlines. */
function client(wrap: (transport: Transport) => Transport): CoordClient {
  return new CoordClient(wrap(new MemoryTransport(new MemoryStore())), {
    namespace: "/signals",
    requestTimeoutMs: 100,
    sessionTtlMs: TTL,
  }, getLogger("coord"));
}

test("a read abandoned at its retry deadline stops its transport call", async () => {
  const seen: (AbortSignal | undefined)[] = [];
  const c = client((transport) => intercept(transport, { range: hanging(seen) }));
  try {
    await rejectsWith(c.kv.get("/settings"), "Timeout");
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.aborted, true);
  } finally {
    await c.close();
  }
});

test("a lock's key delete that hangs is abandoned, call included, once the session is lost", async () => {
  const seen: (AbortSignal | undefined)[] = [];
  let hang = false;
  const c = client((transport) =>
    intercept(transport, {
      txn: (request, options) =>
        hang && request.success.some((operation) => operation.type === "delete")
          ? hanging(seen)(request, options)
          : transport.txn(request, options),
    })
  );
  try {
    const lock = await c.lock("orders", { ttlMs: TTL });
    const keys = await c.transport.range({ key: "/locks/orders/", prefix: true });
    hang = true;
    const releasing = lock.release();
    await waitUntil(() => seen.length === 1, { what: "the delete to be sent" });
    assert.ok(seen[0], "the delete was given a signal");
    await c.transport.leaseRevoke(keys.kvs[0].lease);
    assert.ok(InfraError.is(await aborted(seen[0]), "LockLost"));
    await releasing;
  } finally {
    await c.close();
  }
});

interface Attachments {
  /** What is attached now to signals that have not fired. */
  count(): number;
  /** Puts the real methods back. */
  restore(): void;
}

function countAttachments(): Attachments {
  const listeners = new Map<AbortSignal, Set<unknown>>();
  const anyInputs = new Map<AbortSignal, number>();
  const proto = EventTarget.prototype;
  const { addEventListener, removeEventListener } = proto;
  const any = AbortSignal.any;
  proto.addEventListener = function (this: EventTarget, type, listener, options) {
    if (this instanceof AbortSignal && type === "abort" && listener) {
      const set = listeners.get(this) ?? new Set();
      listeners.set(this, set.add(listener));
    }
    return addEventListener.call(this, type, listener, options);
  };
  proto.removeEventListener = function (this: EventTarget, type, listener, options) {
    if (this instanceof AbortSignal && type === "abort") listeners.get(this)?.delete(listener);
    return removeEventListener.call(this, type, listener, options);
  };
  AbortSignal.any = (signals: Iterable<AbortSignal>) => {
    const inputs = [...signals];
    for (const signal of inputs) anyInputs.set(signal, (anyInputs.get(signal) ?? 0) + 1);
    return any.call(AbortSignal, inputs);
  };
  return {
    count() {
      let total = 0;
      for (const [signal, set] of listeners) if (!signal.aborted) total += set.size;
      for (const [signal, n] of anyInputs) if (!signal.aborted) total += n;
      return total;
    },
    restore() {
      proto.addEventListener = addEventListener;
      proto.removeEventListener = removeEventListener;
      AbortSignal.any = any;
    },
  };
}

const factory: HarnessFactory = memoryHarness;
const ROUNDS = 50;

/** Runs `round` once to warm up, then ROUNDS times; returns how much stayed attached. */
async function attachedBy(round: () => Promise<void>): Promise<number> {
  await round();
  const attachments = countAttachments();
  try {
    const before = attachments.count();
    for (let i = 0; i < ROUNDS; i++) await round();
    // Let released listeners and finished watches settle.
    await delay(20);
    return attachments.count() - before;
  } finally {
    attachments.restore();
  }
}

test("locks taken and waited for on one session leave nothing attached to long-lived signals", () =>
  withHarness(factory, async (h) => {
    const c = await h.client();
    const app = new AbortController();
    const grown = await attachedBy(async () => {
      const held = await c.lock("orders", { ttlMs: TTL, signal: app.signal });
      const waiting = c.lock("orders", { ttlMs: TTL, signal: app.signal });
      await held.release();
      await (await waiting).release();
    });
    assert.equal(grown, 0);
  }));

test("registrations made and closed leave nothing attached to the caller's signal", () =>
  withHarness(factory, async (h) => {
    const c = await h.client();
    const app = new AbortController();
    const grown = await attachedBy(async () => {
      const registration = await c.registry.register(
        { service: "im-logic", id: "logic-1", address: "10.0.0.5:9000" },
        { ttlMs: TTL, signal: app.signal },
      );
      await registration.close();
    });
    assert.equal(grown, 0);
  }));

test("watches opened and cancelled leave nothing attached to the client's close signal", () =>
  withHarness(factory, async (h) => {
    const c = await h.client();
    const app = new AbortController();
    const grown = await attachedBy(async () => {
      const reader = c.kv.watch("/settings", { signal: app.signal }).getReader();
      await c.kv.set("/settings", { n: 1 });
      await reader.read();
      await reader.cancel();
    });
    assert.equal(grown, 0);
  }));
