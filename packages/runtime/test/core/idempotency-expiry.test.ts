import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/core/clock.js";
import { IdempotencyExpiry } from "../../src/core/idempotency-expiry.js";
import { createSqliteStore } from "../../src/store/index.js";
import type { IdempotencyWrite } from "../../src/store/idempotency.js";

const dir = mkdtempSync(join(tmpdir(), "cairn-expiry-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function record(key: string): IdempotencyWrite {
  return {
    entityType: "expiry.Test",
    entityId: "e1",
    key,
    requestHash: "h",
    outcome: { typeUrl: "t", value: new Uint8Array([1]) },
  };
}

describe("idempotency expiry", () => {
  it("removes records older than the retention at each sweep, in batches, and keeps newer ones", async () => {
    const store = await createSqliteStore(join(dir, "expiry.db"));
    const ref = { entityType: "expiry.Test", entityId: "e1" };
    // The store stamps records with the real time; the sweeps run on this clock.
    const clock = new ManualClock(Date.now());
    const expiry = new IdempotencyExpiry({
      store,
      retentionMs: 60_000,
      // Longer than the test moves the clock: only the explicit sweeps run.
      sweepIntervalMs: 3_600_000,
      batch: 2,
      logger: pino({ level: "silent" }),
      clock,
    });
    const keys = ["a", "b", "c", "d", "e"];
    const kept = async (k: string) => (await store.loadIdempotency(ref, k)) !== undefined;
    try {
      await store.writeWork({ idempotency: keys.map(record) });
      await new Promise((r) => setTimeout(r, 5));
      const between = Date.now();
      await new Promise((r) => setTimeout(r, 5));
      await store.writeWork({ idempotency: [record("late")] });
      // A sweep within the retention removes nothing.
      clock.advance(1_000);
      await expiry.sweep();
      expect(await Promise.all(keys.map(kept))).toEqual(keys.map(() => true));
      // Once the first five are older than the retention (the late one not yet),
      // one sweep removes all five, two per write.
      clock.advance(between + 60_000 - clock.now());
      await expiry.sweep();
      expect(await Promise.all(keys.map(kept))).toEqual(keys.map(() => false));
      expect(await kept("late")).toBe(true);
    } finally {
      await expiry.stop();
      await store.close();
    }
  });
});
