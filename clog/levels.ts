/**
 * Level names and their numeric order (pino's numbers, so the levels of both line up).
 *
 * @module
 */

import type { LogLevel } from "./types.ts";

/** Every level, lowest first. */
export const LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "fatal"];

/** Numeric value of each level; a record is written when its value ≥ the minimum. */
export const LEVEL_VALUES: Readonly<Record<LogLevel, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
};

/** Above every level: nothing is written. */
export const LEVEL_OFF = 100;

/** The level name of a value from {@link LEVEL_VALUES}. */
export function levelName(value: number): LogLevel {
  return LEVELS[value / 10 - 1];
}
