/** The admin API's service list, and resolving a short service name against it. */
import { CliError, EXIT_USAGE } from "./errors.js";
import { describeFailure, request } from "./http.js";
import type { Endpoint } from "./http.js";

/** A method as `GET /v1/services` lists it. */
export interface MethodInfo {
  readonly name: string;
  readonly inputType: string;
  readonly outputType: string;
  readonly http?: string;
  /** The route's body: "*", a field name, or "" (none). */
  readonly httpBody?: string;
  /** A sample request in proto3 JSON (runtimes before 0.1 omit it). */
  readonly example?: Readonly<Record<string, unknown>>;
}

/** A service as `GET /v1/services` lists it. */
export interface ServiceInfo {
  readonly name: string;
  readonly kind: string;
  readonly entityType?: string;
  readonly methods: readonly MethodInfo[];
}

/** Fetches the services the runtime serves. */
export async function fetchServices(admin: Endpoint): Promise<ServiceInfo[]> {
  const answer = await request(admin, "/v1/services");
  if (!answer.ok)
    throw new CliError(`cannot list services from ${admin.base}: ${describeFailure(answer)}`);
  // Accept a bare list or { services: [...] } so the CLI survives either shape.
  const body = answer.json as ServiceInfo[] | { services?: ServiceInfo[] } | undefined;
  const list = Array.isArray(body) ? body : body?.services;
  if (!Array.isArray(list))
    throw new CliError(
      `unexpected answer from ${admin.base}/v1/services: ${answer.text.slice(0, 200)}`,
    );
  return list;
}

/**
 * Resolves `ShoppingCart` to `shop.v1.ShoppingCart` by the last segment of
 * the full names; exact full names pass through.
 */
export function resolveService(name: string, services: readonly ServiceInfo[]): ServiceInfo {
  const exact = services.find((s) => s.name === name);
  if (exact !== undefined) return exact;
  const short = (s: ServiceInfo): string => s.name.slice(s.name.lastIndexOf(".") + 1);
  let matches = services.filter((s) => short(s) === name);
  if (matches.length === 0)
    matches = services.filter((s) => short(s).toLowerCase() === name.toLowerCase());
  if (matches.length === 1 && matches[0] !== undefined) return matches[0];
  const known =
    services.length === 0
      ? "(none: has the runtime discovered the user function yet?)"
      : services.map((s) => s.name).join(", ");
  if (matches.length > 1) {
    throw new CliError(
      `service "${name}" is ambiguous: it matches ${matches.map((s) => s.name).join(", ")}; use the full name`,
      EXIT_USAGE,
    );
  }
  throw new CliError(`unknown service "${name}"; the runtime serves: ${known}`, EXIT_USAGE);
}
