import { createServer as createHttpServer } from "node:http";
import type { Server as HttpServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import type { Server as NetServer, Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { TLSSocket } from "node:tls";
import { createCatalogViews } from "./catalog-view.js";
import { createGrpcIngress } from "./grpc.js";
import type { GrpcIngress } from "./grpc.js";
import { createHttpHandler } from "./http.js";
import { resolveOptions } from "./options.js";
import type { Ingress, IngressOptions } from "./options.js";

/** What every HTTP/2 connection starts with (RFC 9113 §3.4). */
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/** A client that sends nothing this long is dropped before it holds a socket forever. */
const SNIFF_TIMEOUT_MS = 10_000;

/**
 * Creates the client-facing ingress: gRPC (HTTP/2), gRPC-Web, Connect and
 * HTTP/JSON (HTTP/1.1) on one port. Each connection's first bytes decide:
 * the HTTP/2 preface goes to grpc-js, anything else to node:http. See
 * docs/decisions/0001-ingress-one-port.md for why and what it costs.
 *
 * @example
 * ```ts
 * const ingress = createIngress({ catalog: () => current, dispatcher, logger });
 * const port = await ingress.listen(9000, "0.0.0.0");
 * ```
 */
export function createIngress(options: IngressOptions): Ingress {
  const resolved = resolveOptions(options);
  const views = createCatalogViews(resolved.catalog, resolved.logger);
  const grpc = createGrpcIngress(resolved, views);
  const http = createHttpServer({ keepAliveTimeout: 65_000 }, createHttpHandler(resolved, views));
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  const net =
    resolved.tls === undefined
      ? createNetServer((socket) => {
          track(socket);
          sniff(socket, grpc, http);
        })
      : createTlsIngress(resolved.tls, grpc, http, track);
  return {
    listen: (port, host) => listen(net, port, host),
    close: () => close(net, http, grpc, sockets),
  };
}

function listen(net: NetServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    net.once("error", reject);
    net.listen(port, host, () => {
      net.off("error", reject);
      const address = net.address();
      resolve(typeof address === "object" && address !== null ? address.port : port);
    });
  });
}

/** Reads until the bytes are, or cannot be, the HTTP/2 preface; then hands the socket over with those bytes put back. */
function sniff(socket: Socket, grpc: GrpcIngress, http: HttpServer): void {
  let seen: Buffer = Buffer.alloc(0);
  socket.setTimeout(SNIFF_TIMEOUT_MS, () => socket.destroy());
  const onData = (chunk: Buffer): void => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const isPrefix = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (isPrefix && n < PREFACE.length) return; // undecided: wait for more bytes
    socket.off("data", onData);
    socket.off("error", onError);
    socket.setTimeout(0);
    socket.pause();
    socket.unshift(seen);
    if (isPrefix) {
      grpc.injector.injectConnection(socket);
    } else {
      // node:http switches the socket to native parsing, but first drains
      // what is buffered in JS (our unshifted bytes) through the parser; the
      // drain runs on the next tick, before any new read can land, so the
      // order of bytes is kept.
      http.emit("connection", socket);
      socket.resume();
    }
  };
  const onError = (): void => {
    socket.destroy();
  };
  socket.on("data", onData);
  socket.on("error", onError);
}

/**
 * With TLS the protocol is chosen during the handshake, so no sniffing.
 * Browsers and curl offer both h2 and http/1.1 and must get HTTP/1.1 (our
 * gRPC-Web, Connect and JSON live there; grpc-js would refuse them), while
 * gRPC clients offer only h2. So: http/1.1 whenever offered, else h2.
 */
function createTlsIngress(
  tls: { key: string | Buffer; cert: string | Buffer },
  grpc: GrpcIngress,
  http: HttpServer,
  track: (socket: Socket) => void,
): NetServer {
  const server = createTlsServer({
    key: tls.key,
    cert: tls.cert,
    ALPNCallback: ({ protocols }) =>
      protocols.includes("http/1.1") ? "http/1.1" : protocols.includes("h2") ? "h2" : undefined,
  });
  server.on("secureConnection", (socket: TLSSocket) => {
    track(socket);
    if (socket.alpnProtocol === "h2") grpc.injector.injectConnection(socket);
    else http.emit("connection", socket);
  });
  // A failed handshake (a cleartext client, a bad certificate) only concerns that client.
  server.on("tlsClientError", () => {});
  return server;
}

async function close(
  net: NetServer,
  http: HttpServer,
  grpc: GrpcIngress,
  sockets: Set<Socket>,
): Promise<void> {
  const stopped = new Promise<void>((resolve) => net.close(() => resolve()));
  http.closeIdleConnections();
  await grpc.close();
  // Whatever is still open (a slow HTTP/1.1 call, an unsniffed socket) is cut.
  for (const socket of sockets) socket.destroy();
  await stopped;
}
