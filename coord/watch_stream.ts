/**
 * The ReadableStreams over {@link runWatch} that coord hands out, in two kinds:
 *
 * - {@link eventStream} (`kv.watch`): every change, in revision order, exactly once. Its
 *   queue is bounded (`bufferSize` events, the stream's high-water mark); a reader that
 *   falls further behind pauses the watch underneath, which resumes where it stopped once
 *   the reader has caught up (see {@link RunWatchOptions.bufferSize}).
 * - {@link stateStream} (`registry.watch`, election `observe`): states, not deltas. The
 *   watch follows every change into one current state and the stream hands out that state
 *   when it is read, so a slow reader gets the newest state, never a backlog of stale ones,
 *   and memory holds one state whatever the pace.
 *
 * Both close when the caller's signal fires, the reader cancels or the client closes
 * (cancelling the server-side watch), and error only on a permanent failure.
 *
 * Internal: not exported from `mod.ts`.
 *
 * @module
 */

import { InfraError, scopedSignal } from "../base/mod.ts";
import type { CoordContext } from "./context.ts";
import type { KeyRange } from "./transport.ts";
import {
  DEFAULT_WATCH_BUFFER,
  runWatch,
  type RunWatchOptions,
  Wakeup,
  type WatchChange,
  type WatchFlow,
  type WatchStart,
} from "./watch.ts";

const COMPONENT = "coord";

/** What both kinds of stream are given. */
interface StreamOptions {
  /** What to watch. */
  range: KeyRange;
  /** For logs. */
  what: string;
  /** The caller's signal. */
  signal?: AbortSignal;
  /** Finds the starting point (a state stream also loads its first state here). */
  start(signal: AbortSignal): Promise<WatchStart>;
}

/** Options of {@link eventStream}. */
export interface EventStreamOptions<E> extends StreamOptions {
  /** Turns each change into its event (one for one). */
  map(change: WatchChange): E;
  /** The bound of the stream's queue, in events; default {@link DEFAULT_WATCH_BUFFER}. */
  bufferSize?: number;
}

/** Options of {@link stateStream}. */
export interface StateStreamOptions<S> extends StreamOptions {
  /** Follows a batch of changes into the state. */
  apply(changes: WatchChange[]): void;
  /**
   * The state to hand out now, or undefined when it is the one handed out last (then the
   * read waits for the next change).
   */
  snapshot(): { state: S } | undefined;
}

const flows = new WeakMap<ReadableStream<unknown>, WatchFlow>();

/**
 * The flow control counters of a stream from {@link eventStream}: the most events it held
 * at once (its queue, read off the controller's `desiredSize`, plus what waited to be
 * queued) and how often it paused its watch. For tests and diagnostics.
 *
 * @param stream A stream returned by `kv.watch`.
 * @returns Its counters (live), or undefined for any other stream.
 */
export function watchFlow(stream: ReadableStream<unknown>): Readonly<WatchFlow> | undefined {
  return flows.get(stream);
}

/**
 * Runs `work` (the watch) for a stream's life: closes the stream when it returns, errors it
 * with a permanent failure, and lets go of the signals the stream scoped.
 */
function runFor(
  controller: { close(): void; error(error: unknown): void },
  signal: AbortSignal,
  dispose: () => void,
  work: () => Promise<void>,
): Promise<void> {
  return work().finally(dispose).then(
    () => {
      try {
        controller.close();
      } catch {
        // already cancelled by the reader
      }
    },
    (error) => {
      try {
        if (signal.aborted || InfraError.is(error, "Closed")) controller.close();
        else controller.error(error);
      } catch {
        // already cancelled by the reader
      }
    },
  );
}

/** The signal of one stream: the caller's, the reader's cancel and the client's close. */
function streamSignal(context: CoordContext, callerSignal: AbortSignal | undefined) {
  const stop = new AbortController();
  // Scoped, not AbortSignal.any: the client's close signal outlives any number of watches.
  const scope = scopedSignal({
    signals: [callerSignal, stop.signal, context.closed],
    component: COMPONENT,
  });
  return { signal: scope.signal, stop: () => stop.abort(), dispose: () => scope[Symbol.dispose]() };
}

/** The parts of {@link RunWatchOptions} every stream passes the same way. */
function watchOptions(
  context: CoordContext,
  options: StreamOptions,
  signal: AbortSignal,
  start: WatchStart,
): Pick<RunWatchOptions, "transport" | "range" | "start" | "signal" | "logger" | "what"> {
  return {
    transport: context.transport,
    range: options.range,
    start,
    signal,
    logger: context.logger,
    what: options.what,
  };
}

/**
 * A stream of every change, with a bounded queue: see the module doc.
 *
 * @param context The client context.
 * @param options Range, start, mapping and bound.
 * @returns The stream.
 */
export function eventStream<E>(
  context: CoordContext,
  options: EventStreamOptions<E>,
): ReadableStream<E> {
  const bufferSize = options.bufferSize ?? DEFAULT_WATCH_BUFFER;
  const { signal, stop, dispose } = streamSignal(context, options.signal);
  const wakeup = new Wakeup();
  const flow: WatchFlow = { peak: 0, pauses: 0 };
  const stream = new ReadableStream<E>({
    start(controller) {
      runFor(controller, signal, dispose, async () => {
        const start = await options.start(signal);
        await runWatch({
          ...watchOptions(context, options, signal, start),
          bufferSize,
          flow,
          // What the stream's queue holds: its high-water mark less the room it has left.
          backlog: { held: () => bufferSize - (controller.desiredSize ?? bufferSize), wakeup },
          onChanges: (changes) => {
            if (signal.aborted) return;
            for (const change of changes) controller.enqueue(options.map(change));
          },
        });
      });
    },
    // Called after each read while the queue is below its bound: wakes a paused watch.
    pull() {
      wakeup.wake();
    },
    cancel() {
      stop();
    },
  }, new CountQueuingStrategy({ highWaterMark: bufferSize }));
  flows.set(stream, flow);
  return stream;
}

/**
 * A stream of the newest state, coalescing changes a slow reader has not read: see the
 * module doc. The first read gets the state loaded by `start`.
 *
 * @param context The client context.
 * @param options Range, start, and how changes make the state.
 * @returns The stream.
 */
export function stateStream<S>(
  context: CoordContext,
  options: StateStreamOptions<S>,
): ReadableStream<S> {
  const { signal, stop, dispose } = streamSignal(context, options.signal);
  const changed = new Wakeup();
  /** Whether a change (or the first state) came since the state was last handed out. */
  let fresh = false;
  let ended = false;
  return new ReadableStream<S>({
    start(controller) {
      runFor(controller, signal, dispose, async () => {
        const start = await options.start(signal);
        fresh = true;
        changed.wake();
        await runWatch({
          ...watchOptions(context, options, signal, start),
          onChanges: (changes) => {
            options.apply(changes);
            fresh = true;
            changed.wake();
          },
        });
      }).finally(() => {
        ended = true;
        changed.wake();
      });
    },
    // Called only for a pending read (high-water mark 0): nothing waits in the queue to go
    // stale, the read gets the state as it is when there is something new to report.
    async pull(controller) {
      while (!ended) {
        if (fresh) {
          fresh = false;
          const next = options.snapshot();
          if (next !== undefined) {
            controller.enqueue(next.state);
            return;
          }
        }
        // Not the stream's signal: after an abort the wait must last until the watch ended.
        await changed.wait();
      }
    },
    cancel() {
      stop();
    },
  }, { highWaterMark: 0 });
}
