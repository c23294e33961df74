/**
 * The admin HTTP server (port 9090 by default): liveness, readiness,
 * Prometheus metrics and the JSON admin API. Plain node:http because the
 * traffic is tiny and the routes are few; no router dependency is worth it.
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CairnError, Code, codeName } from "@cairn/protocol";
import type { AdminApi, ReadinessReport } from "./admin-api.js";
import { checkAdminAccess } from "./admin-guard.js";
import type { Refusal } from "./admin-guard.js";
import type { Logger } from "./logger.js";
import type { RuntimeMetrics } from "./metrics.js";

/** Options of {@link createAdminServer}. */
export interface AdminServerOptions {
  /** Current readiness; `/readyz` answers 200 when `ready`, else 503 with the details. */
  readiness(): ReadinessReport | Promise<ReadinessReport>;
  /** Rendered on `/metrics`. */
  metrics: Pick<RuntimeMetrics, "render">;
  /** Serves `/v1/...`. */
  admin: AdminApi;
  /** Logs unexpected failures of the admin API itself. */
  logger?: Logger;
  /**
   * Bearer token the admin API (`/v1/*`) requires; "" or absent: none, and
   * then only requests to an IP address or localhost are served (see
   * admin-guard.ts).
   */
  token?: string;
}

/** The admin HTTP server of a runtime node. */
export interface AdminServer {
  /** Binds and resolves with the bound port (useful with port 0). */
  listen(port: number, host: string): Promise<number>;
  /** Stops accepting, drops idle keep-alive connections, resolves once closed. */
  close(): Promise<void>;
}

/** An answer of a route: status and JSON or text body. */
type Answer =
  { status: number; json: unknown } | { status: number; text: string; contentType: string };

/** HTTP statuses for the error codes the admin API produces; 500 for the rest. */
const STATUS: Partial<Record<Code, number>> = {
  [Code.NotFound]: 404,
  [Code.InvalidArgument]: 400,
  [Code.FailedPrecondition]: 400,
  [Code.Unavailable]: 503,
};

/**
 * Creates the admin server; call `listen` to bind it.
 *
 * @example
 * ```ts
 * const server = createAdminServer({ readiness: () => ({ ready: true }), metrics, admin });
 * const port = await server.listen(9090, "127.0.0.1");
 * ```
 */
export function createAdminServer(options: AdminServerOptions): AdminServer {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://admin").pathname;
    const refused = checkAdminAccess(req, path, options.token);
    if (refused !== undefined) return send(res, refusalAnswer(refused), refused.headers);
    route(req, options).then(
      (answer) => send(res, answer),
      (err: unknown) => send(res, errorAnswer(err, options.logger)),
    );
  });
  return {
    listen: (port, host) => listen(server, port, host),
    close: () => close(server),
  };
}

async function route(req: IncomingMessage, options: AdminServerOptions): Promise<Answer> {
  const url = new URL(req.url ?? "/", "http://admin");
  if (req.method !== "GET" && req.method !== "HEAD") {
    return notFound(
      `${req.method ?? "?"} ${url.pathname} is not an admin endpoint; the admin API is read-only (GET)`,
    );
  }
  const path = url.pathname;
  if (path === "/healthz") return { status: 200, json: { status: "ok" } };
  if (path === "/readyz") {
    const report = await options.readiness();
    return { status: report.ready ? 200 : 503, json: report };
  }
  if (path === "/metrics") {
    const { contentType, body } = await options.metrics.render();
    return { status: 200, text: body, contentType };
  }
  if (path === "/v1/services") return { status: 200, json: await options.admin.services() };
  const entity = /^\/v1\/entities\/([^/]+)\/(.+)$/.exec(path);
  if (entity !== null) {
    const limit = parseLimit(url.searchParams.get("limit"));
    const service = decodePart(entity[1] ?? "");
    const id = decodePart(entity[2] ?? "");
    return {
      status: 200,
      json: await options.admin.inspectEntity(service, id, limit === undefined ? {} : { limit }),
    };
  }
  return notFound(
    `no admin endpoint at ${path}; try /healthz, /readyz, /metrics, /v1/services or /v1/entities/<service>/<entity-id>`,
  );
}

/** Parses `?limit=`: absent → undefined; not a positive integer → INVALID_ARGUMENT. */
function parseLimit(raw: string | null): number | undefined {
  if (raw === null || raw === "") return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    throw new CairnError(Code.InvalidArgument, `limit must be a positive integer, got "${raw}"`);
  }
  return Number(raw);
}

/** Decodes a path segment; a malformed escape is the caller's mistake (400), not ours. */
function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new CairnError(
      Code.InvalidArgument,
      `malformed percent-encoding in path segment "${part}"`,
    );
  }
}

function notFound(message: string): Answer {
  return { status: 404, json: { code: "NOT_FOUND", status: 404, message } };
}

function errorAnswer(err: unknown, logger: Logger | undefined): Answer {
  const error = CairnError.from(err);
  const status = STATUS[error.code] ?? 500;
  // Only unexpected failures are worth a log line; a 404 is the caller's business.
  if (status >= 500) logger?.error({ err }, "admin API request failed");
  return { status, json: { code: codeName(error.code), status, message: error.message } };
}

function refusalAnswer(r: Refusal): Answer {
  return {
    status: r.status,
    json: { code: codeName(r.code), status: r.status, message: r.message },
  };
}

function send(
  res: ServerResponse,
  answer: Answer,
  headers: Readonly<Record<string, string>> = {},
): void {
  const isJson = "json" in answer;
  const body = isJson ? JSON.stringify(answer.json) : answer.text;
  res.writeHead(answer.status, {
    ...headers,
    "content-type": isJson ? "application/json; charset=utf-8" : answer.contentType,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function close(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    server.close((err) => (err === undefined ? resolve() : reject(err)));
    // Prometheus scrapers keep connections alive; without this close() would
    // wait for them to time out.
    server.closeAllConnections();
  });
}
