import type { IncomingMessage, ServerResponse } from "node:http";
import { CairnError, Code } from "@cairn/protocol";
import type { CatalogView, MethodTarget } from "./catalog-view.js";
import {
  grpcWebBodyLimit,
  grpcWebReply,
  isGrpcWebProto,
  isGrpcWebText,
  parseGrpcWebRequest,
} from "./grpc-web.js";
import { plainBodyLimit, readBody } from "./http-body.js";
import type { BodyLimit } from "./http-body.js";
import { serveHttpStream } from "./http-stream.js";
import type { StreamWire } from "./http-stream.js";
import { headerOf, invokeHttp, timeoutOf } from "./http-call.js";
import { applyCors } from "./cors.js";
import { UnsupportedMediaTypeError, writeBody, writeError } from "./http-reply.js";
import type { HttpProtocol } from "./http-reply.js";
import { setReplyHeaders } from "./metadata.js";
import type { ResolvedOptions } from "./options.js";
import type { RouteMatch } from "./routes.js";
import { binaryToJson, jsonToBinary, parseJsonBody, validateBinary } from "./transcode.js";
import type { Decoded } from "./transcode.js";
import { transcodeRequest } from "./transcode-request.js";
import { logInternal, toClientError, undiscoveredError } from "./status.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** How the request's bytes become the input message, per protocol. */
type Decode = (body: Buffer) => Decoded;
/** How the reply's bytes become the response body. */
type Encode = (output: Uint8Array) => [contentType: string, body: string | Uint8Array];

/**
 * The HTTP/1.1 side of the ingress: gRPC-Web, Connect unary and
 * `POST /<Service>/<Method>` JSON on the method's path, and the
 * `google.api.http` routes. Plain JSON never touches a protocol library, as
 * it is the hot path of most clients.
 */
export function createHttpHandler(
  options: ResolvedOptions,
  views: () => CatalogView | undefined,
): Handler {
  const fail = (res: ServerResponse, protocol: HttpProtocol, err: unknown): void => {
    const e = toClientError(err);
    logInternal(options.logger, e, {}, "http call failed");
    writeError(res, protocol, e);
  };

  const call = (
    req: IncomingMessage,
    res: ServerResponse,
    protocol: HttpProtocol,
    target: MethodTarget,
    decode: Decode,
    encode: Encode,
    stream?: StreamWire,
    bodyLimit: BodyLimit = plainBodyLimit(options.maxRequestBytes),
  ): void => {
    const encoding = encodingError(req);
    if (encoding !== undefined) return fail(res, protocol, encoding);
    if (target.method.methodKind !== "unary") return callStream(req, res, protocol, target, stream);
    const timeout = timeoutOf(req, options.defaultTimeoutMs);
    if (timeout.error !== undefined) return fail(res, protocol, timeout.error);
    readBody(req, bodyLimit, options)
      .then((body) => {
        if (body.error !== undefined) return fail(res, protocol, body.error);
        const input = decode(body.value);
        if (input.error !== undefined) return fail(res, protocol, input.error);
        return invokeHttp(options, req, res, target, input, timeout.value).then((result) => {
          setReplyHeaders(res, result.metadata, (key) =>
            options.logger.debug({ key }, "reply metadata key not valid as a header, skipped"),
          );
          const [contentType, out] = encode(result.output);
          writeBody(res, contentType, out);
        });
      })
      .catch((err: unknown) => fail(res, protocol, err));
  };

  /** A streaming method: served over `stream` when the request's protocol can carry it. */
  const callStream = (
    req: IncomingMessage,
    res: ServerResponse,
    protocol: HttpProtocol,
    target: MethodTarget,
    stream: StreamWire | undefined,
  ): void => {
    const view = views();
    if (view === undefined) return fail(res, protocol, undiscoveredError());
    if (stream !== undefined)
      return serveHttpStream(options, req, res, target, view.catalog.registry, stream);
    const kind = target.method.methodKind.replace("_", " ");
    fail(
      res,
      protocol,
      new CairnError(
        Code.Unimplemented,
        `${target.name} is ${kind}: Connect streams use application/connect+json or application/connect+proto`,
      ),
    );
  };

  const onMethodPath = (
    req: IncomingMessage,
    res: ServerResponse,
    view: CatalogView,
    target: MethodTarget,
    contentType: string,
  ): void => {
    const registry = view.catalog.registry;
    const output = target.method.output;
    const protocol: HttpProtocol =
      req.headers["connect-protocol-version"] !== undefined ? "connect" : "json";
    if (contentType.startsWith("application/proto")) {
      const proto = (b: Buffer): Decoded => validateBinary(b, target);
      return call(req, res, "connect", target, proto, (o) => ["application/proto", o]);
    }
    const ndjson =
      contentType.startsWith("application/x-ndjson") &&
      (target.method.methodKind === "client_streaming" ||
        target.method.methodKind === "bidi_streaming");
    if (contentType === "" || contentType.startsWith("application/json") || ndjson) {
      const json = (b: Buffer): Decoded => {
        const parsed = parseJsonBody(b, target);
        return parsed.error !== undefined ? parsed : jsonToBinary(parsed.value, target, registry);
      };
      const encode = (o: Uint8Array): string => binaryToJson(o, output, registry);
      const sse: StreamWire | undefined =
        protocol === "json" ? { kind: "json", decode: json, encode, methodPath: true } : undefined;
      return call(req, res, protocol, target, json, (o) => ["application/json", encode(o)], sse);
    }
    fail(
      res,
      protocol,
      unsupportedType(
        contentType,
        "application/json, application/proto, application/grpc-web[-text][+proto], application/connect+json|proto (streams), application/x-ndjson (request streams)",
      ),
    );
  };

  const onGrpcWeb = (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    contentType: string,
  ): void => {
    const text = isGrpcWebText(contentType);
    const protocol: HttpProtocol = text ? "grpc-web-text" : "grpc-web";
    if (!isGrpcWebProto(contentType))
      return fail(
        res,
        protocol,
        unsupportedType(contentType, "application/grpc-web[-text][+proto]"),
      );
    const view = views();
    if (view === undefined) return fail(res, protocol, undiscoveredError());
    const target = view.methods.get(path);
    if (target === undefined || req.method !== "POST")
      return fail(res, protocol, notFound(view, req.method, path));
    const limit = options.maxRequestBytes;
    const encoding = headerOf(req, "grpc-encoding");
    const decode = (b: Buffer): Decoded => {
      const msg = parseGrpcWebRequest(b, text, limit, encoding);
      return msg.error !== undefined ? msg : validateBinary(msg.value, target);
    };
    const type = text ? "application/grpc-web-text+proto" : "application/grpc-web+proto";
    const wire: StreamWire = { kind: "grpc-web", text };
    const encode: Encode = (o) => [type, grpcWebReply(o, text)];
    call(req, res, protocol, target, decode, encode, wire, grpcWebBodyLimit(limit, text));
  };

  const onRoute = (
    req: IncomingMessage,
    res: ServerResponse,
    view: CatalogView,
    match: RouteMatch,
    query: string,
    contentType: string,
  ): void => {
    const { route } = match;
    const target: MethodTarget = {
      service: route.service,
      method: route.method,
      name: `${route.service.desc.typeName}/${route.method.name}`,
    };
    if (route.body !== "" && contentType !== "" && !contentType.startsWith("application/json")) {
      return fail(res, "json", unsupportedType(contentType, "application/json"));
    }
    const registry = view.catalog.registry;
    const decode = (b: Buffer): Decoded => transcodeRequest(match, query, b, registry);
    const encode = (o: Uint8Array): string =>
      binaryToJson(o, route.method.output, registry, route.responseBody);
    call(req, res, "json", target, decode, (o) => ["application/json", encode(o)], {
      kind: "json",
      decode,
      encode,
      methodPath: false,
    });
  };

  /** Connect streaming requests (`application/connect+proto|json`) on a method's path. */
  const onConnectStream = (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    contentType: string,
  ): void => {
    const type = contentType.split(";")[0]?.trim() ?? "";
    if (type !== "application/connect+proto" && type !== "application/connect+json")
      return fail(
        res,
        "connect",
        unsupportedType(contentType, "application/connect+proto or application/connect+json"),
      );
    const view = views();
    if (view === undefined) return fail(res, "connect", undiscoveredError());
    const target = req.method === "POST" ? view.methods.get(path) : undefined;
    if (target === undefined) return fail(res, "connect", notFound(view, req.method, path));
    if (target.method.methodKind === "unary")
      return fail(
        res,
        "connect",
        unsupportedType(
          contentType,
          `application/proto or application/json (${target.name} is unary)`,
        ),
      );
    const encoding = encodingError(req);
    if (encoding !== undefined) return fail(res, "connect", encoding);
    const wire: StreamWire = { kind: "connect", binary: type === "application/connect+proto" };
    serveHttpStream(options, req, res, target, view.catalog.registry, wire);
  };

  return (req, res) => {
    const contentType = req.headers["content-type"] ?? "";
    const cors = applyCors(req, res, options.cors);
    if (cors.done) return;
    if (cors.error !== undefined) return writeError(res, protocolOf(req, contentType), cors.error);
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (contentType.startsWith("application/grpc-web"))
      return onGrpcWeb(req, res, path, contentType);
    if (contentType.startsWith("application/connect+"))
      return onConnectStream(req, res, path, contentType);
    const protocol: HttpProtocol =
      req.headers["connect-protocol-version"] !== undefined ? "connect" : "json";
    const view = views();
    if (view === undefined) return fail(res, protocol, undiscoveredError());
    const target = req.method === "POST" ? view.methods.get(path) : undefined;
    if (target !== undefined) return onMethodPath(req, res, view, target, contentType);
    const match = view.routes.match(req.method ?? "GET", path);
    if (match !== undefined)
      return onRoute(req, res, view, match, q < 0 ? "" : url.slice(q + 1), contentType);
    writeError(res, protocol, notFound(view, req.method, path), 404);
  };
}

/** The protocol a request speaks, for the shape of an error found before routing. */
function protocolOf(req: IncomingMessage, contentType: string): HttpProtocol {
  if (contentType.startsWith("application/grpc-web"))
    return isGrpcWebText(contentType) ? "grpc-web-text" : "grpc-web";
  if (contentType.startsWith("application/connect+")) return "connect";
  return req.headers["connect-protocol-version"] !== undefined ? "connect" : "json";
}

/**
 * Compressed bodies are not decoded; refusing beats reporting the
 * compressed bytes as a malformed message.
 */
function encodingError(req: IncomingMessage): CairnError | undefined {
  const encoding = req.headers["content-encoding"];
  if (encoding === undefined || encoding === "identity") return undefined;
  return new CairnError(
    Code.Unimplemented,
    `content-encoding '${encoding}' is not supported; send the body uncompressed`,
  );
}

function unsupportedType(contentType: string, expected: string): CairnError {
  return new UnsupportedMediaTypeError(
    `unsupported content type '${contentType}': expected ${expected}`,
  );
}

function notFound(view: CatalogView, method: string | undefined, path: string): CairnError {
  if (view.methods.has(path)) {
    return new CairnError(
      Code.NotFound,
      `no route matches ${method} ${path}: ${path.slice(1)} is served with POST`,
    );
  }
  const parts = path.split("/");
  if (parts.length === 3 && view.catalog.services.has(parts[1] as string)) {
    return new CairnError(
      Code.Unimplemented,
      `method ${path.slice(1)} not found: service ${parts[1]} has no method '${parts[2]}'`,
    );
  }
  if (parts.length === 3 && (parts[1] as string).includes(".")) {
    return new CairnError(
      Code.Unimplemented,
      `service ${parts[1]} not found (asked for ${method} ${path})`,
    );
  }
  return new CairnError(Code.NotFound, `no route matches ${method} ${path}`);
}
