import { fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import type { DescMessage, JsonValue, Registry } from "@bufbuild/protobuf";
import { CairnError, Code } from "@cairn/protocol";
import { entityKeyOf } from "../core/entity-key.js";
import type { MethodTarget } from "./catalog-view.js";
import type { Parsed } from "./status.js";

/** A JSON object, as request bodies are built. */
export type JsonObject = { [key: string]: JsonValue };

/** An INVALID_ARGUMENT about the request of `target`. */
export function invalid(target: MethodTarget, why: string): Parsed<never> {
  return {
    error: new CairnError(Code.InvalidArgument, `invalid request body for ${target.name}: ${why}`),
  };
}

/**
 * A decoded request message: its bytes, and for an entity method the entity
 * key read from the decoded message, passed on so the router does not decode
 * it again.
 */
export type Decoded = Parsed<Uint8Array> & { readonly entityKey?: string };

/** The entity key of a decoded request, for entity methods whose key is present. */
export function keyOf(target: MethodTarget, message: object): { entityKey?: string } {
  const kind = target.service.kind;
  if (kind !== "event_sourced_entity" && kind !== "value_entity") return {};
  const key = entityKeyOf(target.method, message as Record<string, unknown>);
  // A missing key is reported by the router, with the same message for every caller.
  return "value" in key ? { entityKey: key.value } : {};
}

/** Parses a JSON body; empty means `{}` so methods fed only by the path need none. */
export function parseJsonBody(body: Buffer, target: MethodTarget): Parsed<JsonValue> {
  if (body.length === 0) return { value: {} };
  try {
    return { value: JSON.parse(body.toString("utf8")) as JsonValue };
  } catch (err) {
    return invalid(target, `malformed JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Encodes a protobuf-JSON value of the method's input as binary, naming the bad field on failure. */
export function jsonToBinary(json: JsonValue, target: MethodTarget, registry: Registry): Decoded {
  try {
    const message = fromJson(target.method.input, json, { ignoreUnknownFields: false, registry });
    return { value: toBinary(target.method.input, message), ...keyOf(target, message) };
  } catch (err) {
    return invalid(target, err instanceof Error ? err.message : String(err));
  }
}

/** Checks that bytes are a valid message of the method's input. */
export function validateBinary(bytes: Uint8Array, target: MethodTarget): Decoded {
  try {
    const message = fromBinary(target.method.input, bytes);
    return { value: bytes, ...keyOf(target, message) };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return invalid(target, `cannot decode ${target.method.input.typeName}: ${why}`);
  }
}

/** Renders a reply as protobuf JSON, implicit fields included; `field` picks `response_body`. */
export function binaryToJson(
  bytes: Uint8Array,
  output: DescMessage,
  registry: Registry,
  field = "",
): string {
  const json = toJson(output, fromBinary(output, bytes), { alwaysEmitImplicit: true, registry });
  if (field === "") return JSON.stringify(json);
  return JSON.stringify((json as JsonObject)[field] ?? null);
}

/** True for a JSON object (not an array, not null). */
export function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
