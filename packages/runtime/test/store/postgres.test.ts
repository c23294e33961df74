import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import {
  createPostgresStore,
  createStore,
  MIGRATIONS,
  SCHEMA_VERSION,
} from "../../src/store/index.js";
import { describeStoreConformance, freshRef, payload } from "./conformance.js";
import { pgExec, pgStoreUrl } from "./drivers.js";

/** One schema per test file run, dropped at the end, so parallel runs never meet. */
const schema = `cairn_test_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
const url = pgStoreUrl(schema);
const extraSchemas: string[] = [];

afterAll(async () => {
  for (const s of [schema, ...extraSchemas]) await pgExec(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
});

describeStoreConformance("postgres", (options) => createPostgresStore(url, options), {
  durable: true,
  propertyRuns: 30,
  fencing: true,
});

describe("postgres store", () => {
  it("migrates once when several processes open a new schema at the same time", async () => {
    const fresh = `cairn_test_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
    extraSchemas.push(fresh);
    const stores = await Promise.all(
      Array.from({ length: 4 }, () =>
        createStore(
          pgStoreUrl(fresh, (u) => {
            u.protocol = "postgresql:";
          }),
        ),
      ),
    );
    await Promise.all(stores.map((s) => s.close()));
    const rows = await pgExec<{ version: number }>(
      `SELECT version FROM "${fresh}".cairn_schema_migrations ORDER BY version`,
    );
    expect(rows.map((r) => r.version)).toEqual(
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
  });

  it("migrates a schema of version 1 forward on open, keeping its data", async () => {
    const old = `cairn_test_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
    extraSchemas.push(old);
    const s = `"${old}"`;
    await pgExec(`CREATE SCHEMA ${s}`);
    await pgExec(`CREATE TABLE ${s}.cairn_schema_migrations (
      version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    for (const sql of MIGRATIONS.find((m) => m.version === 1)?.postgres ?? []) {
      await pgExec(sql.replaceAll("{schema}", s));
    }
    await pgExec(`INSERT INTO ${s}.cairn_schema_migrations VALUES (1, 'v1', 0)`);
    await pgExec(`INSERT INTO ${s}.cairn_journal (entity_type, entity_id, sequence, type_url, payload, created_at)
      VALUES ('old', 'a', 1, 'x', '\\x01', 0)`);
    const store = await createPostgresStore(pgStoreUrl(old));
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
    const rows = await pgExec<{ version: number }>(
      `SELECT version FROM ${s}.cairn_schema_migrations ORDER BY version`,
    );
    expect(rows.map((r) => r.version)).toEqual(
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
  });

  it("fixes the shard count when the schema is created and refuses another one later", async () => {
    const fresh = `cairn_test_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
    extraSchemas.push(fresh);
    const first = await createPostgresStore(pgStoreUrl(fresh), { cluster: { shards: 16 } });
    expect(first.cluster?.shardCount).toBe(16);
    expect((await first.cluster?.listLeases())?.length).toBe(16);
    await first.close();
    // Without a count the stored one applies; with another count, opening fails and says why.
    const again = await createPostgresStore(pgStoreUrl(fresh));
    expect(again.cluster?.shardCount).toBe(16);
    await again.close();
    await expect(
      createPostgresStore(pgStoreUrl(fresh), { cluster: { shards: 32 } }),
    ).rejects.toThrow(/has 16 shards, fixed when its schema was created; 32 was asked for/);
    await expect(
      createPostgresStore(pgStoreUrl(fresh), { cluster: { shards: 0 } }),
    ).rejects.toThrow(/shard count 0 .*integer from 1 to 16384/);
  });

  it("names the server and the fix when it cannot connect", async () => {
    await expect(createStore("postgres://postgres:pw@127.0.0.1:1/test")).rejects.toThrow(
      /cannot open postgres store postgres:\/\/postgres@127\.0\.0\.1:1\/test: .*check the URL/,
    );
  });

  it("describes itself without the password", async () => {
    // The local server trusts any password; a configured server keeps its own.
    let password = "";
    const store = await createStore(
      pgStoreUrl(schema, (u) => {
        if (u.password === "") u.password = "secret";
        password = decodeURIComponent(u.password);
      }),
    );
    expect(store.kind).toBe("postgres");
    expect(store.description).not.toContain(password);
    expect(store.description).toContain(`schema=${schema}`);
    await store.close();
  });

  it("keeps offsets increasing with sequences when one batch holds many events of an entity", async () => {
    const store = await createPostgresStore(url);
    const ref = freshRef();
    await Promise.all([
      store.append({ ...ref, expectedSequence: 0, events: ["a", "b"].map(payload) }),
      store.append({ ...freshRef(), expectedSequence: 0, events: [payload("x")] }),
      store.append({ ...ref, expectedSequence: 2, events: ["c", "d"].map(payload) }),
    ]);
    const offsets = (await store.loadEvents(ref, 0)).map((e) => e.offset);
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
    await store.close();
  });
});
