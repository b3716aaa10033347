/**
 * Buffered lines at the end of the process: which endings write them out, the same on
 * Deno, Node and Bun.
 *
 * Written out: a natural end, `process.exit()` and `Deno.exit()`, an uncaught exception
 * and an unhandled rejection. SIGTERM, SIGINT and SIGHUP only when the configuration asks
 * (`flushOnSignals`): listening for a signal replaces its default action, so clog then
 * ends the process itself by raising the signal again, unless the application listens
 * for it too. Never written out: SIGKILL, a native crash, other signals, and a signal the
 * configuration did not ask for (the runtime dies without running any JavaScript).
 *
 * Once the process is ending (its `'exit'` event, Deno's `unload`), every line is written
 * out as it is logged: what the application's own `'exit'` listeners log, whichever ran
 * first, is written too.
 *
 * @module
 */

import process from "node:process";
import { reportInternalError } from "./sink.ts";

/** What holds lines in memory: the core of a configuration with buffered sinks. */
export interface Flushable {
  /** Writes out the held lines, synchronously where the destination allows. */
  flush(): void;
}

/** The signals `flushOnSignals` covers: the ones that ask a process to stop. */
const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

const held = new Set<Flushable>();
const wantSignals = new Set<Flushable>();
let exitHooked = false;
let exiting = false;
const signalListeners = new Map<NodeJS.Signals, () => void>();

/**
 * Whether the process is ending: no timer fires any more, so a line logged now must be
 * written out at once.
 */
export function isExiting(): boolean {
  return exiting;
}

function onExit(): void {
  exiting = true;
  flushAll();
}

function flushAll(): void {
  for (const owner of held) {
    try {
      owner.flush();
    } catch (error) {
      reportInternalError("flush at exit", error);
    }
  }
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  try {
    process.on("exit", onExit);
    // Deno does not emit Node's 'exit' on Deno.exit(), an uncaught exception or an
    // unhandled rejection (Node and Bun do); its web events cover those endings. An
    // 'error' or 'unhandledrejection' listener may keep the process going: not an end yet.
    if ("Deno" in globalThis) {
      globalThis.addEventListener("unload", onExit);
      for (const type of ["error", "unhandledrejection"]) {
        globalThis.addEventListener(type, flushAll);
      }
    }
  } catch (error) {
    reportInternalError("exit hook", error);
  }
}

function onSignal(signal: NodeJS.Signals): void {
  flushAll();
  // Only clog listens: without it the signal would have ended the process, so it must.
  if (process.listenerCount(signal) === 1) {
    unhookSignals();
    process.kill(process.pid, signal);
  }
}

function hookSignals(): void {
  if (signalListeners.size > 0) return;
  for (const signal of SIGNALS) {
    const listener = () => onSignal(signal);
    try {
      process.on(signal, listener);
      signalListeners.set(signal, listener);
    } catch {
      // Not a signal of this platform (Windows has no SIGTERM or SIGHUP on Deno).
    }
  }
}

function unhookSignals(): void {
  for (const [signal, listener] of signalListeners) process.off(signal, listener);
  signalListeners.clear();
}

/**
 * Registers (or unregisters) `owner` for flushing when the process ends.
 *
 * @param owner What to flush.
 * @param buffered Whether it holds lines in memory now.
 * @param onSignals Whether SIGTERM, SIGINT and SIGHUP should flush it too.
 */
export function flushAtExit(owner: Flushable, buffered: boolean, onSignals: boolean): void {
  if (buffered) held.add(owner);
  else held.delete(owner);
  if (buffered && onSignals) wantSignals.add(owner);
  else wantSignals.delete(owner);
  if (held.size > 0) hookExit();
  if (wantSignals.size > 0) hookSignals();
  else unhookSignals();
}
