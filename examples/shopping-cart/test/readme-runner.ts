/** Runs README commands (see `readmeCommands`) against a test runtime. */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "vitest";
import {
  ROOT,
  markdownSection,
  readmeCommands,
  startFunction,
  startRuntime,
  tempDir,
} from "./harness.js";
import type { Proc, ReadmeCommand } from "./harness.js";

const sh = promisify(execFile);
const CLI = join(ROOT, "packages/cli/dist/bin.js");

/** What {@link runReadmeOf} runs. */
export interface ReadmeRun {
  /** The Markdown file. */
  readonly readme: string;
  /** Only this `## ` section of it. */
  readonly section?: string;
  /** The user function it talks to. */
  readonly entry: string;
  /** Commands run: those starting with one of these. */
  readonly prefixes: readonly string[];
  /** How many there are (a README that lost its examples must not pass by running nothing). */
  readonly count: number;
  /** Fields of the README's sample outputs that change from run to run. */
  readonly ignore?: readonly string[];
}

/** Starts the function and a runtime on a fresh SQLite file, runs the README's commands, stops both. */
export async function runReadmeOf(run: ReadmeRun): Promise<void> {
  const tmp = tempDir();
  const procs: Proc[] = [];
  try {
    const fn = await startFunction(0, run.entry);
    procs.push(fn.proc);
    const rt = await startRuntime({ functionPort: fn.port, store: join(tmp.dir, "cairn.db") });
    procs.push(rt.proc);
    const markdown = readFileSync(run.readme, "utf8");
    const text = run.section === undefined ? markdown : markdownSection(markdown, run.section);
    await runReadme(readmeCommands(text, run.prefixes), rt, run.count, { ignore: run.ignore });
  } finally {
    for (const p of procs.reverse()) await p.kill9();
    tmp.cleanup();
  }
}

/** Options of {@link runReadme}. */
export interface ReadmeOptions {
  /** Fields of the README's sample outputs that change from run to run. */
  readonly ignore?: readonly string[] | undefined;
  /** Folder the commands run in (default: this repository). */
  readonly cwd?: string;
  /** What `npx cairn` stands for: this checkout's CLI (the default), or "npx cairn" itself. */
  readonly cairn?: string;
}

/**
 * Runs each command with `localhost:9000` pointed at the runtime and
 * `npx cairn` at the CLI; curl fails on a non-2xx answer.
 */
export async function runReadme(
  commands: readonly ReadmeCommand[],
  runtime: { port: number; adminPort: number },
  expectedCount: number,
  options: ReadmeOptions = {},
): Promise<void> {
  // A README that lost its examples must not pass by running nothing.
  expect(commands).toHaveLength(expectedCount);
  const env = {
    ...process.env,
    CAIRN_PORT: String(runtime.port),
    CAIRN_ADMIN_PORT: String(runtime.adminPort),
  };
  const cairn = options.cairn ?? `'${process.execPath}' '${CLI}'`;
  const ignore = options.ignore ?? [];
  for (const { command, expected } of commands) {
    const line = command
      .replaceAll("localhost:9000", `127.0.0.1:${runtime.port}`)
      .replace(/^npx cairn /, `${cairn} `)
      .replace(/^curl /, "curl -sS --fail-with-body ");
    const { stdout } = await sh("sh", ["-c", line], {
      env,
      cwd: options.cwd ?? ROOT,
      timeout: 30_000,
    }).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`README command failed: ${command}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
    });
    if (expected !== undefined) {
      expect(without(JSON.parse(stdout), ignore), command).toEqual(without(expected, ignore));
    }
  }
}

function without(value: unknown, keys: readonly string[]): unknown {
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => !keys.includes(k)));
}
