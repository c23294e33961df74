import { createServer as createNetServer } from "node:net";
import type { Server as NetServer, Socket } from "node:net";
import { createSecureContext, TLSSocket } from "node:tls";
import type { SecureContext } from "node:tls";
import { createCatalogViews } from "./catalog-view.js";
import { createConnectionTable } from "./connections.js";
import type { ConnectionTable } from "./connections.js";
import { createGrpcIngress } from "./grpc.js";
import { createHttp1Server } from "./http-server.js";
import { createHttpHandler } from "./http.js";
import { resolveOptions } from "./options.js";
import type { Ingress, IngressOptions, ResolvedOptions } from "./options.js";

/** What every HTTP/2 connection starts with (RFC 9113 §3.4). */
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/** An HTTP/2 frame header: 3-byte length, type, flags, 4-byte stream id. */
const FRAME_HEADER = 9;
const SETTINGS_FRAME = 0x4;
/** A first SETTINGS frame larger than this is left for nghttp2 to judge. */
const MAX_SETTINGS_WAIT = 16_384;

/** Where a decided connection goes. */
interface Handoff {
  http1(socket: Socket): void;
  http2(socket: Socket): void;
}

/**
 * Creates the client-facing ingress: gRPC (HTTP/2), gRPC-Web, Connect and
 * HTTP/JSON (HTTP/1.1) on one port. Each connection's first bytes decide:
 * the HTTP/2 preface goes to grpc-js, anything else to node:http. See
 * docs/decisions/0001-ingress-one-port.md for why and what it costs, and
 * for the timeouts and the connection limit every connection is under.
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
  const table = createConnectionTable(resolved);
  const http = createHttp1Server(resolved, table, createHttpHandler(resolved, views));
  const handoff: Handoff = {
    http1: (socket) => {
      table.http1(socket);
      http.emit("connection", socket);
    },
    http2: (socket) => {
      table.http2(socket);
      grpc.injector.injectConnection(socket);
    },
  };
  const context = resolved.tls === undefined ? undefined : createSecureContext(resolved.tls);
  const net = createNetServer((socket) => {
    if (!table.admit(socket)) return;
    if (context === undefined) sniff(socket, resolved, handoff);
    else handshake(socket, context, resolved, table, handoff);
  });
  return {
    listen: (port, host) => listen(net, port, host),
    close: async () => {
      const stopped = new Promise<void>((resolve) => net.close(() => resolve()));
      http.closeIdleConnections();
      await grpc.close();
      // Whatever is still open (a slow HTTP/1.1 call, an unsniffed socket) is cut.
      table.destroyAll();
      http.close();
      await stopped;
    },
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

/**
 * Reads until the bytes are, or cannot be, the HTTP/2 preface; then hands
 * the socket over with those bytes put back. An HTTP/2 client must also
 * send its first SETTINGS frame (RFC 9113 §3.4) before the hand-over, so
 * that a client stalling in its preface is bounded by `headersTimeoutMs`
 * like one stalling in its HTTP/1.1 headers.
 */
function sniff(socket: Socket, options: ResolvedOptions, handoff: Handoff): void {
  let seen: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => {
    options.metrics.timedOut("headers");
    socket.destroy();
  }, options.headersTimeoutMs);
  const onData = (chunk: Buffer): void => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const decision = decide(seen);
    if (decision === "wait") return;
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("error", onError);
    socket.pause();
    socket.unshift(seen);
    if (decision === "http2") {
      handoff.http2(socket);
    } else {
      // node:http switches the socket to native parsing, but first drains
      // what is buffered in JS (our unshifted bytes) through the parser; the
      // drain runs on the next tick, before any new read can land, so the
      // order of bytes is kept.
      handoff.http1(socket);
      socket.resume();
    }
  };
  const onError = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  socket.on("data", onData);
  socket.on("error", onError);
  socket.once("close", () => clearTimeout(timer));
}

/** What the first bytes of a connection say. */
function decide(seen: Buffer): "wait" | "http1" | "http2" {
  const n = Math.min(seen.length, PREFACE.length);
  if (!seen.subarray(0, n).equals(PREFACE.subarray(0, n))) return "http1";
  if (seen.length < PREFACE.length + FRAME_HEADER) return "wait";
  const length = seen.readUIntBE(PREFACE.length, 3);
  const type = seen[PREFACE.length + 3];
  // Not SETTINGS, or an odd size: nghttp2 answers the protocol error itself.
  if (type !== SETTINGS_FRAME || length > MAX_SETTINGS_WAIT) return "http2";
  return seen.length < PREFACE.length + FRAME_HEADER + length ? "wait" : "http2";
}

/**
 * With TLS the protocol is chosen during the handshake, so no sniffing.
 * Browsers and curl offer both h2 and http/1.1 and must get HTTP/1.1 (our
 * gRPC-Web, Connect and JSON live there; grpc-js would refuse them), while
 * gRPC clients offer only h2. So: http/1.1 whenever offered, else h2. The
 * handshake must end within `headersTimeoutMs`.
 */
function handshake(
  socket: Socket,
  secureContext: SecureContext,
  options: ResolvedOptions,
  table: ConnectionTable,
  handoff: Handoff,
): void {
  const tls = new TLSSocket(socket, {
    isServer: true,
    secureContext,
    ALPNCallback: ({ protocols }) =>
      protocols.includes("http/1.1") ? "http/1.1" : protocols.includes("h2") ? "h2" : undefined,
  });
  table.rekey(socket, tls);
  const timer = setTimeout(() => {
    options.metrics.timedOut("headers");
    tls.destroy();
  }, options.headersTimeoutMs);
  // A failed handshake (a cleartext client, a bad certificate) only concerns that client.
  const onError = (): void => {
    clearTimeout(timer);
    tls.destroy();
  };
  tls.on("error", onError);
  tls.once("close", () => clearTimeout(timer));
  tls.once("secure", () => {
    clearTimeout(timer);
    // onError stays: destroying on error is right after the hand-over too.
    // What tls.Server does on 'secure' before 'secureConnection': without
    // it node's http2 session waits for a 'secureConnect' that never comes.
    (tls as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
    if (tls.alpnProtocol === "h2") handoff.http2(tls);
    else handoff.http1(tls);
  });
}
