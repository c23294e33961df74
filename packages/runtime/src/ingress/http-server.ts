/**
 * The node:http server of the HTTP/1.1 side, with its timeouts armed.
 *
 * The ingress hands it sockets (`emit("connection")`) and it never listens
 * itself. Node arms `headersTimeout` and `requestTimeout` only from
 * `listen()` (the 'listening' event starts the periodic connection check),
 * so a server fed sockets this way enforced neither: a header trickle was
 * held for minutes. We emit 'listening' ourselves to start that check; the
 * ingress tests prove with real slow clients that it took effect.
 *
 * Node's `requestTimeout` stays off: it bounds the whole request, which
 * would cut every long request stream. Unary bodies get `requestTimeoutMs`
 * in `readBody`, request streams `idleTimeoutMs` in their reader, and a
 * body left unread by an early answer is not waited for: the connection
 * closes once the answer is out.
 */
import { createServer, STATUS_CODES } from "node:http";
import type { IncomingMessage, RequestListener, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { Code, codeName } from "@cairn/protocol";
import type { ConnectionTable } from "./connections.js";
import type { ResolvedOptions } from "./options.js";

/** Node's default limit of the request line plus headers (`--max-http-header-size`). */
const MAX_HEADER_BYTES = 16 * 1024;
/** A client that does not read our parting error is cut after this long. */
const PARTING_MS = 1_000;

/** Creates the HTTP/1.1 server; `handler` serves each request. */
export function createHttp1Server(
  options: ResolvedOptions,
  table: ConnectionTable,
  handler: RequestListener,
): Server {
  const server = createServer(
    {
      keepAliveTimeout: options.idleTimeoutMs,
      headersTimeout: options.headersTimeoutMs,
      requestTimeout: 0,
      // Node checks the header deadline this often (30 s by default, which
      // would let a trickle run 30 s past it).
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, options.headersTimeoutMs / 4)),
      maxHeaderSize: MAX_HEADER_BYTES,
    },
    (req: IncomingMessage, res: ServerResponse) => {
      const socket = req.socket;
      table.busy(socket, 1);
      res.once("close", () => table.busy(socket, -1));
      res.once("finish", () => {
        if (req.complete) return;
        // Answered before its body was read (an error, a 404): node would
        // read and drop the rest to keep the connection, and a client
        // trickling a body that never ends would hold it forever. Close it.
        socket.end();
        setTimeout(() => socket.destroy(), PARTING_MS).unref();
      });
      handler(req, res);
    },
  );
  server.emit("listening");
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) =>
    answerClientError(err, socket, options),
  );
  return server;
}

/**
 * A request node:http could not parse, or whose headers came too late:
 * a JSON error in the ingress's usual shape, then the connection closes.
 */
function answerClientError(
  err: NodeJS.ErrnoException,
  socket: Duplex,
  options: ResolvedOptions,
): void {
  const inReply = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === "ECONNRESET" || !socket.writable || inReply?.headersSent === true) {
    socket.destroy();
    return;
  }
  const [status, code, message] = describeClientError(err, options);
  const body = JSON.stringify({ code, status: codeName(code), message });
  const head =
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    "connection: close\r\n\r\n";
  socket.end(head + body);
  setTimeout(() => socket.destroy(), PARTING_MS).unref();
}

function describeClientError(
  err: NodeJS.ErrnoException,
  options: ResolvedOptions,
): [status: number, code: Code, message: string] {
  if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    options.metrics.timedOut("headers");
    return [
      408,
      Code.DeadlineExceeded,
      `request headers not complete within ${options.headersTimeoutMs} ms (headersTimeoutMs); send the request line and headers at once`,
    ];
  }
  if (err.code === "HPE_HEADER_OVERFLOW")
    return [
      431,
      Code.InvalidArgument,
      `request line and headers larger than ${MAX_HEADER_BYTES} bytes; send fewer or smaller headers`,
    ];
  const reason = (err as { reason?: unknown }).reason;
  return [
    400,
    Code.InvalidArgument,
    `malformed HTTP/1.1 request (${err.code ?? "parse error"}${typeof reason === "string" ? `: ${reason}` : ""})`,
  ];
}
