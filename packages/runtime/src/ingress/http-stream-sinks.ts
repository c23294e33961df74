import type { ServerResponse } from "node:http";
import { CairnError, Code, codeName } from "@cairn/protocol";
import type { Metadata } from "../core/types.js";
import { frame, trailerFrame } from "./grpc-web.js";
import { writeBody, writeError } from "./http-reply.js";
import { setReplyHeaders } from "./metadata.js";
import type { IngressLogger } from "./options.js";
import { connectCodeName } from "./status.js";
import type { StreamSink } from "./stream-call.js";

/** Connect's flag of the end-of-stream envelope. */
const END_STREAM_FLAG = 0x02;

/** Resolves when the response can take more, or is closed (then nobody waits for it). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

/** Writes a chunk; a full socket buffer holds the stream back until it drains. */
function send(res: ServerResponse, chunk: string | Uint8Array): Promise<void> | undefined {
  if (res.destroyed || res.writableEnded) return undefined;
  return res.write(chunk) ? undefined : drained(res);
}

/** Writes the 200 head once: the reply metadata as headers, then the protocol's own. */
function headOnce(
  res: ServerResponse,
  md: Metadata,
  headers: Record<string, string>,
  logger: IngressLogger,
): void {
  if (res.headersSent) return;
  setReplyHeaders(res, md, (key) =>
    logger.debug({ key }, "reply metadata key not valid as a header, skipped"),
  );
  res.writeHead(200, headers);
}

/**
 * Server-sent events: each message a `data:` line of protobuf JSON. The
 * head waits for the first message (or heartbeat), so that a call failing
 * before it gets the ordinary JSON error with its HTTP status; after it, an
 * error is an `event: error` with the same JSON as a body would carry.
 */
export function sseSink(
  res: ServerResponse,
  encode: (message: Uint8Array) => string,
  heartbeatMs: number,
  logger: IngressLogger,
): StreamSink {
  let md: Metadata = {};
  let heartbeat: NodeJS.Timeout | undefined;
  const head = (): void =>
    headOnce(
      res,
      md,
      {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        // nginx buffers responses unless told not to, which holds events back.
        "x-accel-buffering": "no",
      },
      logger,
    );
  const stopHeartbeat = (): void => clearInterval(heartbeat);
  res.once("close", stopHeartbeat);
  return {
    begin: (metadata) => {
      md = metadata;
      // Comment lines keep proxies with idle timeouts from cutting a quiet stream.
      heartbeat = setInterval(() => {
        head();
        // No backpressure wait: a heartbeat behind a full buffer is not needed.
        if (!res.destroyed && !res.writableEnded) res.write(": keep-alive\n\n");
      }, heartbeatMs);
    },
    write: (message) => {
      head();
      return send(res, `data: ${encode(message)}\n\n`);
    },
    end: () => {
      stopHeartbeat();
      head();
      res.end();
    },
    fail: (e) => {
      stopHeartbeat();
      if (!res.headersSent) return writeError(res, "json", e);
      const json = { code: e.code as number, status: codeName(e.code), message: e.message };
      res.end(`event: error\ndata: ${JSON.stringify(json)}\n\n`);
    },
  };
}

/** Client-streaming over HTTP/JSON: the one output is the JSON reply body. */
export function jsonReplySink(
  res: ServerResponse,
  encode: (message: Uint8Array) => string,
  name: string,
  logger: IngressLogger,
): StreamSink {
  let md: Metadata = {};
  let body: string | undefined;
  let count = 0;
  const fail = (e: CairnError): void => writeError(res, "json", e);
  return {
    begin: (metadata) => void (md = metadata),
    write: (message) => {
      // A second reply cannot be expressed: the call fails at the end.
      if (count++ === 0) body = encode(message);
      return undefined;
    },
    end: () => {
      if (body === undefined || count > 1) return fail(replyCountError(name, count));
      setReplyHeaders(res, md, (key) =>
        logger.debug({ key }, "reply metadata key not valid as a header, skipped"),
      );
      writeBody(res, "application/json", body);
    },
    fail,
  };
}

function replyCountError(name: string, count: number): CairnError {
  return new CairnError(
    Code.Internal,
    `${name} is client-streaming but the component answered ${count === 0 ? "no" : count} responses`,
  );
}

/**
 * Connect streaming (`application/connect+proto|json`): each message an
 * envelope, then the end-of-stream envelope whose JSON carries the error,
 * if any. Always HTTP 200: Connect streams report errors in the body.
 */
export function connectSink(
  res: ServerResponse,
  contentType: string,
  encode: (message: Uint8Array) => Uint8Array,
  logger: IngressLogger,
): StreamSink {
  let md: Metadata = {};
  const head = (): void => headOnce(res, md, { "content-type": contentType }, logger);
  const finish = (json: object): void => {
    head();
    res.end(frame(END_STREAM_FLAG, Buffer.from(JSON.stringify(json))));
  };
  return {
    begin: (metadata) => {
      md = metadata;
      head();
    },
    write: (message) => send(res, frame(0, encode(message))),
    end: () => finish({}),
    fail: (e) => finish({ error: { code: connectCodeName(e.code), message: e.message } }),
  };
}

/**
 * gRPC-Web server-streaming: a data frame per message, then the trailer
 * frame with `grpc-status`. In the text variant each frame is base64 on its
 * own, which gRPC-Web clients decode chunk by chunk.
 */
export function grpcWebSink(res: ServerResponse, text: boolean, logger: IngressLogger): StreamSink {
  let md: Metadata = {};
  const type = text ? "application/grpc-web-text+proto" : "application/grpc-web+proto";
  const head = (): void => headOnce(res, md, { "content-type": type }, logger);
  const wire = (b: Buffer): string | Buffer => (text ? b.toString("base64") : b);
  return {
    begin: (metadata) => {
      md = metadata;
      head();
    },
    write: (message) => send(res, wire(frame(0, message))),
    end: () => {
      head();
      res.end(wire(trailerFrame(0, "")));
    },
    fail: (e) => {
      if (!res.headersSent) return writeError(res, text ? "grpc-web-text" : "grpc-web", e);
      res.end(wire(trailerFrame(e.code, e.message)));
    },
  };
}
