/**
 * Guards of the gRPC side that grpc-js does not have built in.
 *
 * - A unary or server-streaming call's request must arrive whole within
 *   `requestTimeoutMs`: grpc-js only calls a handler once the message and
 *   the end of stream are in, so a client that opens a stream and sends
 *   nothing would hold it (and its connection's idle timer) forever.
 * - Such a call carries exactly one request message; grpc-js answers 0 or
 *   2 with wording about "server streaming methods", even for a unary one.
 * - A malformed `grpc-timeout` is the client's error (grpc-js says INTERNAL).
 * - A message with the compressed flag but no `grpc-encoding` is a protocol
 *   error (INTERNAL, as the gRPC spec says); grpc-js would take the
 *   compressed bytes as a plain message.
 */
import {
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  status,
} from "@grpc/grpc-js";
import type { ServerInterceptingCallInterface, ServerInterceptor } from "@grpc/grpc-js";
import type { ResolvedOptions } from "./options.js";
import { parseGrpcTimeout } from "./status.js";

/** grpc-js's wording for a grpc-timeout it cannot parse. */
const BAD_TIMEOUT = /^Invalid grpc-timeout value "(.*)"$/s;

/** Encodings grpc-js decompresses itself. */
const DECODED = new Set(["identity", "gzip", "deflate"]);

/**
 * Ends unary and server-streaming calls whose request is not in within
 * `requestTimeoutMs`, or that carry other than one request message.
 */
export function unaryRequestInterceptor(
  options: Pick<ResolvedOptions, "requestTimeoutMs" | "metrics">,
): ServerInterceptor {
  const ms = options.requestTimeoutMs;
  return (method, call) => {
    if (method.requestStream) return new ServerInterceptingCall(call);
    const kind = method.responseStream ? "server-streaming" : "unary";
    const what = `${kind} method ${method.path.slice(1)}`;
    let timer: NodeJS.Timeout | undefined;
    let messages = 0;
    let ended = false;
    const stop = (): void => clearTimeout(timer);
    const end = (code: status, details: string): void => {
      ended = true;
      stop();
      call.sendStatus({ code, details });
    };
    const responder = new ResponderBuilder()
      .withStart((next) => {
        timer = setTimeout(() => {
          options.metrics.timedOut("request");
          end(
            status.DEADLINE_EXCEEDED,
            `request message not complete within ${ms} ms (requestTimeoutMs): send the message and end the stream at once`,
          );
        }, ms);
        next(
          new ServerListenerBuilder()
            .withOnReceiveMessage((message, done) => {
              if (ended) return;
              if (++messages === 1) return done(message);
              end(
                status.INVALID_ARGUMENT,
                `${what} takes exactly one request message; the client sent a second one`,
              );
            })
            .withOnReceiveHalfClose((done) => {
              if (ended) return;
              stop();
              if (messages === 1) return done();
              end(
                status.INVALID_ARGUMENT,
                `${what} takes exactly one request message; the client ended the stream without any`,
              );
            })
            .withOnCancel(stop)
            .build(),
        );
      })
      .withSendStatus((s, next) => {
        stop();
        next(s);
      })
      .build();
    return new ServerInterceptingCall(call, responder);
  };
}

/** The part of grpc-js's base call that reads the compressed flag (server-interceptors.js). */
interface Decompressing {
  decompressMessage?: (message: Buffer, encoding: string) => Buffer | Promise<Buffer>;
}

/**
 * Answers a compressed message without `grpc-encoding` with INTERNAL and
 * one in an encoding grpc-js cannot decode with UNIMPLEMENTED, naming what
 * is accepted; a malformed `grpc-timeout` with INVALID_ARGUMENT. It must be the first interceptor: only the base call sees
 * the compressed flag. That hooks a private method, so it is feature-tested
 * here and by a test over the wire; without it grpc-js's own behaviour stays.
 */
export function compressionInterceptor(): ServerInterceptor {
  return (_method, call: ServerInterceptingCallInterface) => {
    const base = call as ServerInterceptingCallInterface & Decompressing;
    const own = base.decompressMessage;
    if (typeof own !== "function") return new ServerInterceptingCall(call);
    // grpc-js refuses a malformed grpc-timeout with INTERNAL on the next tick;
    // it is the client's input, answered INVALID_ARGUMENT as on HTTP/1.1.
    const send = base.sendStatus.bind(base);
    base.sendStatus = (s) => {
      const bad = s.code === status.INTERNAL ? BAD_TIMEOUT.exec(s.details) : null;
      const refused = bad === null ? undefined : parseGrpcTimeout(bad[1] ?? "").error;
      send(
        refused === undefined
          ? s
          : { ...s, code: status.INVALID_ARGUMENT, details: refused.message },
      );
    };
    base.decompressMessage = (message, encoding) => {
      const compressed = message[0] === 1;
      if (compressed && encoding === "identity")
        return Promise.reject(
          statusError(
            status.INTERNAL,
            "request message has the compressed flag set but the request has no grpc-encoding header: send grpc-encoding (gzip or deflate) or clear the flag",
          ),
        );
      if (compressed && !DECODED.has(encoding))
        return Promise.reject(
          statusError(
            status.UNIMPLEMENTED,
            `grpc-encoding '${encoding}' is not supported: send messages uncompressed, or with gzip or deflate`,
          ),
        );
      if (!compressed) return own.call(base, message, encoding);
      // grpc-js says only "Failed to decompress message"; INTERNAL is the spec's code for it.
      return Promise.resolve(own.call(base, message, encoding)).catch((err: unknown) => {
        const code = (err as { code?: unknown }).code;
        if (code !== status.INTERNAL) throw err;
        throw statusError(
          status.INTERNAL,
          `request message could not be decompressed with grpc-encoding '${encoding}': it is not valid ${encoding} data`,
        );
      });
    };
    return new ServerInterceptingCall(call);
  };
}

/** What grpc-js's base call sends as the status when decompression rejects. */
function statusError(code: status, details: string): Error & { code: status; details: string } {
  return Object.assign(new Error(details), { code, details });
}
