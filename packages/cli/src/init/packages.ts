/**
 * Where a new project's @cairn packages come from: the npm registry, or,
 * before they are published, `npm pack` tarballs of a checkout of the Cairn
 * repository, copied into the project so that it installs them exactly as it
 * would from the registry (real copies, their own dependencies resolved by
 * npm), offline-capable and independent of the checkout afterwards.
 */
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CliError, EXIT_USAGE } from "../errors.js";

/** The packages a project uses: the SDK at run time, the CLI to develop, and theirs. */
export const CAIRN_PACKAGES = ["protocol", "crdt", "sdk", "runtime", "cli"] as const;
/** One of {@link CAIRN_PACKAGES}. */
export type CairnPackage = (typeof CAIRN_PACKAGES)[number];

/** The folder of a project that holds the tarballs. */
export const TARBALL_FOLDER = "cairn-packages";

/** How the project's package.json names each package. */
export type PackageSpecs = Readonly<Record<CairnPackage, string>>;

/** This CLI's package folder (this file is dist/init/packages.js in it). */
const CLI_PACKAGE = fileURLToPath(new URL("../../", import.meta.url));

/** The source checkout this CLI runs from, if it runs from one. */
export function runningCheckout(): string | undefined {
  const root = resolve(CLI_PACKAGE, "..", "..");
  return isCheckout(root) ? root : undefined;
}

function isCheckout(dir: string): boolean {
  const manifest = join(dir, "package.json");
  if (!existsSync(manifest) || !existsSync(join(dir, "packages", "cli", "package.json")))
    return false;
  const pkg = JSON.parse(readFileSync(manifest, "utf8")) as { workspaces?: unknown };
  return Array.isArray(pkg.workspaces) && pkg.workspaces.includes("packages/cli");
}

/**
 * Resolves `--packages`: "registry" → `^<version>` ranges; a checkout →
 * packed from it; a folder of tarballs → copied. The tarballs land in
 * `<project>/cairn-packages/` and are named by `file:` specs.
 */
export async function providePackages(
  source: string,
  project: string,
  version: string,
): Promise<{ specs: PackageSpecs; from: string }> {
  if (source === "registry") {
    const range = `^${version}`;
    return { specs: specsFor(() => range), from: "the npm registry" };
  }
  const dir = resolve(source);
  if (!existsSync(dir)) {
    throw new CliError(
      `--packages ${source}: no such folder; pass a Cairn checkout, a folder of npm pack tarballs, or "registry"`,
      EXIT_USAGE,
    );
  }
  const dest = join(project, TARBALL_FOLDER);
  mkdirSync(dest, { recursive: true });
  const files = isCheckout(dir) ? await packCheckout(dir, dest) : copyTarballs(dir, dest);
  return {
    specs: specsFor((name) => `file:${TARBALL_FOLDER}/${files[name]}`),
    from: isCheckout(dir) ? `the checkout at ${dir} (npm pack)` : `the tarballs in ${dir}`,
  };
}

function specsFor(spec: (name: CairnPackage) => string): PackageSpecs {
  return Object.fromEntries(CAIRN_PACKAGES.map((n) => [n, spec(n)])) as Record<
    CairnPackage,
    string
  >;
}

/** `npm pack` of each package into `dest`; needs the checkout built. */
async function packCheckout(root: string, dest: string): Promise<Record<CairnPackage, string>> {
  const unbuilt = CAIRN_PACKAGES.filter(
    (n) => !existsSync(join(root, "packages", n, "dist", "index.js")),
  );
  if (unbuilt.length > 0) {
    throw new CliError(
      `the checkout at ${root} is not built (no dist/ in ${unbuilt.map((n) => `packages/${n}`).join(", ")}): run 'npm ci && npm run build' there first`,
    );
  }
  const args = ["pack", ...CAIRN_PACKAGES.flatMap((n) => ["--workspace", `packages/${n}`])];
  const packed = await npm([...args, "--pack-destination", dest, "--json"], root);
  const entries = JSON.parse(packed) as Array<{ name: string; filename: string }>;
  return byPackage(
    entries.map((e) => [e.name, basename(e.filename)]),
    root,
  );
}

/** Copies `cairn-<name>-<version>.tgz` of each package from a folder. */
function copyTarballs(dir: string, dest: string): Record<CairnPackage, string> {
  const found = readdirSync(dir)
    .map((file) => [/^cairn-([a-z]+)-\d[^/]*\.tgz$/.exec(file)?.[1], file] as const)
    .filter((pair): pair is readonly [string, string] => pair[0] !== undefined);
  const files = byPackage(
    found.map(([name, file]) => [`@cairn/${name}`, file]),
    dir,
  );
  for (const file of Object.values(files)) copyFileSync(join(dir, file), join(dest, file));
  return files;
}

function byPackage(
  pairs: ReadonlyArray<readonly [string, string]>,
  where: string,
): Record<CairnPackage, string> {
  const files: Partial<Record<CairnPackage, string>> = {};
  for (const [name, file] of pairs) {
    const short = name.replace(/^@cairn\//, "") as CairnPackage;
    if (CAIRN_PACKAGES.includes(short)) files[short] = file;
  }
  const missing = CAIRN_PACKAGES.filter((n) => files[n] === undefined);
  if (missing.length > 0) {
    throw new CliError(
      `no tarball of ${missing.map((n) => `@cairn/${n}`).join(", ")} in ${where}: make them with 'npm run pack' in a Cairn checkout`,
      EXIT_USAGE,
    );
  }
  return files as Record<CairnPackage, string>;
}

function npm(args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      "npm",
      args,
      { cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err === null) return resolvePromise(stdout);
        reject(
          new CliError(
            `npm ${args.slice(0, 1).join(" ")} failed in ${cwd}: ${stderr.trim() || err.message}`,
          ),
        );
      },
    );
  });
}
