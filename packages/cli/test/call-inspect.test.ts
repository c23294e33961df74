import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CART, startFakeRuntime } from "./fake-runtime.js";
import type { FakeRuntime } from "./fake-runtime.js";
import { runCli } from "./run-cli.js";

let fake: FakeRuntime;
beforeAll(async () => {
  fake = await startFakeRuntime();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.received.length = 0;
});

/** A port that was free a moment ago: nothing listens there. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const at = () => ["--address", fake.url, "--admin", fake.url];

describe("cairn call", () => {
  it("posts JSON to /<package.Service>/<Method> with headers and prints the reply pretty", async () => {
    const result = await runCli([
      "call",
      "shop.v1.ShoppingCart/GetCart",
      '{"cartId":"c1"}',
      "-H",
      "x-tenant: acme",
      ...at(),
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('{\n  "cartId": "c1",\n  "items": []\n}\n');
    expect(fake.received).toHaveLength(1);
    const [request] = fake.received;
    expect(request).toMatchObject({
      method: "POST",
      url: "/shop.v1.ShoppingCart/GetCart",
      body: '{"cartId":"c1"}',
    });
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(request?.headers["x-tenant"]).toBe("acme");
  });

  it("resolves a short service name through the admin API", async () => {
    const result = await runCli(["call", "ShoppingCart/GetCart", '{"cartId":"c2"}', ...at()]);
    expect(result.code).toBe(0);
    expect(fake.received.map((r) => r.url)).toEqual([
      "/v1/services",
      "/shop.v1.ShoppingCart/GetCart",
    ]);
  });

  it("reads the request from stdin with '-'", async () => {
    const result = await runCli(["call", "shop.v1.ShoppingCart/GetCart", "-", ...at()], {
      stdin: '{"cartId":"c3"}',
    });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ cartId: "c3", items: [] });
  });

  it("prints the status and message of a failed call to stderr and exits 1", async () => {
    const result = await runCli([
      "call",
      "shop.v1.ShoppingCart/AddItem",
      '{"quantity":0}',
      ...at(),
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain(
      "shop.v1.ShoppingCart/AddItem failed: 400 INVALID_ARGUMENT: quantity must be positive",
    );
  });

  it("lists the known services when a short name is ambiguous or unknown", async () => {
    const ambiguous = await runCli(["call", "Inventory/Get", "{}", ...at()]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain(
      'service "Inventory" is ambiguous: it matches shop.v1.Inventory, legacy.Inventory',
    );
    const unknown = await runCli(["call", "Basket/Get", "{}", ...at()]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      'unknown service "Basket"; the runtime serves: shop.v1.ShoppingCart, shop.v1.Inventory, legacy.Inventory',
    );
    const method = await runCli(["call", "ShoppingCart/Checkout", "{}", ...at()]);
    expect(method.stderr).toContain(
      'shop.v1.ShoppingCart has no method "Checkout"; its methods are: AddItem, GetCart',
    );
  });

  it("refuses malformed JSON and targets before sending anything", async () => {
    const json = await runCli(["call", "shop.v1.ShoppingCart/GetCart", "{cartId: c1}", ...at()]);
    expect(json.code).toBe(2);
    expect(json.stderr).toContain("is not valid JSON");
    const target = await runCli(["call", "GetCart", ...at()]);
    expect(target.code).toBe(2);
    expect(target.stderr).toContain('invalid target "GetCart": expected Service/Method');
    expect(fake.received).toHaveLength(0);
  });

  it("says how to fix an unreachable runtime", async () => {
    const address = `http://127.0.0.1:${await closedPort()}`;
    const result = await runCli([
      "call",
      "shop.v1.ShoppingCart/GetCart",
      "{}",
      "--address",
      address,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `cairn: cannot reach the runtime at ${address} (connect ECONNREFUSED): is 'cairn dev' or 'cairn runtime' running? Use --address to point elsewhere.\n`,
    );
  });
});

describe("cairn inspect", () => {
  it("prints the snapshot and events as a table, clipping long payloads", async () => {
    const result = await runCli(["inspect", "shop.v1.ShoppingCart", "c1", "--admin", fake.url]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("shop.v1.ShoppingCart c1 (type cart, sequence 3, active)");
    expect(result.stdout).toContain("snapshot at sequence 1:");
    expect(result.stdout).toContain('"apple": 1');
    expect(result.stdout).toContain("events (2):");
    expect(result.stdout).toMatch(/SEQ\s+OFFSET\s+TIME\s+TYPE\s+PAYLOAD/);
    expect(result.stdout).toMatch(
      /2\s+40\s+2026-01-01T00:00:00.000Z\s+shop.v1.ItemAdded\s+\{"productId":"pear","quantity":2\}/,
    );
    expect(result.stdout).toContain("…");
    expect(result.stdout).toContain("--json prints them whole");
  });

  it("prints the raw JSON with --json and passes --limit", async () => {
    const result = await runCli([
      "inspect",
      "shop.v1.ShoppingCart",
      "c1",
      "--json",
      "--limit",
      "5",
      "--admin",
      fake.url,
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(CART);
    expect(fake.received[0]?.url).toBe("/v1/entities/shop.v1.ShoppingCart/c1?limit=5");
  });

  it("reports an unknown entity with the admin API's message and exits 1", async () => {
    const result = await runCli(["inspect", "shop.v1.ShoppingCart", "nope", "--admin", fake.url]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "cannot inspect shop.v1.ShoppingCart nope: 404 NOT_FOUND: no entity nope of shop.v1.ShoppingCart",
    );
  });

  it("rejects a bad --limit with exit code 2", async () => {
    const result = await runCli([
      "inspect",
      "shop.v1.ShoppingCart",
      "c1",
      "--limit",
      "many",
      "--admin",
      fake.url,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'invalid option --limit: expected a positive integer, got "many"',
    );
  });
});
