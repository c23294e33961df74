import { fromBinary } from "@bufbuild/protobuf";
import { Metadata as GrpcMetadata, status } from "@grpc/grpc-js";
import type {
  sendUnaryData,
  ServerDuplexStream,
  ServerReadableStream,
  ServerWritableStream,
} from "@grpc/grpc-js";
import { CairnError, Code } from "@cairn/protocol";
import type { StreamingDispatcher, StreamInvocation } from "../core/types.js";
import type { MethodTarget } from "./catalog-view.js";
import type { Handler } from "./grpc.js";
import { createInputQueue, singleInput } from "./input-queue.js";
import { fillReplyMetadata, metadataFromGrpc } from "./metadata.js";
import type { ResolvedOptions } from "./options.js";
import { createStreamCall } from "./stream-call.js";
import type { StreamCall, StreamSink } from "./stream-call.js";
import { logInternal, toClientError } from "./status.js";

type Call = ServerReadableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>;
type WritableCall = ServerWritableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>;

const identity = (b: Buffer): Buffer => b;

/**
 * The grpc-js handler of a client-, server- or bidirectional-streaming
 * method, served through `dispatchStream`.
 *
 * Deadlines: grpc-js enforces a client's `grpc-timeout` itself (it cancels
 * the call, which aborts the signal). Unlike unary calls, a stream without
 * one gets no default deadline: a server-sent subscription may rightly live
 * for hours, and the client ends it by cancelling.
 */
export function streamingGrpcHandler(
  path: string,
  target: MethodTarget,
  options: ResolvedOptions,
  dispatcher: StreamingDispatcher,
): Handler {
  const kind = target.method.methodKind;
  const start = (call: Call | WritableCall, sink: StreamSink, inputs?: AsyncIterable<Buffer>) => {
    const stream = createStreamCall(sink, target.name, (e) =>
      logInternal(options.logger, e, { method: target.name }, "stream failed"),
    );
    call.once("cancelled", () => stream.cancel());
    const invocation: Omit<StreamInvocation, "signal"> = {
      service: target.service,
      method: target.method,
      inputs: inputs ?? feedInputs(call as Call, target, stream, options.streamInputBuffer),
      metadata: metadataFromGrpc(call.metadata),
      deadline: deadlineOf(call),
    };
    // run() settles every failure into the sink; a rejection would be a bug in it.
    const run = (): void => {
      stream.run(dispatcher, invocation).catch((err: unknown) => {
        const e = toClientError(err);
        logInternal(options.logger, e, { method: target.name }, "stream failed");
        stream.fail(e);
      });
    };
    return { stream, run };
  };
  if (kind === "server_streaming") {
    const func = (call: ServerWritableStream<Buffer, Buffer>): void => {
      const { stream, run } = start(call, writerSink(call, options), singleInput(call.request));
      const invalid = validate(target, call.request);
      if (invalid !== undefined) return stream.fail(invalid);
      run();
    };
    return { func, serialize: identity, deserialize: identity, type: "serverStream", path };
  }
  if (kind === "client_streaming") {
    const func = (call: ServerReadableStream<Buffer, Buffer>, reply: sendUnaryData<Buffer>) =>
      start(call, singleReplySink(call, reply, target, options)).run();
    return { func, serialize: identity, deserialize: identity, type: "clientStream", path };
  }
  const func = (call: ServerDuplexStream<Buffer, Buffer>): void =>
    start(call, writerSink(call, options)).run();
  return { func, serialize: identity, deserialize: identity, type: "bidi", path };
}

/** The bytes must be a valid `method.input`, else INVALID_ARGUMENT naming the type. */
function validate(target: MethodTarget, bytes: Uint8Array): CairnError | undefined {
  try {
    fromBinary(target.method.input, bytes);
    return undefined;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return new CairnError(
      Code.InvalidArgument,
      `invalid request for ${target.name}: cannot decode ${target.method.input.typeName}: ${why}`,
    );
  }
}

function deadlineOf(call: Call | WritableCall): number | undefined {
  const d = call.getDeadline();
  const when = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(when) ? when : undefined;
}

/**
 * Request messages from the call's 'data' events, validated one by one.
 * Pausing the call stops grpc-js from reading the HTTP/2 stream, so a full
 * queue pushes back on the client through HTTP/2 flow control.
 */
function feedInputs(
  call: Call,
  target: MethodTarget,
  stream: StreamCall,
  limit: number,
): AsyncIterable<Buffer> {
  const queue = createInputQueue<Buffer>({
    limit,
    pause: () => call.pause(),
    resume: () => call.resume(),
  });
  const onData = (chunk: Buffer): void => {
    const invalid = validate(target, chunk);
    if (invalid === undefined) return queue.push(chunk);
    call.off("data", onData);
    queue.fail(invalid);
    stream.fail(invalid);
  };
  call.on("data", onData);
  call.once("end", () => queue.end());
  // A dispatcher still reading inputs learns that the call is over.
  stream.signal.addEventListener("abort", () =>
    queue.fail(new CairnError(Code.Canceled, `call ${target.name} ended`)),
  );
  return queue.iterable;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function sendHeaders(call: Call | WritableCall, md: Record<string, string>, o: ResolvedOptions) {
  const grpcMd = new GrpcMetadata();
  if (fillReplyMetadata(grpcMd, md, o.logger)) call.sendMetadata(grpcMd);
}

/** Server- and bidi-streaming: each output a message, respecting `write()` returning false. */
function writerSink(call: WritableCall, options: ResolvedOptions): StreamSink {
  return {
    begin: (md) => sendHeaders(call, md, options),
    write: (message) =>
      call.write(toBuffer(message))
        ? undefined
        : new Promise<void>((resolve) => call.once("drain", () => resolve())),
    end: () => call.end(),
    // grpc-js turns an 'error' event into the call's status (server-call.ts).
    fail: (e) =>
      call.emit("error", Object.assign(new Error(e.message), { code: e.code, details: e.message })),
  };
}

/** Client-streaming: the outputs must be exactly one message, the reply. */
function singleReplySink(
  call: Call,
  reply: sendUnaryData<Buffer>,
  target: MethodTarget,
  options: ResolvedOptions,
): StreamSink {
  let output: Uint8Array | undefined;
  return {
    begin: (md) => sendHeaders(call, md, options),
    write: (message) => {
      if (output !== undefined)
        throw new CairnError(
          Code.Internal,
          `${target.name} is client-streaming but the component answered more than one response`,
        );
      output = message;
      return undefined;
    },
    end: () =>
      output === undefined
        ? reply({
            code: status.INTERNAL,
            details: `${target.name} is client-streaming but the component answered no response`,
          })
        : reply(null, toBuffer(output)),
    fail: (e) => reply({ code: e.code as number as status, details: e.message }),
  };
}
