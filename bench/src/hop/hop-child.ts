/**
 * The handler side of the out-of-process candidates, a child process:
 * `hop-child.js grpc` serves one grpc-js bidi method on 127.0.0.1 (raw bytes,
 * as the protocol's Handle stream), `hop-child.js uds <path>` serves
 * length-prefixed frames on a Unix domain socket. Prints
 * `{"msg":"hop listening","port"|"path"}`; leaves when stdin closes.
 */
import * as net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { FrameReader, HOP_METHOD, lengthPrefixed } from "./frames.js";
import { frameSide } from "./side.js";

const identity = (b: Buffer): Buffer => b;

async function serveGrpc(): Promise<void> {
  const server = new grpc.Server();
  server.addService(
    {
      handle: {
        path: HOP_METHOD,
        requestStream: true,
        responseStream: true,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      handle: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        const onFrame = frameSide((f) => call.write(Buffer.from(f.buffer, f.byteOffset, f.length)));
        call.on("data", (b: Buffer) => onFrame(b));
        call.on("end", () => call.end());
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  process.stdout.write(`${JSON.stringify({ msg: "hop listening", port })}\n`);
}

function serveUds(path: string): void {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const onFrame = frameSide((f) => socket.write(lengthPrefixed(f)));
    const reader = new FrameReader(onFrame);
    socket.on("data", (c: Buffer) => reader.push(c));
    socket.on("error", () => socket.destroy());
  });
  server.listen(path, () =>
    process.stdout.write(`${JSON.stringify({ msg: "hop listening", path })}\n`),
  );
}

const [mode, path] = process.argv.slice(2);
if (mode === "grpc") await serveGrpc();
else if (mode === "uds" && path !== undefined) serveUds(path);
else {
  process.stderr.write("usage: hop-child grpc | uds <path>\n");
  process.exit(2);
}
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
