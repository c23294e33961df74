/**
 * Ingress limits on every protocol against real processes (issue 7,
 * findings 7 and 8): the entity-id length limit, the message size limit at
 * exactly the limit and one byte over on gRPC, gRPC-Web and Connect, the
 * gRPC compressed flag, and messages that name the thing, the value and the
 * limit.
 */
import { connect as connectHttp2 } from "node:http2";
import { request as httpRequest } from "node:http";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AddLineItemSchema,
  GetShoppingCartSchema,
} from "../src/gen/shoppingcart/v1/shopping_cart_pb.js";
import { http, startSqliteSystem } from "./harness.js";
import type { SqliteSystem } from "./harness.js";
import { runCli } from "../../../packages/cli/test/run-cli.js";

const LIMIT = 300;
const ID_LIMIT = 64;
const SERVICE = "shoppingcart.v1.ShoppingCart";

let sys: SqliteSystem | undefined;
let port: number;
let url: string;
let adminPort: number;

beforeAll(async () => {
  sys = await startSqliteSystem([
    "--max-request-bytes",
    String(LIMIT),
    "--max-entity-id-bytes",
    String(ID_LIMIT),
  ]);
  ({ port, url, adminPort } = sys);
});

afterAll(() => sys?.stop());

/** An AddLineItem of exactly `size` bytes on the wire (the name pads it). */
function addItemOfSize(cartId: string, size: number): Uint8Array {
  const base = { cartId, productId: "p", quantity: 1 };
  const empty = toBinary(
    AddLineItemSchema,
    create(AddLineItemSchema, { ...base, name: "" }),
  ).length;
  // Field 3's tag and a 1- or 2-byte length come on top of the name (absent when empty).
  for (let n = Math.max(0, size - empty - 3); n <= size - empty; n++) {
    const bytes = toBinary(
      AddLineItemSchema,
      create(AddLineItemSchema, { ...base, name: "x".repeat(n) }),
    );
    if (bytes.length === size) return bytes;
  }
  throw new Error(`no AddLineItem of exactly ${size} bytes`);
}

/** gRPC over HTTP/2: status, message and the raw request bytes as given. */
function grpcCall(
  method: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: string; message: string }> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": `/${SERVICE}/${method}`,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    let status = "";
    let message = "";
    const take = (h: Record<string, string | string[] | number | undefined>): void => {
      const s = h["grpc-status"];
      const m = h["grpc-message"];
      if (typeof s === "string") status = s;
      if (typeof m === "string") message = decodeURIComponent(m);
    };
    stream.on("response", take);
    stream.on("trailers", take);
    stream.on("data", () => {});
    stream.on("error", reject);
    stream.on("close", () => {
      session.close();
      resolve({ status, message });
    });
    stream.end(body);
  });
}

function frame(payload: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** gRPC-Web (binary or text): the grpc-status and grpc-message of the trailer frame. */
async function grpcWebCall(
  method: string,
  message: Uint8Array,
  text = false,
): Promise<{ status: string; message: string }> {
  const body = text ? frame(message).toString("base64") : frame(message);
  const res = await fetch(`${url}/${SERVICE}/${method}`, {
    method: "POST",
    headers: { "content-type": text ? "application/grpc-web-text" : "application/grpc-web+proto" },
    body,
  });
  let bytes = Buffer.from(await res.arrayBuffer());
  if (text) bytes = Buffer.from(bytes.toString("latin1"), "base64");
  let at = 0;
  while (at + 5 <= bytes.length) {
    const length = bytes.readUInt32BE(at + 1);
    if ((bytes[at] as number) & 0x80) {
      const lines = bytes.subarray(at + 5, at + 5 + length).toString("latin1");
      const field = (name: string): string =>
        decodeURIComponent(new RegExp(`${name}:\\s*(.*)\\r\\n`).exec(lines)?.[1] ?? "");
      return { status: field("grpc-status"), message: field("grpc-message") };
    }
    at += 5 + length;
  }
  return { status: res.headers.get("grpc-status") ?? "", message: "" };
}

/** Connect unary with a binary body. */
async function connectCall(
  method: string,
  message: Uint8Array,
): Promise<{ status: number; code: string; message: string }> {
  const res = await fetch(`${url}/${SERVICE}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
    body: message,
  });
  const text = Buffer.from(await res.arrayBuffer()).toString("utf8");
  if (res.ok) return { status: res.status, code: "", message: "" };
  const json = JSON.parse(text) as { code: string; message: string };
  return { status: res.status, code: json.code, message: json.message };
}

describe("the entity id limit (--max-entity-id-bytes)", () => {
  const atLimit = "i".repeat(ID_LIMIT);
  const over = "é".repeat(ID_LIMIT / 2) + "i"; // 65 bytes in UTF-8, 33 characters
  const limitText = `is ${ID_LIMIT + 1} bytes, the limit is ${ID_LIMIT} bytes (maxEntityIdBytes)`;

  it("refuses a longer id with INVALID_ARGUMENT naming its length and the limit, on HTTP/JSON", async () => {
    expect((await http("GET", `${url}/carts/${atLimit}`)).status).toBe(200);
    const long = await http("GET", `${url}/carts/${encodeURIComponent(over)}`);
    expect(long.status).toBe(400);
    expect(long.body).toMatchObject({ status: "INVALID_ARGUMENT" });
    expect((long.body as { message: string }).message).toContain(limitText);
    const posted = await http("POST", `${url}/${SERVICE}/AddItem`, {
      cartId: over,
      productId: "p",
      quantity: 1,
    });
    expect(posted.status).toBe(400);
    expect((posted.body as { message: string }).message).toContain(limitText);
  });

  it("refuses it on gRPC, gRPC-Web and Connect too", async () => {
    const get = (cartId: string) =>
      toBinary(GetShoppingCartSchema, create(GetShoppingCartSchema, { cartId }));
    const grpc = await grpcCall("GetCart", frame(get(over)));
    expect(grpc.status).toBe("3");
    expect(grpc.message).toContain(limitText);
    expect((await grpcCall("GetCart", frame(get(atLimit)))).status).toBe("0");
    const web = await grpcWebCall("GetCart", get(over));
    expect(web).toMatchObject({ status: "3" });
    expect(web.message).toContain(limitText);
    const connect = await connectCall("GetCart", get(over));
    expect(connect).toMatchObject({ status: 400, code: "invalid_argument" });
    expect(connect.message).toContain(limitText);
  });
});

describe("the message size limit (--max-request-bytes)", () => {
  const atLimit = addItemOfSize("size", LIMIT);
  const over = addItemOfSize("size", LIMIT + 1);
  const overText = `${LIMIT + 1} bytes, the limit is ${LIMIT} bytes (maxRequestBytes)`;

  it("passes a message of exactly the limit on gRPC, gRPC-Web (binary and text) and Connect", async () => {
    expect(await grpcCall("AddItem", frame(atLimit))).toMatchObject({ status: "0" });
    expect(await grpcWebCall("AddItem", atLimit)).toMatchObject({ status: "0" });
    expect(await grpcWebCall("AddItem", atLimit, true)).toMatchObject({ status: "0" });
    expect(await connectCall("AddItem", atLimit)).toMatchObject({ status: 200 });
  });

  it("refuses one byte more on each, naming the size and the limit", async () => {
    expect((await grpcCall("AddItem", frame(over))).status).toBe("8");
    const web = await grpcWebCall("AddItem", over);
    expect(web.status).toBe("8");
    expect(web.message).toBe(`gRPC-Web request message too large: ${overText}`);
    const text = await grpcWebCall("AddItem", over, true);
    expect(text.status).toBe("8");
    expect(text.message).toBe(`gRPC-Web request message too large: ${overText}`);
    const connect = await connectCall("AddItem", over);
    expect(connect).toMatchObject({ status: 413, code: "resource_exhausted" });
    expect(connect.message).toBe(`request body too large: ${overText}`);
  });

  it("names the size that arrived when a chunked body runs over (finding 8)", async () => {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port, method: "POST", path: "/carts/chunked/items" },
        (res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.setHeader("content-type", "application/json");
      req.on("error", reject);
      // No content-length: chunked, so the size is only known as it arrives.
      req.write(`{"productId":"p","name":"${"x".repeat(LIMIT)}`);
      req.end(`","quantity":1}`);
    });
    expect(answer.status).toBe(413);
    const message = (JSON.parse(answer.body) as { message: string }).message;
    expect(message).toMatch(
      new RegExp(
        `^request body too large: at least \\d+ bytes, the limit is ${LIMIT} bytes \\(maxRequestBytes\\)$`,
      ),
    );
  });
});

describe("gRPC framing", () => {
  const get = toBinary(GetShoppingCartSchema, create(GetShoppingCartSchema, { cartId: "frames" }));

  it("answers a compressed message without grpc-encoding with INTERNAL, an unknown encoding with UNIMPLEMENTED", async () => {
    const bare = await grpcCall("GetCart", frame(get, 1));
    expect(bare.status).toBe("13");
    expect(bare.message).toContain("compressed flag set but the request has no grpc-encoding");
    const brotli = await grpcCall("GetCart", frame(get, 1), { "grpc-encoding": "br" });
    expect(brotli.status).toBe("12");
    expect(brotli.message).toContain("grpc-encoding 'br' is not supported");
    expect((await grpcCall("GetCart", frame(get))).status).toBe("0");
  });

  it("answers a gzip message that does not decompress, and a malformed grpc-timeout, naming them", async () => {
    const broken = await grpcCall("GetCart", frame(get, 1), { "grpc-encoding": "gzip" });
    expect(broken).toMatchObject({ status: "13" });
    expect(broken.message).toBe(
      "request message could not be decompressed with grpc-encoding 'gzip': it is not valid gzip data",
    );
    const timeout = await grpcCall("GetCart", frame(get), { "grpc-timeout": "soon" });
    expect(timeout).toMatchObject({ status: "3" });
    expect(timeout.message).toBe(
      "invalid grpc-timeout header 'soon': expected 1-8 digits and a unit H, M, S, m, u or n",
    );
  });

  it("says a unary call takes one message when it carries none or two (finding 8)", async () => {
    const none = await grpcCall("GetCart", Buffer.alloc(0));
    expect(none).toMatchObject({ status: "3" });
    expect(none.message).toBe(
      `unary method ${SERVICE}/GetCart takes exactly one request message; the client ended the stream without any`,
    );
    const two = await grpcCall("GetCart", Buffer.concat([frame(get), frame(get)]));
    expect(two).toMatchObject({ status: "3" });
    expect(two.message).toBe(
      `unary method ${SERVICE}/GetCart takes exactly one request message; the client sent a second one`,
    );
  });
});

describe("client-chosen text as the CLI prints it", () => {
  it("cairn inspect and cairn call show an id's control characters escaped; the store keeps it byte-exact", async () => {
    const id = "esc\u001b[2J\u009b";
    const path = `${url}/carts/${encodeURIComponent(id)}`;
    const added = await http("POST", `${path}/items`, {
      productId: "p\u0007",
      name: "n",
      quantity: 1,
    });
    expect(added.status).toBe(200);
    const cart = await http("GET", path);
    expect(cart.body).toMatchObject({ items: [{ productId: "p\u0007", name: "n", quantity: 1 }] });
    const admin = ["--admin-port", String(adminPort)];
    for (const args of [
      ["inspect", SERVICE, id, ...admin],
      ["inspect", SERVICE, id, "--json", ...admin],
      [
        "call",
        `${SERVICE}/GetCart`,
        JSON.stringify({ cartId: id }),
        "--port",
        String(port),
        ...admin,
      ],
    ]) {
      const out = await runCli(args);
      expect(out.code, out.stderr).toBe(0);
      for (const raw of ["\u001b", "\u0007", "\u009b"]) expect(out.stdout).not.toContain(raw);
    }
    const shown = await runCli(["inspect", SERVICE, id, ...admin]);
    expect(shown.stdout).toContain(`${SERVICE} esc\\u001b[2J\\u009b`);
  });
});
