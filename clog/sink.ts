/**
 * Sinks that write formatted lines: the common shape, the console sink and the stream
 * sink. A sink never throws into a log call: failures are reported on stderr (at most
 * once a minute per sink) and the lines are dropped.
 *
 * @module
 */

import process from "node:process";
import type { LineWriter } from "./types.ts";

/** A destination of formatted lines. Every method swallows its own failures. */
export interface LineSink {
  /** Writes one line (with its newline). */
  write(line: string): void;
  /** Writes several lines at once. */
  writeBatch(lines: string[]): void;
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

/**
 * Writes to a stream the application passed in: a Node-style writable (any object with
 * `write(text)`) or a web `WritableStream<Uint8Array>`. The stream is not closed by clog.
 */
export class StreamSink implements LineSink {
  readonly #name: string;
  readonly #node: { write(text: string): unknown } | undefined;
  readonly #web: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #pending: Promise<void> = Promise.resolve();
  #encoder: TextEncoder | undefined;

  /**
   * @param name The dependency name, for error reports.
   * @param writer The stream.
   */
  constructor(name: string, writer: LineWriter) {
    this.#name = name;
    if (typeof (writer as WritableStream<Uint8Array>).getWriter === "function") {
      this.#web = (writer as WritableStream<Uint8Array>).getWriter();
      this.#encoder = new TextEncoder();
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
      this.#pending = this.#web!.write(this.#encoder!.encode(line)).catch((error) =>
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
    if (this.#web === undefined) {
      (this.#node as Partial<EventSource>).off?.("error", this.#onError);
      return;
    }
    await this.#pending;
    try {
      this.#web.releaseLock();
    } catch (error) {
      reportInternalError(`stream sink "${this.#name}"`, error);
    }
  }
}
