/**
 * The annotation protos a user's `.proto` files import
 * (`cairn/options.proto` for `(cairn.entity_key)`, `google/api/annotations.proto`
 * for HTTP routes), found where the installed CLI ships them, so a project
 * needs no `buf.yaml` and no copy of its own.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** One importable proto: its import path and its file. */
export interface ImportProto {
  /** As written in an import statement, e.g. "cairn/options.proto". */
  readonly path: string;
  /** Absolute location on disk. */
  readonly file: string;
}

/** Import paths the CLI provides. */
export const SHIPPED = [
  "cairn/options.proto",
  "google/api/annotations.proto",
  "google/api/http.proto",
] as const;

/** The CLI package's folder (this file is dist/gen/imports.js in it). */
const PACKAGE = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The shipped protos: the package's `proto/` folder (filled when it is
 * packed), else, in a source checkout, their sources: the repository's
 * `proto/` and the google-proto-files package.
 */
export function shippedImports(): { value: ImportProto[] } | { error: string } {
  const packaged = SHIPPED.map((path) => ({ path, file: join(PACKAGE, "proto", path) }));
  if (packaged.every((p) => existsSync(p.file))) return { value: packaged };
  const checkout = checkoutImports();
  if (checkout !== undefined) return { value: checkout };
  return {
    error: `the CLI package at ${PACKAGE} has no proto/ folder with ${SHIPPED.join(", ")}: reinstall @cairn/cli`,
  };
}

function checkoutImports(): ImportProto[] | undefined {
  const options = join(PACKAGE, "..", "..", "proto", "cairn", "options.proto");
  let google: string;
  try {
    google = dirname(createRequire(import.meta.url).resolve("google-proto-files/package.json"));
  } catch {
    return undefined;
  }
  const found = [
    { path: SHIPPED[0], file: options },
    { path: SHIPPED[1], file: join(google, SHIPPED[1]) },
    { path: SHIPPED[2], file: join(google, SHIPPED[2]) },
  ];
  return found.every((p) => existsSync(p.file)) ? found : undefined;
}
