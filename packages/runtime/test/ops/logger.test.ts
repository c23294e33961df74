import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/ops/index.js";

describe("createLogger", () => {
  it("writes one JSON object per line with level name, time, logger name and fields", () => {
    const lines: string[] = [];
    const log = createLogger({
      level: "info",
      name: "cairn-runtime",
      destination: { write: (line: string) => void lines.push(line) },
    });
    log.debug("hidden below the level");
    log.info({ port: 9000 }, "ingress listening");
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0] ?? "") as Record<string, unknown>;
    expect(entry).toMatchObject({
      level: "info",
      name: "cairn-runtime",
      port: 9000,
      msg: "ingress listening",
    });
    expect(typeof entry["time"]).toBe("string");
  });

  it("escapes control characters of client-chosen text in fields, messages and errors", () => {
    const lines: string[] = [];
    const log = createLogger({
      level: "info",
      destination: { write: (line: string) => void lines.push(line) },
    });
    const id = "c1\u001b[2J\u009b\u007f\u202e";
    const err = new Error(`bad id ${id}`);
    log.error(
      { entity: `shop.Cart/${id}`, ids: [id], nested: { id }, err },
      `activation of ${id} failed`,
    );
    const line = lines[0] ?? "";
    // Escaped in the values, so that even a consumer decoding the JSON gets no control character.
    const entry = JSON.parse(line) as Record<string, unknown>;
    const shown = "c1\\u001b[2J\\u009b\\u007f\\u202e";
    expect(entry["entity"]).toBe(`shop.Cart/${shown}`);
    expect(entry["ids"]).toEqual([shown]);
    expect(entry["nested"]).toEqual({ id: shown });
    expect(entry["msg"]).toBe(`activation of ${shown} failed`);
    const logged = entry["err"] as { message: string; stack: string };
    expect(logged.message).toBe(`bad id ${shown}`);
    expect(logged.stack.split("\n").length).toBeGreaterThan(1);
  });
});
