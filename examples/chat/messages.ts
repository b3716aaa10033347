/**
 * What a chat message is, and what a client may send: the checks that turn a request body
 * into a {@link MessageInput} or an `InvalidArgument` error naming the field.
 *
 * @module
 */

import { InfraError } from "../../base/mod.ts";
import { SERVICE } from "./config.ts";

/** A stored message, as the API returns it. */
export interface ChatMessage {
  /** Snowflake id as a decimal string (ids exceed 2^53, so JSON numbers would lose digits). */
  id: string;
  /** The room it was posted to. */
  room: string;
  /** Who posted it. */
  userId: string;
  /** The text. */
  text: string;
  /** The sender's own id for the message, unique per sender: retries reuse it. */
  clientMessageId: string;
  /** When the id was issued (from the Snowflake timestamp), ISO 8601. */
  sentAt: string;
}

/** A validated `POST /rooms/:room/messages` body. */
export interface MessageInput {
  /** Who posts. */
  userId: string;
  /** The text, at most `maxMessageLength` code points. */
  text: string;
  /** The sender's id for the message. */
  clientMessageId: string;
}

/** Room names and user ids: letters, digits, `_`, `-`, `.`; 1 to 64 characters. */
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** Client message ids: printable ASCII without spaces, 1 to 128 characters. */
const CLIENT_MESSAGE_ID = /^[\x21-\x7e]{1,128}$/;

function invalid(field: string, message: string): InfraError {
  return new InfraError("InvalidArgument", `${field} ${message}`, {
    component: SERVICE,
    details: { field },
  });
}

/**
 * Checks a room name taken from the path.
 *
 * @param room The name.
 * @returns The name.
 * @throws {InfraError} `InvalidArgument` (field `room`).
 */
export function checkRoom(room: string): string {
  if (!NAME.test(room)) {
    throw invalid("room", "must be 1 to 64 letters, digits, '_', '-' or '.'");
  }
  return room;
}

/**
 * Checks a message body against the settings in force.
 *
 * @param body The parsed JSON body.
 * @param maxMessageLength The longest text accepted, in code points.
 * @returns The input.
 * @throws {InfraError} `InvalidArgument` naming the field.
 */
export function checkMessageInput(body: unknown, maxMessageLength: number): MessageInput {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalid("body", "must be a JSON object { userId, text, clientMessageId }");
  }
  const { userId, text, clientMessageId } = body as Record<string, unknown>;
  if (typeof userId !== "string" || !NAME.test(userId)) {
    throw invalid("userId", "must be 1 to 64 letters, digits, '_', '-' or '.'");
  }
  if (typeof clientMessageId !== "string" || !CLIENT_MESSAGE_ID.test(clientMessageId)) {
    throw invalid("clientMessageId", "must be 1 to 128 printable ASCII characters");
  }
  if (typeof text !== "string" || text.trim().length === 0) {
    throw invalid("text", "must be a non-empty string");
  }
  // Code points, not UTF-16 units: an emoji counts as one character for the sender.
  let length = 0;
  for (const _ of text) length++;
  if (length > maxMessageLength) {
    throw new InfraError(
      "InvalidArgument",
      `text must be at most ${maxMessageLength} characters, got ${length}`,
      { component: SERVICE, details: { field: "text", maxMessageLength, length } },
    );
  }
  return { userId, text, clientMessageId };
}

/**
 * Checks the `limit` query parameter of a read.
 *
 * @param value The raw parameter, or null when absent.
 * @param window The recent window in force: the default, and the cap.
 * @returns How many messages to read.
 * @throws {InfraError} `InvalidArgument` (field `limit`).
 */
export function checkLimit(value: string | null, window: number): number {
  if (value === null) return window;
  if (!/^[0-9]{1,6}$/.test(value) || Number(value) < 1) {
    throw invalid("limit", `must be a positive integer, got "${value.slice(0, 20)}"`);
  }
  return Math.min(Number(value), window);
}
