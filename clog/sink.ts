/**
 * Sinks that write formatted lines: the common shape, the console sink and the stream
 * sink. A sink never throws into a log call: failures are reported on stderr (at most
 * once a minute per sink) and the lines are dropped.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { constants, fstatSync, openSync, writeSync } from "node:fs";
import process from "node:process";
import { unrefTimer } from "../base/mod.ts";
import { DEFAULT_FLUSH_TIMEOUT_MS } from "./config.ts";
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

/**
 * The most bytes held for a console reader that is behind. Past it, new lines are dropped
 * (and counted) until the reader catches up, so a reader that stopped cannot make the
 * process run out of memory.
 */
const MAX_BACKLOG_BYTES = 16 * 1024 * 1024;

/** The longest a log call waits for a slow reader to take the rest of a line it cut, in ms. */
const CUT_LINE_WAIT_MS = 50;

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
 * The descriptor to write `fd` through without blocking. A pipe (`app | reader`) is reopened
 * through `/proc/self/fd` (Linux) with `O_NONBLOCK`, on a file description of clog's own:
 * Deno, and Bun until something touches `process.stdout`, leave a pipe blocking, and a
 * blocking write to a pipe whose reader never reads never returns. A socket (the stdout a
 * Node or Bun parent gives its children) cannot be reopened so: Node and Bun make it
 * non-blocking when `process.stdout` is first touched, so it is touched; Deno leaves it
 * blocking. Terminals and files are written as they are, and so is a pipe elsewhere or
 * without the permission.
 */
function nonBlocking(fd: number, target: "stdout" | "stderr"): number {
  const path = `/proc/self/fd/${fd}`;
  try {
    const stat = fstatSync(fd);
    const deno = (globalThis as { Deno?: DenoPermissions }).Deno;
    if (stat.isSocket()) {
      if (deno === undefined) void process[target].writable;
      return fd;
    }
    if (process.platform !== "linux" || !stat.isFIFO()) return fd;
    // Asking Deno for a permission it lacks would prompt, or throw: check first.
    if (
      deno !== undefined && deno.permissions.querySync({ name: "write", path }).state !== "granted"
    ) {
      return fd;
    }
    return openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return fd;
  }
}

/**
 * The most one write may hand a non-blocking pipe on Deno. Deno's `fs.writeSync` writes in
 * a loop and, when the pipe fills up midway, throws EAGAIN without saying how much went
 * out; up to PIPE_BUF bytes, a pipe takes all or nothing, so nothing is lost or repeated.
 */
const DENO_PIPE_WRITE = 4096;

/** The part of Deno's permission API {@link nonBlocking} uses. */
interface DenoPermissions {
  permissions: { querySync(query: { name: "write"; path: string }): { state: string } };
}

/** How many lines (newlines) `bytes` holds from `offset` on. */
function countLines(bytes: Buffer, offset: number): number {
  let lines = 0;
  for (let at = bytes.indexOf(0x0a, offset); at >= 0; at = bytes.indexOf(0x0a, at + 1)) lines++;
  return lines;
}

/**
 * The lines for file descriptor 1 or 2, written with `fs.writeSync` (the same on Deno,
 * Node and Bun) rather than through `process.stdout`: Node and Bun write a pipe
 * asynchronously, and what the pipe had not taken when the process ended was lost. One per
 * descriptor, shared by every console sink on it, so lines keep their order.
 *
 * A pipe is written without blocking (see {@link nonBlocking}), so a write to a pipe whose
 * reader is slow may take part of the lines or none. The line being written is then
 * finished if the reader takes it within {@link CUT_LINE_WAIT_MS} (so no other writer of
 * the descriptor can tear it), and the rest waits here, in order and ahead of later lines,
 * for a timer to try again.
 * {@link ConsoleWriter.flush} writes everything now, waiting for the reader as long as it
 * keeps taking bytes: fatal, `flush()`, `close()` and the exit hooks use it. A reader that
 * takes nothing for `waitMs` (`flushTimeoutMs`) loses the rest, and stderr says how many
 * lines; after that, waits for this descriptor are skipped until it takes bytes again.
 */
class ConsoleWriter {
  readonly #fd: number;
  readonly #label: "stdout" | "stderr";
  /** The descriptor actually written, opened on first use. */
  #out: number | undefined;
  /** The most bytes one write may take (see {@link DENO_PIPE_WRITE}). */
  #maxWrite = Infinity;
  /** Bytes the descriptor has not taken yet, in order. */
  #pending: Buffer[] = [];
  /** Their total length. */
  #pendingBytes = 0;
  /** Whether lines are being dropped because the backlog is full. */
  #overflowing = false;
  #written = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #retryMs = RETRY_MS.min;
  /** A wait for the reader ran out, and it has taken nothing since. */
  #stalled = false;
  /** Lines dropped that no report on stderr has counted yet. */
  #unreported = 0;

  constructor(fd: number, label: "stdout" | "stderr") {
    this.#fd = fd;
    this.#label = label;
  }

  /** Writes `text` now, or holds what the descriptor does not take yet. */
  write(text: string): void {
    const bytes = Buffer.from(text);
    if (this.#pending.length > 0) {
      if (this.#pendingBytes + bytes.length <= MAX_BACKLOG_BYTES) this.#hold(bytes);
      else this.#overflow(bytes);
      return;
    }
    this.#writeSome(bytes);
    this.#schedule();
  }

  #hold(bytes: Buffer): void {
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
  }

  /** Takes the held bytes out, to write them. */
  #takeHeld(): Buffer[] {
    const held = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    return held;
  }

  /** The backlog is full: `bytes` are dropped, and stderr is told once per episode. */
  #overflow(bytes: Buffer): void {
    this.#unreported += countLines(bytes, 0);
    if (this.#overflowing) return;
    this.#overflowing = true;
    this.#tell(
      `clog: ${this.#label} is ${MAX_BACKLOG_BYTES >> 20} MiB behind its reader: ` +
        "new lines are dropped until it catches up\n",
    );
  }

  /**
   * Writes every held byte now, synchronously, waiting while the reader takes bytes; what
   * is left when it has taken nothing for `waitMs` is dropped and reported.
   *
   * @param waitMs 0: no wait; `Infinity`: as long as it takes.
   */
  flush(waitMs: number): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const held = this.#takeHeld();
    const stalled = this.#stalled;
    try {
      for (let i = 0; i < held.length; i++) {
        const offset = this.#writeAll(held[i], 0, stalled ? 0 : waitMs);
        if (offset < held[i].length) {
          this.#stalled = true;
          this.#unreported += countLines(held[i], offset);
          for (let j = i + 1; j < held.length; j++) this.#unreported += countLines(held[j], 0);
          this.#report(
            stalled
              ? "still takes nothing"
              : waitMs === 0
              ? "took nothing at once"
              : `took nothing for ${waitMs} ms`,
          );
          return;
        }
      }
      if (this.#unreported > 0) this.#report("caught up");
    } catch (error) {
      this.#fail(error);
    }
  }

  /**
   * Writes what the descriptor takes now, finishing a line it cut (for a short while: a
   * log call must not wait long), and holds the rest. It keeps writing while the descriptor
   * takes bytes: one write may hand it no more than {@link DENO_PIPE_WRITE}, which says
   * nothing of whether the pipe is full; only a write that takes nothing does.
   */
  #writeSome(bytes: Buffer): void {
    try {
      let offset = 0;
      for (let next = this.#attempt(bytes, 0); next > offset; next = this.#attempt(bytes, offset)) {
        offset = next;
        if (offset === bytes.length) break;
      }
      if (offset > 0 && offset < bytes.length && bytes[offset - 1] !== 0x0a) {
        const newline = bytes.indexOf(0x0a, offset);
        const end = newline < 0 ? bytes.length : newline + 1;
        offset = this.#writeAll(bytes.subarray(0, end), offset, CUT_LINE_WAIT_MS);
      }
      if (offset < bytes.length) this.#hold(bytes.subarray(offset));
    } catch (error) {
      this.#fail(error);
    }
  }

  /** One `writeSync` from `offset`: how far it got (`offset` itself when the pipe is full). */
  #attempt(bytes: Buffer, offset: number): number {
    let written = 0;
    try {
      written = writeSync(
        this.#descriptor(),
        bytes,
        offset,
        Math.min(bytes.length - offset, this.#maxWrite),
      );
    } catch (error) {
      if (!isFull(error)) throw error;
    }
    if (written > 0) {
      this.#written += written;
      this.#stalled = false;
    }
    return offset + written;
  }

  #descriptor(): number {
    if (this.#out === undefined) {
      this.#out = nonBlocking(this.#fd, this.#label);
      if (this.#out !== this.#fd && "Deno" in globalThis) this.#maxWrite = DENO_PIPE_WRITE;
    }
    return this.#out;
  }

  /**
   * Writes `bytes` from `offset` on, waiting while the pipe is full, until the reader has
   * taken nothing for `waitMs`.
   *
   * @returns How far it got.
   */
  #writeAll(bytes: Buffer, offset: number, waitMs: number): number {
    let progressAt = Date.now();
    while (offset < bytes.length) {
      const next = this.#attempt(bytes, offset);
      if (next > offset) {
        offset = next;
        progressAt = Date.now();
      } else if (Date.now() - progressAt >= waitMs) {
        break;
      } else {
        sleep(1);
      }
    }
    return offset;
  }

  /**
   * Says on stderr (when it can take it now) how many lines the reader did not take, and
   * ends an episode of a full backlog.
   */
  #report(why: string): void {
    this.#overflowing = false;
    // A report stderr cannot take now is counted into the next one.
    if (this.#tell(`clog: ${this.#label} ${why}: ${this.#unreported} lines dropped\n`)) {
      this.#unreported = 0;
    }
  }

  /** Writes `text` on stderr if it takes it now; a stuck stderr cannot tell of itself. */
  #tell(text: string): boolean {
    return this !== consoleWriters.stderr && consoleWriters.stderr.writeNow(text);
  }

  /** Writes `text` if the descriptor takes all of it now, never waiting; whether it did. */
  writeNow(text: string): boolean {
    if (this.#pending.length > 0) return false;
    const bytes = Buffer.from(text);
    try {
      return this.#attempt(bytes, 0) === bytes.length;
    } catch {
      return false;
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
    const held = this.#takeHeld();
    for (const bytes of held) {
      if (this.#pending.length > 0) this.#hold(bytes);
      else this.#writeSome(bytes);
    }
    if (this.#pending.length === 0 && this.#unreported > 0) this.#report("caught up");
    this.#retryMs = this.#written > before
      ? RETRY_MS.min
      : Math.min(2 * this.#retryMs, RETRY_MS.max);
    this.#schedule();
  }

  /** The descriptor is gone (EPIPE, EBADF): what it did not take is dropped. */
  #fail(error: unknown): void {
    this.#takeHeld();
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
  /**
   * How long a synchronous write may wait for a pipe reader that takes nothing, in ms
   * (`flushTimeoutMs`, set on every reload).
   */
  waitMs: number = DEFAULT_FLUSH_TIMEOUT_MS;

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
    this.#writer.flush(this.waitMs);
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
