/**
 * The ingress limits as a deployed node has them: options given to the real
 * `cairn runtime` binary reach the port, and each hit shows in /metrics.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFunction, startRuntime, tempDir } from "./harness.js";
import type { Proc } from "./harness.js";

let fn: Proc;
let rt: Proc;
let port: number;
let adminUrl: string;
let cleanup: () => void;

beforeAll(async () => {
  const tmp = tempDir();
  cleanup = tmp.cleanup;
  const f = await startFunction();
  fn = f.proc;
  const r = await startRuntime({
    functionPort: f.port,
    store: `${tmp.dir}/cairn.db`,
    args: ["--headers-timeout-ms", "300", "--request-timeout-ms", "400", "--max-connections", "50"],
  });
  rt = r.proc;
  port = r.port;
  adminUrl = `http://127.0.0.1:${r.adminPort}`;
});

afterAll(async () => {
  await rt?.stop();
  await fn?.stop();
  cleanup?.();
});

/** Sends `head`, then `piece` every 50 ms; resolves with the reply and how long the server held on. */
function slowClient(head: string, piece: string): Promise<{ reply: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    const t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    socket.on("connect", () => {
      socket.write(head);
      timer = setInterval(() => socket.writable && socket.write(piece), 50);
    });
    socket.on("data", (d: Buffer) => (reply += d.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ reply, ms: Date.now() - t0 });
    });
    setTimeout(() => {
      socket.destroy();
      reject(new Error("the runtime held the slow client for 10 s"));
    }, 10_000).unref();
  });
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}

describe("ingress limits of a runtime node", () => {
  it("--headers-timeout-ms and --request-timeout-ms hold for slow clients, and show in /metrics", async () => {
    const headers = await slowClient("GET /carts/c1 HTTP/1.1\r\nHost: x\r\n", "X-Slow: 1\r\n");
    expect(headers.reply).toMatch(/^HTTP\/1\.1 408/);
    expect(headers.ms).toBeLessThan(2_500);
    const body = await slowClient(
      "POST /carts/c1/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
      "1\r\n \r\n",
    );
    expect(body.reply).toMatch(/^HTTP\/1\.1 408/);
    expect(body.ms).toBeLessThan(2_500);
    // A body nobody reads (the route does not exist) must not hold the connection either.
    const unread = await slowClient(
      "POST /no/such/route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
      "1\r\n \r\n",
    );
    expect(unread.reply).toMatch(/^HTTP\/1\.1 404/);
    expect(unread.ms).toBeLessThan(2_500);
    expect(await metric('cairn_ingress_timeouts_total{kind="headers"}')).toBe(1);
    expect(await metric('cairn_ingress_timeouts_total{kind="request"}')).toBe(1);
    const res = await fetch(`http://127.0.0.1:${port}/carts/c1`);
    expect(res.status).toBe(200);
    expect(await metric("cairn_ingress_connections")).toBeGreaterThanOrEqual(1);
  });
});
