import { CairnError, Code } from "@cairn/protocol";
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

/** Extracts the single message of a unary gRPC-Web request body. */
export function parseGrpcWebRequest(body: Buffer, text: boolean): Parsed<Buffer> {
  const bytes = text ? Buffer.from(body.toString("latin1"), "base64") : body;
  if (bytes.length < 5) {
    return {
      error: new CairnError(
        Code.InvalidArgument,
        `invalid gRPC-Web request: ${bytes.length} bytes, a message frame needs at least 5`,
      ),
    };
  }
  const flags = bytes[0] as number;
  if ((flags & COMPRESSED_FLAG) !== 0) {
    return {
      error: new CairnError(
        Code.Unimplemented,
        "compressed gRPC-Web messages are not supported; send them uncompressed",
      ),
    };
  }
  const length = bytes.readUInt32BE(1);
  if (5 + length > bytes.length) {
    return {
      error: new CairnError(
        Code.InvalidArgument,
        `invalid gRPC-Web request: frame declares ${length} bytes, body holds ${bytes.length - 5}`,
      ),
    };
  }
  return { value: bytes.subarray(5, 5 + length) };
}

/** One length-prefixed frame (gRPC-Web) or envelope (Connect streaming): flags, 4-byte big-endian length, payload. */
export function frame(flags: number, payload: Uint8Array): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = flags;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** The trailer frame: `grpc-status` and a percent-encoded `grpc-message`, as gRPC over HTTP/2 writes them. */
export function trailerFrame(code: number, message: string): Buffer {
  const lines =
    `grpc-status:${code}\r\n` +
    (message === "" ? "" : `grpc-message:${encodeURIComponent(message)}\r\n`);
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
export function grpcWebError(code: number, message: string, text: boolean): Buffer {
  const body = trailerFrame(code, message);
  return text ? Buffer.from(body.toString("base64"), "latin1") : body;
}

/**
 * Splits a body of length-prefixed envelopes (Connect streaming requests)
 * into their payloads; `what` names the protocol in errors.
 */
export function parseEnvelopes(body: Buffer, what: string): Parsed<Buffer[]> {
  const out: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 5)
      return invalidEnvelope(what, `${body.length - at} trailing bytes, an envelope needs 5`);
    const flags = body[at] as number;
    const length = body.readUInt32BE(at + 1);
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
