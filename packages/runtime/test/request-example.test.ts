import { fromJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { requestExample, sampleString } from "../src/request-example.js";
import { AddLineItemSchema } from "../../../examples/shopping-cart/src/gen/shoppingcart/v1/shopping_cart_pb.js";
import {
  SessionSchema,
  TouchAllResultSchema,
} from "../../../examples/user-session/src/gen/usersession/v1/user_session_pb.js";

describe("request examples", () => {
  it("fill every field with a value a handler accepts, in proto3 JSON", () => {
    expect(requestExample(AddLineItemSchema)).toEqual({
      cartId: "cart-1",
      productId: "product-1",
      name: "name-1",
      quantity: 1,
    });
    // 64-bit integers are strings in proto3 JSON.
    expect(requestExample(SessionSchema)).toEqual({
      sessionId: "session-1",
      userId: "user-1",
      loggedIn: true,
      lastSeenEpochMs: "1",
      expiresEpochMs: "1",
    });
  });

  it("put one element in lists of messages, and parse back as the message", () => {
    const example = requestExample(TouchAllResultSchema);
    expect(example).toMatchObject({
      touched: [{ sessionId: "session-1" }],
      missing: ["missing-1"],
    });
    for (const schema of [AddLineItemSchema, SessionSchema, TouchAllResultSchema]) {
      expect(() => fromJson(schema, requestExample(schema))).not.toThrow();
    }
  });

  it("name path samples by the field, without an id suffix", () => {
    expect(sampleString("cart_id")).toBe("cart-1");
    expect(sampleString("id")).toBe("id-1");
    expect(sampleString("session_ids")).toBe("session-1");
    expect(sampleString("name")).toBe("name-1");
    expect(sampleString("paid")).toBe("paid-1");
  });
});
