/** The names of the side-by-side run's sites and workloads (issue 14), shared by options and the run. */

/** Where the database is: local PostgreSQL, a local SQLite file, PostgreSQL behind the delay relay. */
export const VS_SITES = ["pg", "sqlite", "pg-remote"] as const;
export type VsSite = (typeof VS_SITES)[number];

/** The workloads, in the order they run (writes first, so reads find the keys). */
export const VS_WORKLOADS = [
  "write-1000",
  "write-hot",
  "write-serial",
  "read-1000",
  "read-hot",
  "read-serial",
  "cart-mix",
] as const;
export type VsWorkload = (typeof VS_WORKLOADS)[number];
