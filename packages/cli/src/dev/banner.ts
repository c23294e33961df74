/** The banner `cairn dev` prints once the runtime is ready: where to call, and how. */
import type { MethodInfo, ServiceInfo } from "../services.js";

/** Methods shown per service; the rest is one `cairn call` away. */
const MAX_METHODS = 4;

/** Renders the banner for the served services. */
export function renderBanner(
  ingress: string,
  admin: string,
  services: readonly ServiceInfo[],
): string {
  const hostPort = ingress.replace(/^https?:\/\//, "");
  const lines = ["", `  Cairn dev runtime ready on ${ingress}  (admin ${admin})`, ""];
  if (services.length === 0) {
    lines.push("  The user function serves no components yet.");
  }
  for (const service of services) {
    lines.push(`  ${service.name} (${service.kind.replace(/_/g, " ")})`);
    for (const method of service.methods.slice(0, MAX_METHODS)) {
      lines.push(`    ${curlExample(ingress, service.name, method)}`);
    }
    const hidden = service.methods.length - MAX_METHODS;
    if (hidden > 0)
      lines.push(`    ... and ${hidden} more: cairn call ${service.name}/<Method> '{...}'`);
    lines.push("");
  }
  lines.push(
    `  grpcurl -plaintext ${hostPort} list`,
    ...(services[0] === undefined
      ? []
      : [`  grpcurl -plaintext ${hostPort} describe ${services[0].name}`]),
    `  cairn call <Service>/<Method> '{...}'    cairn inspect <Service> <entity-id>`,
    "",
  );
  return `${lines.join("\n")}\n`;
}

/** A curl line: the method's `google.api.http` route when it has one, else POST /Service/Method. */
export function curlExample(ingress: string, service: string, method: MethodInfo): string {
  const route = parseRoute(method.http);
  if (route === undefined) {
    return `curl -X POST ${ingress}/${service}/${method.name} -H 'content-type: application/json' -d '{}'`;
  }
  // Path variables get sample values (cart_id → cart-1) so the line runs as pasted.
  const path = route.path.replace(
    /\{([^}=]+)(=[^}]*)?\}/g,
    (_m, name: string) => `${name.replace(/_?id$/i, "") || "id"}-1`,
  );
  const body =
    route.verb === "GET" || route.verb === "DELETE"
      ? ""
      : ` -H 'content-type: application/json' -d '{}'`;
  return `curl -X ${route.verb} '${ingress}${path}'${body}`;
}

function parseRoute(http: string | undefined): { verb: string; path: string } | undefined {
  const match = http === undefined ? null : /^([A-Z]+)\s+(\S+)$/.exec(http.trim());
  if (match === null) return undefined;
  return { verb: match[1] ?? "POST", path: match[2] ?? "/" };
}
