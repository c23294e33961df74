/**
 * The ingress fuzzer's short run (issue 7): `npm run fuzz` as a real
 * process against real runtime and user-function processes, once with a
 * fixed seed (the same inputs every time) and once with a random one (new
 * inputs every run; its seed is printed to replay a failure). The long run
 * is documented in bench/README.md and recorded in bench/RESULTS.md.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const FUZZ = fileURLToPath(new URL("../dist/fuzz/main.js", import.meta.url));

function fuzz(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FUZZ, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    // The fuzzer bounds itself; this only stops a harness that would not.
    const timer = setTimeout(() => child.kill("SIGKILL"), 80_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function summary(stdout: string): { requests: number; streaming: number; problems: number } {
  const last = stdout.trim().split("\n").pop() ?? "{}";
  return JSON.parse(last) as { requests: number; streaming: number; problems: number };
}

describe("npm run fuzz, short", () => {
  it("runs clean for a fixed seed", { timeout: 90_000 }, async () => {
    const run = await fuzz(["--seed", "7", "--duration", "20"]);
    expect(run.stderr).toContain("seed 7");
    expect(run.code, run.stderr).toBe(0);
    const s = summary(run.stdout);
    expect(s.problems).toBe(0);
    expect(s.requests).toBeGreaterThan(100);
    expect(s.streaming).toBeGreaterThan(10);
  });

  it("runs clean for a random seed, printed to replay it", { timeout: 90_000 }, async () => {
    const run = await fuzz(["--duration", "15"]);
    const seed = /seed (\d+)/.exec(run.stderr)?.[1];
    expect(seed).toBeDefined();
    expect(run.code, `replay with npm run fuzz -- --seed ${seed}\n${run.stderr}`).toBe(0);
  });
});
