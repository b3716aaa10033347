/**
 * Sinks that write formatted lines: the common shape, the console sink and the stream
 * sink. A sink never throws into a log call: failures are reported on stderr (at most
 * once a minute per sink) and the lines are dropped.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { writeSync } from "node:fs";
import process from "node:process";
import { unrefTimer } from "../base/mod.ts";
import type { LineWriter } from "./types.ts";

/**
 * A destination of formatted lines. Every method swallows its own failures. Each line
 * comes with its record's time (what a daily-rotated file goes by, however long the line
 * waited in a buffer).
 */
export interface LineSink {
  /** Writes one line (with its newline), logged at `time` (ms since the epoch). */
  write(line: string, time: number): void;
  /** Writes several lines at once; `times[i]` is the time of `lines[i]`. */
  writeBatch(lines: string[], times: number[]): void;
  /** Writes out anything held in memory, synchronously where the destination allows. */
  flush(): void;
  /** Flushes and releases the destination (files are closed; user streams are not). */
  close(): Promise<void>;
}

const REPORT_INTERVAL_MS = 60_000;
const lastReports = new Map<string, number>();

/**
 * Reports a failure of clog itself (a sink that cannot write, a custom sink that threw)
 * on stderr, at most once a minute per `where`, never throwing.
 *
 * @param where Which sink or step failed.
 * @param error What was thrown.
 */
export function reportInternalError(where: string, error: unknown): void {
  try {
    const now = Date.now();
    const last = lastReports.get(where);
    if (last !== undefined && now - last < REPORT_INTERVAL_MS) return;
    lastReports.set(where, now);
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`clog: ${where} failed: ${message}\n`);
  } catch {
    // stderr itself is gone: nothing left to tell.
  }
}

/** The listener methods of a Node event emitter. */
interface EventSource {
  on(event: "error", listener: (error: unknown) => void): unknown;
  off(event: "error", listener: (error: unknown) => void): unknown;
}

/** First and longest wait before a timer writes again to a full pipe, in ms. */
const RETRY_MS = { min: 1, max: 50 };

/** A write to a full non-blocking pipe fails so: not an error, the reader is behind. */
function isFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "EAGAIN" || code === "EWOULDBLOCK";
}

/** Blocks the thread for about `ms`: the wait for a full pipe on the synchronous paths. */
function sleep(ms: number): void {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  } catch {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // This thread may not wait (or shared memory is off): spin instead.
    }
  }
}

/**
 * The lines for file descriptor 1 or 2, written with `fs.writeSync` (the same on Deno,
 * Node and Bun) rather than through `process.stdout`: Node and Bun write a pipe
 * asynchronously, and what the pipe had not taken when the process ended was lost. One per
 * descriptor, shared by every console sink on it, so lines keep their order.
 *
 * Node and Bun make a pipe non-blocking, so a write to a pipe whose reader is slow may take
 * part of the lines or none. The line being written is then finished at once (no other
 * writer of the descriptor can tear it), and the rest waits here, in order and ahead of
 * later lines, for a timer to try again. {@link ConsoleWriter.flush} writes everything now,
 * waiting for the reader as long as it takes: fatal, `flush()`, `close()` and the exit
 * hooks use it.
 */
class ConsoleWriter {
  readonly #fd: number;
  readonly #label: string;
  /** Bytes the descriptor has not taken yet, in order. */
  #pending: Buffer[] = [];
  #written = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #retryMs = RETRY_MS.min;

  constructor(fd: number, label: string) {
    this.#fd = fd;
    this.#label = label;
  }

  write(text: string): void {
    const bytes = Buffer.from(text);
    if (this.#pending.length > 0) {
      this.#pending.push(bytes);
      return;
    }
    this.#writeSome(bytes);
    this.#schedule();
  }

  /** Writes every held byte now, synchronously. */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const held = this.#pending;
    this.#pending = [];
    try {
      for (const bytes of held) this.#writeAll(bytes, 0);
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Writes what the descriptor takes now, finishing a line it cut, and holds the rest. */
  #writeSome(bytes: Buffer): void {
    try {
      let offset = this.#attempt(bytes, 0);
      if (offset > 0 && offset < bytes.length && bytes[offset - 1] !== 0x0a) {
        const newline = bytes.indexOf(0x0a, offset);
        const end = newline < 0 ? bytes.length : newline + 1;
        this.#writeAll(bytes.subarray(0, end), offset);
        offset = end;
      }
      if (offset < bytes.length) this.#pending.push(bytes.subarray(offset));
    } catch (error) {
      this.#fail(error);
    }
  }

  /** One `writeSync` from `offset`: how far it got (`offset` itself when the pipe is full). */
  #attempt(bytes: Buffer, offset: number): number {
    let written = 0;
    try {
      written = writeSync(this.#fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      if (!isFull(error)) throw error;
    }
    this.#written += written;
    return offset + written;
  }

  /** Writes `bytes` from `offset` to the end, waiting while the pipe is full. */
  #writeAll(bytes: Buffer, offset: number): void {
    while (offset < bytes.length) {
      const next = this.#attempt(bytes, offset);
      if (next === offset) sleep(1);
      offset = next;
    }
  }

  #schedule(): void {
    if (this.#pending.length === 0 || this.#timer !== undefined) return;
    // The timer does not keep the process alive: the exit hooks flush what is left.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#retry();
    }, this.#retryMs);
    unrefTimer(this.#timer);
  }

  /** Writes the held bytes the pipe takes now; waits longer each time it took none. */
  #retry(): void {
    const before = this.#written;
    const held = this.#pending;
    this.#pending = [];
    for (const bytes of held) {
      if (this.#pending.length > 0) this.#pending.push(bytes);
      else this.#writeSome(bytes);
    }
    this.#retryMs = this.#written > before
      ? RETRY_MS.min
      : Math.min(2 * this.#retryMs, RETRY_MS.max);
    this.#schedule();
  }

  /** The descriptor is gone (EPIPE, EBADF): what it did not take is dropped. */
  #fail(error: unknown): void {
    this.#pending = [];
    reportInternalError(`console sink (${this.#label})`, error);
  }
}

const consoleWriters = {
  stdout: new ConsoleWriter(1, "stdout"),
  stderr: new ConsoleWriter(2, "stderr"),
};

/** Writes to the process's stdout or stderr (file descriptors 1 and 2). */
export class ConsoleSink implements LineSink {
  readonly #writer: ConsoleWriter;

  /** @param target Which stream. */
  constructor(target: "stdout" | "stderr") {
    this.#writer = consoleWriters[target];
  }

  write(line: string): void {
    this.#writer.write(line);
  }

  writeBatch(lines: string[]): void {
    this.#writer.write(lines.join(""));
  }

  flush(): void {
    this.#writer.flush();
  }

  close(): Promise<void> {
    this.flush();
    return Promise.resolve();
  }
}

/** Whether the console `target` is a terminal that should get colours. */
export function consoleWantsColor(target: "stdout" | "stderr"): boolean {
  try {
    if (process.env.NO_COLOR) return false;
  } catch {
    // No permission to read the environment (Deno): decide on the terminal alone.
  }
  try {
    return process[target].isTTY === true;
  } catch {
    return false;
  }
}

/** The one writer of a web stream, shared by every sink on it (a writer locks its stream). */
interface SharedWriter {
  readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Open sinks writing through it; the lock is released when the last one closes. */
  users: number;
  /** The last write, settled once every earlier write is. */
  pending: Promise<void>;
}

const webWriters = new WeakMap<WritableStream<Uint8Array>, SharedWriter>();
const encoder = new TextEncoder();

/**
 * Writes to a stream the application passed in: a Node-style writable (any object with
 * `write(text)`) or a web `WritableStream<Uint8Array>`. The stream is not closed by clog.
 * Any number of sinks, in any number of configurations, may write to the same stream.
 */
export class StreamSink implements LineSink {
  readonly #name: string;
  readonly #node: { write(text: string): unknown } | undefined;
  readonly #stream: WritableStream<Uint8Array> | undefined;
  readonly #web: SharedWriter | undefined;
  #closed = false;

  /**
   * @param name The dependency name, for error reports.
   * @param writer The stream.
   * @throws {TypeError} When `writer` is a web stream locked by a writer outside clog.
   */
  constructor(name: string, writer: LineWriter) {
    this.#name = name;
    if (typeof (writer as WritableStream<Uint8Array>).getWriter === "function") {
      const stream = writer as WritableStream<Uint8Array>;
      let shared = webWriters.get(stream);
      if (shared === undefined) {
        shared = { writer: stream.getWriter(), users: 0, pending: Promise.resolve() };
        webWriters.set(stream, shared);
      }
      shared.users++;
      this.#stream = stream;
      this.#web = shared;
    } else {
      this.#node = writer as { write(text: string): unknown };
      // An 'error' event nobody listens to would crash the process; a logger must not.
      (writer as Partial<EventSource>).on?.("error", this.#onError);
    }
  }

  readonly #onError = (error: unknown): void => {
    reportInternalError(`stream sink "${this.#name}"`, error);
  };

  write(line: string): void {
    try {
      if (this.#node !== undefined) {
        this.#node.write(line);
        return;
      }
      const shared = this.#web!;
      shared.pending = shared.writer.write(encoder.encode(line)).catch((error) =>
        reportInternalError(`stream sink "${this.#name}"`, error)
      );
    } catch (error) {
      reportInternalError(`stream sink "${this.#name}"`, error);
    }
  }

  writeBatch(lines: string[]): void {
    this.write(lines.join(""));
  }

  flush(): void {}

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const shared = this.#web;
    if (shared === undefined) {
      (this.#node as Partial<EventSource>).off?.("error", this.#onError);
      return;
    }
    shared.users--;
    await shared.pending;
    // A sink opened on the stream meanwhile (a reload) keeps the writer.
    if (shared.users > 0 || webWriters.get(this.#stream!) !== shared) return;
    webWriters.delete(this.#stream!);
    try {
      shared.writer.releaseLock();
    } catch (error) {
      reportInternalError(`stream sink "${this.#name}"`, error);
    }
  }
}
