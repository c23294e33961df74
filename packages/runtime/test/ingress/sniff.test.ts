import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startIngress } from "./harness.js";
import type { Running } from "./harness.js";

let running: Running | undefined;
afterEach(async () => {
  await running?.ingress.close();
  running = undefined;
});

/** Sends a request in the given pieces, one write each, and resolves with the raw reply once the server closes. */
function rawRequest(port: number, pieces: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (reply += d));
    socket.on("end", () => resolve(reply));
    socket.on("error", reject);
    const send = (i: number): void => {
      const piece = pieces[i];
      if (piece === undefined) return;
      // Wait for each write to be flushed so the server sees separate chunks.
      socket.write(piece, () => setImmediate(() => send(i + 1)));
    };
    socket.on("connect", () => send(0));
  });
}

describe("protocol sniffing", () => {
  it("decides on HTTP/1.1 when the first chunk is a prefix of the HTTP/2 preface", async () => {
    running = await startIngress();
    const reply = await rawRequest(running.port, [
      "P",
      "OST /carts/c1/checkout HTTP/1.1\r\nHost: x\r\n",
      "Content-Length: 0\r\nConnection: close\r\n\r\n",
    ]);
    expect(reply).toMatch(/^HTTP\/1\.1 200/);
    expect(running.dispatcher.last().method.name).toBe("Checkout");
  });

  it("serves pipelined HTTP/1.1 requests that arrived with the sniffed bytes", async () => {
    running = await startIngress();
    const one = "GET /carts/a HTTP/1.1\r\nHost: x\r\n\r\n";
    const two = "GET /carts/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const reply = await rawRequest(running.port, [one + two]);
    expect(reply.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    expect(running.dispatcher.calls).toHaveLength(2);
  });
});
