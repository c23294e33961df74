import { describe, expect, it } from "vitest";
import { curlExample, renderBanner } from "../src/dev/banner.js";
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
