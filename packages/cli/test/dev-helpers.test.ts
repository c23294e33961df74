import { describe, expect, it } from "vitest";
import { clientFlags, curlExample, renderBanner } from "../src/dev/banner.js";
import { formatLine } from "../src/dev/pretty-log.js";
import { isRelevantChange } from "../src/dev/watch.js";
import { isStale, markFresh } from "../src/dev/gen-stale.js";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const INGRESS = "http://127.0.0.1:9000";

const ADD_ITEM = {
  name: "AddItem",
  inputType: "shop.v1.AddLineItem",
  outputType: "google.protobuf.Empty",
  http: "POST /carts/{cart_id}/items",
  httpBody: "*",
  example: { cartId: "cart-1", productId: "product-1", quantity: 1 },
};

describe("cairn dev banner", () => {
  it("turns a google.api.http route into a curl line with the sample request, less its path fields", () => {
    expect(curlExample(INGRESS, "shop.v1.ShoppingCart", ADD_ITEM)).toBe(
      `curl -X POST 'http://127.0.0.1:9000/carts/cart-1/items' -H 'content-type: application/json' -d '{"productId":"product-1","quantity":1}'`,
    );
    expect(
      curlExample(INGRESS, "shop.v1.ShoppingCart", {
        name: "RemoveItem",
        inputType: "a",
        outputType: "b",
        http: "DELETE /carts/{cart_id}/items/{product_id}",
        httpBody: "",
        example: { cartId: "cart-1", productId: "product-1" },
      }),
    ).toBe("curl -X DELETE 'http://127.0.0.1:9000/carts/cart-1/items/product-1'");
    // A body of one field sends that field; a variable with a pattern keeps its literal parts.
    expect(
      curlExample(INGRESS, "lib.v1.Library", {
        name: "Update",
        inputType: "a",
        outputType: "b",
        http: "PATCH /v1/{name=shelves/*}",
        httpBody: "shelf",
        example: { name: "name-1", shelf: { theme: "theme-1" } },
      }),
    ).toBe(
      `curl -X PATCH 'http://127.0.0.1:9000/v1/shelves/name-1' -H 'content-type: application/json' -d '{"theme":"theme-1"}'`,
    );
  });

  it("falls back to POST /<Service>/<Method> for methods without a route", () => {
    expect(
      curlExample(INGRESS, "shop.v1.ShoppingCart", {
        name: "Clear",
        inputType: "a",
        outputType: "b",
        example: { cartId: "it's" },
      }),
    ).toBe(
      `curl -X POST http://127.0.0.1:9000/shop.v1.ShoppingCart/Clear -H 'content-type: application/json' -d '{"cartId":"it'\\''s"}'`,
    );
  });

  it("shows the ingress, each service, a cairn call line and grpcurl examples", () => {
    const banner = renderBanner(
      { ingress: INGRESS, admin: "http://127.0.0.1:9090", callFlags: [], inspectFlags: [] },
      [{ name: "shop.v1.ShoppingCart", kind: "event_sourced_entity", methods: [ADD_ITEM] }],
    );
    expect(banner).toContain("ready on http://127.0.0.1:9000");
    expect(banner).toContain("shop.v1.ShoppingCart (event sourced entity)");
    expect(banner).toContain(
      `cairn call ShoppingCart/AddItem '{"cartId":"cart-1","productId":"product-1","quantity":1}'\n`,
    );
    expect(banner).toContain("cairn inspect ShoppingCart <entity-id>\n");
    expect(banner).toContain("grpcurl -plaintext 127.0.0.1:9000 list");
  });

  it("gives the cairn lines the flags that reach a runtime on other ports or another host", () => {
    expect(clientFlags("127.0.0.1", { ingress: 9000, admin: 9090 })).toEqual({
      call: [],
      inspect: [],
    });
    const other = clientFlags("127.0.0.1", { ingress: 9100, admin: 9190 });
    expect(other).toEqual({
      call: ["--port", "9100", "--admin-port", "9190"],
      inspect: ["--admin-port", "9190"],
    });
    expect(clientFlags("10.0.0.5", { ingress: 9000, admin: 9090 }).call).toEqual([
      "--address",
      "http://10.0.0.5:9000",
      "--admin",
      "http://10.0.0.5:9090",
    ]);
    const banner = renderBanner(
      {
        ingress: "http://127.0.0.1:9100",
        admin: "http://127.0.0.1:9190",
        callFlags: other.call,
        inspectFlags: other.inspect,
      },
      [{ name: "shop.v1.ShoppingCart", kind: "event_sourced_entity", methods: [ADD_ITEM] }],
    );
    expect(banner).toMatch(/cairn call ShoppingCart\/AddItem '.*' --port 9100 --admin-port 9190\n/);
    expect(banner).toContain("cairn inspect ShoppingCart <entity-id> --admin-port 9190\n");
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

describe("cairn dev codegen at start", () => {
  it("regenerates when the output is missing or older than a proto, and not after markFresh", () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-stale-"));
    try {
      mkdirSync(join(dir, "proto/a"), { recursive: true });
      writeFileSync(join(dir, "proto/a/a.proto"), 'syntax = "proto3";');
      expect(isStale(join(dir, "proto"), join(dir, "gen"))).toBe(true);
      mkdirSync(join(dir, "gen/a"), { recursive: true });
      writeFileSync(join(dir, "gen/a/a_pb.ts"), "");
      const old = new Date(Date.now() - 60_000);
      utimesSync(join(dir, "gen/a/a_pb.ts"), old, old);
      expect(isStale(join(dir, "proto"), join(dir, "gen"))).toBe(true);
      markFresh(join(dir, "gen"));
      expect(isStale(join(dir, "proto"), join(dir, "gen"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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

describe("cairn dev logs of client-chosen text", () => {
  it("escapes the control characters that decoding the JSON line brought back", () => {
    const line = JSON.stringify({
      level: "warn",
      time: "2026-01-01T12:00:01.000Z",
      msg: "entity c\u001b]0;x\u0007 restarted",
      entity: "shop.Cart/c\u001b[2J\n\u009b",
      err: { message: "m", stack: "Error: \u001b[31mred\n    at x" },
    });
    expect(formatLine(line)).toBe(
      "12:00:01 WARN  entity c\\u001b]0;x\\u0007 restarted  entity=shop.Cart/c\\u001b[2J\\u000a\\u009b\n    Error: \\u001b[31mred\n    at x\n",
    );
  });
});

describe("cairn dev logs of the user's own output", () => {
  it("leaves JSON that is not a log line alone", () => {
    expect(formatLine('{"cartId":"c1"}')).toBe('{"cartId":"c1"}');
    expect(formatLine("[1,2]")).toBe("[1,2]");
  });
});
