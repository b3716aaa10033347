/**
 * The self-driving demo: starts the chat service on a free port, registers it, drives a
 * short load over HTTP, changes the service's settings in the config center halfway,
 * checks what it saw, and shuts everything down in order.
 *
 * @module
 */

import { ResourceStack, timeoutSignal } from "../../base/mod.ts";
import {
  type ClogConfig,
  create,
  defaultConfig as clogDefaults,
  init,
  LEVELS,
  type LogLevel,
  type RootLogger,
} from "../../clog/mod.ts";
import { decompose } from "../../uid/mod.ts";
import { type BackendOptions, openBackends } from "./backends.ts";
import { type ChatConfig, chatConfigKey, SERVICE } from "./config.ts";
import type { Health } from "./http.ts";
import { type LoadResult, runLoad } from "./load.ts";
import type { ChatMessage } from "./messages.ts";
import { recentKey } from "./recent_messages.ts";
import { serve } from "./serve.ts";
import { startChat } from "./service.ts";

/** Options of {@link runDemo}. */
export interface DemoOptions extends BackendOptions {
  /** Environment of the config key, e.g. `"demo"`. */
  env: string;
  /** Concurrent clients. */
  clients: number;
  /** Distinct messages per client in each of the two phases. */
  messagesPerClient: number;
  /** Rooms the clients post to. */
  rooms: string[];
  /** The settings at start (written to the config center). */
  initial: ChatConfig;
  /** What the mid-run config change sets. */
  change: Partial<ChatConfig>;
  /** `"console"`: logs to stdout through `clog.init` (process-wide); `"silent"`: none. */
  log: "console" | "silent";
  /** Gives up on the whole run. Default: 60 s. */
  signal?: AbortSignal;
}

/** Log records written, per level. */
export type LevelCounts = Record<LogLevel, number>;

/** What {@link runDemo} saw. */
export interface DemoReport {
  /** Which coord ran. */
  coordName: string;
  /** Which cache ran. */
  cacheName: string;
  /** The service's URL. */
  url: string;
  /** The leased instance id. */
  instanceId: number;
  /** How many clients sent the load. */
  clients: number;
  /** The registry entry's id, and whether discovery found it while running. */
  registration: { id: string; discovered: boolean; goneAfterClose: boolean };
  /** Load before the config change. */
  before: LoadResult;
  /** Load after it. */
  after: LoadResult;
  /** The change: settings before and after, its revision, how long until applied. */
  configChange: { from: ChatConfig; to: ChatConfig; revision: number; appliedMs: number };
  /** Window size per room after each phase. */
  windows: { before: Record<string, number>; after: Record<string, number> };
  /** Log records written before and after the change, per level. */
  logLines: { before: LevelCounts; after: LevelCounts };
  /** Everything that was not as it should be; empty on success. */
  problems: string[];
  /** Wall time, start to shutdown, in ms. */
  elapsedMs: number;
}

function zeroCounts(): LevelCounts {
  return Object.fromEntries(LEVELS.map((level) => [level, 0])) as LevelCounts;
}

async function health(url: string, signal: AbortSignal): Promise<Health> {
  const response = await fetch(`${url}/healthz`, { signal });
  return await response.json();
}

/** The `window` newest accepted messages of a room, by id. */
function expectedWindow(accepted: ChatMessage[], room: string, window: number): string[] {
  return accepted.filter((message) => message.room === room)
    .map((message) => BigInt(message.id))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .slice(-window)
    .map(String);
}

/**
 * Reads every room's window over HTTP, checks that it holds exactly the newest accepted
 * messages, and returns the sizes.
 */
async function checkWindows(
  url: string,
  rooms: readonly string[],
  accepted: ChatMessage[],
  window: number,
  when: string,
  problems: string[],
  signal: AbortSignal,
): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {};
  for (const room of rooms) {
    const response = await fetch(`${url}/rooms/${room}/messages?limit=1000`, { signal });
    const ids = ((await response.json()).messages as ChatMessage[]).map((message) => message.id);
    sizes[room] = ids.length;
    if (ids.join() !== expectedWindow(accepted, room, window).join()) {
      problems.push(`room ${room} ${when}: the window is not the newest accepted messages`);
    }
  }
  return sizes;
}

/**
 * Runs the demo end to end.
 *
 * @param options Backends, load shape, settings and their change, logging.
 * @returns What it saw; `problems` is empty when everything behaved.
 */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const started = performance.now();
  const signal = options.signal ?? timeoutSignal(60_000, SERVICE);
  const problems: string[] = [];
  const logLines = { before: zeroCounts(), after: zeroCounts() };
  let tally = logLines.before;

  await using stack = new ResourceStack();

  // Logging first (closed last): every component logs under the `chat` root.
  const logConfig: ClogConfig = {
    ...clogDefaults("development"),
    service: SERVICE,
    level: options.initial.logLevel,
    sinks: [
      ...(options.log === "console" ? [{ type: "console" as const }] : []),
      { type: "custom", name: "tally" },
    ],
  };
  const logDeps = { sinks: { tally: ({ level }: { level: LogLevel }) => void tally[level]++ } };
  const root: RootLogger = stack.use(
    options.log === "console" ? init(logConfig, logDeps) : create(logConfig, logDeps),
  );

  const backends = stack.use(await openBackends(options, root));
  root.info("backends", { coord: backends.coordName, cache: backends.cacheName });
  const { coord, cache } = backends;
  const key = chatConfigKey(options.env);
  await coord.kv.set(key, options.initial, { signal });

  const chat = stack.use(
    await startChat({ coord, cache, logRoot: root, logger: root }, {
      env: options.env,
      signal,
    }),
  );
  const server = stack.use(await serve(chat.handler));
  const registration = stack.use(await chat.register(server.url, { signal }));
  const discovered = (await coord.registry.discover(SERVICE, { signal }))
    .some((instance) => instance.id === registration.instance.id);
  if (!discovered) problems.push("the registry did not list this instance");

  const plan = {
    baseUrl: server.url,
    clients: options.clients,
    messagesPerClient: options.messagesPerClient,
    rooms: options.rooms,
    longTextLength: Math.min(options.initial.maxMessageLength, 300),
    signal,
  };
  // Message ids of this run only: a run right after another on the same Redis would find
  // the last run's duplicate claims (they live dedupeTtlMs) and be refused as repeats.
  const run = crypto.randomUUID().slice(0, 8);
  const before = await runLoad({ ...plan, phase: `${run}-p1`, expectLongRejected: false });
  const windowsBefore = await checkWindows(
    server.url,
    options.rooms,
    before.accepted,
    options.initial.recentWindow,
    "before the change",
    problems,
    signal,
  );

  // The config change, as an operator would make it: one write to the config center.
  const to: ChatConfig = { ...options.initial, ...options.change };
  const changedAt = performance.now();
  const revision = await coord.kv.set(key, to, { signal });
  // Applied when the service reports every changed setting and the log level follows.
  const applied = async () => {
    const { config } = await health(server.url, signal);
    return Object.entries(options.change).every(([name, value]) => config[name] === value) &&
      root.config?.level === to.logLevel;
  };
  while (!(await applied())) {
    signal.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const appliedMs = performance.now() - changedAt;
  tally = logLines.after;

  const after = await runLoad({
    ...plan,
    phase: `${run}-p2`,
    expectLongRejected: plan.longTextLength > to.maxMessageLength,
  });
  const accepted = [...before.accepted, ...after.accepted];
  const windowsAfter = await checkWindows(
    server.url,
    options.rooms,
    accepted,
    to.recentWindow,
    "after the change",
    problems,
    signal,
  );
  const ids = new Set(accepted.map((message) => message.id));
  if (ids.size !== accepted.length) problems.push("a message id was issued twice");
  if (accepted.some((message) => decompose(message.id).instanceId !== chat.instanceId)) {
    problems.push("a message id does not carry the leased instance id");
  }
  problems.push(...before.problems, ...after.problems);

  // Shutdown in order: leave the registry, stop serving (in-flight requests finish), stop
  // the service (config watch, instance id), then check the registry, then the backends.
  await registration.close();
  await server.close();
  await chat.close();
  const goneAfterClose = !(await coord.registry.discover(SERVICE, { signal }))
    .some((instance) => instance.id === registration.instance.id);
  if (!goneAfterClose) problems.push("the instance was still registered after close");
  // The demo's own data: the settings and the rooms (duplicate claims expire by themselves).
  await coord.kv.delete(key, { signal });
  await cache.delete(options.rooms.map(recentKey), { signal });

  return {
    coordName: backends.coordName,
    cacheName: backends.cacheName,
    url: server.url,
    instanceId: chat.instanceId,
    clients: options.clients,
    registration: { id: registration.instance.id, discovered, goneAfterClose },
    before,
    after,
    configChange: { from: options.initial, to, revision, appliedMs },
    windows: { before: windowsBefore, after: windowsAfter },
    logLines,
    problems,
    elapsedMs: performance.now() - started,
  };
}
