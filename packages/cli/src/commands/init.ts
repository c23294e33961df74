/**
 * `cairn init <dir>`: a complete project of the user's own, anywhere: a
 * sample contract in proto/ (an entity key, HTTP routes), a component and
 * its main, a testkit test, the scripts (dev, test, gen, build), and the
 * generated code, so `npm install` is the only step before `npm test`.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import type { Command } from "commander";
import { CliError, EXIT_USAGE } from "../errors.js";
import { generate } from "../gen/generate.js";
import type { SyncResult } from "../gen/sync.js";
import { providePackages, runningCheckout } from "../init/packages.js";
import { isFreeFolder, packageName, projectManifest, writeProject } from "../init/scaffold.js";
import { say } from "../lifecycle.js";
import { GEN_DEFAULTS } from "./gen.js";

interface InitFlags {
  readonly packages?: string;
  readonly name?: string;
}

const EXAMPLES = `
Where the @cairn packages come from (--packages):
  registry          the npm registry (the default once they are published)
  <checkout>        a checkout of the Cairn repository, built: packed with
                    npm pack into <dir>/cairn-packages/ (the default when
                    this cairn runs from a checkout)
  <folder>          a folder of npm pack tarballs (npm run pack in a checkout)

Examples:
  $ npx cairn init ../my-app            from a Cairn checkout
  $ npx @cairn/cli init my-app          once published
  $ cairn init my-app --packages ~/cairn/dist-packages`;

/** Registers the `init` command. */
export function registerInit(program: Command, version: string): void {
  program
    .command("init")
    .description("create a new Cairn project in <dir>: proto, code, a test, scripts")
    .argument("<dir>", "folder for the project (new, or empty)")
    .option(
      "--packages <source>",
      'where @cairn packages come from: "registry", a checkout or a folder of tarballs',
    )
    .option("--name <name>", "the package name (default: from the folder's name)")
    .addHelpText("after", EXAMPLES)
    .action(async (dir: string, flags: InitFlags) => {
      await init(dir, flags, version);
    });
}

async function init(dir: string, flags: InitFlags, version: string): Promise<void> {
  const target = resolve(dir);
  if (!isFreeFolder(target)) {
    throw new CliError(
      `${dir} is not empty: cairn init creates a project in a new or empty folder; pick another one`,
      EXIT_USAGE,
    );
  }
  const source = flags.packages ?? runningCheckout() ?? "registry";
  const name = flags.name ?? packageName(basename(target));
  const existed = existsSync(target);
  const { from, gen } = await createProject(target, name, source, version).catch((err: unknown) => {
    // Half a project is worse than none: a second try must find the folder free again.
    if (existed) clearFolder(target);
    else rmSync(target, { recursive: true, force: true });
    throw err;
  });
  const shown = relative(process.cwd(), target) || ".";
  say(
    [
      `cairn init: created ${name} in ${shown} (@cairn packages from ${from}; ${gen.total} generated files in ${GEN_DEFAULTS.out})`,
      "",
      "Next:",
      `  cd ${shown}`,
      "  npm install",
      "  npm test          # type-checks, then the testkit tests in test/",
      "  npm run dev       # a local runtime on :9000 and your function, restarted on save",
      "",
      "Then, in another terminal:",
      `  curl -X POST localhost:9000/counters/c1/increase -H 'content-type: application/json' -d '{"by": 2}'`,
      "",
    ].join("\n"),
  );
}

async function createProject(
  target: string,
  name: string,
  source: string,
  version: string,
): Promise<{ from: string; gen: SyncResult }> {
  const { specs, from } = await providePackages(source, target, version);
  writeProject(target, projectManifest(name, specs, protobufRange()));
  const gen = await generate({
    protoDir: GEN_DEFAULTS.proto,
    outDir: GEN_DEFAULTS.out,
    cwd: target,
  });
  return { from, gen };
}

/** Empties a folder that was empty but for a .git before init wrote into it. */
function clearFolder(dir: string): void {
  for (const entry of readdirSync(dir)) {
    if (entry !== ".git") rmSync(join(dir, entry), { recursive: true, force: true });
  }
}

/** The @bufbuild/protobuf range the SDK and the CLI use: generated code must match it. */
function protobufRange(): string {
  const manifest = JSON.parse(
    readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
  ) as { dependencies: Record<string, string> };
  const range = manifest.dependencies["@bufbuild/protobuf"];
  if (range === undefined) throw new CliError("@cairn/cli's package.json lacks @bufbuild/protobuf");
  return range;
}
