import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { Metadata as GrpcMetadata } from "@grpc/grpc-js";
import type { Metadata } from "../core/types.js";

/**
 * Headers that describe the connection or the wire protocol rather than the
 * call, so they are not handed to components as metadata.
 */
const SKIPPED_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "content-type",
  "accept-encoding",
  "content-encoding",
  "connect-protocol-version",
  "connect-timeout-ms",
  "connect-accept-encoding",
  "connect-content-encoding",
  "x-grpc-web",
  "x-user-agent",
]);

/** Call metadata from HTTP/1.1 headers (node lower-cases their names). */
export function metadataFromHeaders(headers: IncomingHttpHeaders): Metadata {
  const out: Metadata = {};
  for (const key in headers) {
    if (SKIPPED_HEADERS.has(key) || key.startsWith("grpc-")) continue;
    const value = headers[key];
    if (value !== undefined) out[key] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

/** Call metadata from gRPC metadata; binary (`-bin`) values as base64. */
export function metadataFromGrpc(md: GrpcMetadata): Metadata {
  const out: Metadata = {};
  const map = md.getMap();
  for (const key in map) {
    if (key.startsWith("grpc-") || key.startsWith(":") || key === "content-type" || key === "te")
      continue;
    const value = map[key];
    if (value !== undefined)
      out[key] = typeof value === "string" ? value : value.toString("base64");
  }
  return out;
}

/** Copies reply metadata into gRPC metadata; `-bin` values are base64 and sent as bytes. */
export function fillGrpcMetadata(target: GrpcMetadata, md: Metadata): GrpcMetadata {
  for (const key in md) {
    const value = md[key] as string;
    if (key.endsWith("-bin")) target.set(key, Buffer.from(value, "base64"));
    else target.set(key, value);
  }
  return target;
}

/**
 * Copies reply metadata to HTTP headers. A name or value node refuses
 * (a component may put anything in its metadata) is skipped, not fatal:
 * the reply itself is still good.
 */
export function setReplyHeaders(
  res: ServerResponse,
  md: Metadata,
  onInvalid: (key: string) => void,
): void {
  for (const key in md) {
    try {
      res.setHeader(key, md[key] as string);
    } catch {
      onInvalid(key);
    }
  }
}

/** Copies reply metadata into gRPC metadata, skipping (and logging) keys gRPC refuses; returns whether any was copied. */
export function fillReplyMetadata(
  md: GrpcMetadata,
  from: Metadata,
  logger: { debug(obj: object, msg?: string): void },
): boolean {
  let any = false;
  for (const key in from) {
    try {
      fillGrpcMetadata(md, { [key]: from[key] as string });
      any = true;
    } catch (err) {
      logger.debug({ err, key }, "reply metadata key not valid for gRPC, skipped");
    }
  }
  return any;
}
