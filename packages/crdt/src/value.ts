/**
 * Element, map-key and register values, and their stable identity.
 *
 * Two values are the same element iff their canonical JSON is the same
 * string: object keys sorted by UTF-16 code unit, no whitespace, numbers as
 * `JSON.stringify` prints them (shortest round-trip form, `-0` as `0`).
 * JavaScript object identity never matters, so `{a: 1, b: 2}` added on one
 * replica and `{b: 2, a: 1}` removed on another are the same element.
 */
import { CrdtError } from "./errors.js";

/** A JSON-like value usable as a set element, map key or register value. */
export type Value =
  string | number | boolean | null | readonly Value[] | { readonly [key: string]: Value };

/**
 * The canonical JSON of `value`, used as its identity and in encodings.
 *
 * @example
 * canonicalKey({ b: 1, a: [true, "x"] }); // '{"a":[true,"x"],"b":1}'
 */
export function canonicalKey(value: Value): string {
  return write(value, "value");
}

/** Parses a canonical key back into its value (inverse of {@link canonicalKey}). */
export function parseKey(key: string): Value {
  return JSON.parse(key) as Value;
}

/**
 * Parses canonical JSON read from an encoding; `what` names it in errors.
 * Non-canonical spellings are refused: they would split one element into two
 * identities. Any failure (including absurd nesting) is a `malformed` error.
 */
export function parseCanonical(json: string, what: string): Value {
  let value: Value;
  let canonical: boolean;
  try {
    value = parseKey(json);
    canonical = canonicalKey(value) === json;
  } catch (cause) {
    throw new CrdtError(
      "malformed",
      `invalid CRDT encoding: ${what} ${JSON.stringify(json.slice(0, 40))} is not JSON-like`,
      {
        cause,
      },
    );
  }
  if (!canonical) {
    throw new CrdtError(
      "malformed",
      `invalid CRDT encoding: ${what} ${JSON.stringify(json.slice(0, 40))} is not canonical JSON`,
    );
  }
  return value;
}

function write(value: unknown, path: string): string {
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) {
        throw new CrdtError(
          "invalid-argument",
          `${path} is ${String(value)}; only finite numbers have a stable encoding`,
        );
      }
      return JSON.stringify(value);
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value))
        return `[${value.map((v, i) => write(v, `${path}[${i}]`)).join(",")}]`;
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw new CrdtError(
          "invalid-argument",
          `${path} is a ${describe(value)}; use a plain object, array, string, number, boolean or null (convert it, e.g. a Date to its ISO string)`,
        );
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${write(record[k], `${path}.${k}`)}`).join(",")}}`;
    }
    default:
      throw new CrdtError(
        "invalid-argument",
        `${path} is of type ${typeof value}; only JSON-like values (string, finite number, boolean, null, arrays, plain objects) can be elements, keys or register values`,
      );
  }
}

function describe(value: object): string {
  const ctor = (value as { constructor?: { name?: string } }).constructor;
  return ctor?.name ?? "non-plain object";
}
