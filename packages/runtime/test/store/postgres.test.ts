import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createPostgresStore, createStore, SCHEMA_VERSION } from "../../src/store/index.js";
import { describeStoreConformance, freshRef, payload } from "./conformance.js";
import { PG_SERVER as SERVER, pgExec } from "./drivers.js";

/** One schema per test file run, dropped at the end, so parallel runs never meet. */
const schema = `cairn_test_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
const url = `${SERVER}?schema=${schema}`;
const extraSchemas: string[] = [];

afterAll(async () => {
  for (const s of [schema, ...extraSchemas]) await pgExec(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
});

describeStoreConformance("postgres", (options) => createPostgresStore(url, options), {
  durable: true,
  propertyRuns: 30,
});

describe("postgres store", () => {
  it("migrates once when several processes open a new schema at the same time", async () => {
    const fresh = `cairn_test_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
    extraSchemas.push(fresh);
    const stores = await Promise.all(
      Array.from({ length: 4 }, () =>
        createStore(`postgresql://postgres@127.0.0.1:5432/test?schema=${fresh}`),
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

  it("names the server and the fix when it cannot connect", async () => {
    await expect(createStore("postgres://postgres:pw@127.0.0.1:1/test")).rejects.toThrow(
      /cannot open postgres store postgres:\/\/postgres@127\.0\.0\.1:1\/test: .*check the URL/,
    );
  });

  it("describes itself without the password", async () => {
    const store = await createStore(
      `postgres://postgres:secret@127.0.0.1:5432/test?schema=${schema}`,
    );
    expect(store.kind).toBe("postgres");
    expect(store.description).not.toContain("secret");
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
