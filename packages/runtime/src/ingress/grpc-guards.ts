/**
 * Guards of the gRPC side that grpc-js does not have built in.
 *
 * - A unary or server-streaming call's request must arrive whole within
 *   `requestTimeoutMs`: grpc-js only calls a handler once the message and
 *   the end of stream are in, so a client that opens a stream and sends
 *   nothing would hold it (and its connection's idle timer) forever.
 */
import {
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  status,
} from "@grpc/grpc-js";
import type { ServerInterceptor } from "@grpc/grpc-js";
import type { ResolvedOptions } from "./options.js";

/** Ends unary and server-streaming calls whose request is not in within `requestTimeoutMs`. */
export function requestTimeoutInterceptor(
  options: Pick<ResolvedOptions, "requestTimeoutMs" | "metrics">,
): ServerInterceptor {
  const ms = options.requestTimeoutMs;
  return (method, call) => {
    if (method.requestStream) return new ServerInterceptingCall(call);
    let timer: NodeJS.Timeout | undefined;
    const stop = (): void => clearTimeout(timer);
    const responder = new ResponderBuilder()
      .withStart((next) => {
        timer = setTimeout(() => {
          options.metrics.timedOut("request");
          call.sendStatus({
            code: status.DEADLINE_EXCEEDED,
            details: `request message not complete within ${ms} ms (requestTimeoutMs): send the message and end the stream at once`,
          });
        }, ms);
        next(
          new ServerListenerBuilder()
            .withOnReceiveHalfClose((done) => {
              stop();
              done();
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
