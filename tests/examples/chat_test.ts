/**
 * The chat demo service (examples/chat): its fetch handler on the embedded drivers, driven
 * with plain `Request`s, and the whole self-driving demo once on the embedded drivers and
 * once on the real etcd and Redis.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import * as cache from "../../cache/mod.ts";
import { create, type LogRecord } from "../../clog/mod.ts";
import * as coord from "../../coord/mod.ts";
import { CoordClient } from "../../coord/client.ts";
import { MemoryStore, MemoryTransport } from "../../coord/memory_store.ts";
import { decompose, isUuidv7 } from "../../uid/mod.ts";
import { etcdEndpoints, redisUrl, uniqueName } from "../_support/env.ts";
import { deleteKeysWithPrefix } from "../_support/redis_server.ts";
import { waitUntil } from "../_support/process.ts";
import { type Outage, outage } from "../_support/coord_transport.ts";
import { chatConfigKey, defaultChatConfig } from "../../examples/chat/config.ts";
import { type DemoOptions, runDemo } from "../../examples/chat/demo.ts";
import type { ChatMessage } from "../../examples/chat/messages.ts";
import {
  cacheRecentMessages,
  recentKey,
  type RecentMessages,
} from "../../examples/chat/recent_messages.ts";
import { type ChatService, startChat } from "../../examples/chat/service.ts";
import { formatSummary } from "../../examples/chat/summary.ts";

const ENV = "test";

interface Harness {
  chat: ChatService;
  coord: coord.Coord;
  cache: cache.Cache;
  logs: LogRecord[];
  root: ReturnType<typeof create>;
}

/**
 * A chat service on fresh embedded drivers, with every log record captured; `outage` puts
 * coord behind a transport the test can take down (with 2 s leases).
 */
async function withChat(
  fn: (h: Harness) => Promise<void>,
  options: { settings?: Record<string, unknown>; recent?: RecentMessages; outage?: Outage } = {},
): Promise<void> {
  const { settings, recent } = options;
  const logs: LogRecord[] = [];
  const root = create(
    { service: "chat", level: "debug", sinks: [{ type: "custom", name: "memory" }] },
    { sinks: { memory: (record) => void logs.push(record) } },
  );
  const coordClient: coord.Coord = options.outage
    ? new CoordClient(
      options.outage.transport,
      { namespace: "", requestTimeoutMs: 1_000, sessionTtlMs: 2_000 },
      root.namespace("coord"),
    )
    : coord.memory({}, { logger: root.namespace("coord") });
  const cacheClient = cache.memory({}, { logger: root.namespace("cache") });
  if (settings) await coordClient.kv.set(chatConfigKey(ENV), settings);
  const chat = await startChat(
    { coord: coordClient, cache: cacheClient, logger: root, logRoot: root, recent },
    { env: ENV },
  );
  try {
    await fn({ chat, coord: coordClient, cache: cacheClient, logs, root });
  } finally {
    await chat.close();
    await cacheClient.close();
    await coordClient.close();
    await root.close();
  }
}

interface Answer {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  body: any;
}

async function call(
  chat: ChatService,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await chat.handler(
    new Request(`http://chat.test${path}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
  return { status: response.status, headers: response.headers, body: await response.json() };
}

function post(chat: ChatService, room: string, body: unknown, headers?: Record<string, string>) {
  return call(chat, "POST", `/rooms/${room}/messages`, body, headers);
}

function message(userId: string, clientMessageId: string, text = `hi from ${userId}`) {
  return { userId, text, clientMessageId };
}

async function windowIds(chat: ChatService, room: string, query = ""): Promise<string[]> {
  const answer = await call(chat, "GET", `/rooms/${room}/messages${query}`);
  assert.equal(answer.status, 200);
  return answer.body.messages.map((m: ChatMessage) => m.id);
}

test("chat: a posted message gets a Snowflake id from the leased instance id", () =>
  withChat(async ({ chat }) => {
    const answer = await post(chat, "general", message("ada", "c-1", "hello 👋"));
    assert.equal(answer.status, 201);
    const sent: ChatMessage = answer.body.message;
    assert.deepEqual(
      { room: sent.room, userId: sent.userId, text: sent.text, id: typeof sent.id },
      { room: "general", userId: "ada", text: "hello 👋", id: "string" },
    );
    const parts = decompose(sent.id);
    assert.equal(parts.instanceId, chat.instanceId);
    assert.equal(new Date(sent.sentAt).getTime(), parts.timestampMs);
    assert.ok(isUuidv7(answer.headers.get("x-request-id")));
  }));

test("chat: a repeated clientMessageId is refused with 409 Conflict naming the first message", () =>
  withChat(async ({ chat }) => {
    const first = await post(chat, "general", message("ada", "c-1"));
    const again = await post(chat, "general", message("ada", "c-1", "different text"));
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, "Conflict");
    assert.equal(again.body.error.field, "clientMessageId");
    assert.equal(again.body.error.details.messageId, first.body.message.id);
    assert.deepEqual(await windowIds(chat, "general"), [first.body.message.id]);
  }));

test("chat: concurrent posts of one clientMessageId accept exactly one", () =>
  withChat(async ({ chat }) => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => post(chat, "general", message("ada", "c-burst"))),
    );
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [201, ...Array(9).fill(409)]);
    const accepted = answers.find((a) => a.status === 201)!.body.message.id;
    assert.ok(
      answers.every((a) => a.status === 201 || a.body.error.details.messageId === accepted),
    );
    assert.deepEqual(await windowIds(chat, "general"), [accepted]);
  }));

test("chat: when storing a message fails, its claim is released and the retry is accepted", () => {
  const store = cache.memory();
  const windows = cacheRecentMessages(store);
  let failures = 1;
  const flaky: RecentMessages = {
    append(...args) {
      if (failures-- > 0) {
        return Promise.reject(
          new InfraError("Unavailable", "Redis is down", { component: "cache" }),
        );
      }
      return windows.append(...args);
    },
    read: windows.read,
  };
  return withChat(async ({ chat }) => {
    const failed = await post(chat, "general", message("ada", "c-1"));
    assert.equal(failed.status, 503);
    assert.equal(failed.body.error.code, "Unavailable");
    const retried = await post(chat, "general", message("ada", "c-1"));
    assert.equal(retried.status, 201);
    assert.deepEqual(await windowIds(chat, "general"), [retried.body.message.id]);
  }, { recent: flaky }).finally(() => store.close());
});

test("chat: the same clientMessageId from two senders is two messages", () =>
  withChat(async ({ chat }) => {
    assert.equal((await post(chat, "general", message("ada", "c-1"))).status, 201);
    assert.equal((await post(chat, "general", message("bob", "c-1"))).status, 201);
    assert.equal((await windowIds(chat, "general")).length, 2);
  }));

test("chat: a read returns the room's newest messages oldest first, within window and limit", () =>
  withChat(async ({ chat, cache }) => {
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      ids.push((await post(chat, "general", message("ada", `c-${i}`))).body.message.id);
    }
    await post(chat, "random", message("bob", "elsewhere"));
    // The stored window is trimmed, not only the read.
    assert.equal(await cache.sortedSets.size(recentKey("general")), defaultChatConfig.recentWindow);
    const window = await call(chat, "GET", "/rooms/general/messages");
    assert.equal(window.body.window, defaultChatConfig.recentWindow);
    assert.deepEqual(
      window.body.messages.map((m: ChatMessage) => m.id),
      ids.slice(-defaultChatConfig.recentWindow),
    );
    assert.deepEqual(await windowIds(chat, "general", "?limit=5"), ids.slice(-5));
    assert.deepEqual(await windowIds(chat, "general", "?limit=5000"), ids.slice(-50));
    assert.equal((await windowIds(chat, "random")).length, 1);
    assert.deepEqual(await windowIds(chat, "empty-room"), []);
  }));

test("chat: a config change in the config center is applied while running", () =>
  withChat(async ({ chat, coord, cache, root }) => {
    for (let i = 0; i < 12; i++) await post(chat, "general", message("ada", `c-${i}`));
    const long = "x".repeat(40);
    assert.equal((await post(chat, "general", message("ada", "long-1", long))).status, 201);

    await coord.kv.set(chatConfigKey(ENV), {
      maxMessageLength: 30,
      recentWindow: 5,
      logLevel: "warn",
    });
    await waitUntil(() => chat.config.recentWindow === 5 && root.config?.level === "warn", {
      what: "the config change",
    });

    assert.equal(chat.config.maxMessageLength, 30);
    assert.equal(chat.config.dedupeTtlMs, defaultChatConfig.dedupeTtlMs); // merged over defaults
    const refused = await post(chat, "general", message("ada", "long-2", long));
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.field, "text");
    assert.equal((await windowIds(chat, "general")).length, 5);
    await post(chat, "general", message("ada", "after-change"));
    assert.equal(await cache.sortedSets.size(recentKey("general")), 5);
    const health = await call(chat, "GET", "/healthz");
    assert.equal(health.body.config.recentWindow, 5);
    assert.equal(health.body.config.revision, chat.configRevision);
    assert.ok(chat.configRevision > 0);
  }));

test("chat: an invalid config value is rejected and the settings in force stay", () =>
  withChat(async ({ chat, coord, logs }) => {
    const key = chatConfigKey(ENV);
    const rejections = () =>
      logs.filter((r) =>
        r.namespace === "chat.coord" && r.message.startsWith("config value rejected")
      )
        .length;
    await coord.kv.set(key, { recentWindow: 0 });
    await waitUntil(() => rejections() === 1, { what: "the first rejection" });
    await coord.kv.set(key, { recentWindw: 10 }); // a typo: the schema is strict
    await waitUntil(() => rejections() === 2, { what: "the second rejection" });
    assert.deepEqual(chat.config, defaultChatConfig);
    assert.equal(chat.configRevision, 0);
  }));

test("chat: malformed requests are 400 InvalidArgument naming the field, and store nothing", () =>
  withChat(async ({ chat }) => {
    const long = "y".repeat(defaultChatConfig.maxMessageLength + 1);
    const cases: [string, string, unknown, string][] = [
      ["not JSON", "general", "{nope", "body"],
      ["an array", "general", [1, 2], "body"],
      ["no userId", "general", { text: "hi", clientMessageId: "c" }, "userId"],
      ["a userId with ':'", "general", message("a:b", "c"), "userId"],
      ["an empty text", "general", message("ada", "c", "   "), "text"],
      ["a text too long", "general", message("ada", "c", long), "text"],
      ["a number as text", "general", { userId: "ada", text: 7, clientMessageId: "c" }, "text"],
      ["no clientMessageId", "general", { userId: "ada", text: "hi" }, "clientMessageId"],
      ["a bad room", "no%20spaces", message("ada", "c"), "room"],
    ];
    for (const [what, room, body, field] of cases) {
      const answer = await post(chat, room, body);
      assert.equal(answer.status, 400, what);
      assert.equal(answer.body.error.code, "InvalidArgument", what);
      assert.equal(answer.body.error.field, field, what);
      assert.ok(answer.body.error.message.length > 0, what);
      assert.ok(isUuidv7(answer.body.error.requestId), what);
    }
    for (const limit of ["0", "-1", "abc", "1.5"]) {
      const answer = await call(chat, "GET", `/rooms/general/messages?limit=${limit}`);
      assert.equal(answer.status, 400, limit);
      assert.equal(answer.body.error.field, "limit", limit);
    }
    assert.deepEqual(await windowIds(chat, "general"), []);
  }));

test("chat: unknown routes are 404 NotFound and wrong methods 405 with Allow", () =>
  withChat(async ({ chat }) => {
    const missing = await call(chat, "GET", "/rooms/general");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, "NotFound");
    const wrong = await call(chat, "DELETE", "/rooms/general/messages");
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "GET, POST");
  }));

test("chat: every line logged for a request carries its request id", () =>
  withChat(async ({ chat, logs }) => {
    await post(chat, "general", message("ada", "c-1"));
    await post(chat, "general", message("ada", "c-1"), { "x-request-id": "req-42" });
    const lines = logs.filter((r) => r.fields.requestId === "req-42");
    assert.deepEqual(lines.map((r) => [r.namespace, r.message]), [
      ["chat", "duplicate refused"],
      ["chat.http", "request"],
    ]);
    assert.equal(lines[1].fields.status, 409);
  }, { settings: { logLevel: "debug" } }));

test("chat: the instance registers in coord and deregisters on close", () =>
  withChat(async ({ chat, coord }) => {
    const registration = await chat.register("http://10.0.0.5:8080");
    const listed = await coord.registry.discover("chat");
    assert.deepEqual(listed.map((i) => [i.id, i.address]), [
      [`chat-${chat.instanceId}`, "http://10.0.0.5:8080"],
    ]);
    assert.equal((await call(chat, "GET", "/healthz")).status, 200);
    await chat.close();
    assert.equal(registration.state, "closed");
    assert.deepEqual(await coord.registry.discover("chat"), []);
    // The instance id is free again.
    await using lease = await coord.leaseInstanceId("chat");
    assert.equal(lease.id, chat.instanceId);
  }));

test("chat: once another instance takes its instance id, posts are 503 LockLost and it leaves the registry", () =>
  withChat(async ({ chat, coord }) => {
    await chat.register("http://10.0.0.5:8080");
    assert.equal((await post(chat, "general", message("ada", "c-1"))).status, 201);
    // An operator hands the id to someone else: it is not re-claimed.
    await coord.kv.set(`/ids/chat/${chat.instanceId}`, { holder: "someone else" });
    await waitUntil(async () => (await coord.registry.discover("chat")).length === 0, {
      what: "deregistration",
    });
    await waitUntil(
      async () => (await call(chat, "GET", "/healthz")).body.checks.instanceId === "lease taken",
      { what: "the lease to be taken" },
    );
    const refused = await post(chat, "general", message("ada", "c-2"));
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, "LockLost");
    assert.equal((await call(chat, "GET", "/healthz")).status, 503);
  }));

test("chat: through an etcd outage it refuses posts and leaves the registry, then takes posts on the same instance id and registers again", () => {
  const store = new MemoryStore();
  const link = outage(new MemoryTransport(store));
  return withChat(async ({ chat, coord }) => {
    await chat.register("http://10.0.0.5:8080");
    const first = await post(chat, "general", message("ada", "c-1"));
    assert.equal(first.status, 201);
    await link.begin();
    try {
      await waitUntil(
        async () => (await call(chat, "GET", "/healthz")).body.checks.instanceId === "lease lost",
        { what: "the lease to be lost" },
      );
      const refused = await post(chat, "general", message("ada", "c-2"));
      assert.equal(refused.status, 503);
      assert.equal(refused.body.error.code, "LockLost");
      // What the rest of the cluster sees: the entry is gone (its lease expired).
      const others = new MemoryTransport(store);
      await waitUntil(
        async () => (await others.range({ key: "/services/chat/", prefix: true })).kvs.length === 0,
        { what: "the entry to leave the registry" },
      );
    } finally {
      link.end();
    }
    await waitUntil(async () => (await call(chat, "GET", "/healthz")).status === 200, {
      timeoutMs: 15_000,
      what: "the service to be healthy again",
    });
    const listed = await coord.registry.discover("chat");
    assert.deepEqual(listed.map((i) => i.id), [`chat-${chat.instanceId}`]);
    const accepted = await post(chat, "general", message("ada", "c-3"));
    assert.equal(accepted.status, 201);
    assert.equal(decompose(accepted.body.message.id).instanceId, chat.instanceId);
    assert.ok(BigInt(accepted.body.message.id) > BigInt(first.body.message.id));
  }, { outage: link });
});

function demoOptions(overrides: Partial<DemoOptions>): DemoOptions {
  return {
    env: ENV,
    coordNamespace: `/${uniqueName("chat_demo")}`,
    cacheKeyPrefix: `${uniqueName("chat_demo")}:`,
    clients: 4,
    messagesPerClient: 12,
    rooms: ["general", "random", "dev"],
    initial: { ...defaultChatConfig, maxMessageLength: 200, recentWindow: 10, logLevel: "info" },
    change: { maxMessageLength: 50, recentWindow: 5, logLevel: "warn" },
    log: "silent",
    ...overrides,
  };
}

/** 4 clients × 12 messages × 2 phases: retries at message 7, double-sends at 9. */
function assertDemoCounts(report: Awaited<ReturnType<typeof runDemo>>): void {
  assert.deepEqual(report.problems, []);
  assert.equal(report.before.accepted.length, 48);
  assert.equal(report.after.accepted.length, 44); // the long message of each client refused
  assert.equal(report.before.duplicatesRejected + report.after.duplicatesRejected, 16);
  assert.equal(report.before.invalidRejected + report.after.invalidRejected, 4);
  assert.deepEqual(report.windows, {
    before: { general: 10, random: 10, dev: 10 },
    after: { general: 5, random: 5, dev: 5 },
  });
  assert.deepEqual(
    { discovered: report.registration.discovered, gone: report.registration.goneAfterClose },
    { discovered: true, gone: true },
  );
  assert.equal(report.logLines.after.info, 0);
  assert.ok(report.logLines.before.info > 0);
  assert.match(formatSummary(report), /checks +all passed/);
}

test("chat demo: on the embedded drivers every answer is as expected", async () => {
  const report = await runDemo(demoOptions({}));
  assert.equal(report.coordName, "memory (embedded)");
  assert.equal(report.cacheName, "memory (embedded)");
  assertDemoCounts(report);
});

test("chat demo: on etcd and Redis every answer is as expected, also run again at once, and nothing is left behind", async () => {
  const options = demoOptions({ etcdEndpoints, redisUrl });
  const janitor = await cache.connect({ nodes: [new URL(redisUrl).host], keyPrefix: "" });
  try {
    const report = await runDemo(options);
    assert.match(report.coordName, /^etcd /);
    assert.match(report.cacheName, /^redis /);
    assertDemoCounts(report);
    // Run again straight away, as a newcomer would: the first run's duplicate claims are
    // still in Redis, and must not refuse this run's messages.
    assertDemoCounts(await runDemo(options));
    // Only the short-lived duplicate claims remain in Redis; nothing remains in etcd.
    await using check = await coord.connect({
      ...coord.defaultConfig("development"),
      endpoints: etcdEndpoints,
      namespace: options.coordNamespace,
    });
    assert.deepEqual((await check.kv.list("/")).entries, []);
    await using rooms = await cache.connect({
      nodes: [new URL(redisUrl).host],
      keyPrefix: options.cacheKeyPrefix,
    });
    assert.equal(await rooms.exists(options.rooms.map(recentKey)), 0);
  } finally {
    await deleteKeysWithPrefix(janitor.raw(), options.cacheKeyPrefix);
    await janitor.close();
  }
});
