/**
 * The coord contract: every driver (etcd, memory) must pass these. Call
 * `coordContract("etcd", factory)` from one `_test.ts` per driver; `compactionContract` needs
 * a backend whose history the test may compact (the memory store, a private etcd).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import * as v from "valibot";
import { type } from "arktype";
import { type HotReloadable, InfraError } from "../../base/mod.ts";
import type { CoordClient } from "../../coord/client.ts";
import type {
  Transport,
  TransportEvent,
  TxnRequest,
  WatchEnd,
  WatchSink,
} from "../../coord/transport.ts";
import type { StandardSchemaV1 } from "@standard-schema/spec";
import * as coord from "../../coord/mod.ts";
import { runWatch } from "../../coord/watch.ts";
import { watchFlow } from "../../coord/watch_stream.ts";
import { getLogger, type Logger } from "../../clog/mod.ts";
import { waitUntil } from "../_support/process.ts";
import { recordMetrics } from "../_support/meter.ts";
import {
  delayed,
  type Holding,
  holding,
  intercept,
  type Interruptible,
  interruptible,
  type Outage,
  outage,
  refusedWatch,
} from "../_support/coord_transport.ts";

/** A backend under test: clients share its state, within one unique namespace. */
export interface CoordHarness {
  /**
   * A new client in the harness's namespace; `wrap` puts a test hook around its transport
   * (below the namespace).
   */
  client(options?: ClientOptions): Promise<CoordClient>;
  /** Compacts the backend's history up to `revision`, when the backend allows it. */
  compact?(revision: number): Promise<void>;
  /**
   * Stores raw bytes under `key` (in the harness's namespace) the way another client would,
   * past coord's own transports (the etcd3 client directly, for etcd): for values that are
   * not UTF-8 text. Returns the revision of the write.
   */
  putBytes(key: string, bytes: Uint8Array): Promise<number>;
  /** Closes every client and removes the namespace's keys. */
  close(): Promise<void>;
}

/** Options of {@link CoordHarness.client}. */
export interface ClientOptions {
  /** Wraps the raw transport. */
  wrap?: (transport: Transport) => Transport;
  /** The client's request timeout (default 3 s). */
  requestTimeoutMs?: number;
  /** The client's logger (default the test logger). */
  logger?: Logger;
}

/** Makes a fresh harness for one test. */
export type HarnessFactory = () => Promise<CoordHarness>;

/** Short leases for tests (etcd grants at least 2 s anyway). */
export const TTL = 2_000;

const recorded = recordMetrics();

/** Runs `fn` with a fresh harness, closed afterwards. */
export async function withHarness(
  factory: HarnessFactory,
  fn: (harness: CoordHarness) => Promise<void>,
): Promise<void> {
  const harness = await factory();
  try {
    await fn(harness);
  } finally {
    await harness.close();
  }
}

/** Asserts that `work` rejects with an InfraError of `code`. */
export async function rejectsWith(
  work: Promise<unknown> | (() => unknown),
  code: InfraError["code"],
): Promise<void> {
  await assert.rejects(
    async () => await (typeof work === "function" ? work() : work),
    (error: unknown) => {
      assert.ok(InfraError.is(error), `expected an InfraError, got ${error}`);
      assert.equal((error as InfraError).code, code, (error as Error).message);
      return true;
    },
  );
}

/** Reads the next chunk, failing after `ms`. */
export async function nextChunk<T>(
  reader: ReadableStreamDefaultReader<T>,
  ms = 10_000,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const result = await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no chunk within ${ms} ms`)), ms);
      }),
    ]);
    if (result.done) throw new Error("the stream ended");
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads chunks until `match` accepts one (or fails after `ms`). */
export async function chunkWhere<T>(
  reader: ReadableStreamDefaultReader<T>,
  match: (chunk: T) => boolean,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const chunk = await nextChunk(reader, Math.max(1, deadline - Date.now()));
    if (match(chunk)) return chunk;
  }
}

/** The lease a raw key is attached to (decimal id). */
export async function leaseOf(client: CoordClient, key: string): Promise<string> {
  const result = await client.transport.range({ key });
  assert.equal(result.kvs.length, 1, `${key} exists`);
  return result.kvs[0].lease;
}

/** Resolves when `signal` fires (or fails after `ms`), with its reason. */
export function aborted(signal: AbortSignal, ms = 15_000): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`signal did not fire within ${ms} ms`)), ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve(signal.reason);
    }, { once: true });
  });
}

/** One line given to a {@link lineLogger}. */
export interface LogLine {
  /** The name of the logger (or child logger) it went to. */
  logger: string;
  level: string;
  message: string;
  fields: unknown;
}

/** A logger (children included) that hands every line to `write`. */
export function lineLogger(write: (line: LogLine) => void, name = "coord"): Logger {
  const log = (logger: string, level: string) => (message: string, fields?: unknown) =>
    write({ logger, level, message, fields: typeof fields === "function" ? fields() : fields });
  return {
    name,
    trace: log(name, "trace"),
    debug: log(name, "debug"),
    info: log(name, "info"),
    warn: log(name, "warn"),
    error: log(name, "error"),
    fatal: log(name, "fatal"),
    with: () => lineLogger(write, name),
    namespace: (child) => lineLogger(write, `${name}.${child}`),
    isEnabled: () => true,
  };
}

/** A logger that keeps every line in `lines`. */
export function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { logger: lineLogger((line) => void lines.push(line)), lines };
}

/** Whether `read` is still pending after `ms`: nothing was waiting to be read. */
async function stillWaiting(read: Promise<unknown>, ms = 200): Promise<boolean> {
  return await Promise.race([read.then(() => false), sleep(ms).then(() => true)]);
}

/** A watch of `prefix` from the next revision with a `bufferSize`, its flow counters, a reader. */
async function boundedWatch(c: CoordClient, prefix: string, bufferSize: number) {
  const from = (await c.kv.list(prefix)).revision + 1;
  const stream = c.kv.watch<number>(prefix, { prefix: true, fromRevision: from, bufferSize });
  return { flow: watchFlow(stream)!, reader: stream.getReader() };
}

/**
 * A transport that counts the events its watches receive from the store (before coord
 * handles them), so a test knows when a watch has seen a change without reading its stream.
 */
function countingWatches(transport: Transport, seen: { events: number }): Transport {
  return intercept(transport, {
    watch: (range, start, sink) =>
      transport.watch(range, start, {
        onCreated: () => sink.onCreated?.(),
        onEvents: (events) => {
          seen.events += events.length;
          sink.onEvents(events);
        },
        onEnd: (end) => sink.onEnd(end),
      }),
  });
}

/**
 * A client whose etcd the test can take down and bring back (see {@link outage}); `around`
 * wraps the outage's transport in a further hook.
 */
async function clientWithOutage(
  h: CoordHarness,
  options: Omit<ClientOptions, "wrap"> & { around?: (transport: Transport) => Transport } = {},
): Promise<{ client: CoordClient; links: Outage }> {
  let links: Outage | undefined;
  const { around = (transport: Transport) => transport, ...rest } = options;
  const client = await h.client({
    ...rest,
    wrap: (transport) => around((links = outage(transport)).transport),
  });
  return { client, links: links! };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Asserts that `work` is coord's `InvalidArgument` whose message starts with `path`. */
export async function refusedAt(
  work: Promise<unknown> | (() => unknown),
  path: string,
): Promise<InfraError> {
  let caught: unknown;
  try {
    await (typeof work === "function" ? work() : work);
  } catch (error) {
    caught = error;
  }
  assert.ok(InfraError.is(caught, "InvalidArgument"), `expected InvalidArgument, got ${caught}`);
  assert.equal(caught.component, "coord");
  assert.ok(caught.message.startsWith(`coord: ${path}: `), caught.message);
  return caught;
}

/** Puts `text` as it is, the way another tool (`etcdctl put`) would. */
async function putRaw(client: CoordClient, key: string, text: string): Promise<number> {
  const result = await client.transport.txn({
    compare: [],
    success: [{ type: "put", key, value: text }],
    failure: [],
  });
  return result.revision;
}

/** `"café"` in Latin-1: not UTF-8, and JSON once decoded with U+FFFD for the `é`. */
const LATIN1_CAFE = Uint8Array.from([0x22, 0x63, 0x61, 0x66, 0xe9, 0x22]);

class Point {
  x = 1;
}

/** `{ a: { a: ... { a: {} } } }`, `levels` deep. */
function nested(levels: number): unknown {
  let value: unknown = {};
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

/** A parent whose child points back at it. */
function family(): unknown {
  const parent: Record<string, unknown> = { name: "parent" };
  parent.child = { name: "child", parent };
  return parent;
}

/**
 * Every kind of value JSON would not bring back as it is: a title, the value, where the
 * message must say the problem is, and what it must say.
 */
const REFUSED: { kind: string; value: () => unknown; path: string; what: RegExp }[] = [
  {
    kind: "NaN",
    value: () => ({ limits: { rate: NaN } }),
    path: "value.limits.rate",
    what: /NaN is not a JSON number/,
  },
  {
    kind: "an infinite number",
    value: () => ({ limits: { burst: -Infinity } }),
    path: "value.limits.burst",
    what: /-Infinity is not a JSON number/,
  },
  { kind: "a bigint", value: () => ({ count: 10n }), path: "value.count", what: /a bigint/ },
  {
    kind: "undefined as the whole value",
    value: () => undefined,
    path: "value",
    what: /undefined cannot be stored/,
  },
  {
    kind: "undefined in an array",
    value: () => ({ list: [1, undefined] }),
    path: "value.list[1]",
    what: /undefined in an array/,
  },
  // deno-lint-ignore no-sparse-arrays
  {
    kind: "a hole of a sparse array",
    value: () => ({ list: [1, , 3] }),
    path: "value.list[1]",
    what: /a hole in a sparse array/,
  },
  {
    kind: "a function",
    value: () => ({ onChange: () => {} }),
    path: "value.onChange",
    what: /a function/,
  },
  {
    kind: "a symbol",
    value: () => ({ id: Symbol("id") }),
    path: "value.id",
    what: /a symbol cannot/,
  },
  {
    kind: "a property keyed by a symbol",
    value: () => ({ meta: { [Symbol("tag")]: 1 } }),
    path: "value.meta[Symbol(tag)]",
    what: /keyed by a symbol/,
  },
  {
    kind: "a Map",
    value: () => ({ byId: new Map([["a", 1]]) }),
    path: "value.byId",
    what: /a Map/,
  },
  { kind: "a Set", value: () => ({ tags: new Set(["a"]) }), path: "value.tags", what: /a Set/ },
  {
    kind: "a class instance",
    value: () => ({ origin: new Point() }),
    path: "value.origin",
    what: /an instance of Point/,
  },
  {
    kind: "a typed array",
    value: () => ({ bytes: new Uint8Array([1]) }),
    path: "value.bytes",
    what: /a Uint8Array/,
  },
  {
    kind: "a boxed primitive",
    value: () => ({ name: new String("ada") }),
    path: "value.name",
    what: /a String object/,
  },
  {
    kind: "an invalid Date",
    value: () => ({ at: new Date(NaN) }),
    path: "value.at",
    what: /an invalid Date/,
  },
  {
    kind: "a toJSON result JSON would not bring back",
    value: () => ({ price: { toJSON: () => new Map() } }),
    path: "value.price",
    what: /a Map/,
  },
  {
    kind: "a getter that throws",
    value: () => ({
      get secret(): string {
        throw new Error("no access");
      },
    }),
    path: "value.secret",
    what: /reading it threw \(no access\)/,
  },
  {
    kind: "a circular reference",
    value: family,
    path: "value.child.parent",
    what: /a circular reference/,
  },
  {
    kind: "nesting deeper than 1,000 levels",
    value: () => nested(1_001),
    path: `value${".a".repeat(8)}…(985 more)…${".a".repeat(8)}`,
    what: /nesting deeper than 1000 levels/,
  },
];

/** Registers the contract tests for one driver. */
export function coordContract(name: string, factory: HarnessFactory): void {
  const it = (title: string, fn: (harness: CoordHarness) => Promise<void>) =>
    test(`${name}: ${title}`, () => withHarness(factory, fn));

  // --- config center -------------------------------------------------------------------

  it("set then get returns the JSON value with its revisions", async (h) => {
    const c = await h.client();
    assert.equal(await c.kv.get("/app/missing"), undefined);
    const revision = await c.kv.set("/app/a", { n: 1, tags: ["x"] });
    const entry = await c.kv.get<{ n: number; tags: string[] }>("/app/a");
    assert.deepEqual(entry?.value, { n: 1, tags: ["x"] });
    assert.equal(entry?.revision, revision);
    assert.equal(entry?.createRevision, revision);
    assert.equal(entry?.version, 1);
    const second = await c.kv.set("/app/a", { n: 2, tags: [] });
    const updated = await c.kv.get("/app/a");
    assert.ok(second > revision);
    assert.equal(updated?.revision, second);
    assert.equal(updated?.createRevision, revision);
    assert.equal(updated?.version, 2);
  });

  it("values of every JSON type round-trip", async (h) => {
    const c = await h.client();
    const values = ["text", 42, 1.5, true, false, null, [1, "a", { b: null }], {
      nested: { x: 1 },
    }];
    for (const [i, value] of values.entries()) {
      await c.kv.set(`/types/${i}`, value);
      assert.deepEqual((await c.kv.get(`/types/${i}`))?.value, value);
    }
  });

  it("compareAndSet with revision 0 only creates, and a stale revision conflicts", async (h) => {
    const c = await h.client();
    const created = await c.kv.compareAndSet("/cas/k", "first", 0);
    await rejectsWith(c.kv.compareAndSet("/cas/k", "again", 0), "Conflict");
    await rejectsWith(c.kv.compareAndSet("/cas/k", "stale", created - 1), "Conflict");
    assert.equal((await c.kv.get("/cas/k"))?.value, "first");
    const updated = await c.kv.compareAndSet("/cas/k", "second", created);
    assert.ok(updated > created);
    assert.equal((await c.kv.get("/cas/k"))?.value, "second");
    await rejectsWith(c.kv.compareAndSet("/cas/k", "third", created), "Conflict");
  });

  it("a transaction applies all its writes in one revision and returns what its function returned", async (h) => {
    const c = await h.client();
    await c.kv.set("/tx/a", 10);
    await c.kv.set("/tx/b", 0);
    const result = await c.kv.transaction(async (tx) => {
      const a = (await tx.get<number>("/tx/a"))!.value;
      const b = (await tx.get<number>("/tx/b"))!.value;
      tx.set("/tx/a", a - 3);
      tx.set("/tx/b", b + 3);
      tx.delete("/tx/gone");
      return a + b;
    });
    assert.deepEqual({ value: result.value, attempts: result.attempts }, {
      value: 10,
      attempts: 1,
    });
    const [a, b] = [await c.kv.get<number>("/tx/a"), await c.kv.get<number>("/tx/b")];
    assert.deepEqual([a?.value, b?.value], [7, 3]);
    assert.equal(a?.revision, result.revision);
    assert.equal(b?.revision, result.revision);
  });

  it("concurrent transactions on one counter from two clients lose no update", async (h) => {
    const [one, two] = [await h.client(), await h.client()];
    await one.kv.set("/tx/counter", 0);
    const increment = (c: CoordClient) =>
      c.kv.transaction(async (tx) => {
        const n = (await tx.get<number>("/tx/counter"))!.value;
        tx.set("/tx/counter", n + 1);
      }, { maxAttempts: 100 });
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => increment(i % 2 === 0 ? one : two)),
    );
    assert.equal((await one.kv.get("/tx/counter"))?.value, 20);
    // They did conflict (else the test proves nothing), and ran again on fresh snapshots.
    assert.ok(runs.some((run) => run.attempts > 1), JSON.stringify(runs.map((r) => r.attempts)));
  });

  it("every read of a transaction sees the snapshot of its first read", async (h) => {
    const [c, other] = [await h.client(), await h.client()];
    await c.kv.set("/tx/x", "old");
    await c.kv.set("/tx/y", "old");
    const result = await c.kv.transaction(async (tx) => {
      const x = (await tx.get<string>("/tx/x"))?.value;
      await other.kv.set("/tx/y", "new");
      await other.kv.set("/tx/z", "new");
      const y = (await tx.get<string>("/tx/y"))?.value;
      const z = await tx.get("/tx/z");
      return [x, y, z];
    });
    assert.deepEqual(result.value, ["old", "old", undefined]);
    assert.equal(result.attempts, 1);
  });

  it("a transaction whose reads or blind writes changed since its snapshot runs again", async (h) => {
    const [c, other] = [await h.client(), await h.client()];
    await c.kv.set("/tx/read", 1);
    let runs = 0;
    const result = await c.kv.transaction(async (tx) => {
      runs++;
      const read = (await tx.get<number>("/tx/read"))!.value;
      // On the first run another client writes the key this one writes without reading it.
      if (runs === 1) await other.kv.set("/tx/blind", "theirs");
      tx.set("/tx/blind", `ours after ${read}`);
      return runs;
    });
    assert.equal(result.attempts, 2);
    assert.equal(result.value, 2);
    assert.equal((await c.kv.get("/tx/blind"))?.value, "ours after 1");
  });

  it("a transaction that keeps conflicting gives up with Conflict after maxAttempts and writes nothing", async (h) => {
    const [c, other] = [await h.client(), await h.client()];
    await c.kv.set("/tx/hot", 0);
    let runs = 0;
    const failed = c.kv.transaction(async (tx) => {
      runs++;
      const n = (await tx.get<number>("/tx/hot"))!.value;
      await other.kv.set("/tx/hot", n + 100);
      tx.set("/tx/hot", -1);
      tx.set("/tx/side", runs);
    }, { maxAttempts: 3 });
    await assert.rejects(failed, (error: unknown) => {
      assert.ok(InfraError.is(error, "Conflict"), String(error));
      assert.equal(error.details.attempts, 3);
      return true;
    });
    assert.equal(runs, 3);
    assert.equal((await c.kv.get("/tx/hot"))?.value, 300);
    assert.equal(await c.kv.get("/tx/side"), undefined);
  });

  it("inside a transaction a key reads as written or deleted; outside nothing changes until the commit", async (h) => {
    const c = await h.client();
    await c.kv.set("/tx/mine", { n: 1 });
    await c.kv.transaction(async (tx) => {
      const value = { n: 2 };
      tx.set("/tx/mine", value);
      value.n = 99; // the transaction keeps what it was given
      assert.deepEqual((await tx.get("/tx/mine"))?.value, { n: 2 });
      assert.deepEqual((await c.kv.get("/tx/mine"))?.value, { n: 1 });
      tx.delete("/tx/mine");
      assert.equal(await tx.get("/tx/mine"), undefined);
      tx.set("/tx/mine", { n: 3 });
    });
    assert.deepEqual((await c.kv.get("/tx/mine"))?.value, { n: 3 });
  });

  it("a transaction whose function throws, or that is given bad input, writes nothing", async (h) => {
    const c = await h.client();
    await rejectsWith(
      c.kv.transaction((tx) => {
        tx.set("/tx/never", 1);
        throw new InfraError("Internal", "the function failed");
      }),
      "Internal",
    );
    await rejectsWith(c.kv.transaction((tx) => tx.set("/tx/never", NaN)), "InvalidArgument");
    await rejectsWith(c.kv.transaction((tx) => tx.set("no-slash", 1)), "InvalidArgument");
    for (const maxAttempts of [0, 1.5, -1, Infinity]) {
      await rejectsWith(c.kv.transaction(() => {}, { maxAttempts }), "InvalidArgument");
    }
    await rejectsWith(c.kv.transaction(undefined as never), "InvalidArgument");
    assert.equal(await c.kv.get("/tx/never"), undefined);
    let kept: coord.ConfigTransaction | undefined;
    await c.kv.transaction((tx) => void (kept = tx));
    assert.throws(
      () => kept!.set("/tx/never", 1),
      (e: unknown) => InfraError.is(e, "InvalidArgument"),
    );
    assert.equal(await c.kv.get("/tx/never"), undefined);
  });

  it("a guarded transaction commits while its lock is held and fails LockLost after", async (h) => {
    const c = await h.client();
    const lock = await c.lock("tx-guard", { ttlMs: TTL });
    await c.kv.transaction((tx) => tx.set("/tx/guarded", 1), { guard: lock });
    await lock.release();
    await rejectsWith(
      c.kv.transaction((tx) => tx.set("/tx/guarded", 2), { guard: lock }),
      "LockLost",
    );
    assert.equal((await c.kv.get("/tx/guarded"))?.value, 1);
  });

  it("delete removes a key or a whole prefix and says how many", async (h) => {
    const c = await h.client();
    await c.kv.set("/del/a", 1);
    await c.kv.set("/del/b/1", 2);
    await c.kv.set("/del/b/2", 3);
    await c.kv.set("/delx", 4);
    assert.equal(await c.kv.delete("/del/a"), 1);
    assert.equal(await c.kv.delete("/del/a"), 0);
    assert.equal(await c.kv.delete("/del/b/", { prefix: true }), 2);
    assert.deepEqual((await c.kv.list("/del")).entries.map((e) => e.key), ["/delx"]);
  });

  it("getAndSet returns the entry it replaced, or undefined when it created the key", async (h) => {
    const c = await h.client();
    const created = await c.kv.getAndSet<{ n: number }>("/swap/k", { n: 1 });
    assert.equal(created.previous, undefined);
    assert.equal(created.invalid, undefined);
    assert.equal((await c.kv.get("/swap/k"))?.revision, created.revision);
    const replaced = await c.kv.getAndSet<{ n: number }>("/swap/k", { n: 2 });
    assert.deepEqual(replaced.previous, {
      key: "/swap/k",
      value: { n: 1 },
      revision: created.revision,
      createRevision: created.revision,
      version: 1,
    });
    assert.ok(replaced.revision > created.revision);
    assert.deepEqual((await c.kv.get("/swap/k"))?.value, { n: 2 });
  });

  it("getAndSet from several clients at once hands each replaced value to exactly one of them", async (h) => {
    const clients = await Promise.all([h.client(), h.client(), h.client()]);
    await clients[0].kv.set("/swap/token", -1);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => clients[i % 3].kv.getAndSet<number>("/swap/token", i)),
    );
    // Every write replaced the one just before it: the replaced values are -1 and all the
    // written values but the last one, each seen once.
    const last = (await clients[0].kv.get<number>("/swap/token"))!.value;
    const replaced = results.map((r) => r.previous!.value).sort((a, b) => a - b);
    const expected = [-1, ...Array.from({ length: 12 }, (_, i) => i).filter((i) => i !== last)];
    assert.deepEqual(replaced, expected);
  });

  it("getAndDelete returns what it deleted, in key order, and a second call gets nothing", async (h) => {
    const c = await h.client();
    const first = await c.kv.set("/take/a", "A");
    await c.kv.set("/take/p/2", 2);
    await c.kv.set("/take/p/1", 1);
    await c.kv.set("/take/px", "outside");
    const single = await c.kv.getAndDelete<string>("/take/a");
    assert.deepEqual(single.deleted, [{
      key: "/take/a",
      value: "A",
      revision: first,
      createRevision: first,
      version: 1,
    }]);
    assert.deepEqual(single.invalid, []);
    assert.equal(await c.kv.get("/take/a"), undefined);
    const again = await c.kv.getAndDelete("/take/a");
    assert.deepEqual([again.deleted, again.invalid], [[], []]);
    assert.ok(again.revision >= single.revision);
    const prefix = await c.kv.getAndDelete<number>("/take/p/", { prefix: true });
    assert.deepEqual(prefix.deleted.map((e) => [e.key, e.value]), [["/take/p/1", 1], [
      "/take/p/2",
      2,
    ]]);
    assert.deepEqual((await c.kv.list("/take/")).entries.map((e) => e.key), ["/take/px"]);
  });

  it("getAndDelete of one key by many callers at once gives its value to exactly one", async (h) => {
    const clients = await Promise.all([h.client(), h.client()]);
    for (let round = 0; round < 5; round++) {
      await clients[0].kv.set("/take/job", { round });
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => clients[i % 2].kv.getAndDelete("/take/job")),
      );
      const winners = results.filter((r) => r.deleted.length > 0);
      assert.equal(winners.length, 1, `round ${round}`);
      assert.deepEqual(winners[0].deleted[0].value, { round });
    }
  });

  it("getAndSet and getAndDelete follow their guard and refuse bad input, writing nothing", async (h) => {
    const c = await h.client();
    const lock = await c.lock("swap-guard", { ttlMs: TTL });
    await c.kv.getAndSet("/swap/guarded", 1, { guard: lock });
    await lock.release();
    await rejectsWith(c.kv.getAndSet("/swap/guarded", 2, { guard: lock }), "LockLost");
    await rejectsWith(c.kv.getAndDelete("/swap/guarded", { guard: lock }), "LockLost");
    await rejectsWith(c.kv.getAndSet("/swap/guarded", NaN), "InvalidArgument");
    await rejectsWith(c.kv.getAndSet("swap/guarded", 3), "InvalidArgument");
    await rejectsWith(c.kv.getAndDelete("swap", { prefix: true }), "InvalidArgument");
    await rejectsWith(
      c.kv.getAndSet("/swap/guarded", 4, { guard: { key: "/x", fencingToken: "1" } as never }),
      "InvalidArgument",
    );
    assert.equal((await c.kv.get("/swap/guarded"))?.value, 1);
    assert.equal((await c.kv.get("/swap/guarded"))?.version, 1);
  });

  it("what getAndSet or getAndDelete replaced that is not JSON or not UTF-8 comes back in invalid, after the write", async (h) => {
    const c = await h.client();
    await putRaw(c, "/swap/raw/text", "not json");
    await h.putBytes("/swap/raw/bytes", LATIN1_CAFE);
    const swapped = await c.kv.getAndSet("/swap/raw/text", { fixed: true });
    assert.equal(swapped.previous, undefined);
    assert.equal(swapped.invalid?.text, "not json");
    assert.ok(InfraError.is(swapped.invalid?.error, "InvalidArgument"));
    assert.deepEqual((await c.kv.get("/swap/raw/text"))?.value, { fixed: true });
    const taken = await c.kv.getAndDelete("/swap/raw/", { prefix: true });
    assert.deepEqual(taken.deleted.map((e) => e.key), ["/swap/raw/text"]);
    assert.deepEqual(taken.invalid.map((e) => e.key), ["/swap/raw/bytes"]);
    assert.match(taken.invalid[0].error.message, /not valid UTF-8/);
    assert.deepEqual((await c.kv.list("/swap/raw/")).entries, []);
  });

  it("list returns the entries under a prefix in key order with the revision", async (h) => {
    const c = await h.client();
    await c.kv.set("/list/b", "B");
    await c.kv.set("/list/a", "A");
    const last = await c.kv.set("/list/c", "C");
    await c.kv.set("/other", "O");
    const listed = await c.kv.list<string>("/list/");
    assert.deepEqual(listed.entries.map((e) => [e.key, e.value]), [
      ["/list/a", "A"],
      ["/list/b", "B"],
      ["/list/c", "C"],
    ]);
    assert.ok(listed.revision >= last);
    assert.deepEqual((await c.kv.list("/list/", { limit: 2 })).entries.length, 2);
    assert.deepEqual((await c.kv.list("/nothing/")).entries, []);
  });

  it("bad keys and values are InvalidArgument and write nothing", async (h) => {
    const c = await h.client();
    await rejectsWith(c.kv.get(""), "InvalidArgument");
    await rejectsWith(c.kv.set("", 1), "InvalidArgument");
    await rejectsWith(c.kv.delete(""), "InvalidArgument");
    await rejectsWith(c.kv.list(""), "InvalidArgument");
    await rejectsWith(() => c.kv.watch(""), "InvalidArgument");
    await rejectsWith(() => c.kv.watch("/k", { fromRevision: 0 }), "InvalidArgument");
    await rejectsWith(c.kv.list("/k", { limit: 0 }), "InvalidArgument");
    await rejectsWith(c.kv.compareAndSet("/k", 1, -1), "InvalidArgument");
    await rejectsWith(c.kv.set("/bad/undefined", undefined), "InvalidArgument");
    await rejectsWith(c.kv.set("/bad/function", () => 1), "InvalidArgument");
    await rejectsWith(c.kv.set("/bad/bigint", 1n), "InvalidArgument");
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await rejectsWith(c.kv.set("/bad/circular", circular), "InvalidArgument");
    await rejectsWith(c.kv.set("/bad/huge", "x".repeat(2 * 1024 * 1024)), "InvalidArgument");
    assert.deepEqual((await c.kv.list("/bad/")).entries, []);
  });

  it("a malformed guard is InvalidArgument and writes nothing", async (h) => {
    const c = await h.client();
    const bad = [{}, null, { key: "/locks/x/1", fencingToken: "abc" }, { key: 5, fencingToken: 1 }];
    for (const guard of bad as never[]) {
      await rejectsWith(c.kv.set("/guard/k", 1, { guard }), "InvalidArgument");
      await rejectsWith(c.kv.compareAndSet("/guard/k", 1, 0, { guard }), "InvalidArgument");
      await rejectsWith(c.kv.delete("/guard/k", { guard }), "InvalidArgument");
      await rejectsWith(c.kv.getAndDelete("/guard/k", { guard }), "InvalidArgument");
      await rejectsWith(
        c.kv.transaction((tx) => tx.set("/guard/k", 1), { guard }),
        "InvalidArgument",
      );
    }
    assert.equal(await c.kv.get("/guard/k"), undefined);
  });

  it('a prefix option that is not a boolean is InvalidArgument: a delete given "false" removes nothing', async (h) => {
    const c = await h.client();
    await c.kv.set("/pfx/a", 1);
    await c.kv.set("/pfx/b", 2);
    for (const prefix of ["false", 0, 1, null] as never[]) {
      await rejectsWith(c.kv.delete("/pfx/", { prefix }), "InvalidArgument");
      await rejectsWith(c.kv.getAndDelete("/pfx/", { prefix }), "InvalidArgument");
      await rejectsWith(() => c.kv.watch("/pfx/", { prefix }), "InvalidArgument");
    }
    assert.deepEqual((await c.kv.list("/pfx/")).entries.map((e) => e.key), ["/pfx/a", "/pfx/b"]);
    assert.equal(await c.kv.delete("/pfx/", { prefix: false }), 0);
  });

  it("a key beyond the request size limit is InvalidArgument on reads too", async (h) => {
    const c = await h.client();
    const huge = "/" + "k".repeat(2 * 1024 * 1024);
    await rejectsWith(c.kv.get(huge), "InvalidArgument");
    await rejectsWith(c.kv.list(huge), "InvalidArgument");
  });

  it("closing the transport ends its watches with Closed, even one closed right after it was opened", async (h) => {
    let raw: Transport | undefined;
    const c = await h.client({ wrap: (t) => (raw = t) });
    await c.kv.set("/closing/k", 1);
    const ends: WatchEnd[] = [];
    const events: TransportEvent[] = [];
    const sink = {
      onEvents: (batch: TransportEvent[]) => events.push(...batch),
      onEnd: (end: WatchEnd) => ends.push(end),
    };
    // One watch that is open (created), and one opened just before the close.
    const created = new Promise<void>((resolve) =>
      raw!.watch({ key: "/closing/", prefix: true }, undefined, { ...sink, onCreated: resolve })
    );
    await created;
    raw!.watch({ key: "/closing/", prefix: true }, undefined, sink);
    await raw!.close();
    await waitUntil(() => ends.length === 2, { timeoutMs: 5_000, what: "both watches to end" });
    for (const end of ends) {
      assert.ok(
        end.reason === "error" && InfraError.is(end.error, "Closed"),
        String(end.reason === "error" ? end.error : end.reason),
      );
    }
    await sleep(300);
    assert.equal(ends.length, 2);
    assert.deepEqual(events, []);
  });

  it("a watch from a revision not written yet reports from that revision on", async (h) => {
    const c = await h.client();
    const now = (await c.kv.list("/future/")).revision;
    const reader = c.kv.watch<number>("/future/", { prefix: true, fromRevision: now + 3 })
      .getReader();
    try {
      await sleep(100);
      const written = [];
      for (let i = 1; i <= 4; i++) written.push(await c.kv.set(`/future/${i}`, i));
      // Others may write to a shared etcd meanwhile: compare revisions, not positions.
      const first = await nextChunk(reader);
      assert.ok(first.revision >= now + 3);
      const seen = [first];
      while (seen.at(-1)!.key !== "/future/4") seen.push(await nextChunk(reader));
      assert.deepEqual(
        seen.map((e) => e.revision),
        written.filter((revision) => revision >= now + 3),
      );
    } finally {
      await reader.cancel();
    }
  });

  it("keys without the leading / are InvalidArgument, so none can reach a sibling namespace's keys", async (h) => {
    // Under namespace /app, "x/secret" would be stored as /appx/secret: namespace /appx's.
    const c = await h.client();
    await rejectsWith(c.kv.get("x/secret"), "InvalidArgument");
    await rejectsWith(c.kv.set("x/secret", 1), "InvalidArgument");
    await rejectsWith(c.kv.compareAndSet("x/secret", 1, 0), "InvalidArgument");
    await rejectsWith(c.kv.delete("x", { prefix: true }), "InvalidArgument");
    await rejectsWith(c.kv.list("x/"), "InvalidArgument");
    await rejectsWith(() => c.kv.watch("x/", { prefix: true }), "InvalidArgument");
    await rejectsWith(c.config("x/config", { defaults: {} }), "InvalidArgument");
    await rejectsWith(c.transport.range({ key: "x/", prefix: true }), "InvalidArgument");
  });

  it("a stored value that is not JSON is InvalidArgument on get and list", async (h) => {
    const c = await h.client();
    await c.transport.txn({
      compare: [],
      success: [{ type: "put", key: "/raw/text", value: "not json {" }],
      failure: [],
    });
    await rejectsWith(c.kv.get("/raw/text"), "InvalidArgument");
    await rejectsWith(c.kv.list("/raw/"), "InvalidArgument");
  });

  it("watch on a key reports puts and deletes of that key in order", async (h) => {
    const c = await h.client();
    const stop = new AbortController();
    const reader = c.kv.watch<number>("/w/key", { signal: stop.signal }).getReader();
    try {
      await sleep(100);
      const r1 = await c.kv.set("/w/key", 1);
      await c.kv.set("/w/key-other", 9);
      const r2 = await c.kv.set("/w/key", 2);
      const r3 = await c.kv.delete("/w/key").then(async () => (await c.kv.list("/w/")).revision);
      const e1 = await nextChunk(reader);
      const e2 = await nextChunk(reader);
      const e3 = await nextChunk(reader);
      assert.deepEqual(
        [e1.type, e1.type === "put" && e1.value, e1.revision],
        ["put", 1, r1],
      );
      assert.deepEqual(
        [e2.type, e2.type === "put" && e2.value, e2.revision],
        ["put", 2, r2],
      );
      assert.equal(e3.type, "delete");
      assert.equal(e3.key, "/w/key");
      assert.ok(e3.revision > r2 && e3.revision <= r3);
      assert.equal(e1.reloaded, false);
    } finally {
      stop.abort();
      await reader.cancel().catch(() => {});
    }
  });

  it("watch on a prefix reports every key under it and nothing else", async (h) => {
    const c = await h.client();
    const reader = c.kv.watch("/p/", { prefix: true }).getReader();
    try {
      await sleep(100);
      await c.kv.set("/p/a", "a");
      await c.kv.set("/q/x", "x");
      await c.kv.set("/p/b/c", "bc");
      const keys = [(await nextChunk(reader)).key, (await nextChunk(reader)).key];
      assert.deepEqual(keys, ["/p/a", "/p/b/c"]);
    } finally {
      await reader.cancel();
    }
  });

  it("watch from a revision replays what happened since, so list then watch misses nothing", async (h) => {
    const c = await h.client();
    await c.kv.set("/hist/a", 1);
    const listed = await c.kv.list("/hist/");
    await c.kv.set("/hist/b", 2);
    await c.kv.delete("/hist/a");
    const reader = c.kv.watch("/hist/", { prefix: true, fromRevision: listed.revision + 1 })
      .getReader();
    try {
      const first = await nextChunk(reader);
      const second = await nextChunk(reader);
      assert.deepEqual([first.type, first.key], ["put", "/hist/b"]);
      assert.deepEqual([second.type, second.key], ["delete", "/hist/a"]);
      await c.kv.set("/hist/c", 3);
      assert.equal((await nextChunk(reader)).key, "/hist/c");
    } finally {
      await reader.cancel();
    }
  });

  // --- values JSON would not bring back, and stored text that is not JSON ----------------

  for (const { kind, value, path, what } of REFUSED) {
    it(`set and compareAndSet refuse ${kind} with InvalidArgument naming ${path}, and the key keeps its value`, async (h) => {
      const c = await h.client();
      const revision = await c.kv.set("/refused/k", { good: true });
      const error = await refusedAt(c.kv.set("/refused/k", value()), path);
      assert.match(error.message, what);
      assert.match(
        (await refusedAt(c.kv.compareAndSet("/refused/k", value(), revision), path)).message,
        what,
      );
      await refusedAt(c.kv.compareAndSet("/refused/new", value(), 0), path);
      const entry = await c.kv.get("/refused/k");
      assert.deepEqual(entry?.value, { good: true });
      assert.equal(entry?.revision, revision);
      assert.equal(entry?.version, 1);
      assert.equal(await c.kv.get("/refused/new"), undefined);
    });
  }

  it("a compareAndSet refused for its value consumes nothing: the same compareAndSet with a good value then succeeds", async (h) => {
    const c = await h.client();
    const created = await c.kv.compareAndSet("/refused/cas", { n: 1 }, 0);
    await refusedAt(c.kv.compareAndSet("/refused/cas", { n: NaN }, created), "value.n");
    assert.equal((await c.kv.list("/refused/")).revision, created, "no revision was used");
    const updated = await c.kv.compareAndSet("/refused/cas", { n: 2 }, created);
    assert.ok(updated > created);
    assert.deepEqual((await c.kv.get("/refused/cas"))?.value, { n: 2 });
    await refusedAt(c.kv.compareAndSet("/refused/made", [new Set()], 0), "value[0]");
    await c.kv.compareAndSet("/refused/made", ["fine"], 0);
    assert.deepEqual((await c.kv.get("/refused/made"))?.value, ["fine"]);
  });

  it("what JSON brings back is stored: a Date as its ISO string, undefined properties left out, -0 as 0", async (h) => {
    const c = await h.client();
    const bare = Object.create(null);
    bare.x = 1;
    await c.kv.set("/accepted/k", {
      at: new Date(0),
      gone: undefined,
      zero: -0,
      bare,
      price: { toJSON: () => "12.50 EUR" },
    });
    assert.deepEqual((await c.kv.get("/accepted/k"))?.value, {
      at: "1970-01-01T00:00:00.000Z",
      zero: 0,
      bare: { x: 1 },
      price: "12.50 EUR",
    });
  });

  it("a campaign with a value JSON would not bring back is refused before the candidate queues", async (h) => {
    const c = await h.client();
    const election = c.election("refused");
    await refusedAt(election.campaign({ address: "a:1", weight: NaN }), "value.weight");
    assert.deepEqual(
      (await c.transport.range({ key: "/elections/refused/", prefix: true })).kvs,
      [],
    );
    assert.equal(await election.leader(), undefined);
  });

  it("a proclaim with a value JSON would not bring back is refused, and the leader keeps its value and its leadership", async (h) => {
    const c = await h.client();
    await using leadership = await c.election("refused").campaign({ address: "a:1" }, {
      ttlMs: TTL,
    });
    const before = (await c.transport.range({ key: leadership.key })).kvs[0];
    await refusedAt(leadership.proclaim({ address: new Map() }), "value.address");
    const after = (await c.transport.range({ key: leadership.key })).kvs[0];
    assert.equal(after.modRevision, before.modRevision);
    assert.deepEqual((await c.election("refused").leader())?.value, { address: "a:1" });
    assert.equal(leadership.signal.aborted, false);
    await leadership.proclaim({ address: "a:2" });
    assert.deepEqual((await c.election("refused").leader())?.value, { address: "a:2" });
  });

  it("register refuses metadata JSON would not bring back, naming its path, and registers nothing", async (h) => {
    const c = await h.client();
    const metadata = { zone: "a", weight: Infinity, since: new Date(0) };
    await refusedAt(
      c.registry.register({ service: "refused", id: "i-1", address: "x:1", metadata }),
      "instance.metadata.weight",
    );
    assert.deepEqual(await c.registry.discover("refused"), []);
    assert.deepEqual((await c.transport.range({ key: "/services/", prefix: true })).kvs, []);
  });

  it("typed config refuses defaults JSON would not bring back, naming their path", async (h) => {
    const c = await h.client();
    const key = coord.configKey({ env: "test", service: "refused", component: "limits" });
    const error = await refusedAt(
      c.config(key, { defaults: { rps: 10, window: { ms: NaN } } }),
      "defaults.window.ms",
    );
    assert.equal(error.details.field, "defaults");
    await refusedAt(c.config(key, { defaults: [1, undefined] }), "defaults[1]");
    // undefined as a whole means "nothing until a value is stored".
    await using absent = await c.config<{ rps: number } | undefined>(key, {
      defaults: undefined,
    });
    assert.equal(absent.current(), undefined);
  });

  it("a stored value that is not JSON, put by another tool, is InvalidArgument on get naming the key", async (h) => {
    const c = await h.client();
    const revision = await putRaw(c, "/raw/plain", "not json");
    const error = await refusedAt(
      c.kv.get("/raw/plain"),
      "the value of /raw/plain is not valid JSON",
    );
    assert.ok(error.message.length > 0);
    // Writing a good value over it works as usual.
    assert.ok(await c.kv.compareAndSet("/raw/plain", { fixed: true }, revision) > revision);
    assert.deepEqual((await c.kv.get("/raw/plain"))?.value, { fixed: true });
  });

  it("typed config logs a stored value that is not JSON and keeps the last good value", async (h) => {
    const log = recordingLogger();
    const c = await h.client({ logger: log.logger });
    const key = coord.configKey({ env: "test", service: "raw", component: "limits" });
    await c.kv.set(key, { n: 1 });
    await using cfg = await c.config(key, { defaults: { n: 0 } });
    assert.deepEqual(cfg.current(), { n: 1 });
    const revision = await putRaw(c, key, "level=debug");
    await waitUntil(
      () => log.lines.some((line) => line.message.startsWith("config value rejected")),
      { what: "the rejection in the log" },
    );
    const line = log.lines.find((line) => line.message.startsWith("config value rejected"))!;
    assert.equal(line.level, "warn");
    assert.deepEqual(
      [(line.fields as { key: string }).key, (line.fields as { revision: number }).revision],
      [key, revision],
    );
    assert.deepEqual(cfg.current(), { n: 1 });
    await c.kv.set(key, { n: 2 });
    await waitUntil(() => cfg.current().n === 2, { what: "the next good value" });
  });

  it("the registry skips an entry that is not an instance, put by another tool, with a warning, in discover and watch", async (h) => {
    const log = recordingLogger();
    const c = await h.client({ logger: log.logger });
    await using _registration = await c.registry.register(
      { service: "raw", id: "good", address: "x:1" },
      { ttlMs: TTL },
    );
    await putRaw(c, "/services/raw/bad", "10.0.0.9:9000");
    const skipped = () =>
      log.lines.filter((line) =>
        line.level === "warn" &&
        line.message.startsWith("registry entry is not a service instance") &&
        (line.fields as { key: string }).key === "/services/raw/bad"
      ).length;
    assert.deepEqual((await c.registry.discover("raw")).map((i) => i.id), ["good"]);
    assert.equal(skipped(), 1);
    const reader = c.registry.watch("raw").getReader();
    try {
      assert.deepEqual((await nextChunk(reader)).map((i) => i.id), ["good"]);
      assert.equal(skipped(), 2);
      await putRaw(c, "/services/raw/bad", "{still not an instance}");
      assert.deepEqual((await nextChunk(reader)).map((i) => i.id), ["good"]);
      assert.equal(skipped(), 3);
    } finally {
      await reader.cancel();
    }
  });

  it("an election value that is not JSON, from another etcd client, is read as its text", async (h) => {
    const c = await h.client();
    await putRaw(c, "/elections/raw/694d7f3a", "10.0.0.9:9000");
    assert.equal((await c.election("raw").leader())?.value, "10.0.0.9:9000");
  });

  it("a list of values totalling more than 4 MiB returns them all", async (h) => {
    const c = await h.client();
    // Each value is below etcd's 1.5 MiB request limit; the range answer is above gRPC's
    // default 4 MiB receive limit.
    const value = "x".repeat(500_000);
    for (let i = 0; i < 10; i++) await putRaw(c, `/big/k${i}`, JSON.stringify(value));
    const list = await c.kv.list<string>("/big/");
    assert.equal(list.entries.length, 10);
    assert.ok(list.entries.every((entry) => entry.value === value));
  });

  it("a value starting with a byte order mark reads back as written, and a value compare with what was read succeeds", async (h) => {
    const c = await h.client();
    const key = "/bom/k";
    const value = "\uFEFFplain text from an editor";
    await putRaw(c, key, value);
    const [kv] = (await c.transport.range({ key })).kvs;
    assert.equal(kv.value, value);
    assert.equal(kv.bytes, undefined);
    const swapped = await c.transport.txn({
      compare: [{ key, target: "value", result: "==", value: kv.value }],
      success: [{ type: "put", key, value: "next" }],
      failure: [],
    });
    assert.equal(swapped.succeeded, true);
  });

  it("a value that is not UTF-8 text, from another client, is InvalidArgument on get, list and in a transaction, never read as its lossy text", async (h) => {
    const c = await h.client();
    // Decoded leniently, these bytes would be "caf\uFFFD": valid JSON, a silent corruption.
    const revision = await h.putBytes("/bin/latin1", LATIN1_CAFE);
    await refusedAt(c.kv.get("/bin/latin1"), "the value of /bin/latin1 is not valid UTF-8");
    await refusedAt(c.kv.list("/bin/"), "the value of /bin/latin1 is not valid UTF-8");
    await rejectsWith(
      c.kv.transaction(async (tx) => {
        const entry = await tx.get<string>("/bin/latin1");
        tx.set("/bin/latin1", `${entry?.value}!`);
      }),
      "InvalidArgument",
    );
    // Still the bytes another client wrote; a good value can be written over them.
    assert.equal((await c.transport.range({ key: "/bin/latin1" })).kvs[0].modRevision, revision);
    assert.ok(await c.kv.compareAndSet("/bin/latin1", "café", revision) > revision);
    assert.equal((await c.kv.get("/bin/latin1"))?.value, "café");
  });

  it("a watch reports a value that is not UTF-8 text as invalid and keeps going", async (h) => {
    const c = await h.client();
    const reader = c.kv.watch("/bin-watch/", { prefix: true }).getReader();
    try {
      await sleep(100);
      await h.putBytes("/bin-watch/a", LATIN1_CAFE);
      await c.kv.set("/bin-watch/a", "café");
      const bad = await nextChunk(reader);
      assert.equal(bad.type, "invalid");
      assert.ok(bad.type === "invalid" && InfraError.is(bad.error, "InvalidArgument"));
      assert.ok(bad.type === "invalid" && /not valid UTF-8/.test(bad.error.message));
      const good = await nextChunk(reader);
      assert.equal(good.type === "put" && good.value, "café");
    } finally {
      await reader.cancel();
    }
  });

  it("typed config and the registry skip a value that is not UTF-8 text, and a leader's is given as its bytes", async (h) => {
    const log = recordingLogger();
    const c = await h.client({ logger: log.logger });
    const key = coord.configKey({ env: "test", service: "bin", component: "limits" });
    await c.kv.set(key, "café");
    await using cfg = await c.config<string>(key, { defaults: "" });
    await h.putBytes(key, LATIN1_CAFE);
    await waitUntil(
      () => log.lines.some((line) => line.message.startsWith("config value rejected")),
      { what: "the rejection in the log" },
    );
    assert.equal(cfg.current(), "café");
    // An instance whose address is one byte that is not UTF-8: "\uFFFD" if read leniently.
    const head = new TextEncoder().encode('{"service":"bin","id":"x","address":"');
    await h.putBytes("/services/bin/x", Uint8Array.from([...head, 0xff, 0x22, 0x7d]));
    assert.deepEqual(await c.registry.discover("bin"), []);
    const binary = Uint8Array.from([0x08, 0x96, 0x01, 0xff]);
    await h.putBytes("/elections/bin/694d7f3b", binary);
    assert.deepEqual((await c.election("bin").leader())?.value, binary);
  });

  it("watch reports a value that is not JSON as invalid and keeps going", async (h) => {
    const c = await h.client();
    const reader = c.kv.watch("/inv/", { prefix: true }).getReader();
    try {
      await sleep(100);
      await c.transport.txn({
        compare: [],
        success: [{ type: "put", key: "/inv/a", value: "{oops" }],
        failure: [],
      });
      await c.kv.set("/inv/a", { ok: true });
      const bad = await nextChunk(reader);
      assert.equal(bad.type, "invalid");
      assert.ok(bad.type === "invalid" && InfraError.is(bad.error, "InvalidArgument"));
      assert.ok(bad.type === "invalid" && bad.text === "{oops");
      const good = await nextChunk(reader);
      assert.deepEqual(good.type === "put" && good.value, { ok: true });
    } finally {
      await reader.cancel();
    }
  });

  it("the resilient watch stops at once with the error of a failed delivery and delivers nothing after", async (h) => {
    const c = await h.client();
    const delivered: number[] = [];
    const stop = new AbortController();
    const running = runWatch({
      transport: c.transport,
      range: { key: "/fail/", prefix: true },
      start: { revision: (await c.kv.list("/fail/")).revision, known: new Map() },
      signal: stop.signal,
      logger: getLogger("coord"),
      what: "test",
      onChanges(changes) {
        delivered.push(changes.length);
        throw new InfraError("Internal", "handler bug");
      },
    });
    // Handled from the start: the watch may fail before the put's own answer arrives.
    const outcome = Promise.race([running, sleep(5_000)]);
    outcome.catch(() => {});
    try {
      await c.kv.set("/fail/a", 1);
      // Not only at the next reconnect: at once.
      await rejectsWith(outcome, "Internal");
      await c.kv.set("/fail/b", 2);
      await sleep(100);
      assert.deepEqual(delivered, [1]);
    } finally {
      stop.abort();
    }
  });

  it("a reader that reads nothing while 5,000 puts land then gets every event once, in order, and the stream never held more than its bufferSize", async (h) => {
    const c = await h.client();
    const writer = await h.client();
    const { flow, reader } = await boundedWatch(c, "/bp/", 100);
    try {
      const written: [string, number, number][] = [];
      // Ten writes in flight at a time: their revisions, not the call order, say which came first.
      for (let i = 0; i < 5_000; i += 10) {
        await Promise.all(Array.from({ length: 10 }, async (_, j) => {
          const key = `/bp/k${(i + j) % 50}`;
          written.push([key, i + j, await writer.kv.set(key, i + j)]);
        }));
      }
      written.sort((a, b) => a[2] - b[2]);
      await waitUntil(() => flow.pauses > 0, { what: "the watch to pause" });
      const seen: [string, number, number, boolean][] = [];
      for (let i = 0; i < written.length; i++) {
        const event = await nextChunk(reader);
        assert.equal(event.type, "put");
        seen.push([
          event.key,
          event.type === "put" ? event.value : NaN,
          event.revision,
          event.reloaded,
        ]);
      }
      assert.deepEqual(
        seen,
        written.map(([key, value, revision]) => [key, value, revision, false]),
      );
      assert.ok(await stillWaiting(reader.read()), "nothing is delivered twice");
      // The stream's queue (read off its controller) plus what waited to be queued.
      assert.ok(flow.peak <= 100, `the stream held ${flow.peak} events at once`);
      assert.ok(flow.peak >= 50, `the stream filled up before pausing (${flow.peak})`);
    } finally {
      await reader.cancel();
    }
  });

  it("a transaction with more events than bufferSize arrives whole and in its place, and the paused watch waits for it without resubscribing in a loop", async (h) => {
    const c = await h.client();
    const { flow, reader } = await boundedWatch(c, "/big/", 4);
    try {
      const revisions = [await c.kv.set("/big/a", 1), await c.kv.set("/big/b", 2)];
      const puts = Array.from({ length: 10 }, (_, i) => ({
        type: "put" as const,
        key: `/big/t${i}`,
        value: JSON.stringify(i),
      }));
      const big = await c.transport.txn({ compare: [], success: puts, failure: [] });
      revisions.push(...puts.map(() => big.revision), await c.kv.set("/big/c", 3));
      await waitUntil(() => flow.pauses > 0, { what: "the watch to pause" });
      // Two events held, ten that cannot fit beside them: the watch waits for the reader.
      await sleep(300);
      assert.equal(flow.pauses, 1);
      const events = [];
      for (let i = 0; i < revisions.length; i++) events.push(await nextChunk(reader));
      assert.deepEqual(events.map((e) => e.revision), revisions);
      assert.deepEqual(events.map((e) => e.key), [
        "/big/a",
        "/big/b",
        ...puts.map((put) => put.key),
        "/big/c",
      ]);
      // Only the transaction, taken in alone once the reader had read what was held.
      assert.equal(flow.peak, 10);
      assert.ok(await stillWaiting(reader.read()), "nothing is delivered twice");
    } finally {
      await reader.cancel();
    }
  });

  it("a watch bufferSize that is not an integer of at least 1 is InvalidArgument", async (h) => {
    const c = await h.client();
    for (const bufferSize of [0, -1, 1.5, NaN, Infinity, "10"]) {
      await rejectsWith(
        () => c.kv.watch("/bp/bad", { bufferSize: bufferSize as number }),
        "InvalidArgument",
      );
    }
    const reader = c.kv.watch<number>("/bp/one", { bufferSize: 1 }).getReader();
    try {
      await sleep(100);
      for (let n = 1; n <= 5; n++) await c.kv.set("/bp/one", n);
      const values = [];
      for (let n = 1; n <= 5; n++) {
        const event = await nextChunk(reader);
        values.push(event.type === "put" ? event.value : undefined);
      }
      assert.deepEqual(values, [1, 2, 3, 4, 5]);
    } finally {
      await reader.cancel();
    }
  });

  it("a watch closes when its signal fires and delivers nothing after", async (h) => {
    const c = await h.client();
    const stop = new AbortController();
    const reader = c.kv.watch("/close/k", { signal: stop.signal }).getReader();
    await sleep(100);
    await c.kv.set("/close/k", 1);
    assert.equal((await nextChunk(reader)).type, "put");
    stop.abort();
    await c.kv.set("/close/k", 2);
    const end = await reader.read();
    assert.equal(end.done, true);
  });

  // --- typed config ----------------------------------------------------------------------

  const Limits = z.object({ rps: z.number().int().positive(), burst: z.number().int().min(0) });

  /** A schema that throws while `throwing.now` is set, like a zod `.transform` with a bug. */
  const throwingSchema = () => {
    const throwing = { now: false };
    const schema: coord.ConfigSchema<{ n: number }> = {
      "~standard": {
        version: 1,
        vendor: "test",
        validate(value) {
          if (throwing.now) throw new Error("validator bug");
          return { value: value as { n: number } };
        },
      },
    };
    return { throwing, schema };
  };
  const rejections = (key: string) =>
    recorded.filter((r) =>
      r.name === "coord.config.rejected" && r.attributes["coord.config.key"] === key
    );

  it("typed config starts from the defaults and merges a stored partial value over them", async (h) => {
    const c = await h.client();
    const key = coord.configKey({ env: "test", service: "svc", component: "limits" });
    await using empty = await c.config(key, { schema: Limits, defaults: { rps: 10, burst: 5 } });
    assert.deepEqual(empty.current(), { rps: 10, burst: 5 });
    assert.equal(empty.revision, 0);
    const revision = await c.kv.set(key, { rps: 50 });
    await using loaded = await c.config(key, { schema: Limits, defaults: { rps: 10, burst: 5 } });
    assert.deepEqual(loaded.current(), { rps: 50, burst: 5 });
    assert.equal(loaded.revision, revision);
  });

  it("typed config hot-reloads listeners and bound components on a change", async (h) => {
    const c = await h.client();
    const key = coord.configKey({ env: "test", component: "limits" });
    await using limits = await c.config(key, { schema: Limits, defaults: { rps: 10, burst: 5 } });
    const applied: { rps: number }[] = [];
    const component: HotReloadable<{ rps: number }> = {
      hotReload(config) {
        applied.push(config);
        return Promise.resolve();
      },
    };
    const rpsOnly: number[] = [];
    await limits.bind(component);
    await limits.bind({
      hotReload: (rps: number) => Promise.resolve(void rpsOnly.push(rps)),
    }, { select: (value) => value.rps });
    assert.deepEqual(applied, [{ rps: 10, burst: 5 }]);
    const changes: [number, number][] = [];
    limits.onChange((value, previous) => changes.push([value.rps, previous.rps]));
    await c.kv.set(key, { rps: 20, burst: 1 });
    await waitUntil(() => applied.length === 2 && rpsOnly.length === 2, { what: "hot reload" });
    assert.deepEqual(applied[1], { rps: 20, burst: 1 });
    assert.deepEqual(rpsOnly, [10, 20]);
    assert.deepEqual(changes, [[20, 10]]);
    assert.deepEqual(limits.current(), { rps: 20, burst: 1 });
  });

  it("typed config rejects bad JSON and schema failures, counts them and keeps the last good value", async (h) => {
    const c = await h.client();
    const key = coord.configKey({ env: "test", service: "reject", component: "limits" });
    await c.kv.set(key, { rps: 7, burst: 1 });
    await using limits = await c.config(key, { schema: Limits, defaults: { rps: 10, burst: 5 } });
    const changes: number[] = [];
    limits.onChange((value) => changes.push(value.rps));
    const before = rejections(key).length;
    const counted = () => rejections(key);
    // One write at a time: a watch may coalesce writes that arrive together.
    await c.transport.txn({
      compare: [],
      success: [{ type: "put", key, value: "{not json" }],
      failure: [],
    });
    await waitUntil(() => counted().length === before + 1, { what: "the first rejection" });
    await c.kv.set(key, { rps: -1, burst: 1 });
    await waitUntil(() => counted().length === before + 2, { what: "the second rejection" });
    await c.kv.set(key, { rps: "fast" });
    await waitUntil(() => counted().length === before + 3, { what: "the third rejection" });
    assert.deepEqual(counted().slice(before).map((r) => r.attributes["coord.config.reason"]), [
      "invalid_json",
      "schema",
      "schema",
    ]);
    assert.deepEqual(limits.current(), { rps: 7, burst: 1 });
    assert.deepEqual(changes, []);
    await c.kv.set(key, { rps: 8, burst: 2 });
    await waitUntil(() => changes.length === 1, { what: "the good value" });
    assert.deepEqual(limits.current(), { rps: 8, burst: 2 });
  });

  it("typed config counts a stored value that is not JSON once, however often it re-reads it", async (h) => {
    // The first two watches end with a permanent error: each time the layer is re-read.
    let failing = 2;
    const c = await h.client({
      wrap: (t) =>
        intercept(t, {
          watch(range, start, sink) {
            if (failing === 0) return t.watch(range, start, sink);
            failing--;
            return refusedWatch(sink);
          },
        }),
    });
    const writer = await h.client();
    const key = "/config/t/recount";
    await putRaw(writer, key, "{not json");
    const before = rejections(key).length;
    await using cfg = await c.config(key, { defaults: { n: 0 } });
    assert.equal(rejections(key).length, before + 1);
    await waitUntil(() => failing === 0, { what: "the failing watches" });
    await writer.kv.set(key, { n: 1 });
    await waitUntil(() => cfg.current().n === 1, { what: "the next good value" });
    assert.equal(rejections(key).length, before + 1);
    // A later value that is not JSON is counted, once.
    await putRaw(writer, key, "{still not json");
    await waitUntil(() => rejections(key).length === before + 2, { what: "the second rejection" });
    await writer.kv.set(key, { n: 2 });
    await waitUntil(() => cfg.current().n === 2, { what: "the good value after it" });
    assert.equal(rejections(key).length, before + 2);
  });

  it("a layered config merges the defaults, the shared layer and the service layer, in that order, and follows each", async (h) => {
    const c = await h.client();
    const parts = { env: "test", service: "layered", component: "cache" };
    const [shared, own] = coord.configLayers(parts);
    await c.kv.set(shared, { ttlMs: 60_000, l1: { enabled: true, size: 100 } });
    await c.kv.set(own, { ttlMs: 5_000, l1: { size: 10 } });
    const Settings = z.object({
      ttlMs: z.number().int().positive(),
      l1: z.object({ enabled: z.boolean(), size: z.number().int().positive() }),
      prefix: z.string(),
    });
    await using config = await c.config(coord.configLayers(parts), {
      schema: Settings,
      defaults: { ttlMs: 1_000, l1: { enabled: false, size: 1 }, prefix: "dev:" },
    });
    assert.deepEqual(config.keys, [shared, own]);
    assert.equal(config.key, own);
    assert.deepEqual(config.current(), {
      ttlMs: 5_000,
      l1: { enabled: true, size: 10 },
      prefix: "dev:",
    });
    const reloaded: unknown[] = [];
    await config.bind({ hotReload: (value) => Promise.resolve(void reloaded.push(value)) });
    // A change of the shared layer reaches the service, under its own override.
    const revision = await c.kv.set(shared, {
      ttlMs: 30_000,
      l1: { enabled: false },
      prefix: "x:",
    });
    await waitUntil(() => config.revision === revision, { what: "the shared change" });
    assert.deepEqual(config.current(), {
      ttlMs: 5_000,
      l1: { enabled: false, size: 10 },
      prefix: "x:",
    });
    const ownRevision = await c.kv.set(own, { ttlMs: 7_000 });
    await waitUntil(() => config.revision === ownRevision, { what: "the service change" });
    assert.deepEqual(config.current(), {
      ttlMs: 7_000,
      // The shared layer's new value names no size, and the service's no longer does.
      l1: { enabled: false, size: 1 },
      prefix: "x:",
    });
    assert.deepEqual(reloaded.at(-1), config.current());
    assert.equal(reloaded.length, 3);
  });

  it("a layer whose value makes the merge fail the schema holds the last good value until it is fixed", async (h) => {
    const c = await h.client();
    const [shared, own] = coord.configLayers({ env: "test", service: "bad", component: "limits" });
    await c.kv.set(shared, { rps: 7, burst: 1 });
    await using limits = await c.config([shared, own], {
      schema: Limits,
      defaults: { rps: 10, burst: 5 },
    });
    assert.deepEqual(limits.current(), { rps: 7, burst: 1 });
    const before = rejections(own).length;
    await c.kv.set(own, { rps: -1 });
    await waitUntil(() => rejections(own).length === before + 1, { what: "the rejection" });
    assert.deepEqual(limits.current(), { rps: 7, burst: 1 });
    // Still held back: the merge with the bad layer fails whatever the shared layer says.
    const sharedBefore = rejections(shared).length;
    await c.kv.set(shared, { rps: 8, burst: 2 });
    await waitUntil(() => rejections(shared).length === sharedBefore + 1, {
      what: "the merge to fail again",
    });
    assert.deepEqual(limits.current(), { rps: 7, burst: 1 });
    const fixed = await c.kv.set(own, { rps: 9 });
    await waitUntil(() => limits.revision === fixed, { what: "the fix" });
    assert.deepEqual(limits.current(), { rps: 9, burst: 2 });
  });

  /** A shared layer `{ a, b }` written before the service's own `{ a }`, and defaults. */
  const twoLayers = async (c: CoordClient, service: string) => {
    const [shared, own] = coord.configLayers({ env: "test", service, component: "flags" });
    await c.kv.set(shared, { a: "shared", b: "shared" });
    await c.kv.set(own, { a: "own" });
    return { shared, own, defaults: { a: "default", b: "default" } };
  };

  it("a deleted layer drops out of the merge under onDelete defaults and keeps its value under keep", async (h) => {
    const c = await h.client();
    const { shared, own, defaults } = await twoLayers(c, "del");
    await using dropping = await c.config([shared, own], { defaults, onDelete: "defaults" });
    await using keeping = await c.config([shared, own], { defaults, onDelete: "keep" });
    assert.deepEqual(dropping.current(), { a: "own", b: "shared" });
    await c.kv.delete(own);
    await waitUntil(() => dropping.current().a === "shared", { what: "the layer to drop out" });
    assert.deepEqual(dropping.current(), { a: "shared", b: "shared" });
    await c.kv.delete(shared);
    await waitUntil(() => dropping.revision === 0, { what: "the defaults" });
    assert.deepEqual(dropping.current(), defaults);
    assert.deepEqual(keeping.current(), { a: "own", b: "shared" });
  });

  it("a deleted layer below the newest one drops out of the merge under onDelete defaults too", async (h) => {
    const c = await h.client();
    const { shared, own, defaults } = await twoLayers(c, "low");
    await using config = await c.config([shared, own], { defaults, onDelete: "defaults" });
    assert.deepEqual(config.current(), { a: "own", b: "shared" });
    // The shared layer is older than the service's: the highest revision merged stays the
    // same, the value does not.
    await c.kv.delete(shared);
    await waitUntil(() => config.current().b === "default", { what: "the layer to drop out" });
    assert.deepEqual(config.current(), { a: "own", b: "default" });
  });

  it("layered keys must be a non-empty list of keys, none twice", async (h) => {
    const c = await h.client();
    for (const keys of [[], ["/a", "/a"], ["/a", "b"], [1]] as never[]) {
      await rejectsWith(c.config(keys, { defaults: {} }), "InvalidArgument");
    }
    assert.deepEqual(coord.configLayers({ env: "dev", component: "clog" }), [
      "/config/dev/global/clog",
    ]);
  });

  it("typed config works with zod, valibot and arktype schemas", async (h) => {
    // Any Standard Schema is a ConfigSchema (checked by the compiler).
    const standard: coord.ConfigSchema<number> = z.number() as StandardSchemaV1<unknown, number>;
    assert.equal(standard["~standard"].vendor, "zod");
    const c = await h.client();
    const schemas = {
      zod: z.object({ level: z.enum(["debug", "info"]) }),
      valibot: v.object({ level: v.picklist(["debug", "info"]) }),
      arktype: type({ level: "'debug' | 'info'" }),
    };
    for (const [library, schema] of Object.entries(schemas)) {
      const key = coord.configKey({ env: "test", service: library, component: "clog" });
      await using cfg = await c.config<{ level: "debug" | "info" }>(key, {
        schema: schema as coord.ConfigSchema<{ level: "debug" | "info" }>,
        defaults: { level: "info" },
      });
      const before = rejections(key).length;
      await c.kv.set(key, { level: "verbose" });
      await waitUntil(() => rejections(key).length === before + 1, {
        what: `${library} rejection`,
      });
      assert.equal(cfg.current().level, "info", library);
      await c.kv.set(key, { level: "debug" });
      await waitUntil(() => cfg.current().level === "debug", { what: `${library} value` });
      assert.equal(cfg.revision, (await c.kv.get(key))?.revision, library);
    }
  });

  it("a schema that throws rejects the value, and the config keeps hot-reloading after a reconnect", async (h) => {
    const links = { current: undefined as Interruptible | undefined };
    const c = await h.client({
      wrap: (transport) => (links.current = interruptible(transport)).transport,
    });
    const key = "/config/t/throwing";
    const { throwing, schema } = throwingSchema();
    await using cfg = await c.config(key, { schema, defaults: { n: 0 } });
    const before = rejections(key).length;
    throwing.now = true;
    await c.kv.set(key, { n: 2 });
    await waitUntil(() => rejections(key).length === before + 1, { what: "the rejection" });
    assert.equal(rejections(key).at(-1)?.attributes["coord.config.reason"], "schema");
    assert.deepEqual(cfg.current(), { n: 0 });
    throwing.now = false;
    await c.kv.set(key, { n: 3 });
    await waitUntil(() => cfg.current().n === 3, { what: "the next good value" });
    await links.current!.interrupt();
    await c.kv.set(key, { n: 4 });
    await waitUntil(() => cfg.current().n === 4, { what: "a value after the reconnect" });
  });

  it("a schema that throws on the defaults is InvalidArgument, and on the stored value at start leaves the defaults in force", async (h) => {
    const c = await h.client();
    const key = "/config/t/throwing-start";
    const { throwing, schema } = throwingSchema();
    throwing.now = true;
    await rejectsWith(c.config(key, { schema, defaults: { n: 0 } }), "InvalidArgument");
    await c.kv.set(key, { n: 1 });
    let calls = 0;
    const once: coord.ConfigSchema<{ n: number }> = {
      "~standard": {
        version: 1,
        vendor: "test",
        validate(value) {
          if (calls++ > 0) throw new Error("validator bug");
          return { value: value as { n: number } };
        },
      },
    };
    const before = rejections(key).length;
    await using cfg = await c.config(key, { schema: once, defaults: { n: 0 } });
    assert.deepEqual(cfg.current(), { n: 0 });
    assert.equal(rejections(key).length, before + 1);
  });

  it("typed config re-arms its watch after the watch fails for good", async (h) => {
    let failed = 0;
    const c = await h.client({
      wrap: (transport) =>
        intercept(transport, {
          watch(range, start, sink) {
            return range.key.endsWith("/config/t/rearm") && failed++ === 0
              ? refusedWatch(sink)
              : transport.watch(range, start, sink);
          },
        }),
    });
    const key = "/config/t/rearm";
    await using cfg = await c.config(key, { defaults: { n: 0 } });
    await waitUntil(() => failed >= 2, { what: "the watch to be re-armed" });
    await c.kv.set(key, { n: 1 });
    await waitUntil(() => cfg.current().n === 1, { what: "the value after re-arming" });
  });

  it("typed config refuses a listener or component that is not one", async (h) => {
    const c = await h.client();
    await using cfg = await c.config("/config/t/bad-bind", { defaults: { n: 0 } });
    assert.throws(() => cfg.onChange(5 as never), (e) => InfraError.is(e, "InvalidArgument"));
    await rejectsWith(cfg.bind({} as never), "InvalidArgument");
    await rejectsWith(
      cfg.bind({ hotReload: () => Promise.resolve() }, { select: 5 as never }),
      "InvalidArgument",
    );
  });

  it("typed config refuses defaults that fail the schema, a missing schema function and an empty key", async (h) => {
    const c = await h.client();
    await rejectsWith(
      c.config("/config/x", { schema: Limits, defaults: { rps: 0, burst: 0 } }),
      "InvalidArgument",
    );
    await rejectsWith(c.config("", { defaults: {} }), "InvalidArgument");
    await rejectsWith(
      c.config("/config/x", { schema: {} as never, defaults: {} }),
      "InvalidArgument",
    );
    await rejectsWith(c.config("/config/x", {} as never), "InvalidArgument");
  });

  it("typed config keeps the last value on delete by default, or goes back to defaults", async (h) => {
    const c = await h.client();
    await c.kv.set("/config/t/keep", { rps: 3, burst: 3 });
    await c.kv.set("/config/t/reset", { rps: 3, burst: 3 });
    await using keep = await c.config("/config/t/keep", {
      schema: Limits,
      defaults: { rps: 1, burst: 1 },
    });
    await using reset = await c.config("/config/t/reset", {
      schema: Limits,
      defaults: { rps: 1, burst: 1 },
      onDelete: "defaults",
    });
    await c.kv.delete("/config/t/keep");
    await c.kv.delete("/config/t/reset");
    await waitUntil(() => reset.current().rps === 1, { what: "defaults after delete" });
    assert.equal(reset.revision, 0);
    assert.equal(keep.current().rps, 3);
  });

  it("a component that rejects a reload is counted and the others still get it", async (h) => {
    const c = await h.client();
    const key = "/config/t/partial";
    await using cfg = await c.config(key, { defaults: { n: 0 } });
    const good: number[] = [];
    let calls = 0;
    await cfg.bind({
      hotReload: (value: { n: number }) => {
        calls++;
        return value.n > 1
          ? Promise.reject(new InfraError("InvalidArgument", "too big"))
          : Promise.resolve();
      },
    });
    await cfg.bind({
      hotReload: (value: { n: number }) => Promise.resolve(void good.push(value.n)),
    });
    const before =
      recorded.filter((r) => r.attributes["coord.config.reason"] === "hot_reload").length;
    await c.kv.set(key, { n: 5 });
    await waitUntil(() => good.includes(5), { what: "reload of the good component" });
    assert.equal(calls, 2);
    assert.equal(cfg.current().n, 5);
    assert.equal(
      recorded.filter((r) => r.attributes["coord.config.reason"] === "hot_reload").length,
      before + 1,
    );
  });

  it("a component whose hot reload never settles fails after the request timeout, counted like a rejection, and the config moves on for everyone", async (h) => {
    const c = await h.client({ requestTimeoutMs: 200 });
    const key = "/config/t/stuck";
    await using cfg = await c.config(key, { defaults: { n: 0 } });
    let calls = 0;
    await cfg.bind({
      hotReload: (value: { n: number }) => {
        calls++;
        return value.n === 1 ? new Promise<void>(() => {}) : Promise.resolve();
      },
    });
    const other: number[] = [];
    await cfg.bind({
      hotReload: (value: { n: number }) => Promise.resolve(void other.push(value.n)),
    });
    const failed = () =>
      rejections(key).filter((r) => r.attributes["coord.config.reason"] === "hot_reload").length;
    const before = failed();
    await c.kv.set(key, { n: 1 });
    await waitUntil(() => other.includes(1), { what: "the first change" });
    await c.kv.set(key, { n: 2 });
    await waitUntil(() => other.includes(2), { what: "the change after the stuck reload" });
    assert.deepEqual(other, [0, 1, 2]);
    assert.equal(cfg.current().n, 2);
    assert.equal(calls, 3);
    assert.equal(failed(), before + 1);
    // A component whose first reload never settles is not bound.
    await rejectsWith(cfg.bind({ hotReload: () => new Promise<void>(() => {}) }), "Timeout");
  });

  it("typed config checks every value of a watch batch in order: each invalid one is counted, the last valid one goes in force", async (h) => {
    const links = { current: undefined as Holding | undefined };
    const c = await h.client({ wrap: (t) => (links.current = holding(t)).transport });
    const writer = await h.client();
    const key = "/config/t/batch";
    await using cfg = await c.config(key, { defaults: { n: 0 } });
    const changes: number[] = [];
    cfg.onChange((value) => changes.push(value.n));
    const link = links.current!;
    const raw = (value: string) =>
      writer.transport.txn({ compare: [], success: [{ type: "put", key, value }], failure: [] });
    const batch = async (...writes: (() => Promise<unknown>)[]) => {
      link.hold();
      for (const write of writes) await write();
      await waitUntil(() => link.held === writes.length, { what: "the writes to be held" });
      link.release();
    };
    const before = rejections(key).length;

    await batch(() => writer.kv.set(key, { n: 1 }), () => raw("{bad"));
    await waitUntil(() => rejections(key).length === before + 1, { what: "the rejection" });
    await waitUntil(() => cfg.current().n === 1, { what: "the valid value before it" });

    await batch(() => raw("{worse"), () => writer.kv.set(key, { n: 2 }));
    await waitUntil(() => cfg.current().n === 2, { what: "the valid value after it" });
    assert.equal(rejections(key).length, before + 2);
    assert.deepEqual(
      rejections(key).slice(before).map((r) => r.attributes["coord.config.reason"]),
      ["invalid_json", "invalid_json"],
    );

    // Valid values that arrive together are coalesced: the last one goes in force, once.
    await batch(() => writer.kv.set(key, { n: 3 }), () => writer.kv.set(key, { n: 4 }));
    await waitUntil(() => cfg.current().n === 4, { what: "the last of two valid values" });
    assert.deepEqual(changes, [1, 2, 4]);
    assert.equal(cfg.revision, (await writer.kv.get(key))?.revision);
  });

  it("typed config given a burst of writes while a component is still reloading puts the last value in force next, not each value in turn", async (h) => {
    const seen = { events: 0 };
    const c = await h.client({ wrap: (t) => countingWatches(t, seen) });
    const writer = await h.client();
    const key = "/config/t/burst";
    await using cfg = await c.config(key, { defaults: { n: 0 } });
    const changes: number[] = [];
    cfg.onChange((value) => changes.push(value.n));
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const reloads: number[] = [];
    await cfg.bind({
      async hotReload(value: { n: number }) {
        reloads.push(value.n);
        if (value.n !== 0) await gate;
      },
    });
    for (let n = 1; n <= 50; n++) await writer.kv.set(key, { n });
    // Every write has reached the watch while the first reload is still held.
    await waitUntil(() => seen.events === 50, { what: "the watch to see the 50 writes" });
    release();
    await waitUntil(() => reloads.at(-1) === 50, { what: "the last value to be reloaded" });
    assert.ok(reloads.length <= 3, `reloads: ${reloads}`);
    assert.deepEqual(changes, reloads.slice(1));
    assert.equal(cfg.current().n, 50);
  });

  it("typed config started while etcd is unreachable serves the defaults, then the stored value once etcd answers", async (h) => {
    const { client: c, links } = await clientWithOutage(h, { requestTimeoutMs: 200 });
    const writer = await h.client();
    const key = "/config/t/offline";
    await writer.kv.set(key, { n: 5 });
    await links.begin();
    let cfg: coord.TypedConfig<{ n: number }>;
    try {
      cfg = await c.config(key, { defaults: { n: 0 } });
      assert.deepEqual(cfg.current(), { n: 0 });
      assert.equal(cfg.revision, 0);
    } finally {
      links.end();
    }
    await using _cfg = cfg;
    await waitUntil(() => cfg.current().n === 5, { what: "the stored value" });
    await writer.kv.set(key, { n: 6 });
    await waitUntil(() => cfg.current().n === 6, { what: "a later write" });
  });

  it("a layered config started while etcd is unreachable puts its layers in force together once etcd answers, never one alone", async (h) => {
    const { client: c, links } = await clientWithOutage(h, { requestTimeoutMs: 200 });
    const writer = await h.client();
    const parts = { env: "t", service: "offline-layers", component: "limits" };
    const [shared, own] = coord.configLayers(parts);
    await writer.kv.set(shared, { perSecond: 1_000 });
    await writer.kv.set(own, { perSecond: 10, burst: 20 });
    await links.begin();
    let cfg: coord.TypedConfig<{ perSecond: number; burst: number }>;
    const seen: unknown[] = [];
    try {
      cfg = await c.config(coord.configLayers(parts), { defaults: { perSecond: 5, burst: 5 } });
      cfg.onChange((value) => seen.push(value));
    } finally {
      links.end();
    }
    await using _cfg = cfg;
    await waitUntil(() => cfg.current().perSecond === 10, { what: "both layers" });
    await sleep(200);
    assert.deepEqual(seen, [{ perSecond: 10, burst: 20 }]);
  });

  it("a transaction that writes both layers of a config goes in force as a whole, never one layer with the other's old value", async (h) => {
    const c = await h.client();
    const [shared, own] = coord.configLayers({ env: "t", service: "txn", component: "flags" });
    await c.kv.set(shared, { a: 1 });
    await c.kv.set(own, { b: 1 });
    await using cfg = await c.config<{ a: number; b: number }>([shared, own], {
      defaults: { a: 0, b: 0 },
    });
    const seen: { a: number; b: number }[] = [];
    cfg.onChange((value) => seen.push(value));
    for (let i = 2; i <= 4; i++) {
      await c.kv.transaction((tx) => {
        tx.set(shared, { a: i });
        tx.set(own, { b: i });
      });
      await waitUntil(() => cfg.current().b === i, { what: `write ${i}` });
    }
    await sleep(100);
    assert.deepEqual(seen, [{ a: 2, b: 2 }, { a: 3, b: 3 }, { a: 4, b: 4 }]);
  });

  it("config keys follow /config/{env}/{service}/{component} and are stored without a doubled prefix", async (h) => {
    const c = await h.client();
    const key = coord.configKey({ env: "dev", component: "clog" });
    assert.equal(key, "/config/dev/global/clog");
    assert.equal(
      coord.configKey({ env: "dev", service: "im-logic", component: "db" }),
      "/config/dev/im-logic/db",
    );
    assert.deepEqual(coord.parseConfigKey("/config/dev/im-logic/db"), {
      env: "dev",
      service: "im-logic",
      component: "db",
    });
    assert.equal(coord.parseConfigKey("/config/config/dev/global/db"), undefined);
    assert.equal(coord.configPrefix("dev"), "/config/dev/");
    assert.throws(
      () => coord.configKey({ env: "dev/x", component: "clog" }),
      (e) => InfraError.is(e, "InvalidArgument"),
    );
    assert.throws(
      () => coord.configKey({ env: "", component: "clog" }),
      (e) => InfraError.is(e, "InvalidArgument"),
    );
    await c.kv.set(key, { level: "info" });
    const raw = await c.transport.range({ key: "/config/", prefix: true });
    assert.deepEqual(raw.kvs.map((kv) => kv.key), ["/config/dev/global/clog"]);
    assert.deepEqual((await c.kv.list(coord.configPrefix("dev"))).entries.map((e) => e.key), [key]);
  });

  // --- service registry ------------------------------------------------------------------

  const instance = (id: string, address = `10.0.0.${id.length}:9000`): coord.ServiceInstance => ({
    service: "im-logic",
    id,
    address,
    metadata: { zone: "a" },
  });

  it("a registered instance is discovered until it deregisters", async (h) => {
    const c = await h.client();
    const registration = await c.registry.register(instance("i-1"), { ttlMs: TTL });
    assert.equal(registration.state, "registered");
    assert.deepEqual(await c.registry.discover("im-logic"), [instance("i-1")]);
    await registration.close();
    await registration.close();
    assert.equal(registration.state, "closed");
    assert.deepEqual(await c.registry.discover("im-logic"), []);
    assert.ok(registration.signal.aborted);
  });

  it("watching a service streams the full instance list after each change", async (h) => {
    const c = await h.client();
    const other = await h.client();
    await using first = await c.registry.register(instance("a"), { ttlMs: TTL });
    const reader = other.registry.watch("im-logic").getReader();
    try {
      assert.deepEqual((await nextChunk(reader)).map((i) => i.id), ["a"]);
      const second = await c.registry.register(instance("b"), { ttlMs: TTL });
      assert.deepEqual((await nextChunk(reader)).map((i) => i.id), ["a", "b"]);
      await second.close();
      assert.deepEqual((await nextChunk(reader)).map((i) => i.id), ["a"]);
      assert.equal(first.state, "registered");
    } finally {
      await reader.cancel();
    }
  });

  it("a slow reader of a service watch gets the newest instance list, not the lists it missed", async (h) => {
    const c = await h.client();
    const seen = { events: 0 };
    const watcher = await h.client({ wrap: (t) => countingWatches(t, seen) });
    await using _a = await c.registry.register(instance("a"), { ttlMs: TTL });
    const reader = watcher.registry.watch("im-logic").getReader();
    try {
      assert.deepEqual((await nextChunk(reader)).map((i) => i.id), ["a"]);
      const b = await c.registry.register(instance("b"), { ttlMs: TTL });
      await using _c = await c.registry.register(instance("c"), { ttlMs: TTL });
      const d = await c.registry.register(instance("d"), { ttlMs: TTL });
      await b.close();
      await waitUntil(() => seen.events === 4, { what: "the watch to see three puts, a delete" });
      assert.deepEqual((await nextChunk(reader)).map((i) => i.id), ["a", "c", "d"]);
      // No stale list waits behind it: the next read waits for the next change.
      const next = reader.read();
      assert.ok(await stillWaiting(next), "no list was left to read");
      await d.close();
      assert.deepEqual((await next).value?.map((i) => i.id), ["a", "c"]);
    } finally {
      await reader.cancel();
    }
  });

  it("a registration puts its key back after the key is deleted", async (h) => {
    const c = await h.client();
    await using registration = await c.registry.register(instance("d"), { ttlMs: TTL });
    const states: string[] = [];
    registration.onStateChange((state) => states.push(state));
    const firstPeriod = registration.signal;
    await c.kv.delete("/services/im-logic/d");
    await aborted(firstPeriod);
    await waitUntil(async () => (await c.registry.discover("im-logic")).length === 1, {
      what: "the key to come back",
    });
    await waitUntil(() => registration.state === "registered", { what: "registered state" });
    assert.deepEqual(states, ["lost", "registered"]);
    assert.equal(registration.signal.aborted, false);
  });

  it("a registration comes back under a new lease after its lease is revoked", async (h) => {
    const c = await h.client();
    await using registration = await c.registry.register(instance("r"), { ttlMs: TTL });
    const key = "/services/im-logic/r";
    const oldLease = await leaseOf(c, key);
    await c.transport.leaseRevoke(oldLease);
    const reason = await aborted(registration.signal);
    assert.ok(InfraError.is(reason, "LockLost"));
    await waitUntil(async () => {
      const kvs = (await c.transport.range({ key })).kvs;
      return kvs.length === 1 && kvs[0].lease !== oldLease;
    }, { what: "re-registration under a new lease" });
    await waitUntil(() => registration.state === "registered", { what: "registered state" });
  });

  for (const step of ["read", "watch"] as const) {
    it(`a registration whose ${step} of its own key is refused for good keeps its lease and retries with backoff, logging once`, async (h) => {
      let grants = 0;
      let refused = 0;
      const denied = () => new InfraError("PermissionDenied", "etcd: permission denied");
      const log = recordingLogger();
      const c = await h.client({
        logger: log.logger,
        wrap: (transport) =>
          intercept(transport, {
            leaseGrant(ttl, options) {
              // A loop that re-registered without waiting would never yield to the timers
              // on the memory driver: failing it here makes it back off, so the count shows.
              if (++grants > 5) return Promise.reject(new InfraError("Unavailable", "enough"));
              return transport.leaseGrant(ttl, options);
            },
            range(request, options) {
              if (step === "read" && request.key.includes("/services/im-logic/")) {
                refused++;
                return Promise.reject(denied());
              }
              return transport.range(request, options);
            },
            watch(range, start, sink) {
              if (step === "watch" && range.key.includes("/services/im-logic/")) {
                refused++;
                return refusedWatch(sink, denied());
              }
              return transport.watch(range, start, sink);
            },
          }),
      });
      const observer = await h.client();
      const registration = await c.registry.register(instance("denied"), { ttlMs: TTL });
      const signal = registration.signal;
      await sleep(1_500);
      assert.equal(grants, 1, "lease grants");
      // Backoff from 200 ms, doubling: a handful of tries in 1.5 s, not thousands.
      assert.ok(refused >= 2 && refused <= 15, `${refused} refused ${step}s in 1.5 s`);
      assert.equal(registration.state, "registered");
      assert.equal(signal.aborted, false);
      const warnings = log.lines.filter((line) =>
        line.level === "warn" && line.message.startsWith("registration")
      );
      assert.equal(warnings.length, 1, JSON.stringify(warnings.map((line) => line.message)));
      assert.deepEqual((await observer.registry.discover("im-logic")).map((i) => i.id), [
        "denied",
      ]);
      await registration.close();
      assert.deepEqual(await observer.registry.discover("im-logic"), []);
    });
  }

  it("a picker whose service watch fails for good logs it and opens it again, so it follows the service once the watch is allowed again", async (h) => {
    let refuse = false;
    const live = new Map<WatchSink, { cancel(): Promise<void> }>();
    const log = recordingLogger();
    const c = await h.client({
      logger: log.logger,
      wrap: (transport) =>
        intercept(transport, {
          watch(range, start, sink) {
            if (!range.key.includes("/services/picked/")) {
              return transport.watch(range, start, sink);
            }
            if (refuse) {
              return refusedWatch(
                sink,
                new InfraError("PermissionDenied", "etcd: permission denied"),
              );
            }
            const subscription = transport.watch(range, start, sink);
            live.set(sink, subscription);
            return subscription;
          },
        }),
    });
    const server = await h.client();
    const a = await server.registry.register({ service: "picked", id: "a", address: "a:1" }, {
      ttlMs: TTL,
    });
    await using _b = await server.registry.register(
      { service: "picked", id: "b", address: "b:1" },
      {
        ttlMs: TTL,
      },
    );
    await using picker = await c.registry.picker("picked");
    assert.deepEqual(picker.instances().map((i) => i.id), ["a", "b"]);
    // The connection drops, and the watch opened again is refused for a while (a role change).
    refuse = true;
    for (const [sink, subscription] of live) {
      await subscription.cancel();
      sink.onEnd({ reason: "error", error: new InfraError("Unavailable", "connection reset") });
    }
    live.clear();
    await sleep(400);
    refuse = false;
    await a.close();
    await waitUntil(() => picker.instances().length === 1, {
      timeoutMs: 10_000,
      what: "the picker to see that a left",
    });
    assert.deepEqual(picker.instances().map((i) => i.id), ["b"]);
    assert.ok(
      log.lines.some((line) => line.level === "error" && /picker/.test(line.message)),
      JSON.stringify(log.lines.map((line) => line.message)),
    );
  });

  it("a lease asked for 1 s is granted for etcd's minimum on its default settings, 2 s, and lives that long", async (h) => {
    const c = await h.client();
    const lease = await c.transport.leaseGrant(1);
    assert.equal(lease.ttlSeconds, 2);
    await c.transport.txn({
      compare: [],
      success: [{ type: "put", key: "/min-ttl/k", value: "1", lease: lease.id }],
      failure: [],
    });
    await sleep(1_300);
    assert.equal((await c.transport.range({ key: "/min-ttl/k" })).count, 1);
  });

  it("the entry of a crashed instance disappears when its lease expires", async (h) => {
    const crashed = await h.client();
    const observer = await h.client();
    await crashed.registry.register(instance("crash"), { ttlMs: TTL });
    await crashed.abandon();
    assert.equal((await observer.registry.discover("im-logic")).length, 1);
    await waitUntil(async () => (await observer.registry.discover("im-logic")).length === 0, {
      timeoutMs: 15_000,
      what: "lease expiry",
    });
  });

  it("pickers choose round-robin or at random among live instances", async (h) => {
    const c = await h.client();
    await using _a = await c.registry.register(instance("a"), { ttlMs: TTL });
    await using _b = await c.registry.register(instance("b"), { ttlMs: TTL });
    await using picker = await c.registry.picker("im-logic", { strategy: "round-robin" });
    assert.deepEqual([1, 2, 3, 4].map(() => picker.pick()?.id), ["a", "b", "a", "b"]);
    await using random = await c.registry.picker("im-logic", { strategy: "random" });
    const seen = new Set(Array.from({ length: 50 }, () => random.pick()?.id));
    assert.deepEqual([...seen].sort(), ["a", "b"]);
    const c3 = await c.registry.register(instance("c"), { ttlMs: TTL });
    await waitUntil(() => picker.instances().length === 3, { what: "the picker to see c" });
    await c3.close();
    await waitUntil(() => picker.instances().length === 2, { what: "the picker to drop c" });
    const pick = coord.createPicker("round-robin");
    assert.equal(pick([]), undefined);
    assert.throws(
      () => coord.createPicker("weighted" as never),
      (e) => InfraError.is(e, "InvalidArgument"),
    );
  });

  it("bad registrations are InvalidArgument", async (h) => {
    const c = await h.client();
    await rejectsWith(
      c.registry.register({ service: "s", id: "a/b", address: "x:1" }),
      "InvalidArgument",
    );
    await rejectsWith(
      c.registry.register({ service: "", id: "a", address: "x:1" }),
      "InvalidArgument",
    );
    await rejectsWith(
      c.registry.register({ service: "s", id: "a", address: "" }),
      "InvalidArgument",
    );
    await rejectsWith(
      c.registry.register({ service: "s", id: "a", address: "x:1" }, { ttlMs: 500 }),
      "InvalidArgument",
    );
    await rejectsWith(
      c.registry.register({ service: "s", id: "a", address: "x:1" }, { ttlMs: 1.5e9 }),
      "InvalidArgument",
    );
    await rejectsWith(c.registry.discover("a/b"), "InvalidArgument");
    assert.deepEqual(await c.registry.discover("s"), []);
    await using registration = await c.registry.register({ service: "s", id: "a", address: "x:1" });
    assert.throws(
      () => registration.onStateChange(5 as never),
      (e) => InfraError.is(e, "InvalidArgument"),
    );
  });

  // --- locks -------------------------------------------------------------------------------

  it("a lock is exclusive: tryLock fails while it is held and succeeds after release", async (h) => {
    const a = await h.client();
    const b = await h.client();
    const lock = await a.lock("orders", { ttlMs: TTL });
    assert.equal(await b.tryLock("orders", { ttlMs: TTL }), undefined);
    assert.equal(await a.tryLock("orders", { ttlMs: TTL }), undefined);
    await lock.release();
    await lock.release();
    const next = await b.tryLock("orders", { ttlMs: TTL });
    assert.ok(next);
    assert.ok(next.fencingToken > lock.fencingToken);
    await next.release();
    // The failed try-locks left nothing behind in the queue.
    assert.deepEqual((await a.transport.range({ key: "/locks/orders/", prefix: true })).kvs, []);
  });

  it("waiters get the lock in arrival order", async (h) => {
    const clients = await Promise.all([h.client(), h.client(), h.client(), h.client()]);
    const first = await clients[0].lock("fifo", { ttlMs: TTL });
    const order: number[] = [];
    const waiters: Promise<void>[] = [];
    for (let i = 1; i < clients.length; i++) {
      waiters.push(
        clients[i].lock("fifo", { ttlMs: TTL }).then(async (lock) => {
          order.push(i);
          await sleep(20);
          await lock.release();
        }),
      );
      // Let each waiter join the queue before the next one.
      await waitUntil(
        async () =>
          (await clients[0].transport.range({ key: "/locks/fifo/", prefix: true })).kvs.length ===
            i + 1,
        {
          what: `waiter ${i} queued`,
        },
      );
    }
    await first.release();
    await Promise.all(waiters);
    assert.deepEqual(order, [1, 2, 3]);
  });

  it("fencing tokens grow and a guarded write needs the lock to be held", async (h) => {
    const c = await h.client();
    const lock = await c.lock("fence", { ttlMs: TTL });
    assert.equal(await lock.isOwner(), true);
    await c.kv.set("/guarded/value", 1, { guard: lock });
    const revision = (await c.kv.get("/guarded/value"))!.revision;
    await c.kv.compareAndSet("/guarded/value", 2, revision, { guard: lock });
    await lock.release();
    assert.equal(await lock.isOwner(), false);
    await rejectsWith(c.kv.set("/guarded/value", 3, { guard: lock }), "LockLost");
    await rejectsWith(c.kv.delete("/guarded/value", { guard: lock }), "LockLost");
    await rejectsWith(
      c.kv.compareAndSet("/guarded/value", 4, revision + 1, { guard: lock }),
      "LockLost",
    );
    assert.equal((await c.kv.get("/guarded/value"))?.value, 2);
    const next = await c.lock("fence", { ttlMs: TTL });
    assert.ok(next.fencingToken > lock.fencingToken);
    await next.release();
  });

  it("isOwner answers false once the lease is lost at its local deadline, even when etcd still had the key when it was read", async (h) => {
    let holdReads = false;
    let readHeld = false;
    let letGo = () => {};
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    const c = await h.client({
      wrap: (transport) =>
        intercept(transport, {
          // No keepalive is ever confirmed: the session is lost at its local deadline (grant
          // + TTL - margin), a margin before etcd can expire the lease.
          leaseKeepAlive: () => new Promise<number>(() => {}),
          // The answer to a read of the lock's key comes back late (a slow network).
          async range(request, options) {
            const result = await transport.range(request, options);
            if (holdReads && request.key.includes("/locks/deadline/")) {
              readHeld = true;
              await gate;
            }
            return result;
          },
        }),
    });
    const lock = await c.lock("deadline", { ttlMs: TTL });
    holdReads = true;
    // Asked while held; its answer comes back only after the local deadline.
    const asking = lock.isOwner();
    await waitUntil(() => readHeld, { what: "etcd to answer the read" });
    assert.ok(InfraError.is(await aborted(lock.signal), "LockLost"));
    letGo();
    assert.equal(await asking, false, "isOwner after the lease was lost");
    assert.equal(await lock.isOwner(), false);
    await lock.release();
  });

  it("isOwner answers false once the lock's key was written under another lease", async (h) => {
    const c = await h.client();
    const other = await h.client();
    const lock = await c.lock("overwritten", { ttlMs: TTL });
    await using session = await other.session({ ttlMs: TTL });
    // A put keeps the key's create revision: only its lease says it is no longer ours.
    await other.transport.txn({
      compare: [],
      success: [{ type: "put", key: lock.key, value: "", lease: session.leaseId }],
      failure: [],
    });
    assert.equal(
      (await other.transport.range({ key: lock.key })).kvs[0].createRevision,
      lock.fencingToken,
    );
    assert.equal(await lock.isOwner(), false);
    assert.ok(InfraError.is(await aborted(lock.signal), "LockLost"));
    await lock.release();
    // The release leaves the other lease's key alone.
    assert.equal(await leaseOf(other, lock.key), session.leaseId);
  });

  it("a lock's signal fires when its key is deleted, and the next waiter gets the lock", async (h) => {
    const a = await h.client();
    const b = await h.client();
    const held = await a.lock("deleted", { ttlMs: TTL });
    const signal = held.signal;
    const waiting = b.lock("deleted", { ttlMs: TTL });
    await waitUntil(
      async () =>
        (await a.transport.range({ key: "/locks/deleted/", prefix: true })).kvs.length === 2,
      {
        what: "the waiter to queue",
      },
    );
    await a.transport.txn({
      compare: [],
      success: [{ type: "delete", key: held.key }],
      failure: [],
    });
    const reason = await aborted(signal);
    assert.ok(InfraError.is(reason, "LockLost"));
    const next = await waiting;
    assert.ok(next.fencingToken > held.fencingToken);
    await next.release();
    await held.release();
  });

  it("a lock's signal fires with LockLost when its lease is revoked, and the next waiter gets the lock", async (h) => {
    const a = await h.client();
    const b = await h.client();
    const held = await a.lock("revoked", { ttlMs: TTL });
    const waiting = b.lock("revoked", { ttlMs: TTL });
    await waitUntil(
      async () =>
        (await a.transport.range({ key: "/locks/revoked/", prefix: true })).kvs.length === 2,
      {
        what: "the waiter to queue",
      },
    );
    await a.transport.leaseRevoke(await leaseOf(a, held.key));
    const reason = await aborted(held.signal);
    assert.ok(InfraError.is(reason, "LockLost"));
    const next = await waiting;
    assert.equal(await next.isOwner(), true);
    await next.release();
    // The client opens a new session for the next lock.
    const again = await a.lock("revoked", { ttlMs: TTL });
    await again.release();
  });

  it("a lock whose key may not be watched says so in the log, and its signal still follows the lease", async (h) => {
    const log = recordingLogger();
    const c = await h.client({
      logger: log.logger,
      wrap: (transport) =>
        intercept(transport, {
          watch(range, start, sink) {
            return range.key.includes("/locks/unwatched/")
              ? refusedWatch(sink)
              : transport.watch(range, start, sink);
          },
        }),
    });
    const lock = await c.lock("unwatched", { ttlMs: TTL });
    const signal = lock.signal;
    await waitUntil(
      () =>
        log.lines.some((line) => line.level === "warn" && line.message.startsWith("cannot watch")),
      { what: "the warning" },
    );
    const line = log.lines.find((line) => line.message.startsWith("cannot watch"))!;
    assert.equal((line.fields as { key: string }).key, lock.key);
    await c.transport.leaseRevoke(await leaseOf(c, lock.key));
    assert.ok(InfraError.is(await aborted(signal), "LockLost"));
  });

  it("the lock of a crashed holder passes to the next waiter when the lease expires", async (h) => {
    const crashed = await h.client();
    const waiter = await h.client();
    await crashed.lock("crash", { ttlMs: TTL });
    const waiting = waiter.lock("crash", { ttlMs: TTL });
    await sleep(200);
    await crashed.abandon();
    const lock = await waiting;
    assert.equal(await lock.isOwner(), true);
    await lock.release();
  });

  it("an aborted wait leaves the queue and does not block later waiters", async (h) => {
    const a = await h.client();
    const b = await h.client();
    const held = await a.lock("abort", { ttlMs: TTL });
    const stop = new AbortController();
    const waiting = b.lock("abort", { ttlMs: TTL, signal: stop.signal });
    await waitUntil(
      async () =>
        (await a.transport.range({ key: "/locks/abort/", prefix: true })).kvs.length === 2,
      {
        what: "the waiter to queue",
      },
    );
    stop.abort();
    await rejectsWith(waiting, "Aborted");
    await rejectsWith(b.lock("abort", { ttlMs: TTL, signal: AbortSignal.timeout(100) }), "Timeout");
    await waitUntil(
      async () =>
        (await a.transport.range({ key: "/locks/abort/", prefix: true })).kvs.length === 1,
      {
        what: "the aborted waiters to leave",
      },
    );
    await held.release();
    const next = await b.tryLock("abort", { ttlMs: TTL });
    assert.ok(next);
    await next.release();
  });

  it("a lock or a campaign given up while its queue join is still on the wire leaves no key once the join lands", async (h) => {
    const links = { current: undefined as ReturnType<typeof delayed> | undefined };
    const late = (request: TxnRequest) =>
      request.success.some((op) => op.type === "put" && /\/(locks|elections)\/late\//.test(op.key));
    const slow = await h.client({
      wrap: (transport) =>
        (links.current = delayed(transport, { matches: late, ms: 300 })).transport,
    });
    const other = await h.client();
    await rejectsWith(
      slow.lock("late", { ttlMs: TTL, signal: AbortSignal.timeout(100) }),
      "Timeout",
    );
    await rejectsWith(
      slow.election("late").campaign("x", { ttlMs: TTL, signal: AbortSignal.timeout(100) }),
      "Timeout",
    );
    // The joins land now, on the slow client's shared session (which stays alive).
    await links.current!.settled();
    for (const prefix of ["/locks/late/", "/elections/late/"]) {
      await waitUntil(
        async () => (await other.transport.range({ key: prefix, prefix: true })).kvs.length === 0,
        { timeoutMs: 5_000, what: `the late key under ${prefix} to be removed` },
      );
    }
    const lock = await other.tryLock("late", { ttlMs: TTL });
    assert.ok(lock, "the lock is free for others");
    await lock.release();
    assert.equal(await other.election("late").leader(), undefined);
    // The slow client itself still locks (its own later joins are not removed).
    const own = await slow.lock("late", { ttlMs: TTL });
    assert.equal(await own.isOwner(), true);
    await own.release();
  });

  it("a release wakes only the next waiter: each waiter watches the key just before its own", async (h) => {
    const live = new Set<{ key: string }>();
    let wakeups = 0;
    const counted = (transport: Transport) =>
      intercept(transport, {
        watch(range, start, sink) {
          if (!range.key.includes("/locks/herd/")) return transport.watch(range, start, sink);
          const entry = { key: range.key };
          live.add(entry);
          const subscription = transport.watch(range, start, {
            onCreated: () => sink.onCreated?.(),
            onEvents(events) {
              if (events.some((event) => event.type === "delete")) wakeups++;
              sink.onEvents(events);
            },
            onEnd: (end) => sink.onEnd(end),
          });
          return {
            cancel() {
              live.delete(entry);
              return subscription.cancel();
            },
          };
        },
      });
    const holder = await h.client();
    const waiters = await Promise.all([1, 2, 3, 4].map(() => h.client({ wrap: counted })));
    const queue = async () =>
      (await holder.transport.range({
        key: "/locks/herd/",
        prefix: true,
        sort: { target: "create", order: "ascend" },
      })).kvs.map((kv) => kv.key);
    let held = await holder.lock("herd", { ttlMs: TTL });
    const waiting: Promise<coord.Lock>[] = [];
    for (const [i, waiter] of waiters.entries()) {
      waiting.push(waiter.lock("herd", { ttlMs: TTL }));
      await waitUntil(async () => (await queue()).length === i + 2, { what: `waiter ${i + 1}` });
    }
    await waitUntil(() => live.size === 4, { what: "a watch per waiter" });
    // Waiter n watches the key of waiter n - 1: four different keys, the whole queue but
    // its tail (the raw watch keys carry the namespace in front).
    const watched = [...live].map((entry) => entry.key).sort();
    const expected = (await queue()).slice(0, 4);
    assert.equal(new Set(watched).size, 4, JSON.stringify(watched));
    for (const key of expected) assert.ok(watched.some((raw) => raw.endsWith(key)), key);
    for (let i = 0; i < waiting.length; i++) {
      const before = wakeups;
      await held.release();
      held = await waiting[i];
      await sleep(100);
      assert.equal(wakeups - before, 1, `release ${i + 1} woke one waiter`);
    }
    await held.release();
  });

  it("one caller's aborted signal does not fail a concurrent lock call that shares its session", async (h) => {
    const c = await h.client();
    const stop = new AbortController();
    stop.abort();
    // Same tick, same TTL: both wait for the one shared session being opened.
    const [gaveUp, plain] = await Promise.allSettled([
      c.lock("shared-a", { ttlMs: TTL, signal: stop.signal }),
      c.lock("shared-b", { ttlMs: TTL }),
    ]);
    assert.equal(gaveUp.status, "rejected");
    assert.ok(InfraError.is((gaveUp as PromiseRejectedResult).reason, "Aborted"));
    assert.equal(plain.status, "fulfilled");
    await (plain as PromiseFulfilledResult<coord.Lock>).value.release();
  });

  it("withLock runs critical sections one at a time and releases when they throw", async (h) => {
    const clients = await Promise.all([h.client(), h.client()]);
    let inside = 0;
    let maxInside = 0;
    const run = (c: CoordClient, i: number) =>
      c.withLock("section", async (lock) => {
        assert.equal(lock.signal.aborted, false);
        inside++;
        maxInside = Math.max(maxInside, inside);
        await sleep(10);
        inside--;
        return i;
      }, { ttlMs: TTL });
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => run(clients[i % 2], i)));
    assert.deepEqual(results, [0, 1, 2, 3, 4, 5]);
    assert.equal(maxInside, 1);
    await assert.rejects(
      clients[0].withLock("section", () => {
        throw new Error("boom");
      }, { ttlMs: TTL }),
      /boom/,
    );
    const after = await clients[1].tryLock("section", { ttlMs: TTL });
    assert.ok(after);
    await after.release();
  });

  it("bad lock names and TTLs are InvalidArgument", async (h) => {
    const c = await h.client();
    await rejectsWith(c.lock("a/b"), "InvalidArgument");
    await rejectsWith(c.lock(""), "InvalidArgument");
    await rejectsWith(c.tryLock("x", { ttlMs: 10 }), "InvalidArgument");
    await rejectsWith(c.lock("x", { ttlMs: 2.5 }), "InvalidArgument");
    await rejectsWith(c.withLock("x", null as never), "InvalidArgument");
  });

  // --- sessions ----------------------------------------------------------------------------

  /** A client whose lease grants and keepalives are counted. */
  const countingLeases = async (h: CoordHarness) => {
    const calls = { grants: 0, keepAlives: 0 };
    const client = await h.client({
      wrap: (transport) =>
        intercept(transport, {
          leaseGrant(ttl, options) {
            calls.grants++;
            return transport.leaseGrant(ttl, options);
          },
          leaseKeepAlive(id, options) {
            calls.keepAlives++;
            return transport.leaseKeepAlive(id, options);
          },
        }),
    });
    return { client, calls };
  };

  it("locks on one session share its lease and its one keepalive, and closing the session releases them all at once", async (h) => {
    const { client: c, calls } = await countingLeases(h);
    const other = await h.client();
    await using session = await c.session({ ttlMs: TTL });
    const rooms = Array.from({ length: 40 }, (_, i) => `room-${i}`);
    const locks = await Promise.all(rooms.map((room) => c.lock(room, { session })));
    const tried = await c.tryLock("room-extra", { session });
    assert.ok(tried);
    for (const lock of [...locks, tried]) assert.equal(await leaseOf(c, lock.key), session.leaseId);
    const signals = [...locks, tried].map((lock) => lock.signal);
    const keepAlivesBefore = calls.keepAlives;
    await sleep(TTL / 3 + 300);
    assert.equal(calls.grants, 1, "one lease for the session and every lock on it");
    assert.ok(calls.keepAlives - keepAlivesBefore <= 2, `${calls.keepAlives} keepalives`);
    assert.equal(await other.tryLock("room-0", { ttlMs: TTL }), undefined);
    await session.close();
    assert.ok(session.signal.aborted && InfraError.is(session.signal.reason, "Closed"));
    for (const signal of signals) {
      assert.ok(signal.aborted);
      assert.ok(InfraError.is(signal.reason, "Closed"), String(signal.reason));
    }
    const left = await other.transport.range({ key: "/locks/", prefix: true });
    assert.deepEqual(left.kvs.map((kv) => kv.key), []);
    const next = await other.tryLock("room-0", { ttlMs: TTL });
    assert.ok(next);
    await next.release();
  });

  it("releasing a lock or resigning on a caller's session deletes only its own key: the session and what else is bound to it live on", async (h) => {
    const c = await h.client();
    await using session = await c.session({ ttlMs: TTL });
    const first = await c.lock("own-a", { session });
    const second = await c.lock("own-b", { session });
    const leadership = await c.election("own").campaign("me", { session });
    await first.release();
    await leadership.resign();
    await c.withLock("own-c", (lock) => assert.equal(lock.signal.aborted, false), { session });
    assert.equal(session.alive, true);
    assert.equal(session.signal.aborted, false);
    assert.ok(await c.transport.leaseKeepAlive(session.leaseId) > 0, "the lease is alive");
    assert.equal(await second.isOwner(), true);
    assert.equal(second.signal.aborted, false);
    assert.equal(await c.election("own").leader(), undefined);
    assert.deepEqual(
      (await c.transport.range({ key: "/locks/", prefix: true })).kvs.map((kv) => kv.key),
      [second.key],
    );
  });

  it("a lost session ends everything bound to it for good: locks, leadership, registration and instance id report the loss and nothing takes a lease of its own", async (h) => {
    const { client: c, calls } = await countingLeases(h);
    const observer = await h.client();
    const session = await c.session({ ttlMs: TTL });
    const lock = await c.lock("lost-with-session", { session });
    const leadership = await c.election("lost-with-session").campaign("a", { session });
    const registration = await c.registry.register(instance("with-session"), { session });
    const id = await c.leaseInstanceId("with-session", { session });
    assert.equal(await leaseOf(c, `/services/im-logic/with-session`), session.leaseId);
    assert.equal(await leaseOf(c, `/ids/with-session/${id.id}`), session.leaseId);
    const signals = [
      session.signal,
      lock.signal,
      leadership.signal,
      registration.signal,
      id.signal,
    ];
    await observer.transport.leaseRevoke(session.leaseId);
    for (const signal of signals) {
      assert.ok(InfraError.is(await aborted(signal), "LockLost"), String(signal.reason));
    }
    assert.equal(registration.state, "expired");
    assert.equal(id.state, "expired");
    // Nothing is restored or re-claimed under a lease of its own.
    await sleep(600);
    assert.equal(calls.grants, 1);
    assert.equal(registration.state, "expired");
    assert.equal(id.state, "expired");
    assert.deepEqual(await observer.registry.discover("im-logic"), []);
    assert.deepEqual(
      (await observer.transport.range({ key: "/ids/with-session/", prefix: true })).kvs,
      [],
    );
    // A lost session binds nothing more.
    await rejectsWith(c.lock("after", { session }), "LockLost");
    await rejectsWith(c.registry.register(instance("after"), { session }), "LockLost");
    await rejectsWith(c.leaseInstanceId("after", { session }), "LockLost");
    await rejectsWith(c.election("after").campaign("x", { session }), "LockLost");
    await registration.close();
    await id.close();
    assert.equal(registration.state, "closed");
    assert.equal(id.state, "closed");
    await session.close();
  });

  it("a session lost while etcd is unreachable ends what is bound to it at its deadline, and nothing comes back once etcd answers", async (h) => {
    const { client: c, links } = await clientWithOutage(h);
    const observer = await h.client();
    const session = await c.session({ ttlMs: TTL });
    const lock = await c.lock("outage-session", { session });
    const registration = await c.registry.register(instance("outage-session"), { session });
    const started = performance.now();
    await links.begin();
    try {
      for (const signal of [session.signal, lock.signal, registration.signal]) {
        assert.ok(InfraError.is(await aborted(signal), "LockLost"));
      }
      assert.ok(performance.now() - started < TTL, "lost before etcd could expire the lease");
    } finally {
      links.end();
    }
    // The lost session's lease is revoked once etcd answers; nothing is registered again.
    await waitUntil(async () => (await observer.registry.discover("im-logic")).length === 0, {
      what: "the lease revoked",
    });
    await sleep(500);
    assert.equal(registration.state, "expired");
    assert.deepEqual(await observer.registry.discover("im-logic"), []);
    assert.ok(await observer.tryLock("outage-session", { ttlMs: TTL }));
    await registration.close();
  });

  it("closing a session closes the registrations and instance ids on it; closing one of them deletes only its key", async (h) => {
    const c = await h.client();
    const observer = await h.client();
    const session = await c.session({ ttlMs: TTL });
    const kept = await c.registry.register(instance("kept"), { session });
    const gone = await c.registry.register(instance("gone"), { session });
    const keptId = await c.leaseInstanceId("on-session", { session });
    const goneId = await c.leaseInstanceId("on-session", { session });
    await gone.close();
    await goneId.close();
    assert.equal(session.alive, true);
    assert.deepEqual((await observer.registry.discover("im-logic")).map((i) => i.id), ["kept"]);
    assert.deepEqual(
      (await observer.transport.range({ key: "/ids/on-session/", prefix: true })).kvs
        .map((kv) => kv.key),
      [`/ids/on-session/${keptId.id}`],
    );
    assert.equal(kept.state, "registered");
    assert.equal(keptId.state, "held");
    const states: string[] = [];
    kept.onStateChange((state) => states.push(`registration ${state}`));
    keptId.onStateChange((state) => states.push(`id ${state}`));
    await session.close();
    assert.deepEqual(states.sort(), ["id closed", "registration closed"]);
    assert.ok(InfraError.is(kept.signal.reason, "Closed"));
    assert.ok(InfraError.is(keptId.signal.reason, "Closed"));
    assert.deepEqual(await observer.registry.discover("im-logic"), []);
    assert.deepEqual(
      (await observer.transport.range({ key: "/ids/on-session/", prefix: true })).kvs,
      [],
    );
    await kept.close();
    await keptId.close();
  });

  it("a registration and an instance id on a caller's session put their deleted keys back under that session", async (h) => {
    const c = await h.client();
    await using session = await c.session({ ttlMs: TTL });
    await using registration = await c.registry.register(instance("back"), { session });
    await using id = await c.leaseInstanceId("back", { session });
    const keys = ["/services/im-logic/back", `/ids/back/${id.id}`];
    const firstPeriods = [registration.signal, id.signal];
    for (const key of keys) await c.kv.delete(key);
    for (const signal of firstPeriods) assert.ok(InfraError.is(await aborted(signal), "LockLost"));
    await waitUntil(async () => {
      for (const key of keys) {
        if ((await c.transport.range({ key })).kvs[0]?.lease !== session.leaseId) return false;
      }
      return registration.state === "registered" && id.state === "held";
    }, { what: "both keys back under the session's lease" });
    assert.equal(session.alive, true);
  });

  it("a session must be one of this client's, alive, and not given with ttlMs", async (h) => {
    const c = await h.client();
    const other = await h.client();
    const foreign = await other.session({ ttlMs: TTL });
    const fake = { leaseId: "1", ttlMs: TTL, signal: new AbortController().signal, alive: true };
    for (const session of [foreign, fake as never, "1" as never]) {
      await rejectsWith(c.lock("s", { session }), "InvalidArgument");
      await rejectsWith(c.tryLock("s", { session }), "InvalidArgument");
      await rejectsWith(c.election("s").campaign("x", { session }), "InvalidArgument");
      await rejectsWith(c.registry.register(instance("s"), { session }), "InvalidArgument");
      await rejectsWith(c.leaseInstanceId("s", { session }), "InvalidArgument");
    }
    const own = await c.session({ ttlMs: TTL });
    await rejectsWith(c.lock("s", { session: own, ttlMs: TTL }), "InvalidArgument");
    await rejectsWith(c.session({ ttlMs: 10 }), "InvalidArgument");
    await rejectsWith(c.session(null as never), "InvalidArgument");
    await own.close();
    await own.close();
    await rejectsWith(c.lock("s", { session: own }), "Closed");
    await rejectsWith(c.leaseInstanceId("s", { session: own }), "Closed");
    const stop = new AbortController();
    stop.abort();
    await rejectsWith(c.session({ ttlMs: TTL, signal: stop.signal }), "Aborted");
    await foreign.close();
    assert.deepEqual((await c.transport.range({ key: "/", prefix: true })).kvs, []);
  });

  it("closing the client closes its sessions and revokes their leases", async (h) => {
    const c = await h.client();
    const observer = await h.client();
    const session = await c.session({ ttlMs: TTL });
    const lock = await c.lock("client-closing", { session });
    await c.close();
    assert.ok(InfraError.is(session.signal.reason, "Closed"));
    assert.ok(lock.signal.aborted);
    assert.equal(await observer.transport.leaseKeepAlive(session.leaseId), 0);
    assert.ok(await observer.tryLock("client-closing", { ttlMs: TTL }));
  });

  // --- elections ---------------------------------------------------------------------------

  for (const ending of ["resign", "lease"] as const) {
    const title = ending === "resign"
      ? "candidates lead in turn, and observers see each leader"
      : "observers see the next leader once the leader's lease is lost";
    it(title, async (h) => {
      const a = await h.client();
      const b = await h.client();
      const observer = await h.client();
      const name = `primary-${ending}`;
      const reader = observer.election(name).observe<string>().getReader();
      try {
        assert.equal(await nextChunk(reader), undefined);
        const leaderA = await a.election(name).campaign("a", { ttlMs: TTL });
        assert.equal((await nextChunk(reader))?.value, "a");
        assert.deepEqual((await b.election(name).leader())?.value, "a");
        const campaignB = b.election(name).campaign("b", { ttlMs: TTL });
        await waitUntil(
          async () =>
            (await a.transport.range({ key: `/elections/${name}/`, prefix: true })).kvs.length ===
              2,
          { what: "b to queue" },
        );
        if (ending === "resign") {
          await leaderA.resign();
        } else {
          await a.transport.leaseRevoke(await leaseOf(a, leaderA.key));
          assert.ok(InfraError.is(await aborted(leaderA.signal), "LockLost"));
        }
        const leaderB = await campaignB;
        const seen = await chunkWhere(reader, (info) => info?.value === "b");
        assert.ok(seen!.revision > leaderA.fencingToken);
        assert.equal(leaderB.fencingToken, seen!.revision);
        assert.equal((await observer.election(name).leader())?.value, "b");
        await leaderB.resign();
        assert.equal(await chunkWhere(reader, (info) => info === undefined), undefined);
        assert.equal(await observer.election(name).leader(), undefined);
      } finally {
        await reader.cancel();
      }
    });
  }

  it("a slow observer of an election gets the newest leader and value, not the ones it missed", async (h) => {
    const c = await h.client();
    const seen = { events: 0 };
    const observer = await h.client({ wrap: (t) => countingWatches(t, seen) });
    const reader = observer.election("slow").observe<number>().getReader();
    try {
      assert.equal(await nextChunk(reader), undefined);
      const leadership = await c.election("slow").campaign(0, { ttlMs: TTL });
      for (let n = 1; n <= 20; n++) await leadership.proclaim(n);
      await waitUntil(() => seen.events === 21, {
        what: "the watch to see the campaign, 20 values",
      });
      const newest = await nextChunk(reader);
      assert.deepEqual([newest?.key, newest?.value], [leadership.key, 20]);
      const next = reader.read();
      assert.ok(await stillWaiting(next), "no leader was left to read");
      await leadership.resign();
      assert.equal((await next).value, undefined);
    } finally {
      await reader.cancel();
    }
  });

  it("a leader can proclaim a new value until it resigns", async (h) => {
    const c = await h.client();
    const leadership = await c.election("proclaim").campaign({ address: "a:1" }, { ttlMs: TTL });
    await leadership.proclaim({ address: "a:2" });
    assert.deepEqual((await c.election("proclaim").leader())?.value, { address: "a:2" });
    await leadership.resign();
    assert.ok(leadership.signal.aborted);
    await rejectsWith(leadership.proclaim({ address: "a:3" }), "LockLost");
  });

  it("a leader whose key was written under another lease cannot proclaim it back under its own", async (h) => {
    const c = await h.client();
    const other = await h.client();
    const leadership = await c.election("taken-over").campaign("a", { ttlMs: TTL });
    await using session = await other.session({ ttlMs: TTL });
    await other.transport.txn({
      compare: [],
      success: [{ type: "put", key: leadership.key, value: '"b"', lease: session.leaseId }],
      failure: [],
    });
    await rejectsWith(leadership.proclaim("a2"), "LockLost");
    assert.equal(await leaseOf(other, leadership.key), session.leaseId);
    assert.equal((await other.election("taken-over").leader())?.value, "b");
    await leadership.resign();
  });

  it("leadership is lost when its lease is revoked, and a campaign can be aborted", async (h) => {
    const a = await h.client();
    const b = await h.client();
    const leadership = await a.election("lost").campaign("a", { ttlMs: TTL });
    const stop = new AbortController();
    const campaign = b.election("lost").campaign("b", { ttlMs: TTL, signal: stop.signal });
    await sleep(200);
    stop.abort();
    await rejectsWith(campaign, "Aborted");
    await a.transport.leaseRevoke(await leaseOf(a, leadership.key));
    assert.ok(InfraError.is(await aborted(leadership.signal), "LockLost"));
    assert.equal(await b.election("lost").leader(), undefined);
    await rejectsWith(() => a.election("bad/name"), "InvalidArgument");
  });

  // --- instance ids ------------------------------------------------------------------------

  it("instance ids are unique among live holders and reused after release", async (h) => {
    const a = await h.client();
    const b = await h.client();
    const first = await a.leaseInstanceId("gateway", { ttlMs: TTL });
    const second = await b.leaseInstanceId("gateway", { ttlMs: TTL });
    const third = await b.leaseInstanceId("gateway", { ttlMs: TTL });
    assert.deepEqual([first.id, second.id, third.id], [0, 1, 2]);
    assert.equal(first.service, "gateway");
    await second.close();
    await second.close();
    assert.ok(second.signal.aborted);
    const again = await a.leaseInstanceId("gateway", { ttlMs: TTL });
    assert.equal(again.id, 1);
    const other = await a.leaseInstanceId("other-service", { ttlMs: TTL });
    assert.equal(other.id, 0);
    await Promise.all([first.close(), third.close(), again.close(), other.close()]);
  });

  it("concurrent claims never share an id", async (h) => {
    const clients = await Promise.all(Array.from({ length: 4 }, () => h.client()));
    const leases = await Promise.all(
      Array.from(
        { length: 12 },
        (_, i) => clients[i % 4].leaseInstanceId("burst", { ttlMs: TTL, maxId: 15 }),
      ),
    );
    const ids = leases.map((l) => l.id).sort((x, y) => x - y);
    assert.deepEqual(ids, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    await Promise.all(leases.map((l) => l.close()));
  });

  it("id leases on one caller's session get distinct ids, and closing one leaves the others' keys", async (h) => {
    const c = await h.client();
    const session = await c.session({ ttlMs: TTL });
    try {
      const leases = await Promise.all(
        Array.from({ length: 5 }, () => c.leaseInstanceId("shared", { session, holder: "same" })),
      );
      assert.deepEqual(leases.map((l) => l.id).sort(), [0, 1, 2, 3, 4]);
      const ids = async () =>
        (await c.transport.range({ key: "/ids/shared/", prefix: true })).kvs.map((kv) =>
          Number(kv.key.slice("/ids/shared/".length))
        );
      await leases[0].close();
      assert.deepEqual(await ids(), leases.slice(1).map((l) => l.id).sort());
      assert.ok(leases.slice(1).every((l) => l.state === "held"));
      await Promise.all(leases.map((l) => l.close()));
      assert.deepEqual(await ids(), []);
    } finally {
      await session.close();
    }
  });

  it("an id lease on a caller's session whose key went to a sibling lease on that session is taken, and its close leaves the sibling's key", async (h) => {
    // The first lease's re-claim waits until the second lease has claimed the id.
    let holding = false;
    let claimed!: () => void;
    const secondClaimed = new Promise<void>((resolve) => claimed = resolve);
    const c = await h.client({
      wrap: (transport) =>
        intercept(transport, {
          async txn(request, options) {
            const put = request.success[0];
            if (holding && put?.type === "put" && put.value.includes('"holder":"first"')) {
              await secondClaimed;
            }
            return transport.txn(request, options);
          },
        }),
    });
    const session = await c.session({ ttlMs: TTL });
    try {
      const first = await c.leaseInstanceId("sibling", { session, holder: "first" });
      void first.signal; // watched, as uid's generator watches it
      holding = true;
      const key = `/ids/sibling/${first.id}`;
      await c.kv.delete(key);
      const second = await c.leaseInstanceId("sibling", { session, holder: "second" });
      claimed();
      assert.equal(second.id, first.id);
      const created = (await c.transport.range({ key })).kvs[0].createRevision;
      await waitUntil(() => first.state === "taken", { what: "the first lease to give up" });
      await sleep(300);
      assert.equal(first.state, "taken");
      assert.equal(second.state, "held");
      await first.close();
      assert.equal((await c.transport.range({ key })).kvs[0]?.createRevision, created);
      assert.equal(second.state, "held");
      await second.close();
      assert.deepEqual((await c.transport.range({ key })).kvs, []);
    } finally {
      await session.close();
    }
  });

  it("ids run out with ResourceExhausted, and a preferred id is taken when free", async (h) => {
    const c = await h.client();
    const preferred = await c.leaseInstanceId("small", { ttlMs: TTL, maxId: 2, preferId: 2 });
    assert.equal(preferred.id, 2);
    const rest = [
      await c.leaseInstanceId("small", { ttlMs: TTL, maxId: 2, preferId: 2 }),
      await c.leaseInstanceId("small", { ttlMs: TTL, maxId: 2 }),
    ];
    assert.deepEqual(rest.map((l) => l.id), [0, 1]);
    await rejectsWith(c.leaseInstanceId("small", { ttlMs: TTL, maxId: 2 }), "ResourceExhausted");
    await Promise.all([preferred, ...rest].map((l) => l.close()));
  });

  it("a lost id lease fires its signal at once, then re-claims its id under a new lease with a fresh signal", async (h) => {
    const c = await h.client();
    const lease = await c.leaseInstanceId("lost", { ttlMs: TTL });
    const states: coord.InstanceIdState[] = [];
    lease.onStateChange((state) => states.push(state));
    const firstPeriod = lease.signal;
    const key = `/ids/lost/${lease.id}`;
    const oldLease = await leaseOf(c, key);
    await c.transport.leaseRevoke(oldLease);
    assert.ok(InfraError.is(await aborted(firstPeriod), "LockLost"));
    await waitUntil(() => lease.state === "held", { what: "the re-claim" });
    assert.deepEqual(states, ["lost", "held"]);
    assert.equal(lease.signal.aborted, false);
    assert.notEqual(await leaseOf(c, key), oldLease);
    await lease.close();
    assert.equal(lease.state, "closed");
    assert.deepEqual((await c.transport.range({ key })).kvs, []);
  });

  it("a lost id lease whose key another holder took is over: taken, and closing it leaves their key", async (h) => {
    const c = await h.client();
    const other = await h.client();
    const lease = await c.leaseInstanceId("takeover", { ttlMs: TTL });
    const states: coord.InstanceIdState[] = [];
    lease.onStateChange((state) => states.push(state));
    const key = `/ids/takeover/${lease.id}`;
    const theirs = await other.transport.leaseGrant(TTL / 1000);
    await other.transport.txn({
      compare: [],
      success: [{ type: "put", key, value: '{"holder":"other"}', lease: theirs.id }],
      failure: [],
    });
    assert.ok(InfraError.is(await aborted(lease.signal), "LockLost"));
    await waitUntil(() => lease.state === "taken", { what: "the lease to give up" });
    assert.deepEqual(states, ["lost", "taken"]);
    assert.ok(lease.signal.aborted);
    await lease.close();
    assert.equal(await leaseOf(c, key), theirs.id);
    await other.transport.leaseRevoke(theirs.id);
  });

  it("an id lease lost while etcd is unreachable re-claims the same id once it answers again", async (h) => {
    const { client: c, links } = await clientWithOutage(h);
    const observer = await h.client();
    const lease = await c.leaseInstanceId("outage", { ttlMs: TTL });
    const states: coord.InstanceIdState[] = [];
    lease.onStateChange((state) => states.push(state));
    await links.begin();
    try {
      assert.ok(InfraError.is(await aborted(lease.signal), "LockLost"));
      assert.equal(lease.state, "lost");
    } finally {
      links.end();
    }
    await waitUntil(() => lease.state === "held", { timeoutMs: 15_000, what: "the re-claim" });
    assert.deepEqual(states, ["lost", "held"]);
    const kvs = (await observer.transport.range({ key: "/ids/outage/", prefix: true })).kvs;
    assert.deepEqual(kvs.map((kv) => kv.key), [`/ids/outage/${lease.id}`]);
    await lease.close();
  });

  it("an id another holder claims during the outage is not re-claimed: the lease is taken", async (h) => {
    const { client: c, links } = await clientWithOutage(h);
    const other = await h.client();
    const lease = await c.leaseInstanceId("contested", { ttlMs: TTL, maxId: 0 });
    await links.begin();
    let theirs: coord.InstanceIdLease | undefined;
    try {
      await aborted(lease.signal);
      // Once the old lease expires, the only id is free for the other holder.
      await waitUntil(async () => {
        theirs = await other.leaseInstanceId("contested", { ttlMs: TTL, maxId: 0 })
          .catch(() => undefined);
        return theirs !== undefined;
      }, { timeoutMs: 15_000, what: "the other holder's claim" });
    } finally {
      links.end();
    }
    await waitUntil(() => lease.state === "taken", { timeoutMs: 15_000, what: "taken" });
    assert.equal(theirs!.state, "held");
    await lease.close();
    assert.equal(theirs!.state, "held");
    assert.equal((await other.transport.range({ key: "/ids/contested/0" })).kvs.length, 1);
    await theirs!.close();
  });

  it("an id lease reads as lost as soon as its deadline passed, even before its timers could run", async (h) => {
    const c = await h.client();
    const lease = await c.leaseInstanceId("blocked", { ttlMs: TTL });
    const signal = lease.signal;
    assert.equal(lease.state, "held");
    // Block the event loop past the TTL: no keepalive, no deadline timer can run.
    const until = performance.now() + TTL + 100;
    while (performance.now() < until) {
      // busy
    }
    assert.equal(lease.state, "lost");
    assert.ok(signal.aborted);
    await lease.close();
  });

  it("the id of a crashed holder stays taken until its lease expires", async (h) => {
    const crashed = await h.client();
    const other = await h.client();
    const lease = await crashed.leaseInstanceId("crash", { ttlMs: TTL, maxId: 0 });
    await crashed.abandon();
    await rejectsWith(
      other.leaseInstanceId("crash", { ttlMs: TTL, maxId: 0 }),
      "ResourceExhausted",
    );
    await waitUntil(
      async () =>
        (await other.transport.range({ key: "/ids/crash/", prefix: true })).kvs.length === 0,
      {
        timeoutMs: 15_000,
        what: "lease expiry",
      },
    );
    const next = await other.leaseInstanceId("crash", { ttlMs: TTL, maxId: 0 });
    assert.equal(next.id, lease.id);
    await next.close();
  });

  it("bad id requests are InvalidArgument", async (h) => {
    const c = await h.client();
    await rejectsWith(c.leaseInstanceId("s", { maxId: -1 }), "InvalidArgument");
    await rejectsWith(c.leaseInstanceId("s", { maxId: 3, preferId: 4 }), "InvalidArgument");
    await rejectsWith(c.leaseInstanceId("s", { ttlMs: 0 }), "InvalidArgument");
    await rejectsWith(c.leaseInstanceId("a/b"), "InvalidArgument");
    await using lease = await c.leaseInstanceId("s", { ttlMs: TTL });
    assert.throws(
      () => lease.onStateChange(5 as never),
      (e) => InfraError.is(e, "InvalidArgument"),
    );
  });

  // --- the client ---------------------------------------------------------------------------

  it("what is still being opened when the client closes is undone: it rejects with Closed (or comes back closed), leaves no key and no lease, and close waits for it", async (h) => {
    const observer = await h.client();
    // From "in the same tick" to "long done": every phase of the openings meets the close.
    for (const waitMs of [-1, 0, 1, 2, 5, 10, 20, 50]) {
      const granted: string[] = [];
      const c = await h.client({
        wrap: (transport) =>
          intercept(transport, {
            async leaseGrant(ttl, options) {
              const grant = await transport.leaseGrant(ttl, options);
              granted.push(grant.id);
              return grant;
            },
          }),
      });
      let settled = 0;
      const outcome = <T>(opening: Promise<T>) =>
        opening.then((value) => ({ value }), (error) => ({ error })).finally(() => settled++);
      const openings = [
        outcome(c.registry.register(instance("opening"), { ttlMs: TTL })),
        outcome(c.leaseInstanceId("opening", { ttlMs: TTL })),
        outcome(c.lock("opening", { ttlMs: TTL })),
        outcome(c.election("opening").campaign("c", { ttlMs: TTL })),
        outcome(c.config("/config/t/opening", { defaults: { n: 0 } })),
        outcome(c.registry.picker("im-logic")),
        outcome(c.session({ ttlMs: TTL })),
      ];
      if (waitMs >= 0) await sleep(waitMs);
      await c.close();
      assert.equal(settled, openings.length, `settled when close resolved (wait ${waitMs} ms)`);
      for (const result of await Promise.all(openings)) {
        if ("error" in result) {
          assert.ok(InfraError.is(result.error, "Closed"), `${result.error} (wait ${waitMs} ms)`);
          continue;
        }
        const value = result.value as unknown as Record<string, unknown>;
        if ("state" in value) assert.equal(value.state, "closed", `wait ${waitMs} ms`);
        if ("signal" in value) assert.ok((value.signal as AbortSignal).aborted);
      }
      for (const prefix of ["/services/", "/ids/opening/", "/locks/opening/", "/elections/"]) {
        const kvs = (await observer.transport.range({ key: prefix, prefix: true })).kvs;
        assert.deepEqual(kvs.map((kv) => kv.key), [], `${prefix} (wait ${waitMs} ms)`);
      }
      for (const lease of granted) {
        assert.equal(
          await observer.transport.leaseKeepAlive(lease),
          0,
          `lease (wait ${waitMs} ms)`,
        );
      }
    }
  });

  it("a lease lost in an outage is no longer revoked in the background once the client closes: no retry outlives it", async (h) => {
    let closed = false;
    let revokesAfterClose = 0;
    const { client: c, links } = await clientWithOutage(h, {
      around: (down) =>
        intercept(down, {
          leaseRevoke(id, options) {
            if (closed) revokesAfterClose++;
            return down.leaseRevoke(id, options);
          },
        }),
    });
    const lock = await c.lock("revoke-after-close", { ttlMs: TTL });
    await links.begin();
    try {
      assert.ok(InfraError.is(await aborted(lock.signal), "LockLost"));
      await c.close();
      closed = true;
      // The revoke's backoff is below 2 s: a retry still running would call again by now.
      await sleep(2_500);
      assert.equal(revokesAfterClose, 0);
    } finally {
      links.end();
    }
  });

  it("closing the client deregisters, releases and stops everything, then refuses calls", async (h) => {
    const c = await h.client();
    const observer = await h.client();
    await c.registry.register(instance("closing"), { ttlMs: TTL });
    const lock = await c.lock("closing", { ttlMs: TTL });
    const id = await c.leaseInstanceId("closing", { ttlMs: TTL });
    const reader = c.kv.watch("/closing/", { prefix: true }).getReader();
    await c.close();
    await c.close();
    assert.ok(lock.signal.aborted);
    assert.ok(id.signal.aborted);
    assert.equal((await reader.read()).done, true);
    assert.deepEqual(await observer.registry.discover("im-logic"), []);
    assert.ok(await observer.tryLock("closing", { ttlMs: TTL }));
    assert.equal((await observer.leaseInstanceId("closing", { ttlMs: TTL })).id, 0);
    await rejectsWith(c.kv.get("/x"), "Closed");
    await rejectsWith(c.lock("x"), "Closed");
  });
}

/**
 * Writes under `prefix` (`kept`, `changed`, `deleted`), lists them, then changes `changed`
 * twice, deletes `deleted` and adds `new`: `listed` is what a watcher knew, `last` the
 * revision to compact at so that the changes since are gone from history.
 */
async function historyToCompact(
  c: CoordClient,
  prefix: string,
): Promise<{ listed: Awaited<ReturnType<CoordClient["kv"]["list"]>>; last: number }> {
  await c.kv.set(`${prefix}kept`, 1);
  await c.kv.set(`${prefix}changed`, 1);
  await c.kv.set(`${prefix}deleted`, 1);
  const listed = await c.kv.list(prefix);
  await c.kv.set(`${prefix}changed`, 2);
  await c.kv.set(`${prefix}changed`, 3);
  await c.kv.delete(`${prefix}deleted`);
  return { listed, last: await c.kv.set(`${prefix}new`, 1) };
}

/** Compaction tests: the harness must provide `compact`. */
export function compactionContract(name: string, factory: HarnessFactory): void {
  test(`${name}: a watch from a compacted revision resets, then reports every current key, so a deletion is not missed`, () =>
    withHarness(factory, async (h) => {
      const c = await h.client();
      const { listed, last } = await historyToCompact(c, "/cmp/");
      await h.compact!(last);
      // Resuming from before the compaction: the history it needs is gone.
      const reader = c.kv.watch("/cmp/", { prefix: true, fromRevision: listed.revision + 1 })
        .getReader();
      try {
        const events = [];
        for (let i = 0; i < 4; i++) events.push(await nextChunk(reader));
        // Without a baseline from before the compaction the watch cannot tell that
        // /cmp/deleted went: it says "forget what you know", then lists every current key.
        assert.deepEqual(events.map((e) => [e.type, e.key, e.reloaded]), [
          ["reset", "/cmp/", true],
          ["put", "/cmp/changed", true],
          ["put", "/cmp/kept", true],
          ["put", "/cmp/new", true],
        ]);
        assert.equal(events[1].type === "put" && events[1].value, 3);
        await c.kv.set("/cmp/after", 1);
        const after = await chunkWhere(reader, (e) => e.key === "/cmp/after");
        assert.equal(after.reloaded, false);
      } finally {
        await reader.cancel();
      }
    }));

  test(`${name}: a watch paused behind a slow reader and resumed after a compaction reports what differs, reloaded, after the events it held`, () =>
    withHarness(factory, async (h) => {
      const c = await h.client();
      const { flow, reader } = await boundedWatch(c, "/bpc/", 10);
      try {
        const revisions = [];
        for (let n = 1; n <= 100; n++) revisions.push(await c.kv.set(`/bpc/k${n % 5}`, n));
        await c.kv.delete("/bpc/k4");
        const last = await c.kv.set("/bpc/new", 0);
        await waitUntil(() => flow.pauses > 0, { what: "the watch to pause" });
        // The history the paused watch would resume from is gone.
        await h.compact!(last);
        const held = [];
        for (let n = 1; n <= 10; n++) held.push(await nextChunk(reader));
        assert.deepEqual(
          held.map((e) => [e.key, e.type === "put" && e.value, e.revision, e.reloaded]),
          revisions.slice(0, 10).map((
            revision,
            i,
          ) => [`/bpc/k${(i + 1) % 5}`, i + 1, revision, false]),
        );
        const reloaded = [];
        for (let n = 1; n <= 6; n++) reloaded.push(await nextChunk(reader));
        assert.deepEqual(
          reloaded.map((e) => [e.type, e.key, e.type === "put" ? e.value : null, e.reloaded]),
          [
            ["put", "/bpc/k0", 100, true],
            ["put", "/bpc/k1", 96, true],
            ["put", "/bpc/k2", 97, true],
            ["put", "/bpc/k3", 98, true],
            ["put", "/bpc/new", 0, true],
            ["delete", "/bpc/k4", null, true],
          ],
        );
        assert.ok(flow.peak <= 10, `the stream held ${flow.peak} events at once`);
        await c.kv.set("/bpc/after", 1);
        const after = await nextChunk(reader);
        assert.deepEqual([after.key, after.reloaded], ["/bpc/after", false]);
      } finally {
        await reader.cancel();
      }
    }));

  test(`${name}: a watch that falls behind a compaction reports only what differs from what it knew`, () =>
    withHarness(factory, async (h) => {
      const c = await h.client();
      const { listed, last } = await historyToCompact(c, "/cmp2/");
      // The watch reads its baseline (the state at listed.revision), then the history after
      // it is compacted away before the watch can replay it.
      const lagging = await h.client({
        wrap: (transport) =>
          intercept(transport, {
            range: async (request, options) => {
              const result = await transport.range(request, options);
              if (request.revision !== undefined) await h.compact!(last);
              return result;
            },
          }),
      });
      const reader = lagging.kv.watch<number>("/cmp2/", {
        prefix: true,
        fromRevision: listed.revision + 1,
      }).getReader();
      try {
        const events = [await nextChunk(reader), await nextChunk(reader), await nextChunk(reader)];
        assert.deepEqual(events.map((e) => [e.type, e.key, e.reloaded]), [
          ["put", "/cmp2/changed", true],
          ["put", "/cmp2/new", true],
          ["delete", "/cmp2/deleted", true],
        ]);
        assert.equal(events[0].type === "put" && events[0].value, 3);
        await c.kv.set("/cmp2/kept", 2);
        const next = await nextChunk(reader);
        assert.deepEqual([next.key, next.reloaded], ["/cmp2/kept", false]);
      } finally {
        await reader.cancel();
      }
    }));
}
