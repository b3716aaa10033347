/**
 * The {@link Logger} implementation. A call first compares two numbers (the configuration
 * generation and the level), so a disabled level costs a few nanoseconds and lazy fields
 * are never computed. Bound fields are serialized once per configuration ("chindings",
 * as pino calls them) and a child reuses its parent's serialized fields.
 *
 * @module
 */

import type { Core, EmitSource, NameTables } from "./core.ts";
import { LEVEL_VALUES } from "./levels.ts";
import { copyFields, joinTextFields, NO_TEXT_FIELDS, type TextFields } from "./serialize.ts";
import type { Fields, LazyFields, Logger, LogLevel } from "./types.ts";

/** A logger bound to a {@link Core}, a namespace and fields. */
export class CoreLogger implements Logger, EmitSource {
  /** The engine; its configuration may change at any time. */
  readonly core: Core;
  /** Namespace below the service root (`""` for the root). */
  readonly path: string;
  /** Tables of {@link CoreLogger.gen}. */
  tables: NameTables;
  readonly #parent: CoreLogger | undefined;
  readonly #own: Fields | undefined;
  #gen = 0;
  #min = 0;
  #chJson: string | undefined;
  #chText: TextFields | undefined;
  #chTextColor: TextFields | undefined;

  /**
   * @param core The engine.
   * @param parent The logger this one was derived from.
   * @param path Namespace below the service root.
   * @param own Fields bound by this logger (on top of the parent's).
   */
  constructor(core: Core, parent: CoreLogger | undefined, path: string, own: Fields | undefined) {
    this.core = core;
    this.#parent = parent;
    this.path = path;
    this.#own = own;
    if (parent !== undefined && parent.path === path && parent.#gen === core.gen) {
      // A child made per request (`with({ requestId })`) costs an object, nothing more.
      this.tables = parent.tables;
      this.#min = parent.#min;
      this.#gen = core.gen;
    } else {
      this.tables = core.tables(path);
      this.#min = this.tables.min;
      this.#gen = core.gen;
    }
  }

  /** Rebuilds the caches for the current configuration. */
  #refresh(): void {
    const core = this.core;
    const parent = this.#parent;
    if (parent !== undefined && parent.path === this.path) {
      parent.#sync();
      this.tables = parent.tables;
    } else {
      this.tables = core.tables(this.path);
    }
    this.#min = this.tables.min;
    this.#chJson = this.#chText = this.#chTextColor = undefined;
    this.#gen = core.gen;
  }

  #sync(): void {
    if (this.#gen !== this.core.gen) this.#refresh();
  }

  get name(): string {
    this.#sync();
    return this.tables.name;
  }

  chindingsJson(): string {
    if (this.#chJson === undefined) {
      const parent = this.#parent;
      let json = "";
      if (parent !== undefined) {
        parent.#sync();
        json = parent.chindingsJson();
      }
      if (this.#own !== undefined) json += this.core.serializer.fields(this.#own);
      this.#chJson = json;
    }
    return this.#chJson;
  }

  chindingsText(color: boolean): TextFields {
    let text = color ? this.#chTextColor : this.#chText;
    if (text === undefined) {
      const parent = this.#parent;
      text = NO_TEXT_FIELDS;
      if (parent !== undefined) {
        parent.#sync();
        text = parent.chindingsText(color);
      }
      if (this.#own !== undefined) {
        text = joinTextFields(text, this.core.serializer.textFields(this.#own, color));
      }
      if (color) this.#chTextColor = text;
      else this.#chText = text;
    }
    return text;
  }

  trace(message: string, fields?: LazyFields): void {
    if (this.#gen !== this.core.gen) this.#refresh();
    if (this.#min <= 10) this.core.emit(this, 10, message, fields);
  }

  debug(message: string, fields?: LazyFields): void {
    if (this.#gen !== this.core.gen) this.#refresh();
    if (this.#min <= 20) this.core.emit(this, 20, message, fields);
  }

  info(message: string, fields?: LazyFields): void {
    if (this.#gen !== this.core.gen) this.#refresh();
    if (this.#min <= 30) this.core.emit(this, 30, message, fields);
  }

  warn(message: string, fields?: LazyFields): void {
    if (this.#gen !== this.core.gen) this.#refresh();
    if (this.#min <= 40) this.core.emit(this, 40, message, fields);
  }

  error(message: string, fields?: LazyFields): void {
    if (this.#gen !== this.core.gen) this.#refresh();
    if (this.#min <= 50) this.core.emit(this, 50, message, fields);
  }

  fatal(message: string, fields?: LazyFields): void {
    if (this.#gen !== this.core.gen) this.#refresh();
    if (this.#min <= 60) this.core.emit(this, 60, message, fields);
  }

  with(fields: Fields): Logger {
    if (fields === null || typeof fields !== "object") return this;
    return new CoreLogger(this.core, this, this.path, copyFields(fields));
  }

  namespace(name: string): Logger {
    if (typeof name !== "string" || name === "") return this;
    return new CoreLogger(
      this.core,
      this,
      this.path === "" ? name : `${this.path}.${name}`,
      undefined,
    );
  }

  isEnabled(level: LogLevel): boolean {
    this.#sync();
    const value = LEVEL_VALUES[level];
    return value !== undefined && value >= this.#min;
  }
}
