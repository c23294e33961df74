import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { createSqliteStore, createStore, SCHEMA_VERSION } from "../../src/store/index.js";
import { describeStoreConformance } from "./conformance.js";

const dir = mkdtempSync(join(tmpdir(), "cairn-sqlite-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeStoreConformance(
  "sqlite (main-thread writer)",
  (o) => createSqliteStore(join(dir, "main.db"), { ...o, writer: "main" }),
  {
    durable: true,
  },
);
describeStoreConformance(
  "sqlite (worker writer)",
  (o) => createSqliteStore(join(dir, "worker.db"), { ...o, writer: "worker" }),
  {
    durable: true,
  },
);

describe("sqlite store", () => {
  it("creates parent directories and accepts sqlite:<path> and plain paths", async () => {
    const nested = join(dir, "a", "b", "cairn.db");
    const store = await createStore(`sqlite:${nested}`);
    expect(store.kind).toBe("sqlite");
    expect(store.description).toBe(`sqlite:${nested}`);
    await store.close();
    expect(existsSync(nested)).toBe(true);
    const again = await createStore(nested);
    await again.close();
  });

  it("uses WAL and synchronous=FULL", async () => {
    const path = join(dir, "pragmas.db");
    const store = await createSqliteStore(path);
    await store.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });

  it("migrates once when several stores open a new file at the same time", async () => {
    const path = join(dir, "race.db");
    const stores = await Promise.all([
      createSqliteStore(path, { writer: "worker" }),
      createSqliteStore(path, { writer: "worker" }),
      createSqliteStore(path, { writer: "main" }),
    ]);
    await Promise.all(stores.map((s) => s.close()));
    const db = new Database(path, { readonly: true });
    const versions = db
      .prepare("SELECT version FROM cairn_schema_migrations ORDER BY version")
      .pluck()
      .all();
    db.close();
    expect(versions).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
  });

  for (const writer of ["worker", "main"] as const) {
    it(`keeps every acknowledged append when the process is killed with SIGKILL (${writer} writer)`, async () => {
      const path = join(dir, `crash-${writer}.db`);
      const acked = await appendUntilKilled(path, writer, 2000);
      expect(acked.size).toBeGreaterThan(0);
      const db = new Database(path, { readonly: true });
      const rows = db
        .prepare(
          "SELECT entity_id AS id, sequence FROM cairn_journal WHERE entity_type = 'crash' ORDER BY entity_id, sequence",
        )
        .all() as { id: string; sequence: number }[];
      db.close();
      const byEntity = new Map<string, number[]>();
      for (const r of rows) byEntity.set(r.id, [...(byEntity.get(r.id) ?? []), r.sequence]);
      for (const sequences of byEntity.values())
        expect(sequences).toEqual(sequences.map((_, i) => i + 1));
      for (const [id, last] of acked)
        expect(byEntity.get(id)?.length ?? 0).toBeGreaterThanOrEqual(last);
    });
  }
});

/** Runs the append-forever child until it has acknowledged `target` appends, kills it, returns the last acked sequence per entity. */
async function appendUntilKilled(
  path: string,
  writer: string,
  target: number,
): Promise<Map<string, number>> {
  const script = fileURLToPath(new URL("./fixtures/append-forever.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, path, writer], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const acked = new Map<string, number>();
  let count = 0;
  let stderr = "";
  let partial = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(
        () =>
          reject(
            new Error(
              `child acknowledged ${count} of ${target} appends in time; stderr: ${stderr}`,
            ),
          ),
        45_000,
      );
      child.on("exit", (code) => reject(new Error(`child exited early with ${code}: ${stderr}`)));
      child.stdout.on("data", (d: Buffer) => {
        const lines = (partial + d.toString()).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          const [id, seq] = line.split(" ");
          if (id === undefined || seq === undefined) continue;
          acked.set(id, Math.max(acked.get(id) ?? 0, Number(seq)));
          count++;
        }
        if (count >= target) {
          clearTimeout(deadline);
          resolve();
        }
      });
    });
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    if (child.exitCode === null && child.signalCode === null) await exited;
  }
  return acked;
}
