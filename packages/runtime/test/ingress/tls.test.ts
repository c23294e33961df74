import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startIngress } from "./harness.js";
import type { Running } from "./harness.js";

let dir = "";
let key = "";
let cert = "";
let running: Running | undefined;
let client: grpc.Client | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-ingress-tls-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
  key = readFileSync(join(dir, "key.pem"), "utf8");
  cert = readFileSync(join(dir, "cert.pem"), "utf8");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  client?.close();
  client = undefined;
  await running?.ingress.close();
  running = undefined;
});

describe("TLS on the one port", () => {
  it("serves gRPC over h2 and HTTP/JSON over http/1.1, chosen by ALPN", async () => {
    running = await startIngress({ tls: { key, cert } });
    const c = (client = new grpc.Client(
      `127.0.0.1:${running.port}`,
      grpc.credentials.createSsl(Buffer.from(cert)),
    ));
    const id = (b: Buffer): Buffer => b;
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      c.makeUnaryRequest("/shoppingcart.v1.ShoppingCart/GetCart", id, id, Buffer.alloc(0), (e) =>
        resolve(e),
      ),
    );
    expect(err).toBeNull();

    const port = running.port;
    const { status, body, alpn } = await new Promise<{
      status: number;
      body: string;
      alpn: string | false;
    }>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port, path: "/carts/c1", ca: cert, ALPNProtocols: ["h2", "http/1.1"] },
        (res) => {
          let text = "";
          const alpn = (res.socket as TLSSocket).alpnProtocol;
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              body: text,
              alpn,
            }),
          );
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(alpn).toBe("http/1.1");
    expect(status).toBe(200);
    expect(JSON.parse(body)).toEqual({ items: [], checkedOut: false });
    expect(running.dispatcher.calls).toHaveLength(2);
  });

  it("closes a connection that does not finish the TLS handshake within headersTimeoutMs", async () => {
    running = await startIngress({ tls: { key, cert }, headersTimeoutMs: 300 });
    const socket = connect(running.port, "127.0.0.1");
    socket.on("error", () => {});
    const t0 = Date.now();
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write("\x16\x03\x01"); // the start of a ClientHello, then nothing
    await new Promise<void>((resolve) => socket.once("close", () => resolve()));
    expect(Date.now() - t0).toBeLessThan(2_300);
  });
});
