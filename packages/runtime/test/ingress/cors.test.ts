/**
 * CORS: which browser pages may call the ingress. None by default; allowed
 * origins are configuration, and a page of any other origin is refused
 * before anything runs (a "simple" POST needs no preflight).
 */
import { afterEach, describe, expect, it } from "vitest";
import { parseCorsOrigins } from "../../src/ingress/index.js";
import type { IngressOptions } from "../../src/ingress/index.js";
import { startIngress } from "./harness.js";
import type { Running } from "./harness.js";

let running: Running | undefined;
afterEach(async () => {
  await running?.ingress.close();
  running = undefined;
});

async function start(options: Partial<IngressOptions> = {}): Promise<Running> {
  running = await startIngress(options);
  return running;
}

const preflight = (url: string, origin: string): Promise<Response> =>
  fetch(url, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type, authorization",
    },
  });

describe("CORS", () => {
  it("by default refuses every page's requests and preflights with 403, and serves clients that send no Origin", async () => {
    const r = await start();
    const read = await fetch(`${r.url}/carts/c1`, { headers: { origin: "https://evil.example" } });
    expect(read.status).toBe(403);
    expect(read.headers.get("access-control-allow-origin")).toBeNull();
    const body = (await read.json()) as { status: string; message: string };
    expect(body.status).toBe("PERMISSION_DENIED");
    expect(body.message).toContain("'https://evil.example' are not allowed");
    expect(body.message).toContain("--cors-origins");
    // A form-style POST needs no preflight: it must not run either.
    const post = await fetch(`${r.url}/carts/c1/checkout`, {
      method: "POST",
      headers: { origin: "https://evil.example", "content-type": "text/plain" },
      body: "{}",
    });
    expect(post.status).toBe(403);
    expect((await preflight(`${r.url}/carts/c1/items`, "https://evil.example")).status).toBe(403);
    expect(r.dispatcher.calls).toHaveLength(0);
    expect((await fetch(`${r.url}/carts/c1`)).status).toBe(200);
  });

  it("lets listed origins call, with their preflight answered, and no one else", async () => {
    const r = await start({ corsOrigins: "https://app.example.com, http://localhost:*" });
    const ok = await fetch(`${r.url}/carts/c1`, { headers: { origin: "https://app.example.com" } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(ok.headers.get("vary")).toContain("Origin");
    expect(ok.headers.get("access-control-expose-headers")).toContain("grpc-status");
    const pre = await preflight(`${r.url}/carts/c1/items`, "http://localhost:5173");
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
    expect(pre.headers.get("access-control-allow-headers")).toBe("content-type, authorization");
    for (const origin of [
      "https://app.example.com.evil.example",
      "http://app.example.com",
      "https://localhost:5173",
      "http://localhost.evil.example:5173",
      "null",
    ]) {
      const res = await fetch(`${r.url}/carts/c1`, { headers: { origin } });
      expect(res.status, origin).toBe(403);
    }
  });

  it("lets any origin call with '*'", async () => {
    const r = await start({ corsOrigins: "*" });
    const res = await fetch(`${r.url}/carts/c1`, { headers: { origin: "https://anyone.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://anyone.example");
  });

  it("answers a refused gRPC-Web call in gRPC-Web's own shape", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/shoppingcart.v1.ShoppingCart/GetCart`, {
      method: "POST",
      headers: { origin: "https://evil.example", "content-type": "application/grpc-web+proto" },
      body: new Uint8Array([0, 0, 0, 0, 0]),
    });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).toString("latin1")).toContain("grpc-status:7");
  });

  it("refuses an origin list it cannot read, naming the entry", () => {
    expect(parseCorsOrigins("").error).toBeUndefined();
    expect(parseCorsOrigins("http://localhost:*,https://a.example:8443").error).toBeUndefined();
    expect(parseCorsOrigins("app.example.com").error?.message).toContain(
      "invalid CORS origin 'app.example.com'",
    );
    expect(parseCorsOrigins("https://a.example/path").error).toBeDefined();
  });
});
