/**
 * A new user's whole path, outside this repository: `cairn init` in a temp
 * folder (the packages packed from this checkout), `npm install` of those
 * tarballs as from the registry, `npm test`, `cairn dev`, the banner's curl
 * and cairn call lines, and a .proto edit that `cairn dev` regenerates and
 * serves with the installed CLI's `cairn gen` (the protos it ships in its
 * package). Bounded: every step has its own deadline, and everything it
 * starts is stopped.
 *
 * Kept fast while real: the packages are packed once (by init), the install
 * reads the npm cache (`--prefer-offline`; CI's `npm ci` fills it), and
 * better-sqlite3's install script finds its native binary as a local
 * prebuild (prebuild-install's documented `local_prebuilds` setting), made
 * from this checkout's build instead of downloaded from GitHub.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync, lstatSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import {
  ROOT,
  markdownSection,
  readmeCommands,
} from "../../../examples/shopping-cart/test/harness.js";
import { runReadme } from "../../../examples/shopping-cart/test/readme-runner.js";
import { BIN, startCli } from "./run-cli.js";
import type { CliProcess } from "./run-cli.js";

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const started = Date.now();
const steps: string[] = [];
/** Records how long each step took, printed at the end: the path must stay fast. */
function step(name: string): void {
  steps.push(`${name} ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
const root = mkdtempSync(join(tmpdir(), "cairn-new-project-"));
const app = join(root, "my-app");
let dev: CliProcess | undefined;

afterAll(async () => {
  await dev?.kill();
  rmSync(root, { recursive: true, force: true });
  process.stderr.write(`new-project path: ${steps.join(", ")}\n`);
});

/** The environment of a user's shell: none of the npm_* variables of the `npm test` running us. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !k.toLowerCase().startsWith("npm_") && k !== "FORCE_COLOR",
    ),
  );
  return { ...env, NO_COLOR: "1", ...extra };
}

/** better-sqlite3's binary from this checkout, laid out as prebuild-install looks for it. */
async function localPrebuilds(): Promise<string> {
  const pkg = dirname(require.resolve("better-sqlite3/package.json"));
  const { version } = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")) as {
    version: string;
  };
  const dir = join(root, "prebuilds");
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await run("mkdir", ["-p", dir]);
  await run("tar", ["-czf", join(dir, name), "-C", pkg, "build/Release/better_sqlite3.node"]);
  return dir;
}

/** The admin port from the banner's `cairn call ... --admin-port N` line. */
function adminPortOf(callLine: string): number {
  return Number(/--admin-port (\d+)/.exec(callLine)?.[1]);
}

async function sh(line: string, timeout = 20_000): Promise<string> {
  const { stdout } = await run("sh", ["-c", line], { cwd: app, env: userEnv(), timeout });
  return stdout;
}

describe("a project of one's own", () => {
  it(
    "inits, installs, generates, tests, runs under cairn dev and answers curl",
    { timeout: 300_000 },
    async () => {
      const prebuilds = localPrebuilds();
      const init = await run(process.execPath, [BIN, "init", app], {
        cwd: root,
        env: userEnv(),
        timeout: 120_000,
      });
      step("init");
      expect(init.stderr).toContain("cairn init: created my-app");
      const manifest = JSON.parse(readFileSync(join(app, "package.json"), "utf8")) as {
        scripts: Record<string, string>;
        dependencies: Record<string, string>;
      };
      expect(Object.keys(manifest.scripts)).toEqual(
        expect.arrayContaining(["dev", "test", "gen", "build"]),
      );
      expect(manifest.dependencies["@cairn/sdk"]).toMatch(
        /^file:cairn-packages\/cairn-sdk-.*\.tgz$/,
      );
      // Generated at init with the shipped annotation protos: no buf.yaml anywhere in the project.
      for (const file of [
        "counter/v1/counter_pb.ts",
        "cairn/options_pb.ts",
        "google/api/http_pb.ts",
      ]) {
        expect(readFileSync(join(app, "src/gen", file), "utf8")).toContain("@generated");
      }

      await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], {
        cwd: app,
        env: userEnv({ npm_config_better_sqlite3_local_prebuilds: await prebuilds }),
        timeout: 180_000,
      });
      step("install");
      // Installed as from the registry: real copies, not links into this checkout.
      const cli = join(app, "node_modules/@cairn/cli");
      expect(lstatSync(cli).isSymbolicLink()).toBe(false);
      expect(realpathSync(cli).startsWith(realpathSync(app))).toBe(true);

      // npm test (tsc, then vitest) runs while cairn dev starts: they share nothing but the folder.
      // Settled either way, so a failure here waits for the end instead of going unhandled.
      const test = run("npm", ["test"], { cwd: app, env: userEnv(), timeout: 120_000 }).then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );

      // `npm run dev` is `cairn dev src/main.ts`; free ports here, the default SQLite store.
      dev = startCli(
        ["dev", "src/main.ts", "--port", "0", "--admin-port", "0", "--function-port", "0"],
        {
          cwd: app,
          env: userEnv(),
          inheritEnv: false,
          bin: join(app, "node_modules/.bin/cairn"),
        },
      );
      await dev.waitForStderr(/grpcurl -plaintext \S+ list/, 60_000);
      step("dev ready");
      const cairn = `'${join(app, "node_modules/.bin/cairn")}'`;
      const banner = dev.stderr().split("\n");
      const increase = banner.find((l) =>
        /curl -X POST '\S+\/counters\/counter-1\/increase'/.test(l),
      );
      const call = banner.find((l) => l.trim().startsWith("cairn call Counter/"));
      expect(increase).toBeDefined();
      expect(JSON.parse(await sh(`${increase!.trim()} -sS --fail-with-body`))).toEqual({
        value: 1,
      });
      expect(JSON.parse(await sh(call!.trim().replace(/^cairn /, `${cairn} `)))).toEqual({
        value: 2,
      });
      const url = /curl -X POST '(http:\/\/[^/]+)/.exec(increase!)![1]!;
      // The READMEs' lines, as a user pastes them: this repository's "Start your own project",
      // then the new project's own, each on a fresh counter c1.
      const ports = { port: Number(new URL(url).port), adminPort: adminPortOf(call!) };
      const readme = (path: string, section?: string) => {
        const text = readFileSync(path, "utf8");
        // `npx cairn init` is the step this test made already.
        return readmeCommands(section === undefined ? text : markdownSection(text, section), [
          "curl ",
          "npx cairn call ",
          "npx cairn inspect ",
        ]);
      };
      const asUser = { cwd: app, cairn: cairn };
      await runReadme(readme(join(ROOT, "README.md"), "Start your own project"), ports, 2, asUser);
      await sh(`curl -sS --fail-with-body -X DELETE '${url}/counters/c1'`);
      await runReadme(readme(join(app, "README.md")), ports, 4, asUser);
      const withNote = `curl -sS -o /dev/null -w '%{http_code}' -X POST '${url}/counters/n1/increase' -H 'content-type: application/json' -d '{"by":1,"note":"hi"}'`;
      expect(await sh(withNote)).toBe("400"); // no such field yet

      // Save the proto with a new field: cairn dev regenerates src/gen and restarts.
      const proto = join(app, "proto/counter/v1/counter.proto");
      writeFileSync(
        proto,
        readFileSync(proto, "utf8").replace("int32 by = 2;", "int32 by = 2;\n  string note = 3;"),
      );
      await dev.waitForStderr(
        /regenerated \(a proto changed\)[\s\S]*Cairn dev runtime ready[\s\S]*grpcurl/,
        60_000,
      );
      expect(readFileSync(join(app, "src/gen/counter/v1/counter_pb.ts"), "utf8")).toContain(
        "note: string",
      );
      await expect.poll(() => sh(withNote), { timeout: 20_000, interval: 200 }).toBe("200");
      step("proto change served");

      dev.child.kill("SIGINT");
      expect(await dev.exited).toBe(0);
      const tested = await test;
      if ("error" in tested) throw tested.error;
      expect(tested.result.stdout).toMatch(/Tests\s+3 passed/);
      step("npm test");
    },
  );
});
