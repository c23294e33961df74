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

function frame(flags: number, payload: Buffer): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = flags;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** The trailer frame: `grpc-status` and a percent-encoded `grpc-message`, as gRPC over HTTP/2 writes them. */
function trailerFrame(code: number, message: string): Buffer {
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
