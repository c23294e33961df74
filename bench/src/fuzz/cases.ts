/**
 * What the fuzzer sends: one function per kind of abuse, each drawing its
 * inputs from the case's own generator and returning how the runtime
 * answered. Two runtimes are under test: one serving the shopping-cart
 * sample (event-sourced entities, unary methods, HTTP routes), one the
 * user-session sample (value entities, timers, and the streaming actions).
 */
import { frame, intField, lenField, message, mutate } from "./proto.js";
import { oddId } from "./rng.js";
import type { Rng } from "./rng.js";
import { grpc, http1, rapidReset, raw } from "./wire.js";
import type { Answer } from "./wire.js";

/** The runtimes under test and their limits, as the fuzzer started them. */
export interface Targets {
  readonly cart: number;
  readonly session: number;
  readonly maxRequestBytes: number;
  readonly maxEntityIdBytes: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/** One case's result: its answer, whether it streamed, and what the runtime was expected to say. */
export interface CaseResult {
  readonly answer: Answer;
  readonly streaming: boolean;
  /** The case sent a compressed gRPC(-Web) message without grpc-encoding: INTERNAL is the spec's answer. */
  readonly internalExpected?: boolean;
  /** A slow or idle connection: its end by the server's timeout is the expected outcome. */
  readonly slow?: boolean;
  /** What exactly was sent, for the problem report. */
  readonly detail?: string;
}

/** An id as a URL path segment: percent-encoded UTF-8 (a lone surrogate becomes U+FFFD, as a browser sends it). */
function segment(id: string): string {
  return [...Buffer.from(id, "utf8")]
    .map((b) =>
      /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).padStart(2, "0").toUpperCase()}`,
    )
    .join("");
}

/** A kind of abuse. */
export type Case = (rng: Rng, t: Targets) => Promise<CaseResult>;

const CART = "shoppingcart.v1.ShoppingCart";
const SESSION = "usersession.v1.UserSession";
const FANOUT = "usersession.v1.SessionFanout";
/** A normal answer arrives well within this; later is a hang. */
export const ANSWER_MS = 15_000;

const unary = (answer: Answer): CaseResult => ({ answer, streaming: false });
const streamed = (answer: Answer): CaseResult => ({ answer, streaming: true });

// ---- messages -------------------------------------------------------------

function cartMessage(rng: Rng, t: Targets): { method: string; bytes: Buffer } {
  const id = oddId(rng, t.maxEntityIdBytes);
  const method = rng.pick(["AddItem", "RemoveItem", "GetCart", "Checkout"]);
  const fields = [lenField(1, id)];
  if (method === "AddItem" || method === "RemoveItem")
    fields.push(lenField(2, `p${rng.int(0, 9)}`));
  if (method === "AddItem")
    fields.push(lenField(3, "thing"), intField(4, rng.pick([1, 2, 0, 0x7fffffff, 0xffffffff])));
  return { method, bytes: message(...fields) };
}

function jsonText(rng: Rng, value: unknown): string {
  const text = JSON.stringify(value);
  return rng.weighted([
    [5, () => text],
    [1, () => text.slice(0, rng.int(0, text.length - 1))],
    [1, () => text.replace(/"/g, rng.pick(["'", "", '"\\u0000']))],
    [1, () => "[".repeat(rng.int(10, 5000))],
    [1, () => `{"cartId": ${"1".repeat(400)}e999999, "quantity": -1e400}`],
    [1, () => rng.bytes(rng.int(1, 200)).toString("latin1")],
    [1, () => `{"sessionId": {"nested": [1, 2, {"x": null}]}, "quantity": "NaN"}`],
  ] as const)();
}

function envelope(payload: Buffer, rng: Rng): Buffer {
  const flags = rng.chance(0.05) ? 0x01 : 0;
  const lie = rng.chance(0.05) ? payload.length + rng.int(1, 1 << 20) : payload.length;
  return frame(payload, flags, lie);
}

// ---- cases ----------------------------------------------------------------

/** HTTP/JSON: routes and method paths with broken, odd and over-deep JSON. */
const jsonUnary: Case = async (rng, t) => {
  const id = segment(oddId(rng, t.maxEntityIdBytes));
  const [port, method, path, body] = rng.pick([
    [
      t.cart,
      "POST",
      `/carts/${id}/items`,
      { productId: "p1", name: "n", quantity: rng.int(-2, 5) },
    ],
    [t.cart, "GET", `/carts/${id}?cartId=other`, undefined],
    [t.cart, "DELETE", `/carts/${id}/items/p1`, undefined],
    [
      t.cart,
      "POST",
      `/${CART}/AddItem`,
      { cartId: oddId(rng, t.maxEntityIdBytes), productId: "p", quantity: 1 },
    ],
    [t.session, "POST", `/sessions/${id}/login`, { userId: "u", ttlSeconds: rng.int(-5, 100) }],
    [
      t.session,
      "POST",
      `/sessions:touchAll`,
      { sessionIds: [oddId(rng, t.maxEntityIdBytes), "f-1"] },
    ],
    [t.session, "POST", `/${SESSION}/Get`, { sessionId: oddId(rng, t.maxEntityIdBytes) }],
  ] as const);
  const text = body === undefined ? undefined : Buffer.from(jsonText(rng, body), "latin1");
  return unary(
    await http1(
      port,
      {
        method,
        path,
        headers: { "content-type": "application/json" },
        ...(text === undefined ? {} : { body: text }),
      },
      ANSWER_MS,
    ),
  );
};

/** Connect unary with binary protobuf, intact or damaged. */
const connectProto: Case = async (rng, t) => {
  const m = cartMessage(rng, t);
  const headers: Record<string, string> = {
    "content-type": "application/proto",
    "connect-protocol-version": "1",
  };
  if (rng.chance(0.1)) headers["connect-timeout-ms"] = String(rng.int(0, 50));
  return unary(
    await http1(
      t.cart,
      { method: "POST", path: `/${CART}/${m.method}`, headers, body: mutate(rng, m.bytes) },
      ANSWER_MS,
    ),
  );
};

/** gRPC-Web, binary and text: lying lengths, compressed flags, extra frames; unary and server-streaming. */
const grpcWeb: Case = async (rng, t) => {
  const text = rng.chance(0.3);
  const watch = rng.chance(0.3);
  const m = watch
    ? { method: "WatchSessions", bytes: message(lenField(1, "f-1")) }
    : cartMessage(rng, t);
  const compressed = rng.chance(0.1);
  const encoding = compressed && rng.chance(0.5) ? rng.pick(["gzip", "br", "identity"]) : undefined;
  const payload = mutate(rng, m.bytes);
  let body = frame(
    payload,
    compressed ? 1 : 0,
    rng.chance(0.1) ? payload.length + rng.int(-3, 100) : payload.length,
  );
  if (rng.chance(0.1)) body = Buffer.concat([body, frame(payload)]);
  const headers: Record<string, string> = {
    "content-type": text ? "application/grpc-web-text" : "application/grpc-web+proto",
  };
  if (encoding !== undefined) headers["grpc-encoding"] = encoding;
  const port = watch ? t.session : t.cart;
  const path = watch ? `/${FANOUT}/WatchSessions` : `/${CART}/${m.method}`;
  const answer = await http1(
    port,
    {
      method: "POST",
      path,
      headers,
      body: text ? Buffer.from(body.toString("base64")) : body,
      ...(watch ? { readForMs: 300 } : {}),
    },
    ANSWER_MS,
  );
  return {
    answer,
    streaming: watch,
    internalExpected: compressed && (encoding === undefined || encoding === "identity"),
  };
};

/** gRPC unary over HTTP/2: 0, 1 or 2 frames, damaged payloads, lying lengths, compression flags. */
const grpcUnary: Case = async (rng, t) => {
  const m = cartMessage(rng, t);
  const count = rng.weighted([
    [1, 0],
    [8, 1],
    [1, 2],
  ] as const);
  const compressed = rng.chance(0.1);
  const encoding = compressed && rng.chance(0.5) ? rng.pick(["gzip", "br", "snappy"]) : undefined;
  const frames = Array.from({ length: count }, () => {
    const p = mutate(rng, m.bytes);
    return frame(p, compressed ? 1 : 0, rng.chance(0.05) ? p.length + rng.int(1, 64) : p.length);
  });
  const headers: Record<string, string> = {};
  if (encoding !== undefined) headers["grpc-encoding"] = encoding;
  if (rng.chance(0.1)) headers["grpc-timeout"] = rng.pick(["1n", "1m", "5m", "99999999H", "bogus"]);
  const answer = await grpc(t.cart, { path: `/${CART}/${m.method}`, frames, headers }, ANSWER_MS);
  // INTERNAL is the spec's answer to a compressed message without an encoding, or one that does not decompress.
  return { answer, streaming: false, internalExpected: compressed };
};

/** gRPC streaming methods: a bad message in the middle of a client or bidi stream, or a server stream cut short. */
const grpcStream: Case = async (rng, t) => {
  const method = rng.pick(["TouchStream", "TouchEach", "WatchSessions"]);
  const n = method === "WatchSessions" ? 1 : rng.int(1, 8);
  const frames = Array.from({ length: n }, (_, i) => {
    const good = message(lenField(1, `f-${rng.int(0, 20)}`));
    const bad = i === Math.floor(n / 2) && rng.chance(0.5);
    return frame(bad ? mutate(rng, good) : good);
  });
  const answer = await grpc(
    t.session,
    {
      path: `/${FANOUT}/${method}`,
      frames,
      pauseMs: rng.int(0, 20),
      headers: { "grpc-timeout": "2S" },
    },
    ANSWER_MS,
  );
  return streamed(answer);
};

/** Connect streams (binary and JSON envelopes) with a bad message mid-stream or a lying envelope. */
const connectStream: Case = async (rng, t) => {
  const binary = rng.chance(0.5);
  const method = rng.pick(["TouchStream", "TouchEach", "WatchSessions"]);
  const n = method === "WatchSessions" ? 1 : rng.int(1, 6);
  const pieces = Array.from({ length: n }, (_, i) => {
    const id = `f-${rng.int(0, 20)}`;
    let payload = binary
      ? message(lenField(1, id))
      : Buffer.from(
          JSON.stringify({
            sessionId: id,
            ...(method === "WatchSessions" ? { sessionIds: [id] } : {}),
          }),
        );
    if (i === Math.floor(n / 2) && rng.chance(0.5))
      payload = binary
        ? mutate(rng, payload)
        : Buffer.from(jsonText(rng, { sessionId: id }), "latin1");
    return envelope(payload, rng);
  });
  const answer = await http1(
    t.session,
    {
      method: "POST",
      path: `/${FANOUT}/${method}`,
      headers: {
        "content-type": binary ? "application/connect+proto" : "application/connect+json",
        "connect-timeout-ms": "2000",
      },
      pieces,
      pauseMs: rng.int(0, 20),
      readForMs: 2500,
    },
    ANSWER_MS,
  );
  return streamed(answer);
};

/** NDJSON request streams: a malformed or over-limit line mid-stream. */
const ndjson: Case = async (rng, t) => {
  const method = rng.pick(["TouchStream", "TouchEach"]);
  const n = rng.int(1, 6);
  const pieces = Array.from({ length: n }, (_, i) => {
    const line = JSON.stringify({ sessionId: oddId(rng, t.maxEntityIdBytes) || "f-0" });
    if (i !== Math.floor(n / 2)) return Buffer.from(line + "\n");
    return rng.weighted([
      [3, () => Buffer.from(line + "\n")],
      [2, () => Buffer.from(jsonText(rng, { sessionId: "f-1" }) + "\n", "latin1")],
      [1, () => Buffer.from(`{"sessionId":"${"x".repeat(t.maxRequestBytes + 10)}"}\n`)],
      [1, () => Buffer.from("\n\n   \n")],
    ] as const)();
  });
  const answer = await http1(
    t.session,
    {
      method: "POST",
      path: `/${FANOUT}/${method}`,
      headers: { "content-type": "application/x-ndjson", "connect-timeout-ms": "2000" },
      pieces,
      pauseMs: rng.int(0, 20),
      readForMs: 2500,
    },
    ANSWER_MS,
  );
  return streamed(answer);
};

/** Server-sent events: a watch read briefly and dropped, or asked for badly. */
const sse: Case = async (rng, t) => {
  const ids = Array.from({ length: rng.int(0, 4) }, () => oddId(rng, t.maxEntityIdBytes));
  const body = Buffer.from(jsonText(rng, { sessionIds: ids }), "latin1");
  const answer = await http1(
    t.session,
    {
      method: "POST",
      path: "/sessions:watch",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body,
      readForMs: rng.int(50, 500),
    },
    ANSWER_MS,
  );
  return streamed(answer);
};

/** Bodies over the limit: declared, chunked, or one gRPC message. */
const oversize: Case = async (rng, t) => {
  const big = t.maxRequestBytes + rng.int(1, 4096);
  const kind = rng.pick(["declared", "chunked", "grpc", "lying-length"]);
  if (kind === "grpc") {
    const p = message(lenField(1, "f-big"), lenField(3, "x".repeat(big)));
    return unary(await grpc(t.cart, { path: `/${CART}/AddItem`, frames: [frame(p)] }, ANSWER_MS));
  }
  if (kind === "declared")
    return unary(
      await http1(
        t.cart,
        {
          method: "POST",
          path: "/carts/f-big/items",
          headers: { "content-type": "application/json", "content-length": String(big) },
          body: Buffer.from("{}"),
        },
        ANSWER_MS,
      ),
    );
  if (kind === "lying-length")
    return unary(
      await http1(
        t.cart,
        {
          method: "POST",
          path: `/${CART}/GetCart`,
          headers: { "content-type": "application/grpc-web+proto" },
          body: frame(message(lenField(1, "f-1")), 0, 0x7fffffff),
        },
        ANSWER_MS,
      ),
    );
  const chunk = Buffer.alloc(8192, 0x61);
  const pieces = [
    Buffer.from('{"productId":"p","name":"'),
    ...Array.from({ length: Math.ceil(big / chunk.length) }, () => chunk),
    Buffer.from('"}'),
  ];
  return unary(
    await http1(
      t.cart,
      {
        method: "POST",
        path: "/carts/f-big/items",
        headers: { "content-type": "application/json" },
        pieces,
      },
      ANSWER_MS,
    ),
  );
};

/** Slow and idle connections: header trickles, bodies that never end, idle HTTP/2, silence. */
const slow: Case = async (rng, t) => {
  const port = rng.chance(0.5) ? t.cart : t.session;
  const kind = rng.pick(["headers", "body", "h2-idle", "silent"]);
  const limit =
    kind === "body"
      ? t.headersTimeoutMs + t.requestTimeoutMs
      : kind === "h2-idle"
        ? t.idleTimeoutMs + t.headersTimeoutMs
        : t.headersTimeoutMs;
  const deadline = limit + 5_000;
  const trickle = (head: string, piece: string): Buffer[] => [
    Buffer.from(head),
    ...Array.from({ length: Math.ceil(deadline / 200) }, () => Buffer.from(piece)),
  ];
  let answer: Answer;
  if (kind === "headers")
    answer = await raw(
      port,
      trickle("GET /carts/f-1 HTTP/1.1\r\nHost: x\r\n", "X-a: b\r\n"),
      200,
      deadline,
    );
  else if (kind === "body")
    answer = await raw(
      port,
      trickle(
        "POST /carts/f-1/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        "1\r\n \r\n",
      ),
      200,
      deadline,
    );
  else if (kind === "h2-idle") {
    // The preface and an empty SETTINGS frame, then nothing.
    const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    answer = await raw(
      port,
      [Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), settings],
      0,
      deadline,
    );
  } else answer = await raw(port, [], 0, deadline);
  return { answer, streaming: false, slow: true, detail: `${kind} on port ${port}` };
};

/** HTTP/2 rapid reset: many streams opened and cancelled at once. */
const reset: Case = async (rng, t) => ({
  answer: await rapidReset(t.cart, `/${CART}/GetCart`, rng.int(50, 500), ANSWER_MS),
  streaming: false,
  slow: true,
});

/** Garbage: random bytes, or the HTTP/2 preface followed by random frames. */
const garbage: Case = async (rng, t) => {
  const port = rng.chance(0.5) ? t.cart : t.session;
  const bytes = rng.chance(0.5)
    ? rng.bytes(rng.int(1, 2000))
    : Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), rng.bytes(rng.int(1, 500))]);
  return {
    answer: await raw(port, [bytes], 0, t.headersTimeoutMs + 5_000),
    streaming: false,
    slow: true,
  };
};

/** Every case with its weight: cheap ones often, slow ones rarely (they hold a slot for seconds). */
export const CASES: ReadonlyArray<readonly [number, string, Case]> = [
  [20, "json-unary", jsonUnary],
  [10, "connect-proto", connectProto],
  [12, "grpc-web", grpcWeb],
  [14, "grpc-unary", grpcUnary],
  [10, "grpc-stream", grpcStream],
  [8, "connect-stream", connectStream],
  [8, "ndjson", ndjson],
  [5, "sse", sse],
  [4, "oversize", oversize],
  [0.4, "slow", slow],
  [0.4, "rapid-reset", reset],
  [2, "garbage", garbage],
];
