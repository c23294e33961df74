/**
 * HTTP to the runtime's ingress and admin ports, with errors that say what
 * to do: an unreachable runtime is the most common mistake, so it gets the
 * most helpful message.
 */
import { CliError } from "./errors.js";

/** Which endpoint a request goes to; decides the wording of errors. */
export interface Endpoint {
  /** Base URL, e.g. http://127.0.0.1:9000. */
  readonly base: string;
  /** What it is, e.g. "the runtime" or "the runtime's admin API". */
  readonly what: string;
  /** The flag that changes it, e.g. "--address". */
  readonly flag: string;
  /** A bearer token to send (the admin API's, when the runtime has one). */
  readonly token?: string | undefined;
}

/** A finished HTTP exchange: status and the body parsed as JSON when it is JSON. */
export interface HttpAnswer {
  readonly status: number;
  readonly ok: boolean;
  readonly text: string;
  /** Parsed body; undefined when the body is not JSON. */
  readonly json: unknown;
}

/** Sends a request; throws a CliError with the fix when the endpoint cannot be reached. */
export async function request(
  endpoint: Endpoint,
  path: string,
  init: RequestInit = {},
): Promise<HttpAnswer> {
  const url = joinUrl(endpoint.base, path);
  let res: Response;
  try {
    const headers = new Headers(init.headers);
    if (endpoint.token !== undefined) headers.set("authorization", `Bearer ${endpoint.token}`);
    res = await fetch(url, {
      ...init,
      headers,
      signal: init.signal ?? AbortSignal.timeout(60_000),
    });
  } catch (err) {
    throw new CliError(
      `cannot reach ${endpoint.what} at ${endpoint.base} (${networkReason(err)}): is 'cairn dev' or 'cairn runtime' running? Use ${endpoint.flag} to point elsewhere.`,
    );
  }
  const text = await res.text();
  return { status: res.status, ok: res.ok, text, json: parseJson(text) };
}

/** The error an HTTP answer carries, as one line: `404 NOT_FOUND: no route matches ...`. */
export function describeFailure(answer: HttpAnswer): string {
  const body = answer.json as { code?: unknown; status?: unknown; message?: unknown } | undefined;
  const name =
    typeof body?.code === "string"
      ? body.code
      : typeof body?.status === "string"
        ? body.status
        : "";
  const message =
    typeof body?.message === "string" ? body.message : answer.text.trim() || "(empty body)";
  return `${answer.status}${name === "" ? "" : ` ${name}`}: ${message}`;
}

/** Checks a base URL given on the command line. */
export function checkBaseUrl(value: string, flag: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === "http:" || url.protocol === "https:") return value.replace(/\/+$/, "");
  } catch {
    // reported below with the expected shape
  }
  throw new CliError(`invalid ${flag} "${value}": expected a URL such as http://127.0.0.1:9000`, 2);
}

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`;
}

/** "connect ECONNREFUSED", "getaddrinfo ENOTFOUND", "timed out" from fetch's error chain. */
function networkReason(err: unknown): string {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError"))
    return "timed out";
  const cause = (
    err as { cause?: { code?: string; syscall?: string; message?: string } } | undefined
  )?.cause;
  if (cause?.code !== undefined) return [cause.syscall, cause.code].filter(Boolean).join(" ");
  return cause?.message ?? (err instanceof Error ? err.message : String(err));
}

function parseJson(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
