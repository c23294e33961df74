import { describe, expect, it } from "vitest";
import { createMemoryStore, createStore, parseStoreLocation } from "../../src/store/index.js";
import { describeStoreConformance } from "./conformance.js";

describeStoreConformance("memory", (options) => Promise.resolve(createMemoryStore(options)), {
  durable: false,
  propertyRuns: 100,
  fencing: true,
});

describe("parseStoreLocation", () => {
  it.each([
    ["memory", { kind: "memory" }],
    [".cairn/cairn.db", { kind: "sqlite", path: ".cairn/cairn.db" }],
    ["sqlite:/var/lib/cairn/x.db", { kind: "sqlite", path: "/var/lib/cairn/x.db" }],
    ["postgres://u@h:5432/db", { kind: "postgres", url: "postgres://u@h:5432/db" }],
    [
      "postgresql://u@h/db?schema=shop",
      { kind: "postgres", url: "postgresql://u@h/db?schema=shop" },
    ],
  ])("accepts %s", (location, value) => {
    expect(parseStoreLocation(location)).toEqual({ value });
  });

  it.each([
    ["", /empty/],
    ["sqlite:", /no file path/],
    ["mysql://u@h/db", /unsupported scheme.*memory.*sqlite:<path>.*postgres:\/\//],
    ["postgres://u@h/db?schema=a-b", /schema 'a-b'.*plain identifier/],
  ])("refuses %j, saying which forms are accepted", (location, message) => {
    const parsed = parseStoreLocation(location);
    expect("error" in parsed && parsed.error).toMatch(message);
  });

  it("makes createStore throw the parse error", async () => {
    await expect(createStore("redis://localhost")).rejects.toThrow(/unsupported scheme/);
  });

  it("opens a memory store", async () => {
    const store = await createStore("memory");
    expect(store.kind).toBe("memory");
    await store.close();
  });
});
