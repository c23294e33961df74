/**
 * The fuzzer's clients, as low as it takes to send what well-behaved
 * clients never would: HTTP/1.1 with any body (whole, chunked, or in pieces
 * with pauses), gRPC over HTTP/2 with hand-made frames, and raw sockets.
 * Each answer is bounded by a deadline; going past it is a hang.
 */
import { request as httpRequest } from "node:http";
import { connect as connectHttp2, constants as h2 } from "node:http2";
import type { ClientHttp2Session } from "node:http2";
import { connect as connectTcp } from "node:net";

/** What came back; `hang` when nothing did within the deadline. */
export type Answer =
  | { kind: "http"; status: number; headers: Record<string, string>; body: Buffer }
  | { kind: "grpc"; status: number | undefined; message: string; httpStatus: number }
  | { kind: "closed"; afterMs: number; bytes: Buffer }
  | { kind: "reset"; error: string }
  | { kind: "hang" };

/** An HTTP/1.1 request: the body whole, or `pieces` sent one after another with `pauseMs` between. */
export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
  readonly pieces?: readonly Buffer[];
  readonly pauseMs?: number;
  /** Read the reply for at most this long, then close (SSE streams). */
  readonly readForMs?: number;
}

/** Sends one HTTP/1.1 request on a new connection. */
export function http1(port: number, req: HttpRequest, deadlineMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (a: Answer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(a);
      r.destroy();
    };
    const timer = setTimeout(() => finish({ kind: "hang" }), deadlineMs);
    const r = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: req.method,
        path: req.path,
        headers: req.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const answer = (): Answer => ({
          kind: "http",
          status: res.statusCode ?? 0,
          headers: flatHeaders(res.headers),
          body: Buffer.concat(chunks),
        });
        if (req.readForMs !== undefined) setTimeout(() => finish(answer()), req.readForMs);
        res.on("data", (c: Buffer) => {
          // Keep the head of a long stream only.
          if (size < 1 << 20) chunks.push(c);
          size += c.length;
        });
        res.on("end", () => finish(answer()));
        res.on("error", () => finish(answer()));
      },
    );
    r.on("error", (err) =>
      finish({ kind: "reset", error: (err as NodeJS.ErrnoException).code ?? err.message }),
    );
    if (req.pieces === undefined) {
      r.end(req.body);
      return;
    }
    const pieces = [...req.pieces];
    const next = (): void => {
      if (done) return;
      const piece = pieces.shift();
      if (piece === undefined) return void r.end();
      r.write(piece);
      setTimeout(next, req.pauseMs ?? 0);
    };
    next();
  });
}

function flatHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h))
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

/** A gRPC call over HTTP/2 with the given frames (sent with `pauseMs` between them). */
export interface GrpcRequest {
  readonly path: string;
  readonly frames: readonly Buffer[];
  readonly headers?: Record<string, string>;
  readonly pauseMs?: number;
  /** Leave the request stream open (no END_STREAM) after the frames. */
  readonly keepOpen?: boolean;
}

/** Sends one gRPC call on its own HTTP/2 connection. */
export function grpc(port: number, req: GrpcRequest, deadlineMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    let done = false;
    let httpStatus = 0;
    let status: number | undefined;
    let message = "";
    const session = connectHttp2(`http://127.0.0.1:${port}`);
    const finish = (a: Answer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(a);
      session.destroy();
    };
    const timer = setTimeout(() => finish({ kind: "hang" }), deadlineMs);
    session.on("error", (err) =>
      finish({ kind: "reset", error: (err as NodeJS.ErrnoException).code ?? err.message }),
    );
    const stream = session.request({
      ":method": "POST",
      ":path": req.path,
      "content-type": "application/grpc",
      te: "trailers",
      ...req.headers,
    });
    const take = (h: Record<string, string | string[] | number | undefined>): void => {
      if (typeof h[":status"] === "number") httpStatus = h[":status"];
      const s = h["grpc-status"];
      const m = h["grpc-message"];
      if (typeof s === "string") status = Number(s);
      if (typeof m === "string") message = safeDecode(m);
    };
    stream.on("response", take);
    stream.on("trailers", take);
    stream.on("data", () => {});
    stream.on("error", (err) =>
      finish({ kind: "reset", error: (err as NodeJS.ErrnoException).code ?? err.message }),
    );
    stream.on("close", () => finish({ kind: "grpc", status, message, httpStatus }));
    const frames = [...req.frames];
    const next = (): void => {
      if (done) return;
      const f = frames.shift();
      if (f === undefined) {
        if (req.keepOpen !== true) stream.end();
        return;
      }
      stream.write(f);
      setTimeout(next, req.pauseMs ?? 0);
    };
    next();
  });
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * HTTP/2 rapid reset (CVE-2023-44487): opens `streams` calls and cancels
 * each at once. The server may answer with GOAWAY; it must not fall over.
 * Resolves when the session is closed or `deadlineMs` passed.
 */
export function rapidReset(
  port: number,
  path: string,
  streams: number,
  deadlineMs: number,
): Promise<Answer> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let done = false;
    const finish = (a: Answer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      resolve(a);
    };
    const timer = setTimeout(
      () => finish({ kind: "closed", afterMs: Date.now() - t0, bytes: Buffer.alloc(0) }),
      deadlineMs,
    );
    const session: ClientHttp2Session = connectHttp2(`http://127.0.0.1:${port}`);
    session.on("error", () =>
      finish({ kind: "closed", afterMs: Date.now() - t0, bytes: Buffer.alloc(0) }),
    );
    session.on("goaway", () =>
      finish({ kind: "closed", afterMs: Date.now() - t0, bytes: Buffer.alloc(0) }),
    );
    session.on("connect", () => {
      for (let i = 0; i < streams && !done && !session.destroyed; i++) {
        try {
          const s = session.request({
            ":method": "POST",
            ":path": path,
            "content-type": "application/grpc",
            te: "trailers",
          });
          s.on("error", () => {});
          s.close(h2.NGHTTP2_CANCEL);
        } catch {
          break;
        }
      }
      setTimeout(
        () => finish({ kind: "closed", afterMs: Date.now() - t0, bytes: Buffer.alloc(0) }),
        200,
      );
    });
  });
}

/**
 * Raw bytes on a TCP connection, in pieces with pauses (a slow client),
 * then waits for the server to close; `hang` when it holds on past the deadline.
 */
export function raw(
  port: number,
  pieces: readonly Buffer[],
  pauseMs: number,
  deadlineMs: number,
): Promise<Answer> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const got: Buffer[] = [];
    let done = false;
    const socket = connectTcp(port, "127.0.0.1");
    const finish = (a: Answer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => finish({ kind: "hang" }), deadlineMs);
    socket.on("data", (d: Buffer) => got.push(d));
    socket.on("error", () => {});
    socket.on("close", () =>
      finish({ kind: "closed", afterMs: Date.now() - t0, bytes: Buffer.concat(got) }),
    );
    const rest = [...pieces];
    const next = (): void => {
      if (done || socket.destroyed) return;
      const p = rest.shift();
      if (p === undefined) return;
      socket.write(p);
      setTimeout(next, pauseMs);
    };
    socket.on("connect", next);
  });
}
