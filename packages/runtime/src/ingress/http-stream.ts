import type { IncomingMessage, ServerResponse } from "node:http";
import { StringDecoder } from "node:string_decoder";
import type { JsonValue, Registry } from "@bufbuild/protobuf";
import { CairnError, Code } from "@cairn/protocol";
import type { MethodTarget } from "./catalog-view.js";
import { parseEnvelopes, parseGrpcWebRequest } from "./grpc-web.js";
import { readBody } from "./http-body.js";
import { streamTimeoutOf } from "./http-call.js";
import { connectSink, grpcWebSink, jsonReplySink, sseSink } from "./http-stream-sinks.js";
import { createInputQueue, singleInput } from "./input-queue.js";
import { metadataFromHeaders } from "./metadata.js";
import type { ResolvedOptions } from "./options.js";
import type { Parsed } from "./status.js";
import { createStreamCall } from "./stream-call.js";
import type { StreamCall, StreamSink } from "./stream-call.js";
import { binaryToJson, jsonToBinary, parseJsonBody, validateBinary } from "./transcode.js";

/** How a streaming call over HTTP/1.1 looks on the wire. */
export type StreamWire =
  | {
      /** HTTP/JSON: server-sent events out; a JSON array or NDJSON in (client-streaming). */
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
 * protocol, client-streaming over HTTP/JSON and Connect (the request body
 * holds every message), bidi nowhere (HTTP/1.1 cannot interleave both
 * directions for browsers; gRPC serves it).
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
  const call = createStreamCall(sink, target.name, (err) =>
    options.logger.error({ err, method: target.name }, "stream failed"),
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
  void inputsOf(req, target, registry, wire, options, call).then((inputs) => {
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
  if (kind === "bidi_streaming")
    return unimplemented(`bidirectional streaming needs gRPC (HTTP/2); ${what}`);
  if (kind !== "client_streaming") return undefined;
  if (wire.kind === "grpc-web")
    return unimplemented(
      `client-streaming over gRPC-Web is not served (browsers cannot send it either); ${what}: call it with gRPC, Connect or POST /${target.name} with JSON`,
    );
  if (wire.kind === "json" && !wire.methodPath)
    return unimplemented(
      `client-streaming methods are served at POST /${target.name} (a JSON array or application/x-ndjson body), not on google.api.http routes`,
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
  const client = target.method.methodKind === "client_streaming";
  const ndjson = (req.headers["content-type"] ?? "").startsWith("application/x-ndjson");
  if (client && wire.kind === "json" && ndjson) {
    return { value: ndjsonInputs(req, target, registry, options, call) };
  }
  const body = await readBody(req, options.maxRequestBytes);
  if (body.error !== undefined) return body;
  const messages = decodeAll(body.value, target, registry, wire, client);
  if (messages.error !== undefined) return messages;
  if (!client) {
    const [one, ...more] = messages.value;
    if (one === undefined || more.length > 0)
      return invalid(
        target,
        `a server-streaming request holds one message, got ${messages.value.length}`,
      );
    return { value: singleInput(one) };
  }
  return { value: arrayInputs(messages.value) };
}

function invalid(target: MethodTarget, why: string): Parsed<never> {
  return {
    error: new CairnError(Code.InvalidArgument, `invalid request body for ${target.name}: ${why}`),
  };
}

/** Every request message of a fully read body. */
function decodeAll(
  body: Buffer,
  target: MethodTarget,
  registry: Registry,
  wire: StreamWire,
  client: boolean,
): Parsed<Uint8Array[]> {
  if (wire.kind === "grpc-web") {
    const msg = parseGrpcWebRequest(body, wire.text);
    const valid = msg.error !== undefined ? msg : validateBinary(msg.value, target);
    return valid.error !== undefined ? valid : { value: [valid.value] };
  }
  if (wire.kind === "json") {
    if (!client) {
      const one = wire.decode(body);
      return one.error !== undefined ? one : { value: [one.value] };
    }
    const parsed = parseJsonBody(body, target);
    if (parsed.error !== undefined) return parsed;
    if (!Array.isArray(parsed.value))
      return invalid(
        target,
        `a client-streaming method takes a JSON array of ${target.method.input.typeName} (or application/x-ndjson)`,
      );
    return collect(parsed.value, (json) => jsonToBinary(json, target, registry));
  }
  const envelopes = parseEnvelopes(body, "Connect");
  if (envelopes.error !== undefined) return envelopes;
  const decode = wire.binary
    ? (b: Buffer) => validateBinary(b, target)
    : (b: Buffer) => {
        const json = parseJsonBody(b, target);
        return json.error !== undefined ? json : jsonToBinary(json.value, target, registry);
      };
  return collect(envelopes.value, decode);
}

function collect<T>(items: T[], decode: (item: T) => Parsed<Uint8Array>): Parsed<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const item of items) {
    const one = decode(item);
    if (one.error !== undefined) return one;
    out.push(one.value);
  }
  return { value: out };
}

function arrayInputs(messages: Uint8Array[]): AsyncIterable<Uint8Array> {
  const queue = createInputQueue<Uint8Array>({
    limit: Number.MAX_SAFE_INTEGER,
    pause: () => {},
    resume: () => {},
  });
  for (const m of messages) queue.push(m);
  queue.end();
  return queue.iterable;
}

/**
 * Client-streaming NDJSON, one request message per line, read as it
 * arrives: a full queue pauses the request, so a long upload is never held
 * in memory whole. A bad line ends the call with INVALID_ARGUMENT naming it.
 */
function ndjsonInputs(
  req: IncomingMessage,
  target: MethodTarget,
  registry: Registry,
  options: ResolvedOptions,
  call: StreamCall,
): AsyncIterable<Uint8Array> {
  const queue = createInputQueue<Uint8Array>({
    limit: options.streamInputBuffer,
    pause: () => req.pause(),
    resume: () => req.resume(),
  });
  const text = new StringDecoder("utf8");
  let rest = "";
  let line = 0;
  let stopped = false;
  const bad = (why: string): void => {
    stopped = true;
    req.off("data", onData);
    // Read and drop the rest, so the connection stays usable.
    req.resume();
    const error = new CairnError(
      Code.InvalidArgument,
      `invalid request body for ${target.name}: line ${line}: ${why}`,
    );
    queue.fail(error);
    call.fail(error);
  };
  const take = (raw: string): boolean => {
    line++;
    if (raw.trim() === "") return true;
    let json: JsonValue;
    try {
      json = JSON.parse(raw) as JsonValue;
    } catch (err) {
      bad(`malformed JSON: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
    const msg = jsonToBinary(json, target, registry);
    if (msg.error !== undefined) return (bad(msg.error.message), false);
    queue.push(msg.value);
    return true;
  };
  const onData = (chunk: Buffer): void => {
    rest += text.write(chunk);
    for (let nl = rest.indexOf("\n"); nl >= 0; nl = rest.indexOf("\n")) {
      const raw = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      if (!take(raw)) return;
    }
    if (rest.length > options.maxRequestBytes)
      bad(`longer than ${options.maxRequestBytes} bytes (maxRequestBytes)`);
  };
  req.on("data", onData);
  req.once("end", () => {
    if (!stopped && take(rest + text.end())) queue.end();
  });
  call.signal.addEventListener("abort", () =>
    queue.fail(new CairnError(Code.Canceled, `call ${target.name} ended`)),
  );
  return queue.iterable;
}
