/**
 * The files of a new project: the template folder shipped with the CLI
 * (proto/, src/, test/, tsconfig, README), and a package.json written here
 * because its dependencies depend on where the packages come from.
 */
import { cpSync, existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { PackageSpecs } from "./packages.js";

/** The template folder in the CLI package. */
const TEMPLATE = fileURLToPath(new URL("../../templates/project", import.meta.url));

/**
 * Versions of the tools a project develops with. They follow this
 * repository's own (a test checks it), so an install from a warm npm cache
 * needs no network.
 */
const TOOLS = JSON.parse(
  readFileSync(new URL("../../templates/tools.json", import.meta.url), "utf8"),
) as Readonly<Record<string, string>>;

/** Packages whose install scripts a project runs (npm's allowScripts). */
const INSTALL_SCRIPTS = ["@bufbuild/buf", "better-sqlite3", "esbuild", "protobufjs"];

/** Whether a folder can take a new project: missing, or empty but for a .git. */
export function isFreeFolder(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).every((entry) => entry === ".git");
}

/** A valid npm package name from a folder name: "My App" → "my-app". */
export function packageName(folder: string): string {
  const name = folder
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[._-]+|[-]+$/g, "");
  return name === "" ? "cairn-app" : name.slice(0, 214);
}

/** The project's package.json. */
export function projectManifest(
  name: string,
  specs: PackageSpecs,
  protobufRange: string,
): Record<string, unknown> {
  const tarballs = specs.sdk.startsWith("file:");
  return {
    name,
    version: "0.1.0",
    private: true,
    type: "module",
    scripts: {
      dev: "cairn dev src/main.ts",
      test: "tsc && vitest run",
      gen: "cairn gen",
      build: "cairn gen && tsc -p tsconfig.build.json",
      start: "node dist/main.js",
    },
    dependencies: { "@cairn/sdk": specs.sdk, "@bufbuild/protobuf": protobufRange },
    devDependencies: {
      "@cairn/cli": specs.cli,
      ...TOOLS,
    },
    // The SDK and the CLI depend on these by version; until they are on the
    // registry, the tarballs must stand in for them there too.
    ...(tarballs
      ? {
          overrides: {
            "@cairn/protocol": specs.protocol,
            "@cairn/crdt": specs.crdt,
            "@cairn/runtime": specs.runtime,
          },
        }
      : {}),
    engines: { node: ">=20.19" },
    allowScripts: Object.fromEntries(INSTALL_SCRIPTS.map((p) => [p, true])),
  };
}

/** Copies the template into `dir` and writes the package.json. */
export function writeProject(dir: string, manifest: Record<string, unknown>): void {
  cpSync(TEMPLATE, dir, { recursive: true });
  // npm pack never ships a file named .gitignore, so the template holds it as gitignore.
  renameSync(join(dir, "gitignore"), join(dir, ".gitignore"));
  const readme = join(dir, "README.md");
  writeFileSync(
    readme,
    readFileSync(readme, "utf8").replaceAll("{{name}}", String(manifest["name"])),
  );
  writeFileSync(join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}
