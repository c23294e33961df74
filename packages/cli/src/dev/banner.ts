/**
 * The banner `cairn dev` prints once the runtime is ready: where to call,
 * and how. Every line runs as pasted: bodies are the admin API's sample
 * requests (an empty `{}` is refused by most handlers), and the `cairn`
 * lines carry the flags that reach this runtime when its ports are not the
 * defaults.
 */
import type { MethodInfo, ServiceInfo } from "../services.js";

/** Methods shown per service; the rest is one `cairn call` away. */
const MAX_METHODS = 4;

/** Where the banner's lines point. */
export interface BannerTarget {
  /** Ingress base URL, e.g. http://127.0.0.1:9000. */
  readonly ingress: string;
  /** Admin base URL, e.g. http://127.0.0.1:9090. */
  readonly admin: string;
  /** Flags `cairn call` needs to reach this runtime, e.g. ["--port", "9100"]; empty for the defaults. */
  readonly callFlags: readonly string[];
  /** The same for `cairn inspect` (the admin API only). */
  readonly inspectFlags: readonly string[];
  /** Which browser pages may call (CORS), shown under the first line. */
  readonly corsNote?: string;
}

/** Renders the banner for the served services. */
export function renderBanner(target: BannerTarget, services: readonly ServiceInfo[]): string {
  const { ingress, admin } = target;
  const hostPort = ingress.replace(/^https?:\/\//, "");
  const lines = ["", `  Cairn dev runtime ready on ${ingress}  (admin ${admin})`, ""];
  if (target.corsNote !== undefined) lines.push(`  ${target.corsNote}`, "");
  if (services.length === 0) {
    lines.push("  The user function serves no components yet.", "");
  }
  for (const service of services) {
    lines.push(`  ${service.name} (${service.kind.replace(/_/g, " ")})`);
    for (const method of service.methods.slice(0, MAX_METHODS)) {
      lines.push(`    ${curlExample(ingress, service.name, method)}`);
    }
    const hidden = service.methods.length - MAX_METHODS;
    if (hidden > 0) lines.push(`    ... and ${hidden} more: cairn call ${service.name}/<Method>`);
    const name = callName(service, services);
    const first = service.methods[0];
    if (first !== undefined) {
      lines.push(
        `    ${cliLine(["cairn", "call", `${name}/${first.name}`, shellQuote(JSON.stringify(first.example ?? {}))], target.callFlags)}`,
      );
    }
    if (service.kind.endsWith("_entity")) {
      lines.push(`    ${cliLine(["cairn", "inspect", name, "<entity-id>"], target.inspectFlags)}`);
    }
    lines.push("");
  }
  lines.push(
    `  grpcurl -plaintext ${hostPort} list`,
    ...(services[0] === undefined
      ? []
      : [`  grpcurl -plaintext ${hostPort} describe ${services[0].name}`]),
    "",
  );
  return `${lines.join("\n")}\n`;
}

/** The flags that make `cairn call`/`cairn inspect` reach a runtime, empty for the defaults. */
export function clientFlags(
  host: string,
  ports: { readonly ingress: number; readonly admin: number },
): { call: string[]; inspect: string[] } {
  const loopback =
    host === "127.0.0.1" || host === "0.0.0.0" || host === "::" || host === "localhost";
  if (!loopback) {
    const base = `http://${host.includes(":") ? `[${host}]` : host}`;
    const admin = ["--admin", `${base}:${ports.admin}`];
    return { call: ["--address", `${base}:${ports.ingress}`, ...admin], inspect: admin };
  }
  const ingress = ports.ingress === 9000 ? [] : ["--port", String(ports.ingress)];
  const admin = ports.admin === 9090 ? [] : ["--admin-port", String(ports.admin)];
  return { call: [...ingress, ...admin], inspect: admin };
}

/** A curl line: the method's `google.api.http` route when it has one, else POST /Service/Method. */
export function curlExample(ingress: string, service: string, method: MethodInfo): string {
  const example = method.example ?? {};
  const route = parseRoute(method.http);
  if (route === undefined) {
    return `curl -X POST ${ingress}/${service}/${method.name} -H 'content-type: application/json' -d ${shellQuote(JSON.stringify(example))}`;
  }
  const bound: string[] = [];
  const path = route.path.replace(
    /\{([^}=]+)(?:=([^}]*))?\}/g,
    (_m, field: string, pattern?: string) => {
      bound.push(field);
      // The runtime's example has every scalar field; anything else stays a placeholder.
      const value = lookup(example, field) ?? `<${field}>`;
      // A variable with a pattern (`{name=shelves/*}`) gets the value in place of its wildcards.
      return pattern === undefined ? value : pattern.replace(/\*\*?/g, value);
    },
  );
  const body = bodyOf(route.verb, method.httpBody ?? "*", example, bound);
  return `curl -X ${route.verb} '${ingress}${path}'${body === undefined ? "" : ` -H 'content-type: application/json' -d ${shellQuote(JSON.stringify(body))}`}`;
}

/** The request body a route takes: the whole request less the path fields, one field, or none. */
function bodyOf(
  verb: string,
  body: string,
  example: Readonly<Record<string, unknown>>,
  bound: readonly string[],
): unknown {
  if (verb === "GET" || verb === "DELETE" || body === "") return undefined;
  if (body !== "*") return example[camel(body)] ?? {};
  const rest: Record<string, unknown> = { ...example };
  for (const field of bound) if (!field.includes(".")) delete rest[camel(field)];
  return rest;
}

/** The value of a (possibly nested, `cart.id`) field of the example, as a path segment. */
function lookup(example: Readonly<Record<string, unknown>>, field: string): string | undefined {
  let value: unknown = example;
  for (const part of field.split(".")) {
    value = (value as Record<string, unknown> | undefined)?.[camel(part)];
  }
  return typeof value === "string" || typeof value === "number" ? String(value) : undefined;
}

/** proto field name → its JSON name (lowerCamelCase), as protobuf derives it. */
function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** The short name when it is unambiguous among the served services, else the full one. */
function callName(service: ServiceInfo, services: readonly ServiceInfo[]): string {
  const short = (s: ServiceInfo): string => s.name.slice(s.name.lastIndexOf(".") + 1);
  return services.filter((s) => short(s) === short(service)).length === 1
    ? short(service)
    : service.name;
}

function cliLine(words: readonly string[], flags: readonly string[]): string {
  return [...words, ...flags].join(" ");
}

/** Single-quotes a word for POSIX shells. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function parseRoute(http: string | undefined): { verb: string; path: string } | undefined {
  const match = http === undefined ? null : /^([A-Z]+)\s+(\S+)$/.exec(http.trim());
  if (match === null) return undefined;
  return { verb: match[1] ?? "POST", path: match[2] ?? "/" };
}
