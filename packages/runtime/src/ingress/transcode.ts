import { fromBinary, fromJson, ScalarType, toBinary, toJson } from "@bufbuild/protobuf";
import type { DescField, DescMessage, JsonValue, Registry } from "@bufbuild/protobuf";
import { CairnError, Code } from "@cairn/protocol";
import type { MethodTarget } from "./catalog-view.js";
import { resolveFieldPath } from "./routes.js";
import type { FieldRef, RouteMatch } from "./routes.js";
import type { Parsed } from "./status.js";

type JsonObject = { [key: string]: JsonValue };

function invalid(target: MethodTarget, why: string): Parsed<never> {
  return {
    error: new CairnError(Code.InvalidArgument, `invalid request body for ${target.name}: ${why}`),
  };
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
export function jsonToBinary(
  json: JsonValue,
  target: MethodTarget,
  registry: Registry,
): Parsed<Uint8Array> {
  try {
    const message = fromJson(target.method.input, json, { ignoreUnknownFields: false, registry });
    return { value: toBinary(target.method.input, message) };
  } catch (err) {
    return invalid(target, err instanceof Error ? err.message : String(err));
  }
}

/** Checks that bytes are a valid message of the method's input. */
export function validateBinary(bytes: Uint8Array, target: MethodTarget): Parsed<Uint8Array> {
  try {
    fromBinary(target.method.input, bytes);
    return { value: bytes };
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

/**
 * Builds the JSON request of a transcoded call: the body (whole message or
 * one field), then the path variables, then, when the body is not `*`, the
 * query parameters for the remaining fields. One `fromJson` at the end gives
 * the JSON mapping's checks and its field-naming error messages.
 */
export function transcodeRequest(
  match: RouteMatch,
  query: string,
  body: Buffer,
  registry: Registry,
): Parsed<Uint8Array> {
  const { route, values } = match;
  const target: MethodTarget = {
    service: route.service,
    method: route.method,
    name: `${route.method.parent.typeName}/${route.method.name}`,
  };
  let root: JsonObject = {};
  if (route.body !== "") {
    const parsed = parseJsonBody(body, target);
    if (parsed.error !== undefined) return parsed;
    if (route.body === "*") {
      if (!isObject(parsed.value)) return invalid(target, "the body must be a JSON object");
      root = parsed.value;
    } else if (body.length > 0) {
      root[route.body] = parsed.value;
    }
  }
  for (let i = 0; i < route.variables.length; i++) {
    const decoded = decode(values[i] as string);
    if (decoded === undefined)
      return invalid(target, `malformed percent-encoding in path segment '${values[i]}'`);
    setPath(root, route.variables[i] as FieldRef, decoded, false);
  }
  if (route.body !== "*" && query !== "") {
    const error = applyQuery(root, query, route.method.input, target);
    if (error !== undefined) return error;
  }
  return jsonToBinary(root, target, registry);
}

function applyQuery(
  root: JsonObject,
  query: string,
  input: DescMessage,
  target: MethodTarget,
): Parsed<never> | undefined {
  for (const [key, value] of new URLSearchParams(query)) {
    const ref = queryField(input, key);
    if (ref === undefined)
      return invalid(
        target,
        `unknown query parameter '${key}': ${input.typeName} has no such field`,
      );
    setPath(root, ref, value, ref.leaf.fieldKind === "list");
  }
  return undefined;
}

const queryFields = new WeakMap<DescMessage, Map<string, FieldRef | undefined>>();

/** Resolves a query parameter name, cached per message type. */
function queryField(input: DescMessage, key: string): FieldRef | undefined {
  let cache = queryFields.get(input);
  if (cache === undefined)
    queryFields.set(input, (cache = new Map<string, FieldRef | undefined>()));
  if (cache.has(key)) return cache.get(key);
  // Bound the cache: names come from clients.
  const ref = resolveFieldPath(input, key.split("."));
  if (cache.size < 1000) cache.set(key, ref);
  return ref;
}

function setPath(root: JsonObject, ref: FieldRef, raw: string, append: boolean): void {
  let obj = root;
  const path = ref.jsonPath;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string;
    const next = obj[key];
    obj = isObject(next) ? next : (obj[key] = {});
  }
  const leafKey = path[path.length - 1] as string;
  const value = scalarFromText(ref.leaf, raw);
  if (!append) {
    obj[leafKey] = value;
    return;
  }
  const existing = obj[leafKey];
  if (Array.isArray(existing)) existing.push(value);
  else obj[leafKey] = [value];
}

/**
 * Path and query values are text; the JSON mapping accepts text for
 * integers, enums, bytes and strings, but wants real booleans and numbers
 * for bool and float fields.
 */
function scalarFromText(field: DescField, raw: string): JsonValue {
  const scalar =
    field.fieldKind === "scalar" || field.fieldKind === "list" ? field.scalar : undefined;
  if (scalar === ScalarType.BOOL && (raw === "true" || raw === "false")) return raw === "true";
  if (
    (scalar === ScalarType.DOUBLE || scalar === ScalarType.FLOAT) &&
    raw.trim() !== "" &&
    !Number.isNaN(Number(raw))
  )
    return Number(raw);
  return raw;
}

function decode(raw: string): string | undefined {
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
