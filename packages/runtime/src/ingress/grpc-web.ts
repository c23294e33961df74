import { CairnError, Code, COMMITTED_KEY } from "@cairn/protocol";
import { BodyTooLargeError } from "./http-body.js";
import type { BodyLimit } from "./http-body.js";
import type { Parsed } from "./status.js";

const DATA_FLAG = 0x00;
const TRAILER_FLAG = 0x80;
const COMPRESSED_FLAG = 0x01;

/** True for `application/grpc-web-text[+proto]`, whose bodies are base64. */
export function isGrpcWebText(contentType: string): boolean {
  return contentType.startsWith("application/grpc-web-text");
}

/** True when the gRPC-Web content type carries protobuf (the only codec served). */
export function isGrpcWebProto(contentType: string): boolean {
  const type = contentType.split(";")[0]?.trim() ?? "";
  return (
    type === "application/grpc-web" ||
    type === "application/grpc-web+proto" ||
    type === "application/grpc-web-text" ||
    type === "application/grpc-web-text+proto"
  );
}

/** A gRPC-Web message frame: a flag byte and a 4-byte length before the message. */
const FRAME_HEADER = 5;

/**
 * The body limit of a gRPC-Web request holding one message of at most
 * `limit` bytes: the frame header and, for grpc-web-text, base64 come on
 * top. The exact check is on the frame's length, in {@link parseGrpcWebRequest};
 * this one stops reading a body that cannot fit.
 */
export function grpcWebBodyLimit(limit: number, text: boolean): BodyLimit {
  const framed = limit + FRAME_HEADER;
  return {
    bodyBytes: text ? 4 * Math.ceil(framed / 3) : framed,
    tooLarge: (size, atLeast) => {
      const message = (text ? Math.floor((size * 3) / 4) : size) - FRAME_HEADER;
      return new BodyTooLargeError("gRPC-Web request message", message, limit, atLeast);
    },
  };
}

/**
 * Extracts the single message of a gRPC-Web request body (unary and
 * server-streaming calls): exactly one frame, of at most `limit` bytes.
 * `encoding` is the request's `grpc-encoding` header.
 */
export function parseGrpcWebRequest(
  body: Buffer,
  text: boolean,
  limit: number,
  encoding: string | undefined,
): Parsed<Buffer> {
  const bytes = text ? Buffer.from(body.toString("latin1"), "base64") : body;
  if (bytes.length < FRAME_HEADER) {
    return invalidRequest(
      bytes.length === 0
        ? "the body holds no message frame; a call takes exactly one"
        : `${bytes.length} bytes, a message frame needs at least ${FRAME_HEADER}`,
    );
  }
  const flags = bytes[0] as number;
  const length = bytes.readUInt32BE(1);
  if (length > limit)
    return { error: new BodyTooLargeError("gRPC-Web request message", length, limit) };
  if ((flags & COMPRESSED_FLAG) !== 0) return { error: compressedError("gRPC-Web", encoding) };
  if (FRAME_HEADER + length > bytes.length)
    return invalidRequest(
      `frame declares ${length} bytes, body holds ${bytes.length - FRAME_HEADER}`,
    );
  const extra = bytes.length - FRAME_HEADER - length;
  if (extra > 0)
    return invalidRequest(
      `${extra} bytes follow the message frame; a call takes exactly one message`,
    );
  return { value: bytes.subarray(FRAME_HEADER, FRAME_HEADER + length) };
}

function invalidRequest(why: string): Parsed<never> {
  return { error: new CairnError(Code.InvalidArgument, `invalid gRPC-Web request: ${why}`) };
}

/**
 * A message with the compressed flag: without an encoding that is a
 * protocol error (INTERNAL, as the gRPC spec says); with one, we decode none.
 */
function compressedError(what: string, encoding: string | undefined): CairnError {
  if (encoding === undefined || encoding === "" || encoding === "identity")
    return new CairnError(
      Code.Internal,
      `${what} request message has the compressed flag set but the request has no grpc-encoding header: send messages uncompressed`,
    );
  return new CairnError(
    Code.Unimplemented,
    `grpc-encoding '${encoding}' is not supported: send ${what} messages uncompressed`,
  );
}

/** One length-prefixed frame (gRPC-Web) or envelope (Connect streaming): flags, 4-byte big-endian length, payload. */
export function frame(flags: number, payload: Uint8Array): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = flags;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** The trailer frame: `grpc-status` and a percent-encoded `grpc-message`, as gRPC over HTTP/2 writes them. */
export function trailerFrame(code: number, message: string, committed = false): Buffer {
  const lines =
    `grpc-status:${code}\r\n` +
    (message === "" ? "" : `grpc-message:${encodeURIComponent(message)}\r\n`) +
    (committed ? `${COMMITTED_KEY}:true\r\n` : "");
  return frame(TRAILER_FLAG, Buffer.from(lines, "latin1"));
}

/** The body of a unary gRPC-Web reply: the message then the OK trailers. */
export function grpcWebReply(message: Uint8Array, text: boolean): Buffer {
  const body = Buffer.concat([
    frame(DATA_FLAG, Buffer.from(message.buffer, message.byteOffset, message.byteLength)),
    trailerFrame(0, ""),
  ]);
  return text ? Buffer.from(body.toString("base64"), "latin1") : body;
}

/** The body of a failed gRPC-Web call: trailers only, in the body as browsers cannot read HTTP trailers. */
export function grpcWebError(
  code: number,
  message: string,
  text: boolean,
  committed = false,
): Buffer {
  const body = trailerFrame(code, message, committed);
  return text ? Buffer.from(body.toString("base64"), "latin1") : body;
}

/**
 * Splits a body of length-prefixed envelopes (Connect streaming requests)
 * into their payloads; `what` names the protocol in errors.
 */
export function parseEnvelopes(body: Buffer, what: string, limit: number): Parsed<Buffer[]> {
  const out: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 5)
      return invalidEnvelope(what, `${body.length - at} trailing bytes, an envelope needs 5`);
    const flags = body[at] as number;
    const length = body.readUInt32BE(at + 1);
    if (length > limit)
      return { error: new BodyTooLargeError(`${what} request message`, length, limit) };
    if (at + 5 + length > body.length)
      return invalidEnvelope(
        what,
        `envelope declares ${length} bytes, ${body.length - at - 5} remain`,
      );
    if ((flags & COMPRESSED_FLAG) !== 0) {
      return {
        error: new CairnError(
          Code.Unimplemented,
          `compressed ${what} messages are not supported; send them uncompressed`,
        ),
      };
    }
    out.push(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return { value: out };
}

function invalidEnvelope(what: string, why: string): Parsed<never> {
  return { error: new CairnError(Code.InvalidArgument, `invalid ${what} request: ${why}`) };
}
