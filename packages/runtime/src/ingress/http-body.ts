import type { IncomingMessage } from "node:http";
import { CairnError, Code } from "@cairn/protocol";
import type { ResolvedOptions } from "./options.js";
import type { Parsed } from "./status.js";

/**
 * The error of a body or message over the limit; HTTP adapters answer it
 * with 413, gRPC-Web and Connect streams with RESOURCE_EXHAUSTED.
 */
export class BodyTooLargeError extends CairnError {
  /**
   * @param what what is too large, e.g. "request body", "gRPC-Web request message"
   * @param size its size in bytes, or, when `atLeast`, what arrived before we stopped reading
   */
  constructor(what: string, size: number, limit: number, atLeast = false) {
    super(
      Code.ResourceExhausted,
      `${what} too large: ${atLeast ? "at least " : ""}${size} bytes, the limit is ${limit} bytes (maxRequestBytes)`,
    );
  }
}

/**
 * How big a body may be, and how its size is told to the client. A framed
 * body (gRPC-Web) may be larger than the message limit by its framing; the
 * client is told the size of the message, which is what the limit is about.
 */
export interface BodyLimit {
  /** Largest body accepted, bytes. */
  readonly bodyBytes: number;
  /** The error for a body of `size` bytes (`atLeast`: still arriving). */
  tooLarge(size: number, atLeast: boolean): BodyTooLargeError;
}

/** The limit of a body that is the message itself (JSON, Connect unary, NDJSON lines). */
export function plainBodyLimit(limit: number): BodyLimit {
  return {
    bodyBytes: limit,
    tooLarge: (size, atLeast) => new BodyTooLargeError("request body", size, limit, atLeast),
  };
}

/** The error of a body that did not arrive within `requestTimeoutMs`; HTTP adapters answer it with 408. */
export class RequestTimeoutError extends CairnError {
  constructor(timeoutMs: number, received: number) {
    super(
      Code.DeadlineExceeded,
      `request body not complete within ${timeoutMs} ms (requestTimeoutMs): ${received} bytes arrived; send the body at once`,
    );
  }
}

/**
 * Reads a request body of at most `limit` bytes within `requestTimeoutMs`.
 * A body over the limit is refused as soon as it is known to be (from
 * Content-Length, or while streaming), and one that is late when the time
 * is up: either way we stop listening and never buffer the rest.
 */
export function readBody(
  req: IncomingMessage,
  bodyLimit: BodyLimit,
  options: Pick<ResolvedOptions, "requestTimeoutMs" | "metrics">,
): Promise<Parsed<Buffer>> {
  const limit = bodyLimit.bodyBytes;
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.resolve({ error: bodyLimit.tooLarge(Number(declared), false) });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      cleanup();
      req.pause();
      options.metrics.timedOut("request");
      resolve({ error: new RequestTimeoutError(options.requestTimeoutMs, size) });
    }, options.requestTimeoutMs);
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        resolve({ error: bodyLimit.tooLarge(size, true) });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      const first = chunks[0];
      // One chunk is the common case of a small body: no copy.
      resolve({
        value: chunks.length === 1 && first !== undefined ? first : Buffer.concat(chunks, size),
      });
    };
    const onError = (err: Error): void => {
      cleanup();
      resolve({
        error: new CairnError(Code.Canceled, "request body could not be read: " + err.message, {
          cause: err,
        }),
      });
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}
