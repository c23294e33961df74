/**
 * Baseline servers, run as a child process (`echo-server.js grpc|http`) so
 * they do not share the load generator's event loop, exactly as the runtime
 * does not. They do the least a real service must: receive, decode (JSON for
 * HTTP), answer. Their throughput is what the transport alone costs here.
 *
 * Prints one JSON line `{"msg":"echo listening","kind":...,"port":...}` and
 * stops on SIGTERM or when its parent goes away (stdin closes).
 */
import * as http from "node:http";
import * as grpc from "@grpc/grpc-js";

const identity = (b: Buffer): Buffer => b;

function announce(kind: string, port: number): void {
  process.stdout.write(`${JSON.stringify({ msg: "echo listening", kind, port })}\n`);
}

async function startGrpc(): Promise<() => void> {
  const server = new grpc.Server();
  server.addService(
    {
      echo: {
        path: "/bench.Echo/Echo",
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, call.request),
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  announce("grpc", port);
  return () => server.forceShutdown();
}

async function startHttp(): Promise<() => void> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      // Parse and re-serialise, as a JSON API does with every body.
      let out: string;
      try {
        out = JSON.stringify(JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"));
      } catch {
        res.writeHead(400).end();
        return;
      }
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(out),
      });
      res.end(out);
    });
  });
  server.keepAliveTimeout = 60_000;
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
  );
  announce("http", port);
  return () => {
    server.closeAllConnections();
    server.close();
  };
}

const kind = process.argv[2];
if (kind !== "grpc" && kind !== "http") {
  process.stderr.write("usage: echo-server grpc|http\n");
  process.exit(2);
}
const stop = kind === "grpc" ? await startGrpc() : await startHttp();
const shutdown = (): void => {
  stop();
  process.exit(0);
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
// An orphaned echo server would hold a port and a core; leave with the parent.
process.stdin.on("end", shutdown);
process.stdin.resume();
