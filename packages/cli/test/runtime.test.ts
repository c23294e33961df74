import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli, startCli } from "./run-cli.js";
import type { CliProcess } from "./run-cli.js";

let running: CliProcess | undefined;
afterEach(async () => {
  await running?.kill();
  running = undefined;
});

describe("cairn runtime", () => {
  it("rejects an invalid flag with the expectation, the value and exit code 2", async () => {
    const result = await runCli(["runtime", "--port", "abc"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'cairn: invalid option --port: expected an integer from 0 to 65535, got "abc"\n',
    );
  });

  it("names the environment variable a bad value came from", async () => {
    const result = await runCli(["runtime", "--store", "memory"], {
      env: { CAIRN_LOG_LEVEL: "loud" },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'invalid environment variable CAIRN_LOG_LEVEL: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"',
    );
  });

  it("reads a --config file and names the entry a bad value came from", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-config-"));
    try {
      const file = join(dir, "cairn.json");
      writeFileSync(file, JSON.stringify({ store: "memory", adminPort: "x" }));
      const result = await runCli(["runtime", "--config", file]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `cairn: invalid value "adminPort" in ${file}: expected an integer from 0 to 65535, got "x"\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an admin port beyond loopback without a token", async () => {
    const result = await runCli(["runtime", "--store", "memory", "--admin-host", "0.0.0.0"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "cairn: invalid option --admin-host: the admin port would listen on 0.0.0.0 without a token",
    );
    expect(result.stderr).toContain("--admin-token or CAIRN_ADMIN_TOKEN");
  });

  it("explains a busy port and exits 1", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = blocker.address() as AddressInfo;
      const result = await runCli([
        "runtime",
        "--store",
        "memory",
        "--port",
        String(port),
        "--admin-port",
        "0",
        "--log-level",
        "silent",
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("another process uses the port");
      expect(result.stderr).toContain("--port");
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it("starts, says where it listens, answers /healthz and stops on SIGTERM with exit code 0", async () => {
    running = startCli([
      "runtime",
      "--store",
      "memory",
      "--port",
      "0",
      "--admin-port",
      "0",
      "--function",
      "127.0.0.1:1",
      "--log-level",
      "silent",
    ]);
    await running.waitForStderr(/ingress on http:\/\/127\.0\.0\.1:\d+/);
    const [, admin] = await running.waitForStderr(/admin on (http:\/\/127\.0\.0\.1:\d+)/);
    const health = await fetch(`${admin}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${admin}/readyz`);
    expect(ready.status).toBe(503);
    running.child.kill("SIGTERM");
    expect(await running.exited).toBe(0);
    expect(running.stderr()).toContain("SIGTERM: stopping");
  });

  it("keeps the admin port on loopback when the ingress listens on every interface", async () => {
    running = startCli([
      "runtime",
      "--store",
      "memory",
      "--host",
      "0.0.0.0",
      "--port",
      "0",
      "--admin-port",
      "0",
      "--function",
      "127.0.0.1:1",
      "--log-level",
      "silent",
    ]);
    const [, port] = await running.waitForStderr(/ingress on http:\/\/0\.0\.0\.0:(\d+)/);
    const [, admin] = await running.waitForStderr(/admin on (http:\/\/127\.0\.0\.1:\d+)/);
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    const outside = nonLoopbackAddress();
    if (outside !== undefined) {
      // The ingress answers on the machine's own address; the admin port does not listen there.
      expect((await fetch(`http://${outside}:${port}/carts/x`)).status).toBe(503);
      const adminPort = new URL(admin as string).port;
      await expect(fetch(`http://${outside}:${adminPort}/healthz`)).rejects.toThrow();
    }
    running.child.kill("SIGTERM");
    expect(await running.exited).toBe(0);
  });
});

/** An IPv4 address of this machine other than loopback, if it has one. */
function nonLoopbackAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return undefined;
}
