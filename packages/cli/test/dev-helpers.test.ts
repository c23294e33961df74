import { describe, expect, it } from "vitest";
import { curlExample, renderBanner } from "../src/dev/banner.js";
import { formatLine } from "../src/dev/pretty-log.js";
import { isRelevantChange } from "../src/dev/watch.js";

const INGRESS = "http://127.0.0.1:9000";

describe("cairn dev banner", () => {
  it("turns a google.api.http route into a runnable curl line with sample path values", () => {
    expect(
      curlExample(INGRESS, "shop.v1.ShoppingCart", {
        name: "AddItem",
        inputType: "a",
        outputType: "b",
        http: "POST /carts/{cart_id}/items",
      }),
    ).toBe(
      "curl -X POST 'http://127.0.0.1:9000/carts/cart-1/items' -H 'content-type: application/json' -d '{}'",
    );
    expect(
      curlExample(INGRESS, "shop.v1.ShoppingCart", {
        name: "GetCart",
        inputType: "a",
        outputType: "b",
        http: "GET /carts/{cart_id}",
      }),
    ).toBe("curl -X GET 'http://127.0.0.1:9000/carts/cart-1'");
  });

  it("falls back to POST /<Service>/<Method> for methods without a route", () => {
    expect(
      curlExample(INGRESS, "shop.v1.ShoppingCart", {
        name: "Clear",
        inputType: "a",
        outputType: "b",
      }),
    ).toBe(
      "curl -X POST http://127.0.0.1:9000/shop.v1.ShoppingCart/Clear -H 'content-type: application/json' -d '{}'",
    );
  });

  it("shows the ingress, each service and grpcurl examples", () => {
    const banner = renderBanner(INGRESS, "http://127.0.0.1:9090", [
      {
        name: "shop.v1.ShoppingCart",
        kind: "event_sourced_entity",
        methods: [{ name: "GetCart", inputType: "a", outputType: "b" }],
      },
    ]);
    expect(banner).toContain("ready on http://127.0.0.1:9000");
    expect(banner).toContain("shop.v1.ShoppingCart (event sourced entity)");
    expect(banner).toContain("grpcurl -plaintext 127.0.0.1:9000 list");
  });
});

describe("cairn dev watching", () => {
  it("restarts on sources, protos and JSON, never on dependencies, builds or the store", () => {
    expect(isRelevantChange("src/cart.ts")).toBe(true);
    expect(isRelevantChange("proto/shop.proto")).toBe(true);
    expect(isRelevantChange("package.json")).toBe(true);
    expect(isRelevantChange("README.md")).toBe(false);
    expect(isRelevantChange("node_modules/x/index.js")).toBe(false);
    expect(isRelevantChange("dist/main.js")).toBe(false);
    expect(isRelevantChange(".cairn/cairn.db")).toBe(false);
  });
});

describe("cairn dev logs", () => {
  it("turns the runtime's JSON lines into time, level, message and fields", () => {
    const line = JSON.stringify({
      level: "info",
      time: "2026-01-01T12:00:01.000Z",
      pid: 1,
      hostname: "h",
      name: "cairn-runtime",
      msg: "cairn runtime started",
      ingress: "127.0.0.1:9000",
      n: 2,
    });
    expect(formatLine(line)).toBe(
      "12:00:01 INFO  cairn runtime started  ingress=127.0.0.1:9000 n=2\n",
    );
  });

  it("shows an error's stack under the line and passes non-JSON through", () => {
    const line = JSON.stringify({
      level: "error",
      time: "2026-01-01T12:00:01.000Z",
      msg: "boom",
      err: { message: "disk", stack: "Error: disk\n    at x" },
    });
    expect(formatLine(line)).toBe("12:00:01 ERROR boom\n    Error: disk\n    at x\n");
    expect(formatLine("plain\n")).toBe("plain\n");
  });
});

describe("cairn dev logs of the user's own output", () => {
  it("leaves JSON that is not a log line alone", () => {
    expect(formatLine('{"cartId":"c1"}')).toBe('{"cartId":"c1"}');
    expect(formatLine("[1,2]")).toBe("[1,2]");
  });
});
