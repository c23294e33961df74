import { getOption, hasOption } from "@bufbuild/protobuf";
import type {
  DescExtension,
  DescField,
  DescMessage,
  DescMethod,
  Registry,
} from "@bufbuild/protobuf";
import type { Catalog, ServiceEntry } from "../core/types.js";
import type { IngressLogger } from "./options.js";
import { compareSpecificity, matchTemplate, parsePathTemplate } from "./path-template.js";
import type { PathTemplate } from "./path-template.js";

/** A field reached through a dotted path, with the JSON names to set it. */
export interface FieldRef {
  readonly jsonPath: readonly string[];
  /** The proto names of the same path (`cart_id` where `jsonPath` has `cartId`). */
  readonly protoPath: readonly string[];
  readonly leaf: DescField;
}

/** One HTTP binding of a method, compiled. */
export interface Route {
  readonly httpMethod: string;
  readonly pattern: string;
  readonly template: PathTemplate;
  readonly variables: readonly FieldRef[];
  readonly service: ServiceEntry;
  readonly method: DescMethod;
  /** "" no body, "*" whole message, else the JSON name of the body field. */
  readonly body: string;
  /** JSON name of the response field to send, "" for the whole message. */
  readonly responseBody: string;
}

/** A matched route with its decoded variable values. */
export interface RouteMatch {
  readonly route: Route;
  readonly values: readonly string[];
}

/** Routes of a catalog by HTTP method, most specific first. */
export interface RouteTable {
  match(httpMethod: string, path: string): RouteMatch | undefined;
  readonly size: number;
}

/** The shape protobuf-es gives a dynamic `google.api.HttpRule`. */
interface HttpRuleShape {
  pattern?: { case?: string; value?: unknown };
  body?: string;
  responseBody?: string;
  additionalBindings?: HttpRuleShape[];
}

/**
 * Compiles the `google.api.http` rules of every method of a catalog. The
 * extension is looked up in the catalog's own registry, so the runtime does
 * not depend on any generated google/api code: whatever the user's
 * descriptor set declares is what we read.
 */
export function compileRoutes(catalog: Catalog, logger: IngressLogger): RouteTable {
  const ext = findHttpExtension(catalog.registry);
  const byMethod = new Map<string, Route[]>();
  if (ext !== undefined) {
    for (const service of catalog.services.values()) {
      for (const method of service.desc.methods) {
        // Streaming methods get their routes too: server-streaming is served
        // as server-sent events, the others are refused with a pointer.
        if (!hasOption(method, ext)) continue;
        const rule = getOption(method, ext) as HttpRuleShape;
        for (const r of flatten(rule)) addRoute(byMethod, r, service, method, logger);
      }
    }
  }
  let size = 0;
  for (const list of byMethod.values()) {
    list.sort((a, b) => compareSpecificity(a.template, b.template));
    size += list.length;
  }
  return { match: (m, p) => matchRoute(byMethod.get(m), p), size };
}

function findHttpExtension(registry: Registry): DescExtension | undefined {
  const ext = registry.getExtension("google.api.http");
  // Guard against a foreign definition of the name: ours must extend MethodOptions.
  return ext?.extendee.typeName === "google.protobuf.MethodOptions" && ext.message !== undefined
    ? ext
    : undefined;
}

/** The rule and its additional bindings (which may not nest further). */
function flatten(rule: HttpRuleShape): HttpRuleShape[] {
  return [rule, ...(rule.additionalBindings ?? [])];
}

function addRoute(
  byMethod: Map<string, Route[]>,
  rule: HttpRuleShape,
  service: ServiceEntry,
  method: DescMethod,
  logger: IngressLogger,
): void {
  const where = `${method.parent.typeName}/${method.name}`;
  const verbAndPath = patternOf(rule);
  if (verbAndPath === undefined) return;
  const [httpMethod, pattern] = verbAndPath;
  const parsed = parsePathTemplate(pattern);
  if (parsed.error !== undefined) {
    logger.warn(
      { method: where, pattern },
      `ignoring google.api.http rule: ${parsed.error.message}`,
    );
    return;
  }
  const variables: FieldRef[] = [];
  for (const v of parsed.value.variables) {
    const ref = resolveFieldPath(method.input, v.fieldPath);
    if (ref === undefined) {
      logger.warn(
        { method: where, pattern },
        `ignoring google.api.http rule: no field '${v.fieldPath.join(".")}' in ${method.input.typeName}`,
      );
      return;
    }
    variables.push(ref);
  }
  const body = bodyJsonName(method.input, rule.body ?? "");
  const responseBody = bodyJsonName(method.output, rule.responseBody ?? "");
  if (body === undefined || responseBody === undefined) {
    logger.warn(
      { method: where, pattern },
      "ignoring google.api.http rule: body or response_body names no top-level field",
    );
    return;
  }
  const route: Route = {
    httpMethod,
    pattern,
    template: parsed.value,
    variables,
    service,
    method,
    body,
    responseBody,
  };
  const list = byMethod.get(httpMethod) ?? [];
  list.push(route);
  byMethod.set(httpMethod, list);
}

function patternOf(rule: HttpRuleShape): [string, string] | undefined {
  const p = rule.pattern;
  if (p?.case === undefined) return undefined;
  if (p.case === "custom") {
    const custom = p.value as { kind?: string; path?: string } | undefined;
    return custom?.kind && custom.path ? [custom.kind.toUpperCase(), custom.path] : undefined;
  }
  return typeof p.value === "string" ? [p.case.toUpperCase(), p.value] : undefined;
}

function bodyJsonName(message: DescMessage, body: string): string | undefined {
  if (body === "" || body === "*") return body;
  return message.fields.find((f) => f.name === body)?.jsonName;
}

/** Resolves `a.b.c` (proto names) through nested message fields. */
export function resolveFieldPath(
  message: DescMessage,
  path: readonly string[],
): FieldRef | undefined {
  const jsonPath: string[] = [];
  const protoPath: string[] = [];
  let current: DescMessage | undefined = message;
  let leaf: DescField | undefined;
  for (const part of path) {
    if (current === undefined) return undefined;
    leaf = current.fields.find((f) => f.name === part || f.jsonName === part);
    if (leaf === undefined) return undefined;
    jsonPath.push(leaf.jsonName);
    protoPath.push(leaf.name);
    current = leaf.fieldKind === "message" ? leaf.message : undefined;
  }
  return leaf === undefined ? undefined : { jsonPath, protoPath, leaf };
}

function matchRoute(routes: Route[] | undefined, path: string): RouteMatch | undefined {
  if (routes === undefined) return undefined;
  for (const route of routes) {
    let p = path;
    const verb = route.template.verb;
    if (verb !== undefined) {
      if (!p.endsWith(":" + verb)) continue;
      p = p.slice(0, p.length - verb.length - 1);
    }
    const values = matchTemplate(route.template, p.slice(1).split("/"));
    if (values !== undefined) return { route, values };
  }
  return undefined;
}

/**
 * The primary `google.api.http` binding of a method, for listings (admin
 * API, logs): `{ verb: "POST", path: "/carts/{cart_id}/items", body: "*" }`.
 */
export function httpRouteOf(
  method: DescMethod,
  registry: Registry,
): { verb: string; path: string; body: string } | undefined {
  const ext = findHttpExtension(registry);
  if (ext === undefined || !hasOption(method, ext)) return undefined;
  const rule = getOption(method, ext) as HttpRuleShape;
  const pattern = patternOf(rule);
  return pattern === undefined
    ? undefined
    : { verb: pattern[0], path: pattern[1], body: rule.body ?? "" };
}
