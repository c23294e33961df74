/**
 * The data layer of the stateless three-tier baseline (issue 14): what a
 * typical service does when it keeps no state between requests and loads and
 * stores it in the database on every request.
 *
 * - A counter is one row: an increment is one `INSERT ... ON CONFLICT DO
 *   UPDATE ... RETURNING` (one round trip, autocommit), a read one `SELECT`.
 * - A cart is one JSON document: adding an item reads it `FOR UPDATE`,
 *   changes it in code and writes it back, in one transaction (BEGIN, SELECT,
 *   UPDATE, COMMIT: four round trips on PostgreSQL), the read-modify-write
 *   that Cairn's entity does in memory. Reading it is one `SELECT`.
 *
 * Same durability as Cairn's stores: PostgreSQL commits as the server is
 * configured (fsync on), SQLite in WAL mode with `synchronous=FULL`.
 */
import Database from "better-sqlite3";
import pg from "pg";

/** A cart document, as stored and as answered (items sorted by product, like the sample's GetCart). */
export interface CartDoc {
  items: Record<string, { name: string; quantity: number }>;
  checkedOut: boolean;
}

/** A line to add to a cart. */
export interface CartLine {
  productId: string;
  name: string;
  quantity: number;
}

/** What the HTTP layer needs of a database. */
export interface TierDb {
  /** Adds `by` to the counter (created at 0) and returns the new value. */
  increment(id: string, by: number): Promise<number>;
  /** The counter's value, 0 when it does not exist. */
  get(id: string): Promise<number>;
  /** Adds a line to the cart (created empty); false when the cart is checked out. */
  addItem(id: string, line: CartLine): Promise<boolean>;
  /** The cart, empty when it does not exist. */
  getCart(id: string): Promise<CartDoc>;
  close(): Promise<void>;
}

const EMPTY_CART = JSON.stringify({ items: {}, checkedOut: false } satisfies CartDoc);

/** The document after adding `line`, or undefined when the cart refuses changes. */
function added(doc: CartDoc, line: CartLine): CartDoc | undefined {
  if (doc.checkedOut) return undefined;
  const quantity = (doc.items[line.productId]?.quantity ?? 0) + line.quantity;
  return { ...doc, items: { ...doc.items, [line.productId]: { name: line.name, quantity } } };
}

/**
 * The three-tier service on PostgreSQL, in schema `schema` (created fresh),
 * over a `pg` pool of `poolSize` connections (pg's default is 10).
 */
export async function openPostgresTier(
  url: string,
  schema: string,
  poolSize: number,
): Promise<TierDb> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  pool.on("error", () => undefined); // an idle connection lost: the next query reconnects
  const s = `"${schema}"`;
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${s}.counters (id TEXT PRIMARY KEY, value BIGINT NOT NULL)`,
  );
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${s}.carts (id TEXT PRIMARY KEY, doc JSONB NOT NULL)`,
  );
  const upsert = `INSERT INTO ${s}.counters (id, value) VALUES ($1, $2)
    ON CONFLICT (id) DO UPDATE SET value = counters.value + excluded.value RETURNING value`;
  return {
    async increment(id, by) {
      const { rows } = await pool.query<{ value: string }>(upsert, [id, by]);
      return Number(rows[0]!.value);
    },
    async get(id) {
      const { rows } = await pool.query<{ value: string }>(
        `SELECT value FROM ${s}.counters WHERE id = $1`,
        [id],
      );
      return Number(rows[0]?.value ?? 0);
    },
    async addItem(id, line) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const doc = await lockedCart(client, s, id);
        const next = added(doc, line);
        if (next !== undefined)
          await client.query(`UPDATE ${s}.carts SET doc = $2 WHERE id = $1`, [id, next]);
        await client.query("COMMIT");
        return next !== undefined;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async getCart(id) {
      const { rows } = await pool.query<{ doc: CartDoc }>(
        `SELECT doc FROM ${s}.carts WHERE id = $1`,
        [id],
      );
      return rows[0]?.doc ?? (JSON.parse(EMPTY_CART) as CartDoc);
    },
    close: () => pool.end(),
  };
}

/**
 * The cart's document, locked for the transaction. A cart seen for the first
 * time is created first: `FOR UPDATE` locks nothing on a missing row, and two
 * first adds racing would otherwise lose one of them.
 */
async function lockedCart(client: pg.PoolClient, s: string, id: string): Promise<CartDoc> {
  const select = `SELECT doc FROM ${s}.carts WHERE id = $1 FOR UPDATE`;
  const found = await client.query<{ doc: CartDoc }>(select, [id]);
  if (found.rows[0] !== undefined) return found.rows[0].doc;
  await client.query(
    `INSERT INTO ${s}.carts (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
    [id, EMPTY_CART],
  );
  const created = await client.query<{ doc: CartDoc }>(select, [id]);
  return created.rows[0]!.doc;
}

/**
 * The three-tier service on SQLite (a fresh file): WAL, `synchronous=FULL`,
 * one connection, every write its own fsync'd transaction, as a service
 * without group commit does. better-sqlite3 is synchronous, so a commit
 * blocks the service's event loop for its fsync.
 */
export function openSqliteTier(path: string): TierDb {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  db.exec(`CREATE TABLE IF NOT EXISTS counters (id TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS carts (id TEXT PRIMARY KEY, doc TEXT NOT NULL);`);
  const upsert = db.prepare<[string, number], { value: number }>(
    `INSERT INTO counters (id, value) VALUES (?, ?)
     ON CONFLICT (id) DO UPDATE SET value = value + excluded.value RETURNING value`,
  );
  const read = db.prepare<[string], { value: number }>("SELECT value FROM counters WHERE id = ?");
  const readCart = db.prepare<[string], { doc: string }>("SELECT doc FROM carts WHERE id = ?");
  const writeCart = db.prepare<[string, string]>(
    "INSERT INTO carts (id, doc) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
  );
  const addItem = db.transaction((id: string, line: CartLine): boolean => {
    const doc = JSON.parse(readCart.get(id)?.doc ?? EMPTY_CART) as CartDoc;
    const next = added(doc, line);
    if (next !== undefined) writeCart.run(id, JSON.stringify(next));
    return next !== undefined;
  });
  return {
    increment: (id, by) => Promise.resolve(upsert.get(id, by)!.value),
    get: (id) => Promise.resolve(read.get(id)?.value ?? 0),
    // IMMEDIATE: take the write lock before the read, as a read-modify-write must.
    addItem: (id, line) => Promise.resolve(addItem.immediate(id, line)),
    getCart: (id) => Promise.resolve(JSON.parse(readCart.get(id)?.doc ?? EMPTY_CART) as CartDoc),
    close: () => {
      db.close();
      return Promise.resolve();
    },
  };
}
