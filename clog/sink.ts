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
 * @returns Whether it was reported (false: reported less than a minute ago, or stderr is
 *   gone).
 */
export function reportInternalError(where: string, error: unknown): boolean {
  try {
    const now = Date.now();
    const last = lastReports.get(where);
    if (last !== undefined && now - last < REPORT_INTERVAL_MS) return false;
    lastReports.set(where, now);
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`clog: ${where} failed: ${message}\n`);
    return true;
  } catch {
    // stderr itself is gone: nothing left to tell.
    return false;
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

/**
 * What a stream has been handed and not taken yet, capped at {@link MAX_BACKLOG_BYTES} as
 * the console's backlog is: past it, new lines are dropped and counted, stderr is told at
 * once, and again (with the count) when the stream catches up or the sink closes.
 */
class StreamBacklog {
  readonly #label: string;
  /** Bytes handed to a web stream whose writes have not settled, and their lines. */
  bytes = 0;
  lines = 0;
  /** Lines dropped that no report on stderr has counted yet. */
  #dropped = 0;
  /** Whether lines are being dropped (stderr was told). */
  #overflowing = false;

  /** @param name The stream's dependency name, for the reports. */
  constructor(name: string) {
    this.#label = `stream sink "${name}"`;
  }

  /**
   * Whether `lines` more lines fit when the stream holds `held` bytes with them; when they
   * do not, they are counted as dropped.
   */
  admit(held: number, lines: number): boolean {
    if (held > MAX_BACKLOG_BYTES) {
      this.#dropped += lines;
      if (!this.#overflowing) {
        this.#overflowing = true;
        tell(
          `clog: ${this.#label} is ${MAX_BACKLOG_BYTES >> 20} MiB behind its stream: ` +
            "new lines are dropped until it catches up\n",
        );
      }
      return false;
    }
    if (this.#dropped > 0) this.report("caught up");
    return true;
  }

  /** Says on stderr how many lines were dropped (if any), and ends an episode of a full backlog. */
  report(why: string): void {
    this.#overflowing = false;
    if (this.#dropped === 0) return;
    // A report stderr cannot take now is counted into the next one.
    if (tell(`clog: ${this.#label} ${why}: ${this.#dropped} lines dropped\n`)) this.#dropped = 0;
  }

  /** The stream did not take what it held within `waitMs`: it is given up, and stderr says so. */
  abandon(waitMs: number): void {
    this.#dropped += this.lines;
    this.bytes = this.lines = 0;
    this.report(`did not take the rest within ${waitMs} ms`);
  }
}

/** Writes `text` on stderr if it takes it now, never waiting; whether it did. */
function tell(text: string): boolean {
  return consoleWriters.stderr.writeNow(text);
}

/** Whether `promise` (which never rejects) settles within `ms`. */
function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  if (ms === Infinity) return promise.then(() => true);
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Not unref'd: an `await root.close()` that ends a program must still see it settle.
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(resolve, ms, false));
  return Promise.race([promise.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

/** The one writer of a web stream, shared by every sink on it (a writer locks its stream). */
interface SharedWriter {
  readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Open sinks writing through it; the lock is released when the last one closes. */
  users: number;
  /** The last write, settled once every earlier write is. */
  pending: Promise<void>;
  /** What the stream has not taken yet. */
  readonly backlog: StreamBacklog;
  /** The writer was released with writes pending: how they end is no longer reported. */
  released: boolean;
}

const webWriters = new WeakMap<WritableStream<Uint8Array>, SharedWriter>();
const encoder = new TextEncoder();

/** A Node writable's count of the bytes it holds. */
interface Measured {
  readonly writableLength: number;
}

/**
 * Writes to a stream the application passed in: a Node-style writable (any object with
 * `write(text)`) or a web `WritableStream<Uint8Array>`. The stream is not closed by clog.
 * Any number of sinks, in any number of configurations, may write to the same stream.
 *
 * A stream that stops taking lines (a log shipper whose collector is down) holds at most
 * 16 MiB of them: a web stream's writes that have not settled, or a Node writable's
 * `writableLength`; past that, new lines are dropped, counted and reported on stderr.
 * `close()` waits for a web stream to take what it was handed for `waitMs` at most, then
 * gives those lines up, says so on stderr, and releases the stream.
 */
export class StreamSink implements LineSink {
  readonly #name: string;
  readonly #node: { write(text: string): unknown } | undefined;
  /** What a Node writable that reports its `writableLength` holds; undefined for others. */
  readonly #nodeBacklog: StreamBacklog | undefined;
  readonly #stream: WritableStream<Uint8Array> | undefined;
  readonly #web: SharedWriter | undefined;
  #closed = false;
  /**
   * How long `close()` waits for a web stream to take the lines it was handed, in ms
   * (`flushTimeoutMs`, set on every reload).
   */
  waitMs: number = DEFAULT_FLUSH_TIMEOUT_MS;

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
        shared = {
          writer: stream.getWriter(),
          users: 0,
          pending: Promise.resolve(),
          backlog: new StreamBacklog(name),
          released: false,
        };
        webWriters.set(stream, shared);
      }
      shared.users++;
      this.#stream = stream;
      this.#web = shared;
    } else {
      this.#node = writer as { write(text: string): unknown };
      // A plain object with write() holds nothing clog can see, and costs no check per line.
      if (typeof (writer as Partial<Measured>).writableLength === "number") {
        this.#nodeBacklog = new StreamBacklog(name);
      }
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
        if (this.#nodeBacklog === undefined || this.#nodeTakes(1)) this.#node.write(line);
        return;
      }
      this.#writeWeb(line, 1);
    } catch (error) {
      reportInternalError(`stream sink "${this.#name}"`, error);
    }
  }

  writeBatch(lines: string[]): void {
    try {
      if (this.#node !== undefined) {
        if (this.#nodeBacklog === undefined || this.#nodeTakes(lines.length)) {
          this.#node.write(lines.join(""));
        }
        return;
      }
      this.#writeWeb(lines.join(""), lines.length);
    } catch (error) {
      reportInternalError(`stream sink "${this.#name}"`, error);
    }
  }

  /** Whether the Node writable has room for `lines` more lines. */
  #nodeTakes(lines: number): boolean {
    return this.#nodeBacklog!.admit((this.#node as unknown as Measured).writableLength, lines);
  }

  /** Hands `text` (`lines` lines) to the web stream's writer, when its backlog has room. */
  #writeWeb(text: string, lines: number): void {
    const shared = this.#web!;
    const backlog = shared.backlog;
    const bytes = encoder.encode(text);
    if (!backlog.admit(backlog.bytes + bytes.length, lines)) return;
    backlog.bytes += bytes.length;
    backlog.lines += lines;
    const settle = () => {
      if (shared.released) return;
      backlog.bytes -= bytes.length;
      backlog.lines -= lines;
      if (backlog.bytes === 0) backlog.report("caught up");
    };
    shared.pending = shared.writer.write(bytes).then(settle, (error) => {
      if (shared.released) return;
      settle();
      reportInternalError(`stream sink "${this.#name}"`, error);
    });
  }

  flush(): void {}

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const shared = this.#web;
    if (shared === undefined) {
      (this.#node as Partial<EventSource>).off?.("error", this.#onError);
      this.#nodeBacklog?.report("closed");
      return;
    }
    shared.users--;
    const settled = await settlesWithin(shared.pending, this.waitMs);
    // A sink opened on the stream meanwhile (a reload) keeps the writer, and its backlog.
    if (shared.users > 0 || webWriters.get(this.#stream!) !== shared) return;
    webWriters.delete(this.#stream!);
    if (settled) shared.backlog.report("closed");
    else {
      // The lines stay queued in the stream, which is the application's: clog lets go of
      // it (releasing, not aborting it) and of them.
      shared.released = true;
      shared.backlog.abandon(this.waitMs);
    }
    try {
      shared.writer.releaseLock();
    } catch (error) {
      reportInternalError(`stream sink "${this.#name}"`, error);
    }
  }
}
