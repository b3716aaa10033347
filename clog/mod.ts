/**
 * Structured logging. This first part is the contract ({@link Logger}) and the
 * process-wide {@link getLogger}, which is silent until the application configures logging;
 * formats, sinks and `init` follow in the clog issue.
 *
 * @example
 * ```ts
 * import { getLogger } from "@gochat/infra/clog";
 *
 * const logger = getLogger("im-logic").namespace("get_user");
 * logger.info("user loaded", { userId: 42 });
 * ```
 *
 * @module
 */

import type { Fields, LazyFields, Logger, LogLevel } from "./types.ts";

export type { Fields, LazyFields, Logger, LogLevel } from "./types.ts";

class SilentLogger implements Logger {
  constructor(readonly name: string) {}
  trace(_message: string, _fields?: LazyFields): void {}
  debug(_message: string, _fields?: LazyFields): void {}
  info(_message: string, _fields?: LazyFields): void {}
  warn(_message: string, _fields?: LazyFields): void {}
  error(_message: string, _fields?: LazyFields): void {}
  fatal(_message: string, _fields?: LazyFields): void {}
  with(_fields: Fields): Logger {
    return this;
  }
  namespace(name: string): Logger {
    return new SilentLogger(this.name ? `${this.name}.${name}` : name);
  }
  isEnabled(_level: LogLevel): boolean {
    return false;
  }
}

/**
 * The process-wide logger for `namespace`. Libraries call this when no logger was
 * injected; it stays silent until the application configures logging.
 *
 * @param namespace Dotted namespace, e.g. `"coord"`.
 * @returns The logger.
 */
export function getLogger(namespace = ""): Logger {
  return new SilentLogger(namespace);
}
