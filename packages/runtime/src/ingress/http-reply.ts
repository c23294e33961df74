import type { ServerResponse } from "node:http";
import { CairnError, Code, codeName, COMMITTED_KEY } from "@cairn/protocol";
import { BodyTooLargeError, RequestTimeoutError } from "./http-body.js";
import { grpcWebError } from "./grpc-web.js";
import { connectCodeName, httpStatusOf } from "./status.js";

/** The wire protocol an HTTP/1.1 request speaks, which decides how errors look. */
export type HttpProtocol = "json" | "connect" | "grpc-web" | "grpc-web-text";

/** A body in a content type the route does not take; HTTP adapters answer 415. */
export class UnsupportedMediaTypeError extends CairnError {
  constructor(message: string) {
    super(Code.InvalidArgument, message);
  }
}

/** HTTP statuses that the code mapping cannot express. */
function statusOverride(err: CairnError): number | undefined {
  if (err instanceof BodyTooLargeError) return 413;
  if (err instanceof RequestTimeoutError) return 408;
  if (err instanceof UnsupportedMediaTypeError) return 415;
  return undefined;
}

/** Writes an error the way the request's protocol expects it. */
export function writeError(
  res: ServerResponse,
  protocol: HttpProtocol,
  err: CairnError,
  httpStatus?: number,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A refused oversized or late body was left unread: the connection cannot be reused.
  if (err instanceof BodyTooLargeError || err instanceof RequestTimeoutError)
    res.setHeader("connection", "close");
  if (protocol === "grpc-web" || protocol === "grpc-web-text") {
    const text = protocol === "grpc-web-text";
    const body = grpcWebError(err.code, err.message, text, err.committed);
    res.writeHead(200, {
      "content-type": text ? "application/grpc-web-text+proto" : "application/grpc-web+proto",
      "content-length": body.length,
    });
    res.end(body);
    return;
  }
  const status = httpStatus ?? statusOverride(err) ?? httpStatusOf(err.code);
  const committed = err.committed ? { committed: true } : {};
  const json =
    protocol === "connect"
      ? { code: connectCodeName(err.code), message: err.message, ...committed }
      : {
          code: err.code as number,
          status: codeName(err.code),
          message: err.message,
          ...committed,
        };
  const body = JSON.stringify(json);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...(err.committed ? { [COMMITTED_KEY]: "true" } : {}),
    // UNAVAILABLE is worth a retry (the function or store comes back): say when.
    ...(err.code === Code.Unavailable ? { "retry-after": "1" } : {}),
  });
  res.end(body);
}

/** Writes a successful reply body. */
export function writeBody(
  res: ServerResponse,
  contentType: string,
  body: string | Uint8Array,
): void {
  res.writeHead(200, {
    "content-type": contentType,
    "content-length": typeof body === "string" ? Buffer.byteLength(body) : body.byteLength,
  });
  res.end(body);
}
