/**
 * A failure the runtime did not expect (not a CairnError) reaches the
 * client as INTERNAL with a correlation id and none of its text, and is
 * logged under that id, on HTTP/JSON and on gRPC (issue 7's fuzz rule: no
 * INTERNAL without a correlation id).
 */
import { connect } from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { startIngress, testLogger } from "./harness.js";
import type { Running } from "./harness.js";

let running: Running | undefined;
afterEach(async () => {
  await running?.ingress.close();
  running = undefined;
});

const ID = /internal error \(correlation id ([0-9a-f-]{36})\); the runtime's log has the details/;

function grpcGetCart(port: number): Promise<{ status: string; message: string }> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": "/shoppingcart.v1.ShoppingCart/GetCart",
      "content-type": "application/grpc",
      te: "trailers",
    });
    const out = { status: "", message: "" };
    // A trailers-only answer carries the status in the headers.
    const take = (h: Record<string, string | string[] | number | undefined>): void => {
      const s = h["grpc-status"];
      const m = h["grpc-message"];
      if (typeof s === "string") out.status = s;
      if (typeof m === "string") out.message = decodeURIComponent(m);
    };
    stream.on("response", take);
    stream.on("trailers", take);
    stream.on("data", () => {});
    stream.on("close", () => {
      session.close();
      resolve(out);
    });
    // GetShoppingCart { cart_id: "c1" }
    stream.end(Buffer.from([0, 0, 0, 0, 4, 0x0a, 2, 0x63, 0x31]));
  });
}

describe("unexpected failures", () => {
  it("answer INTERNAL with a correlation id, logged with the failure under it", async () => {
    const logger = testLogger();
    running = await startIngress({ logger });
    running.dispatcher.answers.set("GetCart", () => {
      throw new Error("secret: the database password is hunter2");
    });
    const res = await fetch(`${running.url}/carts/c1`);
    expect(res.status).toBe(500);
    const body = (await res.json()) as { status: string; message: string };
    expect(body.status).toBe("INTERNAL");
    expect(body.message).not.toContain("hunter2");
    const httpId = ID.exec(body.message)?.[1];
    const grpc = await grpcGetCart(running.port);
    expect(grpc.status).toBe("13");
    expect(grpc.message).not.toContain("hunter2");
    const grpcId = ID.exec(grpc.message)?.[1];
    expect(httpId).toBeDefined();
    expect(grpcId).toBeDefined();
    expect(grpcId).not.toBe(httpId);
    const logged = logger.errors as Array<{ correlationId?: string; err?: Error }>;
    for (const id of [httpId, grpcId]) {
      const entry = logged.find((e) => e.correlationId === id);
      expect(entry?.err?.message).toContain("hunter2");
    }
  });
});
