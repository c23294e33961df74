import type { IncomingMessage, ServerResponse } from "node:http";
import { CairnError, Code } from "@cairn/protocol";
import type { InvocationResult } from "../core/types.js";
import type { MethodTarget } from "./catalog-view.js";
import { metadataFromHeaders } from "./metadata.js";
import type { ResolvedOptions } from "./options.js";
import { parseConnectTimeout, parseGrpcTimeout } from "./status.js";
import type { Parsed } from "./status.js";

/** A request header's (first) value. */
export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Timeout of an HTTP call from `connect-timeout-ms` or `grpc-timeout`, else the default. */
export function timeoutOf(req: IncomingMessage, defaultMs: number): Parsed<number> {
  const connect = req.headers["connect-timeout-ms"];
  if (typeof connect === "string") return parseConnectTimeout(connect);
  const grpc = req.headers["grpc-timeout"];
  if (typeof grpc === "string") return parseGrpcTimeout(grpc);
  return { value: defaultMs };
}

/**
 * Timeout of a streaming HTTP call: the client's header if it sent one,
 * else none, since a subscription may rightly stay open for hours.
 */
export function streamTimeoutOf(req: IncomingMessage): Parsed<number | undefined> {
  const sent =
    req.headers["connect-timeout-ms"] !== undefined || req.headers["grpc-timeout"] !== undefined;
  return sent ? timeoutOf(req, 0) : { value: undefined };
}

/**
 * Dispatches one HTTP call. The signal aborts when the client disconnects
 * before the reply, and when the deadline passes: the dispatcher may not
 * watch the clock, but the client must get DEADLINE_EXCEEDED on time.
 */
export function invokeHttp(
  options: ResolvedOptions,
  req: IncomingMessage,
  res: ServerResponse,
  target: MethodTarget,
  input: { readonly value: Uint8Array; readonly entityKey?: string | undefined },
  timeoutMs: number,
): Promise<InvocationResult> {
  const abort = new AbortController();
  const onClose = (): void => {
    if (!res.writableEnded) abort.abort();
  };
  res.once("close", onClose);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Reject first: the race must settle on DEADLINE_EXCEEDED, not on
      // whatever the dispatcher throws when it sees the abort.
      reject(
        new CairnError(
          Code.DeadlineExceeded,
          `deadline of ${timeoutMs} ms exceeded calling ${target.name}`,
        ),
      );
      abort.abort();
    }, timeoutMs);
  });
  const call = options.dispatcher.dispatch({
    service: target.service,
    method: target.method,
    input: input.value,
    ...(input.entityKey === undefined ? {} : { entityKey: input.entityKey }),
    metadata: metadataFromHeaders(req.headers),
    deadline: Date.now() + timeoutMs,
    signal: abort.signal,
  });
  return Promise.race([call, expired]).finally(() => {
    clearTimeout(timer);
    res.off("close", onClose);
  });
}
