/**
 * Sinks that write formatted lines: the common shape, the console sink and the stream
 * sink. A sink never throws into a log call: failures are reported on stderr (at most
 * once a minute per sink) and the lines are dropped.
 *
 * @module
 */

import process from "node:process";
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

/** Writes to the process's stdout or stderr. */
export class ConsoleSink implements LineSink {
  readonly #target: "stdout" | "stderr";

  /** @param target Which stream. */
  constructor(target: "stdout" | "stderr") {
    this.#target = target;
  }

  write(line: string): void {
    try {
      process[this.#target].write(line);
    } catch (error) {
      reportInternalError(`console sink (${this.#target})`, error);
    }
  }

  writeBatch(lines: string[]): void {
    this.write(lines.join(""));
  }

  flush(): void {}

  close(): Promise<void> {
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
