/**
 * What a log line learns from where it was logged: fields scoped with
 * {@link withContext} (an AsyncLocalStorage, so they follow the code across awaits and
 * never leak into a concurrent request), and the trace and span ids of the active
 * OpenTelemetry span.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { isSpanContextValid, type SpanContext, trace } from "@opentelemetry/api";
import { copyFields, type TextFields } from "./serialize.ts";
import type { Fields } from "./types.ts";

/**
 * The longest chain of scopes a {@link LogContext} keeps: one nested deeper starts a chain
 * of its own (its fields are still merged with all the enclosing ones).
 */
export const MAX_SCOPE_DEPTH = 32;

/** The fields of one `withContext` scope (merged with the enclosing ones). */
export class LogContext {
  /** The merged fields. */
  readonly fields: Fields;
  /**
   * The enclosing scope, if any (what `fingersCrossed` isolation goes by); none past
   * {@link MAX_SCOPE_DEPTH}.
   */
  readonly parent: LogContext | undefined;
  /** Scopes in the chain up from this one, itself included. */
  readonly depth: number;
  /** Serialized forms, cached for one serializer (one configuration). */
  cacheOwner: object | undefined = undefined;
  /** JSON fragment of {@link LogContext.fields} for `cacheOwner`. */
  json = "";
  /** Text fragment without colour for `cacheOwner`. */
  text: TextFields | undefined = undefined;
  /** Text fragment with colour for `cacheOwner`. */
  textColor: TextFields | undefined = undefined;
  #keys: readonly string[] | undefined;

  /**
   * @param fields The merged fields.
   * @param parent The enclosing scope.
   */
  constructor(fields: Fields, parent?: LogContext) {
    this.fields = fields;
    // A chain of scopes that each start the next (a poller, a retry loop) would otherwise
    // keep every earlier scope alive through its parent.
    this.parent = parent === undefined || parent.depth >= MAX_SCOPE_DEPTH ? undefined : parent;
    this.depth = this.parent === undefined ? 1 : this.parent.depth + 1;
  }

  /** The names of the fields (read when a line has bound or call fields too). */
  get keys(): readonly string[] {
    return this.#keys ??= Object.keys(this.fields);
  }
}

// Created on first use: on Node 20 an AsyncLocalStorage turns on promise hooks, a cost
// that applications that never call withContext should not pay.
let storage: AsyncLocalStorage<LogContext> | undefined;

/**
 * Runs `fn` with `fields` added to every line logged inside it, by any logger, across
 * awaits, timers and callbacks started inside it; concurrent calls never see each other's
 * fields. Nested calls add to (and may override) the enclosing fields; they override a
 * logger's bound fields, and a call's fields override them in turn. The fields are
 * copied when the scope starts; like a log call, this never throws because of them.
 *
 * This is the supported way in: `AsyncLocalStorage.enterWith` is not, because the
 * context it sets leaks into code that runs later in the same async resource.
 *
 * @param fields Fields for the scope, e.g. `{ requestId, userId }`.
 * @param fn The code to run; its result (or promise) is returned.
 * @returns What `fn` returns.
 *
 * @example
 * ```ts
 * import { getLogger, withContext } from "@gochat/infra/clog";
 *
 * const logger = getLogger("im-gateway");
 * await withContext({ requestId: "r-1", userId: 42 }, async () => {
 *   await Promise.resolve();
 *   logger.info("message accepted"); // carries requestId and userId
 * });
 * ```
 */
export function withContext<T>(fields: Fields, fn: () => T): T {
  storage ??= new AsyncLocalStorage<LogContext>();
  const parent = storage.getStore();
  const own = copyFields(fields);
  // Spread defines members (a `__proto__` one too), where assignment would set a prototype.
  const merged = parent === undefined ? own : { ...parent.fields, ...own };
  return storage.run(new LogContext(merged, parent), fn);
}

/**
 * The fields of the enclosing {@link withContext} scopes (a copy), e.g. to pass them on
 * in a message header. Empty outside any scope.
 *
 * @returns The merged fields.
 *
 * @example
 * ```ts
 * import { contextFields, withContext } from "@gochat/infra/clog";
 *
 * withContext({ requestId: "r-1" }, () => contextFields()); // { requestId: "r-1" }
 * ```
 */
export function contextFields(): Fields {
  const context = storage?.getStore();
  return context === undefined ? {} : { ...context.fields };
}

/** The innermost scope, or undefined. */
export function activeContext(): LogContext | undefined {
  return storage === undefined ? undefined : storage.getStore();
}

/** Trace and span ids of a span context, rendered once per span. */
export interface SpanIds {
  /** `,"trace_id":"…","span_id":"…"` */
  readonly json: string;
  /** ` trace_id=… span_id=…` */
  readonly text: string;
  /** The trace id. */
  readonly traceId: string;
  /** The span id. */
  readonly spanId: string;
}

let lastSpanContext: SpanContext | undefined;
let lastIds: SpanIds | undefined;

/**
 * The ids of the active OpenTelemetry span (through `@opentelemetry/api`, so it works
 * with whatever SDK the application installed, and costs little without one), or
 * undefined when there is no valid active span.
 */
export function activeSpanIds(): SpanIds | undefined {
  const span = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const spanContext = span.spanContext();
  if (spanContext !== lastSpanContext) {
    lastSpanContext = spanContext;
    // Validation (hex, not all zeros) is what makes the ids safe to write unescaped.
    lastIds = isSpanContextValid(spanContext)
      ? {
        json: `,"trace_id":"${spanContext.traceId}","span_id":"${spanContext.spanId}"`,
        text: ` trace_id=${spanContext.traceId} span_id=${spanContext.spanId}`,
        traceId: spanContext.traceId,
        spanId: spanContext.spanId,
      }
      : undefined;
  }
  return lastIds;
}
