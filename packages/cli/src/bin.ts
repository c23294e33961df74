#!/usr/bin/env node
/** Entry point of the `cairn` command. */
import { readFileSync } from "node:fs";
// The subpath, not the package: the CLI must not load every protocol descriptor to start.
import { escapeControlChars } from "@cairn/protocol/printable";
import { CommanderError } from "commander";
import { CliError, EXIT_USAGE } from "./errors.js";
import { createProgram } from "./program.js";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  version: string;
};

async function main(): Promise<void> {
  const program = createProgram(pkg.version).exitOverride();
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    process.exitCode = exitCodeOf(err);
  }
}

/** Prints a failure once, without a stack unless it is a bug, and picks the exit code. */
function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander has printed its message already; --help and --version exit 0.
    return err.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (err instanceof CliError) {
    // Its message may quote the runtime's answer, and with it a client's text.
    process.stderr.write(`cairn: ${escapeControlChars(err.message, { keepNewlines: true })}\n`);
    return err.exitCode;
  }
  process.stderr.write(
    `cairn: unexpected error (please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return 1;
}

await main();
