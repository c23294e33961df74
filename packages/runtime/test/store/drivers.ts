/**
 * The database drivers, for tests that look at the files and tables directly.
 * Loaded through require because lint type-checks test files in a default
 * project without esModuleInterop, where `import pg from "pg"` has no type.
 */
import { createRequire } from "node:module";
import type { Database as SqliteDatabase, Options as SqliteOptions } from "better-sqlite3";
import type * as PgTypes from "pg";

const require = createRequire(import.meta.url);

/** better-sqlite3's Database class. */
export const Database = require("better-sqlite3") as new (
  path: string,
  options?: SqliteOptions,
) => SqliteDatabase;

/** The pg module. */
export const pg = require("pg") as typeof PgTypes;

/**
 * The test PostgreSQL server: `CAIRN_TEST_POSTGRES_URL`, else the local one
 * (user postgres, trust auth), as the README says.
 */
export const PG_SERVER =
  process.env.CAIRN_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/**
 * A store location on the test server with a schema of its own; `change`
 * may alter the URL further (scheme, password) for tests of URL handling.
 */
export function pgStoreUrl(schema: string, change?: (url: URL) => void): string {
  const url = new URL(PG_SERVER);
  url.searchParams.set("schema", schema);
  change?.(url);
  return url.toString();
}

/** Runs one statement on the test server with a short-lived client. */
export async function pgExec<R extends PgTypes.QueryResultRow = PgTypes.QueryResultRow>(
  sql: string,
): Promise<R[]> {
  const client = new pg.Client(PG_SERVER);
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}
