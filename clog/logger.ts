/**
 * The {@link Logger} implementation. A call first compares two numbers (the configuration
 * generation and the level), so a disabled level costs a few nanoseconds and lazy fields
 * are never computed. Bound fields are serialized once per configuration ("chindings",
 * as pino calls them) and a child reuses its parent's serialized fields, unless it binds a
 * field its parent has: each bound field is written once, with the child's value.
 *
 * @module
 */

import type { Core, EmitSource, NameTables } from "./core.ts";
import { LEVEL_VALUES } from "./levels.ts";
import { copyFields, joinTextFields, NO_TEXT_FIELDS, type TextFields } from "./serialize.ts";
import type { Fields, LazyFields, Logger, LogLevel } from "./types.ts";

const NO_KEYS: readonly string[] = [];
const NO_FIELDS: Fields = Object.freeze({});

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
  /** Names of the bound fields (the ancestors' and the own ones, each once). */
  #keys: readonly string[] | undefined;
  /** Whether some own field overrides an ancestor's. */
  #overrides = false;
  /** The bound fields in one object, built when a line needs them so. */
  #bound: Fields | undefined;
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

  boundKeys(): readonly string[] {
    if (this.#keys === undefined) {
      const inherited = this.#parent?.boundKeys() ?? NO_KEYS;
      const own = this.#own === undefined ? NO_KEYS : Object.keys(this.#own);
      const added = own.filter((key) => !inherited.includes(key));
      this.#overrides = added.length < own.length;
      this.#keys = added.length === 0 ? inherited : [...inherited, ...added];
    }
    return this.#keys;
  }

  boundFields(): Fields {
    let bound = this.#bound;
    if (bound === undefined) {
      const inherited = this.#parent?.boundFields() ?? NO_FIELDS;
      const own = this.#own;
      bound = own === undefined
        ? inherited
        : inherited === NO_FIELDS
        ? own
        : { ...inherited, ...own }; // spread keeps a `__proto__` field as a field
      this.#bound = bound;
    }
    return bound;
  }

  /** The parent's bound fields serialized can be reused: no own field overrides one of them. */
  #extendsParent(): boolean {
    this.boundKeys();
    return !this.#overrides;
  }

  chindingsJson(): string {
    if (this.#chJson === undefined) {
      const parent = this.#parent;
      const s = this.core.serializer;
      let json = "";
      if (!this.#extendsParent()) json = s.fields(this.boundFields());
      else {
        if (parent !== undefined) {
          parent.#sync();
          json = parent.chindingsJson();
        }
        if (this.#own !== undefined) json += s.fields(this.#own);
      }
      this.#chJson = json;
    }
    return this.#chJson;
  }

  chindingsText(color: boolean): TextFields {
    let text = color ? this.#chTextColor : this.#chText;
    if (text === undefined) {
      const parent = this.#parent;
      const s = this.core.serializer;
      text = NO_TEXT_FIELDS;
      if (!this.#extendsParent()) text = s.textFields(this.boundFields(), color);
      else {
        if (parent !== undefined) {
          parent.#sync();
          text = parent.chindingsText(color);
        }
        if (this.#own !== undefined) text = joinTextFields(text, s.textFields(this.#own, color));
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
