/**
 * Which browser pages may call the ingress (CORS). None by default: any
 * page a developer visits could otherwise read and write their runtime.
 * Allowed origins are configuration (`corsOrigins`): `*` for any, or a
 * comma-separated list of origins (`https://app.example.com`), where a port
 * may be `*` (`http://localhost:*`). A request from a page whose origin is
 * not allowed is refused outright, not only left unreadable: a "simple"
 * cross-origin POST needs no preflight, and would otherwise change state.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { CairnError, Code } from "@cairn/protocol";
import type { Parsed } from "./status.js";

/** Headers browsers need to read gRPC-Web and Connect replies cross-origin. */
const EXPOSED =
  "grpc-status, grpc-message, grpc-status-details-bin, connect-content-encoding, content-encoding, x-request-id";
const METHODS = "GET, POST, PUT, PATCH, DELETE";

/** The parsed `corsOrigins` option. */
export interface CorsPolicy {
  /** The option as given, for messages. */
  readonly spec: string;
  /** True when a page of `origin` may call. */
  allows(origin: string): boolean;
}

const ORIGIN = /^(https?):\/\/([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}|\*))?$/;

/** Parses `corsOrigins`: "" (none), "*", or a comma-separated list of origins. */
export function parseCorsOrigins(spec: string): Parsed<CorsPolicy> {
  const entries = spec
    .split(",")
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e !== "");
  if (entries.includes("*")) return { value: { spec, allows: () => true } };
  const exact = new Set<string>();
  const anyPort: string[] = [];
  for (const entry of entries) {
    if (entry === "null") {
      exact.add(entry);
      continue;
    }
    const m = ORIGIN.exec(entry);
    if (m === null)
      return {
        error: new CairnError(
          Code.InvalidArgument,
          `invalid CORS origin '${entry}': expected '*' or origins such as https://app.example.com or http://localhost:* (scheme, host, optional port), comma-separated`,
        ),
      };
    if (m[3] === "*") anyPort.push(`${m[1]}://${m[2]}`);
    else exact.add(entry);
  }
  const allows = (origin: string): boolean => {
    const o = origin.toLowerCase();
    if (exact.has(o)) return true;
    return anyPort.some(
      (p) => o === p || (o.startsWith(`${p}:`) && /^\d+$/.test(o.slice(p.length + 1))),
    );
  };
  return { value: { spec, allows } };
}

/** A request from a page the policy does not allow; answered 403. */
export class OriginNotAllowedError extends CairnError {
  constructor(origin: string) {
    super(
      Code.PermissionDenied,
      `requests from web pages of origin '${origin}' are not allowed: add it to the runtime's CORS origins (--cors-origins, CAIRN_CORS_ORIGINS)`,
    );
  }
}

/**
 * Applies the policy to a request: adds the CORS headers of an allowed
 * origin, answers its preflight (`done`: nothing more to do), and returns an
 * error for an origin that is not allowed. Requests without `Origin` do not
 * come from a page's script. A page of the runtime's own origin (behind a
 * proxy) must be listed too: browsers send `Origin` on same-origin writes,
 * and a DNS-rebinding page looks same-origin, so only the list can tell.
 */
export function applyCors(
  req: IncomingMessage,
  res: ServerResponse,
  policy: CorsPolicy,
): { done: boolean; error?: CairnError } {
  const origin = req.headers.origin;
  if (origin === undefined) return { done: false };
  if (!policy.allows(origin)) return { done: false, error: new OriginNotAllowedError(origin) };
  res.setHeader("access-control-allow-origin", origin);
  res.setHeader("vary", "Origin");
  res.setHeader("access-control-expose-headers", EXPOSED);
  if (req.method !== "OPTIONS" || req.headers["access-control-request-method"] === undefined)
    return { done: false };
  res.writeHead(204, {
    "access-control-allow-methods": METHODS,
    "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "*",
    "access-control-max-age": "7200",
  });
  res.end();
  return { done: true };
}
