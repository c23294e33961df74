/**
 * Thin clients for the load generator: HTTP/1.1 over one keep-alive agent,
 * and gRPC over grpc-js with pre-encoded request bytes.
 *
 * The gRPC client sends raw protobuf bytes it encoded itself (the sample's
 * messages are four fields) instead of going through generated code: the
 * bench then measures the server, not the client's serialisation, and needs
 * no import from the sample's sources outside this project.
 */
import * as http from "node:http";
import * as grpc from "@grpc/grpc-js";

/** An HTTP answer: status and body text. */
export interface HttpAnswer {
  status: number;
  body: string;
}

/** HTTP/1.1 requests to one host over a keep-alive pool of `sockets` connections. */
export interface HttpClient {
  request(
    method: string,
    path: string,
    body?: string,
    timeoutMs?: number,
    extraHeaders?: Readonly<Record<string, string>>,
  ): Promise<HttpAnswer>;
  close(): void;
}

/** Creates an {@link HttpClient}; one connection per request in flight, reused. */
export function createHttpClient(host: string, port: number, sockets: number): HttpClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  return {
    request(method, path, body, timeoutMs = 10_000, extraHeaders) {
      return new Promise<HttpAnswer>((resolve, reject) => {
        const headers: http.OutgoingHttpHeaders = { accept: "application/json", ...extraHeaders };
        if (body !== undefined) {
          headers["content-type"] = "application/json";
          headers["content-length"] = Buffer.byteLength(body);
        }
        const req = http.request({ host, port, method, path, agent, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", reject);
        });
        req.setTimeout(timeoutMs, () =>
          req.destroy(Object.assign(new Error("request timed out"), { code: "timeout" })),
        );
        req.on("error", reject);
        req.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/** gRPC unary calls with raw bytes over `channels` separate HTTP/2 connections. */
export interface GrpcClient {
  /** Resolves with the response bytes, rejects with the grpc-js `ServiceError`. */
  unary(path: string, request: Buffer, timeoutMs?: number, channel?: number): Promise<Buffer>;
  close(): void;
}

const identity = (b: Buffer): Buffer => b;

/** Creates a {@link GrpcClient}; requests pick a channel by the caller's index. */
export function createGrpcClient(target: string, channels = 1): GrpcClient {
  // A local subchannel pool per client gives each one its own TCP connection;
  // with the default global pool, clients to one address share a connection.
  const clients = Array.from(
    { length: Math.max(1, channels) },
    () =>
      new grpc.Client(target, grpc.credentials.createInsecure(), {
        "grpc.use_local_subchannel_pool": 1,
      }),
  );
  return {
    unary(path, request, timeoutMs = 10_000, channel = 0) {
      const client = clients[channel % clients.length]!;
      return new Promise<Buffer>((resolve, reject) => {
        client.makeUnaryRequest(
          path,
          identity,
          identity,
          request,
          { deadline: Date.now() + timeoutMs },
          (err, res) => (err ? reject(err) : resolve(res ?? Buffer.alloc(0))),
        );
      });
    },
    close() {
      for (const c of clients) c.close();
    },
  };
}

/** The error kind of a failed gRPC call: `grpc UNAVAILABLE` and so on. */
export function grpcErrorKind(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "number") return `grpc ${grpc.status[code] ?? code}`;
  return err instanceof Error ? err.message.slice(0, 40) : String(err);
}

// --- protobuf wire encoding of the request messages (sample and bench function) ---

function varint(n: number, out: number[]): void {
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

function stringField(field: number, s: string, out: number[]): void {
  if (s === "") return;
  const bytes = Buffer.from(s, "utf8");
  varint((field << 3) | 2, out);
  varint(bytes.length, out);
  for (const b of bytes) out.push(b);
}

/** `shoppingcart.v1.AddLineItem` {cart_id=1, product_id=2, name=3, quantity=4}. */
export function encodeAddLineItem(
  cartId: string,
  productId: string,
  name: string,
  quantity: number,
): Buffer {
  const out: number[] = [];
  stringField(1, cartId, out);
  stringField(2, productId, out);
  stringField(3, name, out);
  if (quantity !== 0) {
    varint((4 << 3) | 0, out);
    varint(quantity, out);
  }
  return Buffer.from(out);
}

/** `shoppingcart.v1.GetShoppingCart` {cart_id=1}. */
export function encodeGetShoppingCart(cartId: string): Buffer {
  const out: number[] = [];
  stringField(1, cartId, out);
  return Buffer.from(out);
}

/** `cairnbench.v1.EchoMessage` {text=1, n=2}: the bench function's echo action. */
export function encodeEchoMessage(text: string, n: number): Buffer {
  const out: number[] = [];
  stringField(1, text, out);
  if (n !== 0) {
    varint((2 << 3) | 0, out);
    varint(n, out);
  }
  return Buffer.from(out);
}
