import type { IncomingMessage, ServerResponse } from "node:http";
import type { Registry } from "@bufbuild/protobuf";
import { CairnError, Code } from "@cairn/protocol";
import type { MethodTarget } from "./catalog-view.js";
import { grpcWebBodyLimit, parseEnvelopes, parseGrpcWebRequest } from "./grpc-web.js";
import { BodyTooLargeError, plainBodyLimit, readBody } from "./http-body.js";
import type { BodyLimit } from "./http-body.js";
import { headerOf, streamTimeoutOf } from "./http-call.js";
import { connectSink, grpcWebSink, jsonReplySink, sseSink } from "./http-stream-sinks.js";
import { arrayInputs, envelopeInputs, ndjsonInputs } from "./http-stream-inputs.js";
import { singleInput } from "./input-queue.js";
import { metadataFromHeaders } from "./metadata.js";
import type { ResolvedOptions } from "./options.js";
import { logInternal, toClientError } from "./status.js";
import type { Parsed } from "./status.js";
import { createStreamCall } from "./stream-call.js";
import type { StreamCall, StreamSink } from "./stream-call.js";
import { binaryToJson, jsonToBinary, parseJsonBody, validateBinary } from "./transcode.js";

/** How a streaming call over HTTP/1.1 looks on the wire. */
export type StreamWire =
  | {
      /** HTTP/JSON: server-sent events out (a JSON body for client-streaming); a JSON array or NDJSON in. */
      readonly kind: "json";
      /** The request of a server-streaming call (route transcoding or plain JSON). */
      readonly decode: (body: Buffer) => Parsed<Uint8Array>;
      readonly encode: (output: Uint8Array) => string;
      /** False on a `google.api.http` route, which serves server-streaming only. */
      readonly methodPath: boolean;
    }
  | { readonly kind: "connect"; readonly binary: boolean }
  | { readonly kind: "grpc-web"; readonly text: boolean };

type Inputs = Parsed<AsyncIterable<Uint8Array>>;

/**
 * Serves a streaming method over HTTP/1.1: server-streaming over every
 * protocol; client-streaming and bidi over HTTP/JSON and Connect, with the
 * request messages read from the body as they arrive. A client that streams
 * its request body (node, curl, connect-node) gets bidi full-duplex; one that
 * sends the body whole (browsers) gets it half-duplex.
 */
export function serveHttpStream(
  options: ResolvedOptions,
  req: IncomingMessage,
  res: ServerResponse,
  target: MethodTarget,
  registry: Registry,
  wire: StreamWire,
): void {
  const sink = sinkFor(res, target, registry, wire, options);
  const call = createStreamCall(sink, target.name, (e) =>
    logInternal(options.logger, e, { method: target.name }, "stream failed"),
  );
  // The client closing the connection before the end is a cancel.
  res.once("close", () => {
    if (!res.writableEnded) call.cancel();
  });
  const dispatcher = options.streaming;
  const refused = refusal(target, wire, dispatcher !== undefined);
  if (refused !== undefined || dispatcher === undefined)
    return call.fail(refused ?? unimplemented(""));
  const timeout = streamTimeoutOf(req);
  if (timeout.error !== undefined) return call.fail(timeout.error);
  const ms = timeout.value;
  inputsOf(req, target, registry, wire, options, call)
    .then((inputs) => {
      if (inputs.error !== undefined) return call.fail(inputs.error);
      return call.run(
        dispatcher,
        {
          service: target.service,
          method: target.method,
          inputs: inputs.value,
          metadata: metadataFromHeaders(req.headers),
          deadline: ms === undefined ? undefined : Date.now() + ms,
        },
        ms,
      );
    })
    // run() never rejects; this catches a failure while reading the inputs.
    .catch((err: unknown) => {
      const e = toClientError(err);
      logInternal(options.logger, e, { method: target.name }, "reading the request stream failed");
      call.fail(e);
    });
}

function unimplemented(message: string): CairnError {
  return new CairnError(Code.Unimplemented, message);
}

/** Why this call cannot be served over this wire, if it cannot. */
function refusal(
  target: MethodTarget,
  wire: StreamWire,
  canStream: boolean,
): CairnError | undefined {
  const kind = target.method.methodKind;
  const what = `${target.name} is ${kind.replace("_", " ")}`;
  if (!canStream)
    return unimplemented(
      `streaming methods are not served: the dispatcher has no dispatchStream (${what})`,
    );
  if (kind === "server_streaming") return undefined;
  if (wire.kind === "grpc-web")
    return unimplemented(
      `${what}: gRPC-Web serves server-streaming only (browsers cannot stream requests); call it with gRPC, Connect or POST /${target.name} with JSON`,
    );
  if (wire.kind === "json" && !wire.methodPath)
    return unimplemented(
      `${what}: request streams are served at POST /${target.name} (a JSON array or application/x-ndjson body), not on google.api.http routes`,
    );
  return undefined;
}

function sinkFor(
  res: ServerResponse,
  target: MethodTarget,
  registry: Registry,
  wire: StreamWire,
  options: ResolvedOptions,
): StreamSink {
  const { logger } = options;
  if (wire.kind === "grpc-web") return grpcWebSink(res, wire.text, logger);
  if (wire.kind === "connect") {
    const output = target.method.output;
    const type = wire.binary ? "application/connect+proto" : "application/connect+json";
    const encode = wire.binary
      ? (o: Uint8Array) => o
      : (o: Uint8Array) => Buffer.from(binaryToJson(o, output, registry));
    return connectSink(res, type, encode, logger);
  }
  return target.method.methodKind === "client_streaming"
    ? jsonReplySink(res, wire.encode, target.name, logger)
    : sseSink(res, wire.encode, options.sseHeartbeatMs, logger);
}

/** The request messages, validated, per wire and method kind. */
async function inputsOf(
  req: IncomingMessage,
  target: MethodTarget,
  registry: Registry,
  wire: StreamWire,
  options: ResolvedOptions,
  call: StreamCall,
): Promise<Inputs> {
  if (target.method.methodKind === "server_streaming") {
    const body = await readBody(req, singleBodyLimit(wire, options.maxRequestBytes), options);
    if (body.error !== undefined) return body;
    const one = decodeSingle(req, body.value, target, registry, wire, options.maxRequestBytes);
    return one.error !== undefined ? one : { value: singleInput(one.value) };
  }
  if (wire.kind === "connect") {
    const decode = connectDecoder(target, registry, wire.binary);
    return { value: envelopeInputs(req, target, decode, options, call) };
  }
  if ((req.headers["content-type"] ?? "").startsWith("application/x-ndjson"))
    return { value: ndjsonInputs(req, target, registry, options, call) };
  const body = await readBody(req, plainBodyLimit(options.maxRequestBytes), options);
  if (body.error !== undefined) return body;
  const parsed = parseJsonBody(body.value, target);
  if (parsed.error !== undefined) return parsed;
  if (!Array.isArray(parsed.value))
    return invalid(
      target,
      `a ${kindName(target)} method takes a JSON array of ${target.method.input.typeName} (or application/x-ndjson, one per line)`,
    );
  const messages: Uint8Array[] = [];
  for (const json of parsed.value) {
    const one = jsonToBinary(json, target, registry);
    if (one.error !== undefined) return one;
    messages.push(one.value);
  }
  return { value: arrayInputs(messages) };
}

function kindName(target: MethodTarget): string {
  return target.method.methodKind.replace("_", " ");
}

function invalid(target: MethodTarget, why: string): Parsed<never> {
  return {
    error: new CairnError(Code.InvalidArgument, `invalid request body for ${target.name}: ${why}`),
  };
}

/** The body limit of a server-streaming call's one message: its framing comes on top. */
function singleBodyLimit(wire: StreamWire, limit: number): BodyLimit {
  if (wire.kind === "grpc-web") return grpcWebBodyLimit(limit, wire.text);
  if (wire.kind === "json") return plainBodyLimit(limit);
  // One Connect envelope; its length is checked exactly by parseEnvelopes.
  return {
    ...plainBodyLimit(limit + 5),
    tooLarge: (size, atLeast) =>
      new BodyTooLargeError("Connect request message", size - 5, limit, atLeast),
  };
}

/** The one request message of a server-streaming call. */
function decodeSingle(
  req: IncomingMessage,
  body: Buffer,
  target: MethodTarget,
  registry: Registry,
  wire: StreamWire,
  limit: number,
): Parsed<Uint8Array> {
  if (wire.kind === "json") return wire.decode(body);
  if (wire.kind === "grpc-web") {
    const msg = parseGrpcWebRequest(body, wire.text, limit, headerOf(req, "grpc-encoding"));
    return msg.error !== undefined ? msg : validateBinary(msg.value, target);
  }
  const envelopes = parseEnvelopes(body, "Connect", limit);
  if (envelopes.error !== undefined) return envelopes;
  const [one, ...more] = envelopes.value;
  if (one === undefined || more.length > 0)
    return invalid(
      target,
      `a server-streaming request holds one message, got ${envelopes.value.length}`,
    );
  return connectDecoder(target, registry, wire.binary)(one);
}

/** Decodes one Connect envelope's payload: binary protobuf, or protobuf JSON. */
function connectDecoder(
  target: MethodTarget,
  registry: Registry,
  binary: boolean,
): (payload: Buffer) => Parsed<Uint8Array> {
  if (binary) return (b) => validateBinary(b, target);
  return (b) => {
    const json = parseJsonBody(b, target);
    return json.error !== undefined ? json : jsonToBinary(json.value, target, registry);
  };
}
