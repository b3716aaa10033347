/**
 * The file sink: appends lines with `node:fs` (identical on Deno, Node and Bun), and
 * rotates by size and/or by day (UTC by default, or the day of a time zone).
 *
 * Writes are synchronous and whole: a line (or a batch from the buffered sink) is one
 * `writeSync`, and rotation happens between two writes, so no line is torn, lost or split
 * across files however many tasks log at once. A line that alone is larger than
 * `maxSizeBytes` gets a file of its own. Rotated files are named
 * `<path>.<YYYY-MM-DD>.<n>`: the day of their first line and a counter that grows
 * within the day; beyond `maxBackups`, the oldest are deleted. A line's day is the time it
 * was logged, not when it was written: a buffered line of 23:59:59 goes to that day's
 * file even when the buffer is written after midnight.
 *
 * A file moved or deleted by someone else (logrotate, an operator) is noticed within a
 * second, at the next write, and created again at `path`; lines written in that second go
 * to the moved file. A file truncated in place (logrotate's `copytruncate`) is measured
 * again at the same moment, so that size rotation counts from its new size.
 *
 * One process per file: two processes appending to and rotating the same file would
 * rename it under each other (give each instance its own path).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { InfraError } from "../base/mod.ts";
import { type LineSink, reportInternalError } from "./sink.ts";

const DAY_MS = 86_400_000;
/** How often the path is compared with the open file (moved, deleted or truncated by others). */
const FOLLOW_MS = 1_000;

/** Settings of a {@link FileSink}. */
export interface FileSinkOptions {
  /** The file written to. */
  path: string;
  /** Rotate before a write would make the file larger; undefined = never by size. */
  maxSizeBytes?: number;
  /** Rotate when the day changes. */
  daily: boolean;
  /**
   * Whose day: `"UTC"`, `"local"` (the runtime's zone, resolved once) or an IANA name
   * (`"Asia/Shanghai"`). Default `"UTC"`.
   */
  timeZone?: string;
  /** Rotated files kept. */
  maxBackups: number;
  /** Where the path is in the config (`sinks[1].path`), named by an error to open it. */
  field: string;
}

/** Zone offsets are whole quarter hours: within one such slot the calendar date is one. */
const SLOT_MS = 900_000;

/**
 * The calendar day of a time, in a time zone, as the number of days from 1970-01-01 to
 * that date (so UTC's day of a time is `floor(ms / DAY_MS)`). A zone's dates are asked of
 * `Intl` once per quarter hour of log time, not once per line.
 */
class Calendar {
  readonly #format: Intl.DateTimeFormat | undefined;
  #slot = NaN;
  #day = 0;

  constructor(timeZone = "UTC") {
    const zone = timeZone === "local"
      ? new Intl.DateTimeFormat().resolvedOptions().timeZone
      : timeZone;
    this.#format = zone === "UTC" ? undefined : new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      year: "numeric",
      month: "numeric",
      day: "numeric",
    });
  }

  dayOf(ms: number): number {
    if (this.#format === undefined) return Math.floor(ms / DAY_MS);
    const slot = Math.floor(ms / SLOT_MS);
    if (slot !== this.#slot) {
      const parts: Record<string, number> = {};
      for (const part of this.#format.formatToParts(ms)) parts[part.type] = Number(part.value);
      this.#day = Date.UTC(parts.year, parts.month - 1, parts.day) / DAY_MS;
      this.#slot = slot;
    }
    return this.#day;
  }
}

function dayLabel(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Appends to a file and rotates it. */
export class FileSink implements LineSink {
  readonly #options: FileSinkOptions;
  readonly #dir: string;
  readonly #backupPattern: RegExp;
  #fd = -1;
  #size = 0;
  readonly #calendar: Calendar;
  /** Day of the first line in the current file (by its record's time). */
  #day = 0;
  /** The open file's identity, compared with what `path` names now. */
  #ino = 0;
  #dev = 0;
  /** When the path was last compared with the open file (`Date.now()`). */
  #followed = 0;

  /**
   * Opens (creating folders and the file as needed) `options.path` for appending.
   *
   * @param options Path and rotation.
   * @throws {InfraError} `PermissionDenied` or `Unavailable` when the file cannot be opened,
   *   with `details.field` naming the path in the config.
   */
  constructor(options: FileSinkOptions) {
    this.#options = options;
    this.#calendar = new Calendar(options.timeZone);
    this.#dir = dirname(options.path);
    this.#backupPattern = new RegExp(
      `^${escapeRegExp(basename(options.path))}\\.(\\d{4}-\\d{2}-\\d{2})\\.(\\d+)$`,
    );
    try {
      mkdirSync(this.#dir, { recursive: true });
      this.#open();
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new InfraError(
        code === "EACCES" || code === "EPERM" ? "PermissionDenied" : "Unavailable",
        `cannot open log file ${options.path} (config.${options.field}): ${
          (error as Error).message
        }`,
        { component: "clog", cause: error, details: { field: options.field } },
      );
    }
  }

  #open(): void {
    this.#fd = openSync(this.#options.path, "a");
    const stat = fstatSync(this.#fd);
    this.#size = stat.size;
    this.#ino = stat.ino;
    this.#dev = stat.dev;
    this.#followed = Date.now();
    // An empty file takes the day of its first line.
    this.#day = this.#calendar.dayOf(stat.mtimeMs);
  }

  /**
   * Opens `path` again when the open file is no longer there (moved or deleted), and takes
   * the size of one truncated in place.
   */
  #follow(now: number): void {
    this.#followed = now;
    const { path } = this.#options;
    try {
      let moved = true;
      try {
        const named = statSync(path);
        moved = named.ino !== this.#ino || named.dev !== this.#dev;
      } catch (error) {
        if ((error as { code?: string }).code !== "ENOENT") throw error;
      }
      if (!moved) {
        this.#size = fstatSync(this.#fd).size;
        return;
      }
      // The new file first: when it cannot be made, lines go on to the moved one.
      const previous = this.#fd;
      mkdirSync(this.#dir, { recursive: true });
      this.#open();
      closeSync(previous);
    } catch (error) {
      // Keep appending to the open file rather than lose lines.
      reportInternalError(`file sink ${path} (following a move)`, error);
    }
  }

  write(line: string, time: number): void {
    this.writeBatch([line], [time]);
  }

  writeBatch(lines: string[], times: number[]): void {
    try {
      // A failed reopen (after a rotation) is retried on the next write.
      if (this.#fd < 0) {
        mkdirSync(this.#dir, { recursive: true });
        this.#open();
      } else {
        const now = Date.now();
        if (now - this.#followed >= FOLLOW_MS) this.#follow(now);
      }
      const { maxSizeBytes = Infinity, daily } = this.#options;
      if (maxSizeBytes === Infinity && !daily) {
        this.#append(Buffer.from(lines.join("")));
        return;
      }
      // Group lines into writes; rotate between writes, never inside a line: before a line
      // that would make the file too large, and (daily) before a line of a later day
      // than the file's first one. A line's day is its record's: a line buffered before
      // midnight goes to that day's file, however late the buffer is written. One older
      // than the file (held back by fingersCrossed while later ones were written) goes in
      // the file as it is: rotating back to its day and forth again would cut a day into
      // many files and, past maxBackups, delete older days' files.
      let chunk: Buffer[] = [];
      let chunkBytes = 0;
      for (let i = 0; i < lines.length; i++) {
        const bytes = Buffer.from(lines[i]);
        const day = this.#calendar.dayOf(times[i]);
        const size = this.#size + chunkBytes;
        if (size > 0 && (size + bytes.length > maxSizeBytes || (daily && day > this.#day))) {
          if (chunkBytes > 0) {
            this.#append(Buffer.concat(chunk, chunkBytes));
            chunk = [];
            chunkBytes = 0;
          }
          this.#rotate();
        }
        if (this.#size + chunkBytes === 0) this.#day = day;
        chunk.push(bytes);
        chunkBytes += bytes.length;
      }
      if (chunkBytes > 0) this.#append(Buffer.concat(chunk, chunkBytes));
    } catch (error) {
      reportInternalError(`file sink ${this.#options.path}`, error);
    }
  }

  #append(bytes: Buffer): void {
    let offset = 0;
    while (offset < bytes.length) {
      offset += writeSync(this.#fd, bytes, offset, bytes.length - offset);
    }
    this.#size += bytes.length;
  }

  /** Renames the current file to its backup name and starts a new one. */
  #rotate(): void {
    const { path } = this.#options;
    closeSync(this.#fd);
    this.#fd = -1;
    try {
      const backups = this.#backups();
      const label = dayLabel(this.#day);
      const next = 1 + Math.max(0, ...backups.filter((b) => b.day === label).map((b) => b.n));
      renameSync(path, `${path}.${label}.${next}`);
      this.#prune([...backups, {
        name: basename(`${path}.${label}.${next}`),
        day: label,
        n: next,
      }]);
    } catch (error) {
      // Keep appending to the same file rather than lose lines.
      reportInternalError(`file sink ${path} (rotation)`, error);
    } finally {
      this.#open();
    }
  }

  #backups(): { name: string; day: string; n: number }[] {
    const found: { name: string; day: string; n: number }[] = [];
    for (const name of readdirSync(this.#dir)) {
      const match = this.#backupPattern.exec(name);
      if (match) found.push({ name, day: match[1], n: Number(match[2]) });
    }
    return found;
  }

  #prune(backups: { name: string; day: string; n: number }[]): void {
    const excess = backups.length - this.#options.maxBackups;
    if (excess <= 0) return;
    backups.sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : a.n - b.n));
    for (const backup of backups.slice(0, excess)) {
      try {
        unlinkSync(join(this.#dir, backup.name));
      } catch (error) {
        reportInternalError(`file sink ${this.#options.path} (pruning)`, error);
      }
    }
  }

  flush(): void {}

  close(): Promise<void> {
    if (this.#fd >= 0) {
      try {
        closeSync(this.#fd);
      } catch (error) {
        reportInternalError(`file sink ${this.#options.path}`, error);
      }
      this.#fd = -1;
    }
    return Promise.resolve();
  }
}
