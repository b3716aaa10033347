/**
 * The file sink: appends lines with `node:fs` (identical on Deno, Node and Bun), and
 * rotates by size and/or by UTC day.
 *
 * Writes are synchronous and whole: a line (or a batch from the buffered sink) is one
 * `writeSync`, and rotation happens between two writes, so no line is torn, lost or split
 * across files however many tasks log at once. A line that alone is larger than
 * `maxSizeBytes` gets a file of its own. Rotated files are named
 * `<path>.<YYYY-MM-DD>.<n>`: the UTC day their lines were written and a counter that
 * grows within the day; beyond `maxBackups`, the oldest are deleted.
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
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { InfraError } from "../base/mod.ts";
import { type LineSink, reportInternalError } from "./sink.ts";

const DAY_MS = 86_400_000;

/** Settings of a {@link FileSink}. */
export interface FileSinkOptions {
  /** The file written to. */
  path: string;
  /** Rotate before a write would make the file larger; undefined = never by size. */
  maxSizeBytes?: number;
  /** Rotate when the UTC day changes. */
  daily: boolean;
  /** Rotated files kept. */
  maxBackups: number;
  /** The clock (milliseconds since the epoch). */
  now: () => number;
  /** Where the path is in the config (`sinks[1].path`), named by an error to open it. */
  field: string;
}

function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS);
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
  /** UTC day of the first line in the current file. */
  #day = 0;

  /**
   * Opens (creating folders and the file as needed) `options.path` for appending.
   *
   * @param options Path, rotation and clock.
   * @throws {InfraError} `PermissionDenied` or `Unavailable` when the file cannot be opened,
   *   with `details.field` naming the path in the config.
   */
  constructor(options: FileSinkOptions) {
    this.#options = options;
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
    this.#day = dayOf(stat.size > 0 ? stat.mtimeMs : this.#options.now());
  }

  write(line: string): void {
    this.writeBatch([line]);
  }

  writeBatch(lines: string[]): void {
    try {
      // A failed reopen (after a rotation) is retried on the next write.
      if (this.#fd < 0) {
        mkdirSync(this.#dir, { recursive: true });
        this.#open();
      }
      const { maxSizeBytes, daily } = this.#options;
      if (daily) {
        const today = dayOf(this.#options.now());
        if (today !== this.#day) {
          if (this.#size > 0) this.#rotate();
          this.#day = today;
        }
      }
      if (maxSizeBytes === undefined) {
        this.#append(Buffer.from(lines.join("")));
        return;
      }
      // Group lines into writes that fit; rotate between writes, never inside a line.
      let chunk: Buffer[] = [];
      let chunkBytes = 0;
      for (const line of lines) {
        const bytes = Buffer.from(line);
        if (this.#size + chunkBytes + bytes.length > maxSizeBytes) {
          if (chunkBytes > 0) {
            this.#append(Buffer.concat(chunk, chunkBytes));
            chunk = [];
            chunkBytes = 0;
          }
          if (this.#size > 0) this.#rotate();
        }
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
