import { describe, expect, it } from "vitest";
import { escapeControlChars } from "../src/printable.js";

describe("escapeControlChars", () => {
  it("escapes C0, DEL, C1, line separators and bidi controls as \\uXXXX, and nothing else", () => {
    expect(escapeControlChars("c1\u001b[2J\u0007")).toBe("c1\\u001b[2J\\u0007");
    expect(escapeControlChars("a\tb\nc\rd")).toBe("a\\u0009b\\u000ac\\u000dd");
    expect(escapeControlChars("del\u007f csi\u009b")).toBe("del\\u007f csi\\u009b");
    expect(escapeControlChars("x\u202ey\u2066z\u2028")).toBe("x\\u202ey\\u2066z\\u2028");
    const plain = "Grüße, 日本, emoji 🎉, back\\slash";
    expect(escapeControlChars(plain)).toBe(plain);
  });

  it("keeps newlines when asked, and its output stays valid JSON text", () => {
    expect(escapeControlChars("Error: x\u001b\n    at y", { keepNewlines: true })).toBe(
      "Error: x\\u001b\n    at y",
    );
    const json = JSON.stringify({ id: "a\u009bb\u007f" });
    expect(JSON.parse(escapeControlChars(json))).toEqual({ id: "a\u009bb\u007f" });
  });
});
