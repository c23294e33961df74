/**
 * A sample request of a method, in proto3 JSON, for the admin API's service
 * list: `cairn dev` prints it in its copy-paste `curl` and `cairn call`
 * lines, so they must run as pasted. An empty `{}` does not: most methods
 * refuse an empty entity key or a zero quantity.
 */
import { ScalarType } from "@bufbuild/protobuf";
import type { DescField, DescMessage, JsonObject, JsonValue } from "@bufbuild/protobuf";

/** Nested messages deeper than this are left out (and recursive ones stop). */
const MAX_DEPTH = 3;

/** Well-known types whose JSON is not an object of their fields. */
const WELL_KNOWN: Record<string, JsonValue> = {
  "google.protobuf.Timestamp": "2026-01-01T00:00:00Z",
  "google.protobuf.Duration": "1s",
  "google.protobuf.FieldMask": "",
  "google.protobuf.Empty": {},
};

/**
 * The sample value of a string field: `cart_id` → `"cart-1"`, `session_ids`
 * → `"session-1"`, `name` → `"name-1"`. `cairn dev` fills path variables by
 * the same rule.
 */
export function sampleString(fieldName: string): string {
  return `${fieldName.replace(/(^|_)ids?$/, "") || "id"}-1`;
}

/**
 * A request of `message` with a plausible value in every field: strings as
 * {@link sampleString}, numbers 1 (64-bit ones as the string "1", as proto3
 * JSON writes them), booleans true, the first non-zero enum value, one
 * element in lists and maps, nested messages filled the same way.
 */
export function requestExample(message: DescMessage, depth = 0): JsonObject {
  const out: JsonObject = {};
  const oneofsSeen = new Set<string>();
  for (const field of message.fields) {
    // One member per oneof: two would be refused.
    if (field.oneof !== undefined) {
      if (oneofsSeen.has(field.oneof.name)) continue;
      oneofsSeen.add(field.oneof.name);
    }
    const value = fieldExample(field, depth);
    if (value !== undefined) out[field.jsonName] = value;
  }
  return out;
}

function fieldExample(field: DescField, depth: number): JsonValue | undefined {
  switch (field.fieldKind) {
    case "scalar":
      return scalarExample(field.scalar, field.name);
    case "enum":
      return enumExample(field.enum.values);
    case "message":
      return messageExample(field.message, depth);
    case "list": {
      const element = elementExample(field, depth);
      return element === undefined ? undefined : [element];
    }
    case "map": {
      const value = elementExample(field, depth);
      return value === undefined ? undefined : { [sampleString(field.name)]: value };
    }
  }
}

/** An element of a list, or a value of a map. */
function elementExample(
  field: DescField & { fieldKind: "list" | "map" },
  depth: number,
): JsonValue | undefined {
  const kind = field.fieldKind === "list" ? field.listKind : field.mapKind;
  // Narrowed by hand: `listKind`/`mapKind` say which of the three members is set.
  const element = field as unknown as {
    scalar: ScalarType;
    enum: { values: readonly { name: string; number: number }[] };
    message: DescMessage;
  };
  if (kind === "scalar") return scalarExample(element.scalar, field.name);
  if (kind === "enum") return enumExample(element.enum.values);
  return messageExample(element.message, depth);
}

function messageExample(message: DescMessage, depth: number): JsonValue | undefined {
  const known = WELL_KNOWN[message.typeName];
  if (known !== undefined) return known;
  // Struct, Value, Any and the wrappers have JSON forms of their own; leave them out.
  if (message.typeName.startsWith("google.protobuf.")) return undefined;
  if (depth >= MAX_DEPTH) return undefined;
  return requestExample(message, depth + 1);
}

function enumExample(values: readonly { name: string; number: number }[]): JsonValue | undefined {
  return (values.find((v) => v.number !== 0) ?? values[0])?.name;
}

function scalarExample(scalar: ScalarType, fieldName: string): JsonValue {
  switch (scalar) {
    case ScalarType.STRING:
      return sampleString(fieldName);
    case ScalarType.BOOL:
      return true;
    case ScalarType.BYTES:
      return "";
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return "1";
    default:
      return 1;
  }
}
