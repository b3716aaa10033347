/**
 * The demo's load: several concurrent clients posting over real HTTP with `fetch`, some
 * of them retrying (the same `clientMessageId` again) or double-sending (two identical
 * requests at once), and reading their rooms now and then. Every answer is checked against
 * what it should be; anything else is reported as a problem.
 *
 * @module
 */

import type { ErrorBody } from "./http_errors.ts";
import type { ChatMessage } from "./messages.ts";

/** One phase of load. */
export interface LoadPlan {
  /** The service's base URL. */
  baseUrl: string;
  /** Concurrent clients (user ids `user-0`, `user-1`, ...). */
  clients: number;
  /** Distinct messages each client posts. */
  messagesPerClient: number;
  /** Rooms the clients post to, in turn. */
  rooms: readonly string[];
  /** Names this phase in the client message ids. */
  phase: string;
  /** Length of the one long message each client posts. */
  longTextLength: number;
  /** Whether the long message should be refused (400) under the settings in force. */
  expectLongRejected: boolean;
  /** Abandons the load. */
  signal?: AbortSignal;
}

/** What one phase did and saw. */
export interface LoadResult {
  /** POST requests sent (retries and double-sends included). */
  posts: number;
  /** GET requests sent. */
  reads: number;
  /** The messages accepted (201). */
  accepted: ChatMessage[];
  /** Repeated client message ids refused (409 `Conflict`). */
  duplicatesRejected: number;
  /** Messages refused as invalid (400 `InvalidArgument`). */
  invalidRejected: number;
  /** Latency of every POST, in ms. */
  postLatenciesMs: number[];
  /** Latency of every GET, in ms. */
  readLatenciesMs: number[];
  /** Answers that differ from the expected ones. */
  problems: string[];
  /** Wall time of the phase, in ms. */
  elapsedMs: number;
}

/** A client retries (sends the same message again after success) every this many. */
const RETRY_EVERY = 8;
/** A client double-sends (two identical requests at once) every this many. */
const DOUBLE_EVERY = 10;
/** A client reads its room every this many messages. */
const READ_EVERY = 5;
/** Which message of each client is the long one. */
const LONG_INDEX = 2;

interface Answer {
  status: number;
  body: { message?: ChatMessage } & Partial<ErrorBody>;
}

/**
 * The p-th percentile (nearest rank) of some numbers.
 *
 * @param values The numbers.
 * @param p The percentile, 0 to 100.
 * @returns The value, or NaN when there are none.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/**
 * Runs one phase: every client posts its messages in order while the clients run
 * concurrently.
 *
 * @param plan Who posts what, where.
 * @returns What happened.
 */
export async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const result: LoadResult = {
    posts: 0,
    reads: 0,
    accepted: [],
    duplicatesRejected: 0,
    invalidRejected: 0,
    postLatenciesMs: [],
    readLatenciesMs: [],
    problems: [],
    elapsedMs: 0,
  };
  const started = performance.now();

  const post = async (room: string, body: unknown): Promise<Answer> => {
    const sent = performance.now();
    const response = await fetch(`${plan.baseUrl}/rooms/${encodeURIComponent(room)}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: plan.signal,
    });
    const answer: Answer = { status: response.status, body: await response.json() };
    result.postLatenciesMs.push(performance.now() - sent);
    result.posts++;
    if (answer.status === 201 && answer.body.message) result.accepted.push(answer.body.message);
    if (answer.status === 409 && answer.body.error?.code === "Conflict") {
      result.duplicatesRejected++;
    }
    if (answer.status === 400 && answer.body.error?.code === "InvalidArgument") {
      result.invalidRejected++;
    }
    return answer;
  };

  const read = async (room: string): Promise<void> => {
    const sent = performance.now();
    const response = await fetch(`${plan.baseUrl}/rooms/${room}/messages?limit=10`, {
      signal: plan.signal,
    });
    await response.body?.cancel();
    result.readLatenciesMs.push(performance.now() - sent);
    result.reads++;
    if (response.status !== 200) result.problems.push(`GET ${room}: ${response.status}`);
  };

  const client = async (c: number): Promise<void> => {
    const userId = `user-${c}`;
    for (let i = 0; i < plan.messagesPerClient; i++) {
      const room = plan.rooms[(c + i) % plan.rooms.length];
      const clientMessageId = `${plan.phase}-${userId}-${i}`;
      const long = i === LONG_INDEX;
      const text = long
        ? `a long one from ${userId}: ${"la ".repeat(plan.longTextLength)}`.slice(
          0,
          plan.longTextLength,
        )
        : `message ${i} from ${userId}`;
      const body = { userId, text, clientMessageId };
      const what = `${clientMessageId} in ${room}`;
      const expected = long && plan.expectLongRejected ? 400 : 201;

      let first: Answer;
      if (i % DOUBLE_EVERY === DOUBLE_EVERY - 1) {
        const both = await Promise.all([post(room, body), post(room, body)]);
        const statuses = both.map((answer) => answer.status).sort();
        if (statuses.join() !== "201,409") {
          result.problems.push(`double-send ${what}: ${statuses.join(" and ")}, not 201 and 409`);
        }
        first = both.find((answer) => answer.status === 201) ?? both[0];
      } else {
        first = await post(room, body);
        if (first.status !== expected) {
          result.problems.push(`${what}: ${first.status}, not ${expected}`);
        }
      }
      if (first.status === 201 && i % RETRY_EVERY === RETRY_EVERY - 1) {
        const retry = await post(room, body);
        const original = retry.body.error?.details?.messageId;
        if (retry.status !== 409 || original !== first.body.message?.id) {
          result.problems.push(`retry of ${what}: ${retry.status} naming ${original}`);
        }
      }
      if (i % READ_EVERY === READ_EVERY - 1) await read(room);
    }
  };

  await Promise.all(Array.from({ length: plan.clients }, (_, c) => client(c)));
  result.elapsedMs = performance.now() - started;
  return result;
}
