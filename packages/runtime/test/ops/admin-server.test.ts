import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { CairnError, Code } from "@cairn/protocol";
import { createAdminServer, createMetrics } from "../../src/ops/index.js";
import type {
  AdminApi,
  AdminServer,
  EntityInspection,
  ReadinessReport,
} from "../../src/ops/index.js";

const CART: EntityInspection = {
  kind: "event_sourced_entity",
  service: "shop.v1.ShoppingCart",
  entityId: "c 1",
  entityType: "cart",
  sequence: 2,
  snapshot: { sequence: 1, state: { items: { apple: 1 } } },
  events: [
    {
      sequence: 2,
      offset: 41,
      timestamp: "2026-01-01T00:00:00.000Z",
      type: "shop.v1.ItemAdded",
      payload: { productId: "pear", quantity: 2 },
    },
  ],
  active: true,
};

/** A NOT_FOUND CairnError, typed as Error for lint's sake. */
function notFoundError(message: string): Error {
  // ESLint's default project for tests cannot resolve @cairn/protocol's
  // package exports (its resolution is not NodeNext); tsc and vitest can.

  return new CairnError(Code.NotFound, message);
}

/** A test double of the runtime's side; records the last inspect call. */
function testApi(): AdminApi & { calls: unknown[] } {
  const calls: unknown[] = [];
  return {
    calls,
    services: () => [
      {
        name: "shop.v1.ShoppingCart",
        kind: "event_sourced_entity",
        entityType: "cart",
        methods: [
          {
            name: "AddItem",
            inputType: "shop.v1.AddItemRequest",
            outputType: "google.protobuf.Empty",
            http: "POST /carts/{cart_id}/items",
          },
        ],
      },
    ],
    inspectEntity(service, entityId, options) {
      calls.push({ service, entityId, options });
      if (service === "boom.Service") return Promise.reject(new Error("disk on fire"));
      if (entityId !== "c 1")
        return Promise.reject(notFoundError(`entity ${entityId} of ${service} has no events`));
      return Promise.resolve(CART);
    },
  };
}

let server: AdminServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(
  readiness: () => ReadinessReport,
  api: AdminApi = testApi(),
  token?: string,
): Promise<string> {
  const metrics = createMetrics();
  metrics.functionConnected(true);
  server = createAdminServer({
    readiness,
    metrics,
    admin: api,
    ...(token === undefined ? {} : { token }),
  });
  const port = await server.listen(0, "127.0.0.1");
  return `http://127.0.0.1:${port}`;
}

describe("admin server", () => {
  it("answers /healthz with 200 while alive, whatever the readiness", async () => {
    const base = await start(() => ({ ready: false }));
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("answers /readyz with 200 when ready and 503 with the details when not", async () => {
    let report: ReadinessReport = {
      ready: false,
      store: "open",
      function: "connecting to 127.0.0.1:8080 (attempt 4): connect ECONNREFUSED",
    };
    const base = await start(() => report);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual(report);
    report = { ready: true, store: "open", function: "connected" };
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual(report);
  });

  it("serves Prometheus text on /metrics", async () => {
    const base = await start(() => ({ ready: true }));
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0.0.4/);
    expect(await res.text()).toContain("cairn_function_connected 1");
  });

  it("answers an unknown path or method with a JSON 404 naming the endpoints", async () => {
    const base = await start(() => ({ ready: true }));
    const res = await fetch(`${base}/nope`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("NOT_FOUND");
    expect(body.message).toContain("/v1/services");
    expect((await fetch(`${base}/healthz`, { method: "POST" })).status).toBe(404);
  });

  it("lists services on /v1/services", async () => {
    const base = await start(() => ({ ready: true }));
    const res = await fetch(`${base}/v1/services`);
    expect(res.status).toBe(200);
    const services = (await res.json()) as Array<{
      name: string;
      methods: Array<{ http?: string }>;
    }>;
    expect(services[0]?.name).toBe("shop.v1.ShoppingCart");
    expect(services[0]?.methods[0]?.http).toBe("POST /carts/{cart_id}/items");
  });

  it("inspects an entity, decoding the path and passing ?limit", async () => {
    const api = testApi();
    const base = await start(() => ({ ready: true }), api);
    const res = await fetch(`${base}/v1/entities/shop.v1.ShoppingCart/c%201?limit=5`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(CART);
    expect(api.calls).toEqual([
      { service: "shop.v1.ShoppingCart", entityId: "c 1", options: { limit: 5 } },
    ]);
  });

  it("maps CairnError codes to HTTP statuses with a JSON error body", async () => {
    const base = await start(() => ({ ready: true }));
    const missing = await fetch(`${base}/v1/entities/shop.v1.ShoppingCart/zz`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      code: "NOT_FOUND",
      status: 404,
      message: "entity zz of shop.v1.ShoppingCart has no events",
    });

    const badLimit = await fetch(`${base}/v1/entities/shop.v1.ShoppingCart/c%201?limit=abc`);
    expect(badLimit.status).toBe(400);
    expect(((await badLimit.json()) as { code: string }).code).toBe("INVALID_ARGUMENT");

    const broken = await fetch(`${base}/v1/entities/boom.Service/x`);
    expect(broken.status).toBe(500);
    expect(await broken.json()).toEqual({ code: "INTERNAL", status: 500, message: "disk on fire" });
  });
});

/** A GET with headers fetch would not let us set (Host). */
function get(
  base: string,
  path: string,
  headers: Record<string, string>,
): Promise<{
  status: number;
  body: { code?: string; message?: string };
  headers: Record<string, unknown>;
}> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path, headers, method: "GET" },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: text.startsWith("{") ? (JSON.parse(text) as { code?: string }) : {},
            headers: res.headers,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("who may use the admin port", () => {
  it("refuses a Host that is a domain name (DNS rebinding) on the admin API and /metrics, not on the probes", async () => {
    const base = await start(() => ({ ready: true }));
    for (const path of ["/v1/services", "/v1/entities/shop.v1.ShoppingCart/c%201", "/metrics"]) {
      const rebound = await get(base, path, { host: "evil.example:9090" });
      expect(rebound.status, path).toBe(403);
      expect(rebound.body.code).toBe("PERMISSION_DENIED");
      expect(rebound.body.message).toContain("DNS rebinding");
    }
    for (const host of [
      "127.0.0.1:9090",
      "localhost:9090",
      "[::1]:9090",
      "10.1.2.3",
      "app.localhost",
    ])
      expect((await get(base, "/v1/services", { host })).status, host).toBe(200);
    expect((await get(base, "/healthz", { host: "evil.example" })).status).toBe(200);
    expect((await get(base, "/readyz", { host: "evil.example" })).status).toBe(200);
  });

  it("refuses requests from a web page's script", async () => {
    const base = await start(() => ({ ready: true }));
    const res = await get(base, "/v1/services", { origin: "https://evil.example" });
    expect(res.status).toBe(403);
    expect(res.body.message).toContain("does not serve web pages");
  });

  it("with a token, the admin API needs it from anyone, and it lets /metrics through under any Host", async () => {
    const base = await start(() => ({ ready: true }), testApi(), "s3cret");
    const none = await get(base, "/v1/services", {});
    expect(none.status).toBe(401);
    expect(none.body.code).toBe("UNAUTHENTICATED");
    expect(none.headers["www-authenticate"]).toContain("Bearer");
    expect((await get(base, "/v1/services", { authorization: "Bearer wrong" })).status).toBe(401);
    expect((await get(base, "/v1/services", { authorization: "Bearer s3cret" })).status).toBe(200);
    expect(
      (await get(base, "/metrics", { host: "cairn.internal", authorization: "Bearer s3cret" }))
        .status,
    ).toBe(200);
    expect((await get(base, "/metrics", { host: "cairn.internal" })).status).toBe(403);
    expect((await get(base, "/healthz", {})).status).toBe(200);
  });
});
