/**
 * The one gate for untrusted JSON: NATS requests, station profiles, backbone descriptions and
 * checkpoint configs all come from outside the process, so every reader checks each field through
 * a {@linkcode Guard} and every refusal reads the same way — `field X must be …: got …` — thrown
 * as the reader's own error class.
 *
 * @example A request with a bad field
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { ConfigError } from "./errors.ts";
 * import { Guard } from "./guard.ts";
 * const guard = new Guard((message) => new ConfigError(message));
 * const fields = guard.object(JSON.parse('{"shots": 0}'), "request");
 * throws(() => guard.integer(fields.shots, "shots", { min: 1, max: 16 }), {
 *   message: "field shots must be an integer from 1 to 16: got 0",
 * });
 * ```
 *
 * @module
 */

/** Makes the error a reader throws for bad input. */
export type ErrorFactory = (message: string, options?: ErrorOptions) => Error;

/** A JSON object's fields, before they are checked. */
export type Fields = Record<string, unknown>;

/** Bounds of a number (inclusive). */
export interface NumberBounds {
  min?: number;
  max?: number;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** A value as it may appear in a message: short, printable, never the whole value. */
export function describeValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(printable(v));
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v === null) return "null";
  if (v === undefined) return "nothing";
  if (typeof v === "object") return "an object";
  return String(v);
}

// deno-lint-ignore no-control-regex
const CONTROL_CHAR_REGEXP = /[\x00-\x1f\x7f]/g;

/** `value` shortened to 100 characters with control characters made visible, for error messages. */
export function printable(value: string): string {
  const clean = value.replace(
    CONTROL_CHAR_REGEXP,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
  return clean.length > 100 ? `${clean.slice(0, 100)}…` : clean;
}

/** Checks of untrusted values that throw the reader's own error, with one message format. */
export class Guard {
  readonly #error: ErrorFactory;

  /** @param error makes the error thrown for a bad value, from its message */
  constructor(error: ErrorFactory) {
    this.#error = error;
  }

  /** An error of this guard's class with `message`. */
  error(message: string, options?: ErrorOptions): Error {
    return this.#error(message, options);
  }

  /** Throws `field <field> must be <what>: got <value>`. */
  reject(field: string, what: string, value: unknown): never {
    throw this.#error(`field ${field} must be ${what}: got ${describeValue(value)}`);
  }

  /** Parses JSON text or UTF-8 bytes, refusing more than `limit` bytes, empty text and bad syntax. */
  parseJson(data: Uint8Array | string, what: string, limit = Infinity): unknown {
    if (typeof data !== "string" && data.length > limit) {
      throw this.#error(`${what} is too large: ${data.length} bytes, the limit is ${limit}`);
    }
    let text: string;
    try {
      text = typeof data === "string" ? data : decoder.decode(data);
    } catch (error) {
      throw this.#error(`${what} is not UTF-8 text`, { cause: error });
    }
    if (text.trim() === "") throw this.#error(`${what} is empty: expected a JSON object`);
    try {
      return JSON.parse(text);
    } catch (error) {
      throw this.#error(`${what} is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
  }

  /** A JSON object (not null, not a list). */
  object(v: unknown, field: string): Fields {
    if (v === null || typeof v !== "object" || Array.isArray(v)) this.reject(field, "a JSON object", v);
    return v as Fields;
  }

  /** Refuses fields of `fields` outside `allowed`. */
  only(fields: Fields, allowed: readonly string[], field: string): void {
    const unknown = Object.keys(fields).filter((k) => !allowed.includes(k));
    if (!unknown.length) return;
    const names = unknown.map((k) => JSON.stringify(printable(k))).join(", ");
    throw this.#error(
      `field ${field} has unknown field${unknown.length > 1 ? "s" : ""} ${names}: allowed are ${
        allowed.join(", ")
      }`,
    );
  }

  /** A finite number within `bounds`. */
  number(v: unknown, field: string, bounds: NumberBounds = {}): number {
    const { min = -Infinity, max = Infinity } = bounds;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
      this.reject(field, `a finite number${rangeText(min, max)}`, v);
    }
    return v;
  }

  /** An integer within `bounds`. */
  integer(v: unknown, field: string, bounds: NumberBounds = {}): number {
    const { min = -Infinity, max = Infinity } = bounds;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      this.reject(field, `an integer${rangeText(min, max)}`, v);
    }
    return v;
  }

  /** A string of 1 to `max` characters; `controls: false` also refuses control characters. */
  string(v: unknown, field: string, opts: { max?: number; controls?: boolean } = {}): string {
    const { max = Infinity, controls = true } = opts;
    const bad = typeof v !== "string" || v.length === 0 || v.length > max ||
      // deno-lint-ignore no-control-regex
      (!controls && /[\x00-\x1f\x7f]/.test(v));
    if (bad) {
      const length = max === Infinity ? "a non-empty string" : `1–${max} characters`;
      this.reject(field, controls ? length : `${length} without control characters`, v);
    }
    return v as string;
  }

  /** A boolean. */
  boolean(v: unknown, field: string): boolean {
    if (typeof v !== "boolean") this.reject(field, "true or false", v);
    return v;
  }

  /** One of `values`. */
  oneOf<T extends string | number>(v: unknown, field: string, values: readonly T[]): T {
    if (!values.includes(v as T)) this.reject(field, `one of ${values.join(", ")}`, v);
    return v as T;
  }

  /** A list of finite numbers, of exactly `length` when given. */
  numbers(v: unknown, field: string, length?: number): number[] {
    const ok = Array.isArray(v) && (length === undefined || v.length === length) &&
      v.every((x) => typeof x === "number" && Number.isFinite(x));
    if (!ok) {
      this.reject(field, length === undefined ? "a list of finite numbers" : `${length} finite numbers`, v);
    }
    return v as number[];
  }

  /** A list of strings, each non-empty. */
  strings(v: unknown, field: string): string[] {
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string" && x.length > 0)) {
      this.reject(field, "a list of non-empty strings", v);
    }
    return v as string[];
  }
}

function rangeText(min: number, max: number): string {
  if (min === -Infinity && max === Infinity) return "";
  if (max === Infinity) return min === 0 ? " ≥ 0" : ` ≥ ${min}`;
  if (min === -Infinity) return ` ≤ ${max}`;
  return ` from ${min} to ${max}`;
}
