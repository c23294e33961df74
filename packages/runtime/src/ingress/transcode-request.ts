/**
 * The request of a `google.api.http` route, built by the rules of
 * google/api/http.proto: the body fills the message (`body: "*"`) or one
 * field (`body: "field"`), the path variables fill their fields, and the
 * query may only fill the fields bound by neither. A field bound by the path
 * is never taken from the query or the body: a proxy that authorises by URL
 * path must see the entity the call reaches. A body or query value that
 * disagrees with the path is refused rather than silently dropped, so the
 * client learns which one counts.
 */
import { ScalarType } from "@bufbuild/protobuf";
import type { DescField, DescMessage, JsonValue, Registry } from "@bufbuild/protobuf";
import type { MethodTarget } from "./catalog-view.js";
import { resolveFieldPath } from "./routes.js";
import type { FieldRef, Route, RouteMatch } from "./routes.js";
import type { Parsed } from "./status.js";
import { invalid, isObject, jsonToBinary, parseJsonBody } from "./transcode.js";
import type { Decoded, JsonObject } from "./transcode.js";

/**
 * Builds the JSON request of a transcoded call (body, then path variables,
 * then query) and encodes it with one `fromJson`, which gives the JSON
 * mapping's checks and its field-naming error messages.
 */
export function transcodeRequest(
  match: RouteMatch,
  query: string,
  body: Buffer,
  registry: Registry,
): Decoded {
  const { route, values } = match;
  const target: MethodTarget = {
    service: route.service,
    method: route.method,
    name: `${route.method.parent.typeName}/${route.method.name}`,
  };
  const root = bodyOf(route, body, target);
  if (root.error !== undefined) return root;
  const bound = new Map<string, JsonValue>();
  for (let i = 0; i < route.variables.length; i++) {
    const ref = route.variables[i] as FieldRef;
    const decoded = decode(values[i] as string);
    if (decoded === undefined)
      return invalid(target, `malformed percent-encoding in path segment '${values[i]}'`);
    const value = scalarFromText(ref.leaf, decoded);
    const before = take(root.value, ref);
    if (before !== undefined && !sameValue(before, value))
      return invalid(
        target,
        `field '${ref.protoPath.join(".")}' is ${JSON.stringify(value)} in the path (${route.httpMethod} ${route.pattern}) but ${JSON.stringify(before)} in the body; the path decides, so leave it out of the body or make them agree`,
      );
    put(root.value, ref.jsonPath, value);
    bound.set(ref.jsonPath.join("."), value);
  }
  if (query !== "") {
    const error = applyQuery(root.value, query, route, bound, target);
    if (error !== undefined) return error;
  }
  return jsonToBinary(root.value, target, registry);
}

/** The body as the start of the request: the whole message, one field, or nothing. */
function bodyOf(route: Route, body: Buffer, target: MethodTarget): Parsed<JsonObject> {
  if (route.body === "") return { value: {} };
  const parsed = parseJsonBody(body, target);
  if (parsed.error !== undefined) return parsed;
  if (route.body !== "*") return { value: body.length > 0 ? { [route.body]: parsed.value } : {} };
  if (!isObject(parsed.value)) return invalid(target, "the body must be a JSON object");
  return { value: parsed.value };
}

/**
 * Query parameters fill what neither the path nor the body binds: a
 * parameter naming a path-bound field must agree with the path (and is
 * then redundant), one naming a body field or any parameter of a
 * `body: "*"` route is refused, and a field given twice must be repeated.
 */
function applyQuery(
  root: JsonObject,
  query: string,
  route: Route,
  bound: ReadonlyMap<string, JsonValue>,
  target: MethodTarget,
): Parsed<never> | undefined {
  const where = `${route.httpMethod} ${route.pattern}`;
  const input = route.method.input;
  const seen = new Set<string>();
  for (const [key, raw] of new URLSearchParams(query)) {
    if (route.body === "*")
      return invalid(
        target,
        `query parameter '${key}' is not accepted by ${where}: its body carries the whole request (body: "*"), so put the field in the JSON body`,
      );
    const ref = queryField(input, key);
    if (ref === undefined)
      return invalid(
        target,
        `unknown query parameter '${key}': ${input.typeName} has no such field`,
      );
    const name = ref.protoPath.join(".");
    const path = ref.jsonPath.join(".");
    if (bound.has(path)) {
      const fromPath = bound.get(path) as JsonValue;
      if (sameValue(fromPath, scalarFromText(ref.leaf, raw))) continue;
      return invalid(
        target,
        `query parameter '${key}' is '${raw}' but field '${name}' is bound by the path (${where}) to ${JSON.stringify(fromPath)}; a path-bound field is never taken from the query, so remove the parameter`,
      );
    }
    if (route.body !== "" && ref.jsonPath[0] === route.body)
      return invalid(
        target,
        `query parameter '${key}' names field '${name}', which ${where} takes from the body; set it in the JSON body`,
      );
    if (ref.leaf.fieldKind === "message" || ref.leaf.fieldKind === "map")
      return invalid(
        target,
        `query parameter '${key}' names the ${ref.leaf.fieldKind} field '${name}'; a query parameter sets one scalar field, e.g. '${name}.<field>=value'`,
      );
    const repeated = ref.leaf.fieldKind === "list";
    if (!repeated && seen.has(path))
      return invalid(
        target,
        `query parameter '${key}' is given more than once, but field '${name}' is not repeated`,
      );
    seen.add(path);
    const value = scalarFromText(ref.leaf, raw);
    if (repeated) append(root, ref.jsonPath, value);
    else put(root, ref.jsonPath, value);
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

/**
 * Removes the value the body gave a field, under its JSON or its proto
 * name (the JSON mapping accepts both, and refuses both at once), and
 * returns it; the path's value then goes in under the JSON name.
 */
function take(root: JsonObject, ref: FieldRef): JsonValue | undefined {
  let obj: JsonObject = root;
  for (let i = 0; i < ref.jsonPath.length - 1; i++) {
    const json = ref.jsonPath[i] as string;
    const proto = ref.protoPath[i] as string;
    const next = obj[json] ?? obj[proto];
    if (!isObject(next)) return undefined;
    if (obj[json] === undefined) {
      // Keep one spelling of the parent, so the path's leaf lands beside its siblings.
      delete obj[proto];
      obj[json] = next;
    }
    obj = next;
  }
  const json = ref.jsonPath[ref.jsonPath.length - 1] as string;
  const proto = ref.protoPath[ref.protoPath.length - 1] as string;
  const value = obj[json] ?? obj[proto];
  delete obj[json];
  delete obj[proto];
  return value === null ? undefined : value;
}

/** The object at `path` minus its last key, created as needed. */
function parentOf(root: JsonObject, path: readonly string[]): JsonObject {
  let obj = root;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string;
    const next = obj[key];
    obj = isObject(next) ? next : (obj[key] = {});
  }
  return obj;
}

function put(root: JsonObject, path: readonly string[], value: JsonValue): void {
  parentOf(root, path)[path[path.length - 1] as string] = value;
}

function append(root: JsonObject, path: readonly string[], value: JsonValue): void {
  const parent = parentOf(root, path);
  const key = path[path.length - 1] as string;
  const existing = parent[key];
  if (Array.isArray(existing)) existing.push(value);
  else parent[key] = [value];
}

/** Path and body may spell one value differently (`5` and `"5"` for an int64). */
function sameValue(a: JsonValue, b: JsonValue): boolean {
  return a === b || (typeof a !== "object" && typeof b !== "object" && String(a) === String(b));
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
