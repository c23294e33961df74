/**
 * Every timeout and the connection limit, each checked with a real slow
 * client on a real socket (reading the options proves nothing: node:http
 * fed sockets by `emit("connection")` silently ignored its own). The
 * timeouts are short here so the file runs fast; the defaults are in
 * options.ts and docs/operations.md.
 */
import { connect as connectHttp2, constants } from "node:http2";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { IngressMetrics, IngressOptions } from "../../src/ingress/index.js";
import { hangUntilAbort, startIngress } from "./harness.js";
import type { Running } from "./harness.js";
import { startStreamIngress } from "./stream-harness.js";
import type { StreamRunning } from "./stream-harness.js";

const HEADERS_MS = 300;
const REQUEST_MS = 500;
const IDLE_MS = 400;
/**
 * How late a timeout may act: the header check runs every headersTimeout/4,
 * node adds 1 s to the keep-alive timeout, and the machine is shared.
 */
const SLACK_MS = 2_000;

const open: Array<{ ingress: { close(): Promise<void> } }> = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const r of open.splice(0)) await r.ingress.close();
});

/** Counts what the ingress reports. */
function recorder(): IngressMetrics & {
  timeouts: Record<string, number>;
  shed: Record<string, number>;
  open: number;
} {
  const m = {
    timeouts: {} as Record<string, number>,
    shed: {} as Record<string, number>,
    open: 0,
    connections: (d: 1 | -1) => void (m.open += d),
    connectionShed: (o: string) => void (m.shed[o] = (m.shed[o] ?? 0) + 1),
    timedOut: (k: string) => void (m.timeouts[k] = (m.timeouts[k] ?? 0) + 1),
  };
  return m;
}

async function start(
  extra: Partial<IngressOptions> = {},
): Promise<Running & { metrics: ReturnType<typeof recorder> }> {
  const metrics = recorder();
  const r = await startIngress({
    headersTimeoutMs: HEADERS_MS,
    requestTimeoutMs: REQUEST_MS,
    idleTimeoutMs: IDLE_MS,
    metrics,
    ...extra,
  });
  open.push(r);
  return { ...r, metrics };
}

/** A raw client: what it received, and when the server closed it (ms after connecting). */
interface Raw {
  socket: Socket;
  text: () => string;
  closed: Promise<number>;
}

function raw(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    sockets.push(socket);
    let text = "";
    const t0 = Date.now();
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    socket.on("error", () => {});
    const closed = new Promise<number>((r) => socket.once("close", () => r(Date.now() - t0)));
    socket.once("connect", () => resolve({ socket, text: () => text, closed }));
    socket.once("error", reject);
  });
}

/** Writes `piece` every `everyMs` until the socket closes. */
function trickle(socket: Socket, piece: string, everyMs: number): void {
  const timer = setInterval(() => {
    if (socket.destroyed || !socket.writable) return clearInterval(timer);
    socket.write(piece);
  }, everyMs);
  socket.once("close", () => clearInterval(timer));
}

describe("HTTP/1.1 timeouts", () => {
  it("a header trickle gets 408 after headersTimeoutMs, however steady the trickle", async () => {
    const r = await start();
    const c = await raw(r.port);
    c.socket.write("GET /carts/c1 HTTP/1.1\r\nHost: x\r\n");
    trickle(c.socket, "X-Slow: 1\r\n", 50);
    const ms = await c.closed;
    expect(ms).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(ms).toBeLessThan(HEADERS_MS + SLACK_MS);
    expect(c.text()).toMatch(/^HTTP\/1\.1 408/);
    expect(c.text()).toContain("headersTimeoutMs");
    expect(r.metrics.timeouts["headers"]).toBe(1);
    expect(r.dispatcher.calls).toHaveLength(0);
  });

  it("the headers of a later request on a kept-alive connection are timed too", async () => {
    const r = await start({ idleTimeoutMs: 10_000 });
    const c = await raw(r.port);
    c.socket.write("GET /carts/c1 HTTP/1.1\r\nHost: x\r\n\r\nGET /carts/c2 HTTP/1.1\r\n");
    trickle(c.socket, "X-Slow: 1\r\n", 50);
    const ms = await c.closed;
    expect(ms).toBeLessThan(HEADERS_MS + SLACK_MS);
    expect(c.text()).toMatch(/^HTTP\/1\.1 200[\s\S]*HTTP\/1\.1 408/);
    expect(r.dispatcher.calls).toHaveLength(1);
  });

  it("a chunked body that never ends gets 408 after requestTimeoutMs and reaches nobody", async () => {
    const r = await start();
    const c = await raw(r.port);
    c.socket.write(
      "POST /carts/c1/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n",
    );
    trickle(c.socket, "1\r\n \r\n", 50);
    const ms = await c.closed;
    expect(ms).toBeGreaterThanOrEqual(REQUEST_MS - 50);
    expect(ms).toBeLessThan(REQUEST_MS + SLACK_MS);
    expect(c.text()).toMatch(/^HTTP\/1\.1 408/);
    expect(c.text()).toContain("requestTimeoutMs");
    expect(r.metrics.timeouts["request"]).toBe(1);
    expect(r.dispatcher.calls).toHaveLength(0);
  });

  it("a Content-Length body that never comes gets 408 after requestTimeoutMs", async () => {
    const r = await start();
    const c = await raw(r.port);
    c.socket.write(
      "POST /carts/c1/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    );
    const ms = await c.closed;
    expect(ms).toBeLessThan(REQUEST_MS + SLACK_MS);
    expect(c.text()).toMatch(/^HTTP\/1\.1 408/);
  });

  it("a kept-alive connection with nothing to do is closed after idleTimeoutMs", async () => {
    const r = await start();
    const c = await raw(r.port);
    c.socket.write("GET /carts/c1 HTTP/1.1\r\nHost: x\r\n\r\n");
    const ms = await c.closed;
    expect(c.text()).toMatch(/^HTTP\/1\.1 200/);
    expect(ms).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(ms).toBeLessThan(IDLE_MS + SLACK_MS);
  });

  it("a connection that never says which protocol it speaks is closed after headersTimeoutMs", async () => {
    const r = await start();
    const c = await raw(r.port);
    c.socket.write("PRI * HT");
    const ms = await c.closed;
    expect(ms).toBeLessThan(HEADERS_MS + SLACK_MS);
    expect(r.metrics.timeouts["headers"]).toBe(1);
  });

  it("a malformed request line gets a 400 naming the parse error", async () => {
    const r = await start();
    const c = await raw(r.port);
    c.socket.write("GET /carts/c1 HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
    await c.closed;
    expect(c.text()).toMatch(/^HTTP\/1\.1 400/);
    expect(c.text()).toContain("malformed HTTP/1.1 request (HPE_");
  });
});

describe("request streams and slow readers over HTTP/1.1", () => {
  async function startStreams(): Promise<StreamRunning & { metrics: ReturnType<typeof recorder> }> {
    const metrics = recorder();
    const r = await startStreamIngress({
      headersTimeoutMs: HEADERS_MS,
      requestTimeoutMs: REQUEST_MS,
      idleTimeoutMs: IDLE_MS,
      metrics,
    });
    open.push(r);
    return { ...r, metrics };
  }

  it("a request stream that goes quiet ends with DEADLINE_EXCEEDED after idleTimeoutMs, not before", async () => {
    const r = await startStreams();
    const c = await raw(r.port);
    c.socket.write(
      "POST /test.v1.Library/Collect HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    // Steady messages for longer than the idle timeout keep it alive...
    const line = '{"name":"a"}\n';
    const chunk = `${line.length.toString(16)}\r\n${line}\r\n`;
    for (let i = 0; i < 8; i++) {
      c.socket.write(chunk);
      await new Promise((res) => setTimeout(res, IDLE_MS / 4));
    }
    expect(c.socket.destroyed).toBe(false);
    // ...then silence ends it.
    const quietAt = Date.now();
    await new Promise<void>((res) => {
      const check = setInterval(() => {
        if (c.text().includes("DEADLINE_EXCEEDED") || c.socket.destroyed) {
          clearInterval(check);
          res();
        }
      }, 10);
    });
    expect(Date.now() - quietAt).toBeLessThan(IDLE_MS + SLACK_MS);
    expect(c.text()).toContain("idleTimeoutMs");
    expect(r.metrics.timeouts["idle"]).toBe(1);
  });

  it("a client that stops reading an endless stream is cut after idleTimeoutMs of no progress", async () => {
    const r = await startStreams();
    const c = await raw(r.port);
    c.socket.pause();
    const body = JSON.stringify({ name: "endless" });
    c.socket.write(
      `POST /test.v1.Library/Watch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    // The client reads nothing, so it cannot see the close: watch the server.
    await until(() => r.dispatcher.produced > 0);
    const stuck = await settledAt(() => r.dispatcher.produced);
    await until(() => r.metrics.timeouts["stall"] === 1, IDLE_MS + SLACK_MS + 2_000);
    expect(Date.now() - stuck).toBeLessThan(IDLE_MS + SLACK_MS);
    await until(() => r.dispatcher.returned === 1);
  });
});

describe("HTTP/2 timeouts", () => {
  const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

  it("a client that sends the preface but no SETTINGS is closed after headersTimeoutMs", async () => {
    const r = await start();
    const c = await raw(r.port);
    c.socket.write(PREFACE);
    const ms = await c.closed;
    expect(ms).toBeLessThan(HEADERS_MS + SLACK_MS);
    expect(r.metrics.timeouts["headers"]).toBe(1);
  });

  it("a connection without calls is closed after idleTimeoutMs", async () => {
    const r = await start();
    const session = connectHttp2(r.url);
    const t0 = Date.now();
    const closed = new Promise<number>((res) => session.once("close", () => res(Date.now() - t0)));
    session.on("error", () => {});
    const ms = await closed;
    expect(ms).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(ms).toBeLessThan(IDLE_MS + SLACK_MS);
  });

  it("a unary call whose request never ends gets DEADLINE_EXCEEDED after requestTimeoutMs", async () => {
    const r = await start({ idleTimeoutMs: 30_000 });
    const session = connectHttp2(r.url);
    session.on("error", () => {});
    const stream = session.request(
      {
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: "/shoppingcart.v1.ShoppingCart/GetCart",
        "content-type": "application/grpc",
        te: "trailers",
      },
      { endStream: false },
    );
    stream.on("error", () => {});
    const t0 = Date.now();
    // Trailers-only: the status comes in the response headers.
    const trailers = await new Promise<Record<string, unknown>>((res) => {
      stream.once("response", (h) => res(h));
      stream.once("trailers", (t) => res(t as Record<string, unknown>));
    });
    const ms = Date.now() - t0;
    session.destroy();
    expect(trailers["grpc-status"]).toBe("4");
    expect(String(trailers["grpc-message"])).toContain("requestTimeoutMs");
    expect(ms).toBeLessThan(REQUEST_MS + SLACK_MS);
    expect(r.metrics.timeouts["request"]).toBe(1);
    expect(r.dispatcher.calls).toHaveLength(0);
  });
});

describe("slow clients and everyone else", () => {
  it("a crowd of slow clients of every kind does not slow down a normal one", async () => {
    // The crowd fills the connection limit: the normal client needs an eviction too.
    const r = await start({
      headersTimeoutMs: 20_000,
      requestTimeoutMs: 20_000,
      idleTimeoutMs: 20_000,
      maxConnections: 120,
    });
    const slow: Raw[] = [];
    for (let i = 0; i < 30; i++) {
      const headers = await raw(r.port);
      headers.socket.write("GET /carts/c1 HTTP/1.1\r\nHost: x\r\n");
      trickle(headers.socket, "X-Slow: 1\r\n", 100);
      const body = await raw(r.port);
      body.socket.write(
        "POST /carts/c1/items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
      );
      trickle(body.socket, "1\r\n \r\n", 100);
      const h2 = await raw(r.port);
      h2.socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      const undecided = await raw(r.port);
      undecided.socket.write("P");
      slow.push(headers, body, h2, undecided);
    }
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = Date.now();
      const res = await fetch(`${r.url}/carts/fast${i}`);
      expect(res.status).toBe(200);
      times.push(Date.now() - t0);
    }
    times.sort((a, b) => a - b);
    // Generous for a shared machine; an ingress held up by slow clients would take seconds.
    expect(times[Math.floor(times.length * 0.9)]).toBeLessThan(500);
    // A slow connection made room for each of fetch's (kept-alive) connections.
    expect(r.metrics.shed["evicted"]).toBeGreaterThanOrEqual(1);
    expect(r.metrics.shed["evicted"]).toBeLessThanOrEqual(5);
    expect(r.metrics.shed["refused"]).toBeUndefined();
  });
});

describe("the connection limit", () => {
  it("evicts the oldest idle connection for a newcomer, so slowloris cannot lock others out", async () => {
    const r = await start({ maxConnections: 5, headersTimeoutMs: 30_000 });
    const slow: Raw[] = [];
    for (let i = 0; i < 5; i++) {
      const c = await raw(r.port);
      c.socket.write(i % 2 === 0 ? "GET /carts/c1 HTTP/1.1\r\n" : "P");
      slow.push(c);
    }
    await until(() => r.metrics.open === 5);
    const t0 = Date.now();
    const res = await fetch(`${r.url}/carts/c9`);
    expect(res.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(r.metrics.shed["evicted"]).toBeGreaterThanOrEqual(1);
    // The undecided ones go first, the oldest of them first.
    expect(await slow[1]!.closed).toBeGreaterThan(0);
  });

  it("refuses a newcomer when every connection is serving a request", async () => {
    const r = await start({ maxConnections: 3, idleTimeoutMs: 30_000 });
    r.dispatcher.answers.set("GetCart", hangUntilAbort);
    const busy: Raw[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await raw(r.port);
      c.socket.write(`GET /carts/b${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      busy.push(c);
    }
    await until(() => r.dispatcher.calls.length === 3);
    const late = await raw(r.port);
    expect(await late.closed).toBeLessThan(1_000);
    expect(r.metrics.shed["refused"]).toBe(1);
    for (const c of busy) expect(c.socket.destroyed).toBe(false);
  });
});

/** When `read()` stopped changing (unchanged for 100 ms). */
async function settledAt(read: () => number): Promise<number> {
  let last = read();
  let since = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 10));
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= 100) return since;
  }
}

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
