/**
 * The non-blocking buffered sink: a log call appends its line to memory and returns; the
 * lines reach the destination in one write when the buffer is full, after a short
 * interval, on `fatal`, on `flush()`/`close()` and when the process ends (which endings:
 * see `exit.ts`). No worker thread: the same code on Deno, Node and Bun.
 *
 * @module
 */

import { unrefTimer } from "../base/mod.ts";
import type { LineSink } from "./sink.ts";

/** Holds lines for a {@link LineSink} and writes them in batches. */
export class BufferedSink implements LineSink {
  readonly #inner: LineSink;
  readonly #bufferSize: number;
  readonly #flushIntervalMs: number;
  #lines: string[] = [];
  #times: number[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param inner Where the batches go.
   * @param bufferSize Lines held before a write.
   * @param flushIntervalMs Longest time a line is held.
   */
  constructor(inner: LineSink, bufferSize: number, flushIntervalMs: number) {
    this.#inner = inner;
    this.#bufferSize = bufferSize;
    this.#flushIntervalMs = flushIntervalMs;
  }

  write(line: string, time: number): void {
    this.#lines.push(line);
    this.#times.push(time);
    if (this.#lines.length >= this.#bufferSize) {
      this.#writeOut();
    } else if (this.#timer === undefined) {
      // The timer does not keep the process alive; the exit hooks flush what is left.
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#writeOut();
      }, this.#flushIntervalMs);
      unrefTimer(this.#timer);
    }
  }

  writeBatch(lines: string[], times: number[]): void {
    for (let i = 0; i < lines.length; i++) this.write(lines[i], times[i]);
  }

  /** Writes out the held lines and whatever the destination still holds, synchronously. */
  flush(): void {
    this.#writeOut();
    this.#inner.flush();
  }

  /** Hands the held lines to the destination as one batch (a full buffer, the interval). */
  #writeOut(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#lines.length === 0) return;
    const lines = this.#lines;
    const times = this.#times;
    this.#lines = [];
    this.#times = [];
    this.#inner.writeBatch(lines, times);
  }

  close(): Promise<void> {
    this.#writeOut();
    return this.#inner.close();
  }
}
