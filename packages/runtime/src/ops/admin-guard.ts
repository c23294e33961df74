/**
 * Who may use the admin port. The admin API shows every entity's events and
 * state, so:
 * - it binds to loopback by default, whatever interface the ingress uses;
 * - without a token, `/metrics` and `/v1/*` answer only requests whose
 *   `Host` is an IP address or `localhost`: a browser page that rebinds its
 *   own domain name to 127.0.0.1 (DNS rebinding) still sends that name, and
 *   is refused; requests from a page's script (`Origin`) are refused too;
 * - with a token (`adminToken`), `/v1/*` needs `authorization: Bearer
 *   <token>` from anyone, and the token also lets `/metrics` through under
 *   any `Host`. Beyond loopback the token is required (see
 *   {@link adminExposureProblem});
 * - `/healthz` and `/readyz` stay open: probes must not fail over a setting.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { Code } from "@cairn/protocol";

/** Why a request is refused: HTTP status, code and message. */
export interface Refusal {
  readonly status: number;
  readonly code: Code;
  readonly message: string;
  readonly headers?: Readonly<Record<string, string>>;
}

const OPEN = new Set(["/healthz", "/readyz"]);

/** The refusal of an admin request, or undefined when it may be served. */
export function checkAdminAccess(
  req: IncomingMessage,
  path: string,
  token: string | undefined,
): Refusal | undefined {
  if (OPEN.has(path)) return undefined;
  const authorized = token !== undefined && token !== "" && hasToken(req, token);
  if (authorized) return undefined;
  if (path.startsWith("/v1/") && token !== undefined && token !== "")
    return {
      status: 401,
      code: Code.Unauthenticated,
      message: `the admin API needs its token: send 'authorization: Bearer <token>' (the cairn CLI sends CAIRN_ADMIN_TOKEN)`,
      headers: { "www-authenticate": 'Bearer realm="cairn-admin"' },
    };
  const origin = req.headers.origin;
  if (origin !== undefined)
    return {
      status: 403,
      code: Code.PermissionDenied,
      message: `the admin port does not serve web pages (request from origin '${origin}')`,
    };
  const host = req.headers.host;
  if (host !== undefined && !isLocalName(host))
    return {
      status: 403,
      code: Code.PermissionDenied,
      message: `Host '${host}' is refused on the admin port (a guard against DNS rebinding): use an IP address or localhost, or set an admin token (--admin-token) and send it`,
    };
  return undefined;
}

/** True for a Host header naming an IP address, `localhost` or `*.localhost` (with or without a port). */
export function isLocalName(host: string): boolean {
  const name = hostname(host).toLowerCase();
  return isIP(name) !== 0 || name === "localhost" || name.endsWith(".localhost");
}

/** True for an address that only this machine reaches: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(address: string): boolean {
  const a = address.toLowerCase().replace(/^\[|\]$/g, "");
  return (
    a === "localhost" ||
    a === "::1" ||
    a === "::ffff:127.0.0.1" ||
    (isIP(a) === 4 && a.startsWith("127."))
  );
}

/**
 * Why the admin options are unsafe, or undefined: an admin port reachable
 * beyond loopback must have a token.
 */
export function adminExposureProblem(adminHost: string, adminToken: string): string | undefined {
  if (isLoopback(adminHost) || adminToken !== "") return undefined;
  return `the admin port would listen on ${adminHost} without a token, showing every entity's state to anyone who reaches it: set an admin token (--admin-token or CAIRN_ADMIN_TOKEN), or keep --admin-host on 127.0.0.1`;
}

function hostname(host: string): string {
  if (host.startsWith("["))
    return host.slice(1, host.indexOf("]") < 0 ? undefined : host.indexOf("]"));
  const colon = host.lastIndexOf(":");
  return colon < 0 ? host : host.slice(0, colon);
}

/** Compares in constant time (over digests, so the length does not leak either). */
function hasToken(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization;
  if (header === undefined || !/^bearer /i.test(header)) return false;
  const digest = (s: string): Buffer => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(header.slice(7).trim()), digest(token));
}
