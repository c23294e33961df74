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
});
