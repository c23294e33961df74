import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { PROTOCOL_MAJOR_VERSION, RuntimeInfoSchema } from "@cairn/protocol";
import { descriptorFiles } from "../src/index.js";
import { unsupportedComponents, versionMismatch } from "../src/server/discovery.js";
import { cart } from "./fixtures/cart.js";
import { fanout, session } from "./fixtures/session.js";

describe("discovery", () => {
  it("lists every import before the file that imports it, each file once", () => {
    const files = descriptorFiles([cart, cart]);
    const names = files.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain("google/api/http");
    expect(names).toContain("cairn/options");
    expect(names.at(-1)).toBe("shoppingcart/v1/shopping_cart");
    for (const [i, file] of files.entries()) {
      for (const dep of file.dependencies) expect(names.indexOf(dep.name)).toBeLessThan(i);
    }
  });

  it("says which side to upgrade on a major version mismatch", () => {
    const older = versionMismatch(
      create(RuntimeInfoSchema, { protocolMajorVersion: PROTOCOL_MAJOR_VERSION - 1 }),
    );
    expect(older).toMatch(/upgrade the runtime/);
    const newer = versionMismatch(
      create(RuntimeInfoSchema, {
        protocolMajorVersion: PROTOCOL_MAJOR_VERSION + 1,
        runtimeName: "cairn-runtime",
        runtimeVersion: "9.0.0",
      }),
    );
    const [ours, theirs] = [PROTOCOL_MAJOR_VERSION, PROTOCOL_MAJOR_VERSION + 1];
    expect(newer).toMatch(
      new RegExp(
        `cairn-runtime 9\\.0\\.0 speaks Cairn protocol v${theirs}\\.0, @cairn/sdk .* speaks v${ours}\\.\\d+; upgrade @cairn/sdk`,
      ),
    );
    expect(
      versionMismatch(create(RuntimeInfoSchema, { protocolMajorVersion: PROTOCOL_MAJOR_VERSION })),
    ).toBeUndefined();
  });

  it("names the components of kinds the runtime says it does not serve", () => {
    const info = (kinds: string[]) =>
      create(RuntimeInfoSchema, { protocolMajorVersion: 1, supportedComponentKinds: kinds });
    const all = [cart, session, fanout];
    expect(unsupportedComponents(all, info(["event_sourced_entity"]))).toEqual([session, fanout]);
    expect(
      unsupportedComponents(all, info(["event_sourced_entity", "value_entity", "action"])),
    ).toEqual([]);
    // An empty list says nothing about the runtime: no warning.
    expect(unsupportedComponents(all, info([]))).toEqual([]);
  });
});
