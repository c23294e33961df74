import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  createSqliteStore,
  createStore,
  MIGRATIONS,
  SCHEMA_VERSION,
} from "../../src/store/index.js";
import { describeStoreConformance } from "./conformance.js";
import { Database } from "./drivers.js";

const dir = mkdtempSync(join(tmpdir(), "cairn-sqlite-test-"));
const repo = fileURLToPath(new URL("../../../../", import.meta.url));
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

  it("refuses cluster mode and fenced writes, naming PostgreSQL", async () => {
    const path = join(dir, "cluster.db");
    await expect(createSqliteStore(path, { cluster: {} })).rejects.toThrow(
      /cluster mode needs a PostgreSQL store .*single-node/,
    );
    await expect(createStore(`sqlite:${path}`, { cluster: { shards: 8 } })).rejects.toThrow(
      /PostgreSQL/,
    );
    const store = await createSqliteStore(path);
    expect(store.cluster).toBeUndefined();
    const ref = { entityType: "c", entityId: "a" };
    await expect(
      store.append({ ...ref, expectedSequence: 0, events: [], fence: { shard: 0, epoch: 1 } }),
    ).rejects.toThrow(/sqlite store cannot check shard fences.*PostgreSQL/);
    expect(await store.loadOutbox(Date.now(), 10, [1])).toEqual([]);
    await store.close();
  });

  for (const writer of ["worker", "main"] as const) {
    it(`names the file and the fix when it cannot open it (${writer} writer)`, async () => {
      // A directory where the database file should be.
      await expect(createSqliteStore(dir, { writer })).rejects.toThrow(
        new RegExp(`cannot open sqlite store ${dir}: .*writable file`),
      );
    });
  }

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

  it("migrates a store of schema version 1 forward on open, keeping its data", async () => {
    const path = join(dir, "v1.db");
    const db = new Database(path);
    db.exec(`CREATE TABLE cairn_schema_migrations (
      version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
    for (const sql of MIGRATIONS.find((m) => m.version === 1)?.sqlite ?? []) db.exec(sql);
    db.exec(`INSERT INTO cairn_schema_migrations VALUES (1, 'v1', 0);
      INSERT INTO cairn_journal (entity_type, entity_id, sequence, type_url, payload, created_at)
      VALUES ('old', 'a', 1, 'x', x'01', 0)`);
    db.close();
    const store = await createSqliteStore(path);
    expect(await store.lastSequence({ entityType: "old", entityId: "a" })).toBe(1);
    const call = {
      service: "s",
      method: "m",
      payload: { typeUrl: "x", value: new Uint8Array([1]) },
      metadata: {},
    };
    await store.writeWork({
      outbox: [call],
      timers: [{ kind: "schedule", owner: "o", name: "t", dueAt: 1, call }],
    });
    expect(await store.listTimers("o")).toHaveLength(1);
    expect(await store.loadOutbox(Date.now(), 10)).toHaveLength(1);
    await store.close();
    const after = new Database(path, { readonly: true });
    const versions = after
      .prepare("SELECT version FROM cairn_schema_migrations ORDER BY version")
      .pluck()
      .all();
    after.close();
    expect(versions).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
  });

  for (const writer of ["worker", "main"] as const) {
    it(`keeps every acknowledged append and its outbox entry when the process is killed with SIGKILL (${writer} writer)`, async () => {
      const path = join(dir, `crash-${writer}.db`);
      const acked = await appendUntilKilled(path, writer, 2000);
      expect(acked.size).toBeGreaterThan(0);
      const db = new Database(path, { readonly: true });
      const rows = db
        .prepare(
          "SELECT entity_id AS id, sequence FROM cairn_journal WHERE entity_type = 'crash' ORDER BY entity_id, sequence",
        )
        .all() as { id: string; sequence: number }[];
      const outbox = db
        .prepare("SELECT payload FROM cairn_outbox WHERE service = 'crash.Outbox'")
        .pluck()
        .all() as Buffer[];
      db.close();
      // Each append's outbox entry commits with its event: the same set, never one without the other.
      const delivered = new Set(outbox.map((b) => b.toString("utf8")));
      expect(delivered.size).toBe(outbox.length);
      expect([...delivered].sort()).toEqual(rows.map((r) => `${r.id} ${r.sequence}`).sort());
      acked.forEach((last, id) => {
        for (let seq = 1; seq <= last; seq++) expect(delivered.has(`${id} ${seq}`)).toBe(true);
      });
      const byEntity = new Map<string, number[]>();
      for (const r of rows) byEntity.set(r.id, [...(byEntity.get(r.id) ?? []), r.sequence]);
      // No gaps, no duplicates, and every acknowledged sequence is there.
      byEntity.forEach((sequences) => expect(sequences).toEqual(sequences.map((_, i) => i + 1)));
      acked.forEach((last, id) =>
        expect(byEntity.get(id)?.length ?? 0).toBeGreaterThanOrEqual(last),
      );
    });
  }
});

describe("built sqlite store", () => {
  it("runs its write side in the compiled worker, with plain node and no tsx", () => {
    // No .ts sits next to the compiled files, so only the built worker can run.
    const out = join(dir, "dist");
    // Compile the store alone, as `tsc -b` lays it out in dist/, so this test
    // does not depend on the rest of the package building.
    const tsc = spawnSync(
      process.execPath,
      [
        join(repo, "node_modules/typescript/bin/tsc"),
        "--outDir",
        join(out, "store"),
        "--rootDir",
        join(repo, "packages/runtime/src/store"),
        "--module",
        "NodeNext",
        "--moduleResolution",
        "NodeNext",
        "--target",
        "ES2022",
        "--strict",
        "--skipLibCheck",
        "--verbatimModuleSyntax",
        "--types",
        "node",
        join(repo, "packages/runtime/src/store/index.ts"),
      ],
      { encoding: "utf8", cwd: repo },
    );
    expect(tsc.stdout + tsc.stderr).toBe("");
    symlinkSync(join(repo, "node_modules"), join(out, "node_modules"));
    writeFileSync(join(out, "package.json"), '{ "type": "module" }');
    writeFileSync(
      join(out, "main.js"),
      `import { createSqliteStore } from "./store/index.js";
const store = await createSqliteStore(process.argv[2], { writer: "worker" });
const v = new Uint8Array([1, 2, 3]);
const r = await store.append({ entityType: "t", entityId: "a", expectedSequence: 0, events: [{ typeUrl: "x", value: v }] });
const events = await store.loadEvents({ entityType: "t", entityId: "a" }, 0);
await store.close();
console.log(JSON.stringify({ sequence: r.sequence, events: events.length }));`,
    );
    const run = spawnSync(process.execPath, [join(out, "main.js"), join(out, "x.db")], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual({ sequence: 1, events: 1 });
  });
});

/** Runs the append-forever child until it has acknowledged `target` appends, kills it, returns the last acked sequence per entity. */
async function appendUntilKilled(
  path: string,
  writer: string,
  target: number,
): Promise<Map<string, number>> {
  const script = fileURLToPath(new URL("./append-forever.ts", import.meta.url));
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
