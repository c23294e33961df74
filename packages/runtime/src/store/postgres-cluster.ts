/**
 * Shards, leases and fencing on PostgreSQL (docs/decisions/0009). Leases are
 * rows of `cairn_leases`, one per shard, created with the schema; taking,
 * renewing and releasing them are conditional UPDATEs judged on the
 * database's clock, so nodes' clocks never need to agree.
 *
 * The fence check runs first in every batch transaction that carries a
 * fence: it reads the batch's lease rows FOR SHARE. A node taking a shard
 * over updates that row, which waits for the lock, so a takeover can only
 * commit after every batch that passed the check under the old epoch has
 * committed, and every batch that checks after it sees the new epoch. That
 * is what makes a paused writer harmless: whenever it wakes, its commit
 * finds the newer epoch and stores nothing.
 */
import type pg from "pg";
import type { ClusterStore, Fence, Lease, Member } from "./cluster.js";
import { DEFAULT_SHARD_COUNT } from "./cluster.js";
import { fenceOf } from "./group-commit.js";
import type { Outcome, Write } from "./group-commit.js";

/** The database's clock in epoch milliseconds: every lease time is judged on it. */
const NOW = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

interface LeaseRow {
  shard: number;
  owner: string | null;
  epoch: string;
  expires_at: string;
}

function toLease(r: LeaseRow): Lease {
  return {
    shard: r.shard,
    owner: r.owner ?? undefined,
    epoch: Number(r.epoch),
    expiresAt: Number(r.expires_at),
  };
}

/** Most shards a schema may have: more only costs lease rows and renewal work. */
export const MAX_SHARD_COUNT = 16384;

/**
 * Inside the migration transaction: records the shard count and creates the
 * lease rows the first time, and checks a configured count against the
 * stored one after that. Resolves to the schema's shard count.
 */
export async function initPostgresCluster(
  client: pg.PoolClient,
  schema: string,
  location: string,
  shards: number | undefined,
): Promise<number> {
  if (
    shards !== undefined &&
    !(Number.isSafeInteger(shards) && shards >= 1 && shards <= MAX_SHARD_COUNT)
  ) {
    throw new Error(
      `shard count ${shards} for store ${location} is invalid; use an integer from 1 to ${MAX_SHARD_COUNT} (default ${DEFAULT_SHARD_COUNT})`,
    );
  }
  const created = await client.query(
    `INSERT INTO ${schema}.cairn_cluster (id, shard_count, created_at) VALUES (1, $1, $2) ON CONFLICT DO NOTHING`,
    [shards ?? DEFAULT_SHARD_COUNT, Date.now()],
  );
  const { rows } = await client.query<{ shard_count: number }>(
    `SELECT shard_count FROM ${schema}.cairn_cluster WHERE id = 1`,
  );
  const count = rows[0]?.shard_count ?? DEFAULT_SHARD_COUNT;
  if (created.rowCount === 1) {
    await client.query(
      `INSERT INTO ${schema}.cairn_leases (shard, owner, epoch, expires_at)
       SELECT g, NULL, 0, 0 FROM generate_series(0, $1::int - 1) AS g`,
      [count],
    );
  } else if (shards !== undefined && shards !== count) {
    throw new Error(
      `store ${location} has ${count} shards, fixed when its schema was created; ${shards} was asked for. Drop the shard setting (or set it to ${count}), or use a new schema`,
    );
  }
  return count;
}

/**
 * The writes of a batch (by index) whose fence no longer holds, with the
 * lease as found; empty, without a query, when no write carries a fence.
 * Locks the batch's lease rows FOR SHARE until the transaction ends.
 */
export async function fencedWrites(
  client: pg.PoolClient,
  schema: string,
  writes: readonly Write[],
): Promise<Map<number, Outcome>> {
  const fenced = new Map<number, Outcome>();
  const fences = writes.map(fenceOf);
  const shards = [...new Set(fences.flatMap((f) => (f ? [f.shard] : [])))];
  if (shards.length === 0) return fenced;
  // Ordered, so two batches lock lease rows in one order and never deadlock.
  shards.sort((a, b) => a - b);
  const { rows } = await client.query<LeaseRow & { live: boolean }>(
    `SELECT shard, owner, epoch, expires_at, expires_at > ${NOW} AS live
     FROM ${schema}.cairn_leases WHERE shard = ANY($1::int[]) ORDER BY shard FOR SHARE`,
    [shards],
  );
  const found = new Map(rows.map((r) => [r.shard, r]));
  fences.forEach((fence, i) => {
    if (fence === undefined) return;
    const row = found.get(fence.shard);
    if (row && row.owner !== null && row.live && Number(row.epoch) === fence.epoch) return;
    fenced.set(i, { kind: "fenced", fence, current: row && toLease(row) });
  });
  return fenced;
}

/** {@link ClusterStore} over the pool: each call is one autocommitted statement. */
export class PostgresCluster implements ClusterStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    readonly shardCount: number,
  ) {}

  async acquireLeases(node: string, shards: readonly number[], ttlMs: number): Promise<Lease[]> {
    if (shards.length === 0) return [];
    const t = `${this.schema}.cairn_leases`;
    // Rows locked in shard order first (as the fence check does), so lease
    // statements and batches never deadlock on each other.
    const { rows } = await this.pool.query<LeaseRow>(
      `WITH free AS (SELECT shard FROM ${t} WHERE shard = ANY($2::int[])
         AND (owner IS NULL OR expires_at <= ${NOW}) ORDER BY shard FOR UPDATE)
       UPDATE ${t} l SET owner = $1, epoch = l.epoch + 1, expires_at = ${NOW} + $3
       FROM free WHERE l.shard = free.shard
       RETURNING l.shard, l.owner, l.epoch, l.expires_at`,
      [node, shards, ttlMs],
    );
    return rows.map(toLease).sort((a, b) => a.shard - b.shard);
  }

  async renewLeases(node: string, held: readonly Fence[], ttlMs: number): Promise<Lease[]> {
    if (held.length === 0) return [];
    const t = `${this.schema}.cairn_leases`;
    const { rows } = await this.pool.query<LeaseRow>(
      `WITH mine AS (SELECT l.shard FROM ${t} l
         JOIN unnest($2::int[], $3::bigint[]) AS h(shard, epoch) ON l.shard = h.shard AND l.epoch = h.epoch
         WHERE l.owner = $1 AND l.expires_at > ${NOW} ORDER BY l.shard FOR UPDATE OF l)
       UPDATE ${t} l SET expires_at = ${NOW} + $4 FROM mine WHERE l.shard = mine.shard
       RETURNING l.shard, l.owner, l.epoch, l.expires_at`,
      [node, held.map((f) => f.shard), held.map((f) => f.epoch), ttlMs],
    );
    return rows.map(toLease).sort((a, b) => a.shard - b.shard);
  }

  async releaseLeases(node: string, held: readonly Fence[]): Promise<void> {
    if (held.length === 0) return;
    const t = `${this.schema}.cairn_leases`;
    await this.pool.query(
      `WITH mine AS (SELECT l.shard FROM ${t} l
         JOIN unnest($2::int[], $3::bigint[]) AS h(shard, epoch) ON l.shard = h.shard AND l.epoch = h.epoch
         WHERE l.owner = $1 ORDER BY l.shard FOR UPDATE OF l)
       UPDATE ${t} l SET owner = NULL, expires_at = 0 FROM mine WHERE l.shard = mine.shard`,
      [node, held.map((f) => f.shard), held.map((f) => f.epoch)],
    );
  }

  async listLeases(): Promise<Lease[]> {
    const { rows } = await this.pool.query<LeaseRow>(
      `SELECT shard, owner, epoch, expires_at FROM ${this.schema}.cairn_leases ORDER BY shard`,
    );
    return rows.map(toLease);
  }

  async heartbeat(nodeId: string, address: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.schema}.cairn_members (node_id, address, heartbeat_at, joined_at)
       VALUES ($1, $2, ${NOW}, ${NOW})
       ON CONFLICT (node_id) DO UPDATE SET address = excluded.address, heartbeat_at = excluded.heartbeat_at`,
      [nodeId, address],
    );
  }

  async listMembers(): Promise<Member[]> {
    const { rows } = await this.pool.query<{
      node_id: string;
      address: string;
      heartbeat_at: string;
      joined_at: string;
      age: string;
    }>(
      `SELECT node_id, address, heartbeat_at, joined_at, ${NOW} - heartbeat_at AS age
       FROM ${this.schema}.cairn_members ORDER BY node_id`,
    );
    return rows.map((r) => ({
      nodeId: r.node_id,
      address: r.address,
      heartbeatAt: Number(r.heartbeat_at),
      joinedAt: Number(r.joined_at),
      ageMs: Math.max(0, Number(r.age)),
    }));
  }

  async leave(nodeId: string): Promise<void> {
    await this.pool.query(`DELETE FROM ${this.schema}.cairn_members WHERE node_id = $1`, [nodeId]);
  }
}
