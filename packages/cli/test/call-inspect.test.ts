import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

describe("cairn call and cairn inspect find the runtime like the runtime finds its ports", () => {
  const port = () => new URL(fake.url).port;
  const clean = { CAIRN_PORT: "", CAIRN_ADMIN_PORT: "", CAIRN_HOST: "", CAIRN_CONFIG: "" };

  it("from CAIRN_PORT and CAIRN_ADMIN_PORT", async () => {
    const env = { ...clean, CAIRN_PORT: port(), CAIRN_ADMIN_PORT: port() };
    const call = await runCli(["call", "ShoppingCart/GetCart", '{"cartId":"e1"}'], { env });
    expect(call.stderr).toBe("");
    expect(JSON.parse(call.stdout)).toEqual({ cartId: "e1", items: [] });
    const inspect = await runCli(["inspect", "shop.v1.ShoppingCart", "c1", "--json"], { env });
    expect(JSON.parse(inspect.stdout)).toEqual(CART);
  });

  it("from the --config file (or CAIRN_CONFIG), with flags first", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-call-"));
    try {
      const config = join(dir, "cairn.json");
      writeFileSync(config, JSON.stringify({ port: Number(port()), adminPort: Number(port()) }));
      const viaFlag = await runCli(["call", "ShoppingCart/GetCart", "{}", "--config", config], {
        env: clean,
      });
      expect(viaFlag.code).toBe(0);
      const viaEnv = await runCli(["inspect", "shop.v1.ShoppingCart", "c1"], {
        env: { ...clean, CAIRN_CONFIG: config },
      });
      expect(viaEnv.stdout).toContain("shop.v1.ShoppingCart c1");
      // A flag beats the environment, which beats the file.
      const closed = String(await closedPort());
      const flagFirst = await runCli(
        ["call", "shop.v1.ShoppingCart/GetCart", "{}", "--port", port()],
        { env: { ...clean, CAIRN_PORT: closed } },
      );
      expect(flagFirst.code).toBe(0);
      const envFirst = await runCli(["call", "shop.v1.ShoppingCart/GetCart", "{}"], {
        env: { ...clean, CAIRN_PORT: closed, CAIRN_CONFIG: config },
      });
      expect(envFirst.code).toBe(1);
      expect(envFirst.stderr).toContain(
        `cannot reach the runtime (port from CAIRN_PORT) at http://127.0.0.1:${closed}`,
      );
      expect(envFirst.stderr).toContain("Use --port (or --address) to point elsewhere.");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a port that is not one, naming where it came from", async () => {
    const env = await runCli(["call", "shop.v1.ShoppingCart/GetCart"], {
      env: { ...clean, CAIRN_PORT: "abc" },
    });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain(
      'invalid environment variable CAIRN_PORT: expected an integer from 1 to 65535 (the port the runtime printed when it started), got "abc"',
    );
    const flag = await runCli(["inspect", "ShoppingCart", "c1", "--admin-port", "0"], {
      env: clean,
    });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("invalid option --admin-port");
    expect(fake.received).toHaveLength(0);
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

  it("sends CAIRN_ADMIN_TOKEN to the admin API, and only there", async () => {
    const result = await runCli(["inspect", "shop.v1.ShoppingCart", "c1", "--admin", fake.url], {
      env: { CAIRN_ADMIN_TOKEN: "s3cret" },
    });
    expect(result.code).toBe(0);
    expect(fake.received[0]?.headers.authorization).toBe("Bearer s3cret");
    fake.received.length = 0;
    const call = await runCli(["call", "ShoppingCart/GetCart", '{"cartId":"c1"}', ...at()], {
      env: { CAIRN_ADMIN_TOKEN: "s3cret" },
    });
    expect(call.code).toBe(0);
    const [services, ingress] = fake.received;
    expect(services?.url).toBe("/v1/services");
    expect(services?.headers.authorization).toBe("Bearer s3cret");
    expect(ingress?.headers.authorization).toBeUndefined();
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
