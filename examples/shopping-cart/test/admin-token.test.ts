/**
 * `cairn call` and `cairn inspect` against a real runtime whose admin port
 * has a token (issue 7, finding 5): they send the token from --admin-token,
 * CAIRN_ADMIN_TOKEN or the config file, and a Host the admin port accepts;
 * without it they fail with the admin API's own explanation.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../../packages/cli/test/run-cli.js";
import { http, startSqliteSystem } from "./harness.js";
import type { SqliteSystem } from "./harness.js";

const TOKEN = "t0ken-for-tests";
let sys: SqliteSystem | undefined;
let port: number;
let adminPort: number;
let dir: string;

beforeAll(async () => {
  sys = await startSqliteSystem(["--admin-token", TOKEN]);
  ({ port, adminPort, dir } = sys);
  expect(
    (await http("POST", `${sys.url}/carts/tok/items`, { productId: "p", quantity: 1 })).status,
  ).toBe(200);
});

afterAll(() => sys?.stop());

/** Runs the CLI with no CAIRN_* variable of the test's own environment leaking in. */
function cli(args: string[], env: Record<string, string> = {}) {
  return runCli(args, { env: { CAIRN_ADMIN_TOKEN: "", CAIRN_CONFIG: "", ...env } });
}

describe("the CLI on a runtime with an admin token", () => {
  const where = () => ["--admin-port", String(adminPort)];

  it("sends the token from --admin-token, CAIRN_ADMIN_TOKEN or the config file", async () => {
    const config = join(dir, "cairn.json");
    writeFileSync(config, JSON.stringify({ adminPort, adminToken: TOKEN, port }));
    for (const [args, env] of [
      [["inspect", "ShoppingCart", "tok", ...where(), "--admin-token", TOKEN], {}],
      [["inspect", "ShoppingCart", "tok", ...where()], { CAIRN_ADMIN_TOKEN: TOKEN }],
      [["inspect", "ShoppingCart", "tok", "--config", config], {}],
      // A short service name is resolved through the admin API: the token goes there too.
      [
        [
          "call",
          "ShoppingCart/GetCart",
          '{"cartId":"tok"}',
          "--port",
          String(port),
          ...where(),
          "--admin-token",
          TOKEN,
        ],
        {},
      ],
      // localhost is a Host the admin port accepts.
      [
        [
          "inspect",
          "ShoppingCart",
          "tok",
          "--admin",
          `http://localhost:${adminPort}`,
          "--admin-token",
          TOKEN,
        ],
        {},
      ],
    ] as const) {
      const out = await cli([...args], env);
      expect(out.code, `${args.join(" ")}: ${out.stderr}`).toBe(0);
      expect(out.stdout).toMatch(/tok|"productId": "p"/);
    }
  });

  it("without the token, says the admin API needs it", async () => {
    const out = await cli(["inspect", "ShoppingCart", "tok", ...where()]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("401");
    expect(out.stderr).toContain("the admin API needs its token");
    const wrong = await cli([
      "inspect",
      "ShoppingCart",
      "tok",
      ...where(),
      "--admin-token",
      "nope",
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("401");
  });
});
