import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-init-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const manifestOf = (app: string) =>
  JSON.parse(readFileSync(join(dir, app, "package.json"), "utf8")) as {
    name: string;
    scripts: Record<string, string>;
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
    overrides?: Record<string, string>;
  };

describe("cairn init", () => {
  it("lays out a project that takes the published packages with --packages registry", async () => {
    const result = await runCli(["init", "My App", "--packages", "registry"], {
      cwd: dir,
      timeoutMs: 60_000,
    });
    expect(result.stderr).toContain(
      "cairn init: created my-app in My App (@cairn packages from the npm registry",
    );
    expect(result.stderr).toContain("npm install");
    const manifest = manifestOf("My App");
    expect(manifest).toMatchObject({
      name: "my-app",
      scripts: { dev: "cairn dev src/main.ts", gen: "cairn gen", test: "tsc && vitest run" },
      dependencies: { "@cairn/sdk": "^0.1.0" },
      devDependencies: { "@cairn/cli": "^0.1.0" },
    });
    expect(manifest.overrides).toBeUndefined();
    expect(readdirSync(join(dir, "My App")).sort()).toEqual(
      [
        ".gitignore",
        "README.md",
        "package.json",
        "proto",
        "src",
        "test",
        "tsconfig.build.json",
        "tsconfig.json",
      ].sort(),
    );
    expect(readFileSync(join(dir, "My App/README.md"), "utf8")).toMatch(/^# my-app\n/);
    expect(readFileSync(join(dir, "My App/src/gen/counter/v1/counter_pb.ts"), "utf8")).toContain(
      "export const Counter",
    );
  });

  it("copies npm pack tarballs from a folder and points every @cairn package at them", async () => {
    const packs = join(dir, "packs");
    mkdirSync(packs);
    for (const name of ["protocol", "crdt", "sdk", "runtime", "cli"]) {
      writeFileSync(join(packs, `cairn-${name}-0.1.0.tgz`), "");
    }
    const result = await runCli(["init", "app", "--packages", packs], {
      cwd: dir,
      timeoutMs: 60_000,
    });
    expect(result.code).toBe(0);
    const manifest = manifestOf("app");
    expect(manifest.dependencies["@cairn/sdk"]).toBe("file:cairn-packages/cairn-sdk-0.1.0.tgz");
    expect(manifest.devDependencies["@cairn/cli"]).toBe("file:cairn-packages/cairn-cli-0.1.0.tgz");
    // The SDK and the CLI ask for these by version: the overrides make npm take the tarballs.
    expect(manifest.overrides).toEqual({
      "@cairn/protocol": "file:cairn-packages/cairn-protocol-0.1.0.tgz",
      "@cairn/crdt": "file:cairn-packages/cairn-crdt-0.1.0.tgz",
      "@cairn/runtime": "file:cairn-packages/cairn-runtime-0.1.0.tgz",
    });
    expect(readdirSync(join(dir, "app/cairn-packages")).sort()).toHaveLength(5);
  });

  it("refuses a folder with files in it, and a tarball folder that lacks a package", async () => {
    mkdirSync(join(dir, "full"));
    writeFileSync(join(dir, "full/notes.txt"), "mine");
    const full = await runCli(["init", "full", "--packages", "registry"], { cwd: dir });
    expect(full.code).toBe(2);
    expect(full.stderr).toContain("full is not empty");
    expect(readdirSync(join(dir, "full"))).toEqual(["notes.txt"]);

    mkdirSync(join(dir, "packs"));
    writeFileSync(join(dir, "packs/cairn-sdk-0.1.0.tgz"), "");
    const partial = await runCli(["init", "app", "--packages", join(dir, "packs")], { cwd: dir });
    expect(partial.code).toBe(2);
    expect(partial.stderr).toContain(
      "no tarball of @cairn/protocol, @cairn/crdt, @cairn/runtime, @cairn/cli",
    );
    // Nothing half-made is left behind.
    expect(existsSync(join(dir, "app"))).toBe(false);
  });

  it("gives a project the tool versions this repository builds with", () => {
    const root = JSON.parse(
      readFileSync(new URL("../../../package.json", import.meta.url), "utf8"),
    ) as { devDependencies: Record<string, string> };
    const tools = JSON.parse(
      readFileSync(new URL("../templates/tools.json", import.meta.url), "utf8"),
    ) as Record<string, string>;
    for (const [name, range] of Object.entries(tools)) {
      expect(range, name).toBe(root.devDependencies[name]);
    }
  });
});
