import { describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

describe("cairn --help", () => {
  it("lists every command with examples", async () => {
    const { code, stdout } = await runCli(["--help"]);
    expect(code).toBe(0);
    for (const command of ["dev", "runtime", "call", "inspect"])
      expect(stdout).toContain(`${command} [options]`);
    expect(stdout).toContain("Examples:");
  });

  it.each([
    [
      "runtime",
      [
        "--store <location>",
        "--admin-port <port>",
        "CAIRN_PORT",
        "--config <file.json>",
        "Precedence: flag > environment",
      ],
    ],
    [
      "dev",
      ["<entry>", "--function-port <port>", "--no-watch", "--watch <dir>", ".cairn/cairn.db"],
    ],
    ["call", ["<target>", "--address <url>", "--header <name:value>", "ShoppingCart/AddItem"]],
    ["inspect", ["<service>", "<entity-id>", "--json", "--limit <n>"]],
  ])("documents 'cairn %s' with its options and examples", async (command, expected) => {
    const { code, stdout } = await runCli([command, "--help"]);
    expect(code).toBe(0);
    for (const text of expected) expect(stdout).toContain(text);
    expect(stdout).toContain("Examples:");
  });

  it("fails with exit code 2 and a hint on an unknown command or option", async () => {
    const unknown = await runCli(["deploy"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'deploy'");
    const badFlag = await runCli(["call", "A/B", "--nope"]);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain("--help");
  });
});
