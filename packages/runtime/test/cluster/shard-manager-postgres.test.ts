/**
 * Two shard managers over a real PostgreSQL schema, on the real clock with
 * short timings: the lease statements do what the memory store's do.
 */
import { randomUUID } from "node:crypto";
import { afterAll, expect, it } from "vitest";
import { createShardManager } from "../../src/cluster/shard-manager.js";
import type { ShardManager } from "../../src/cluster/shard-manager.js";
import { createPostgresStore } from "../../src/store/index.js";
import type { Store } from "../../src/store/types.js";
import { pgExec, pgStoreUrl } from "../store/drivers.js";

const schema = `cairn_test_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
const stores: Store[] = [];
const managers: ShardManager[] = [];

afterAll(async () => {
  await Promise.all(managers.map((m) => m.stop().catch(() => undefined)));
  await Promise.all(stores.map((s) => s.close()));
  await pgExec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
});

async function node(id: string): Promise<ShardManager> {
  const store = await createPostgresStore(pgStoreUrl(schema), { cluster: { shards: 16 } });
  stores.push(store);
  const manager = createShardManager({
    store: store.cluster!,
    nodeId: id,
    address: `127.0.0.1:${9100 + managers.length}`,
    heartbeatMs: 100,
    leaseMs: 800,
    memberTimeoutMs: 400,
  });
  managers.push(manager);
  await manager.start();
  return manager;
}

async function until(what: string, ok: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

it("splits the shards between two nodes over PostgreSQL, and gives them all to one when the other stops", async () => {
  const a = await node("a");
  expect(a.held()).toHaveLength(16);
  const b = await node("b");
  const cluster = stores[0]!.cluster!;
  await until("both nodes hold shards and every lease is taken", async () => {
    const leases = await cluster.listLeases();
    return (
      a.held().length + b.held().length === 16 &&
      b.held().length > 0 &&
      leases.every((l) => l.owner !== undefined)
    );
  });
  const leases = await cluster.listLeases();
  for (const l of leases) {
    const holder = l.owner === "a" ? a : b;
    expect(holder.fence(l.shard)).toEqual({ shard: l.shard, epoch: l.epoch });
  }
  await b.stop();
  await until("a holds every shard again", () => Promise.resolve(a.held().length === 16));
  expect((await cluster.listMembers()).map((m) => m.nodeId)).toEqual(["a"]);
});
