/** Declares the runtime options on a command, and turns its flags into validated options. */
import type { Command } from "commander";
import type * as RuntimePackage from "@cairn/runtime";
import type { RuntimeOptions } from "@cairn/runtime";
import { CliError, EXIT_USAGE } from "../errors.js";
import { RUNTIME_OPTIONS, resolveRuntimeOptions } from "../options.js";

/** The runtime package, loaded on first use (it pulls grpc-js, SQLite, pg). */
export type RuntimeModule = typeof RuntimePackage;

/** Loads @cairn/runtime; a broken install gets a message instead of a stack. */
export async function loadRuntime(): Promise<RuntimeModule> {
  try {
    return await import("@cairn/runtime");
  } catch (err) {
    throw new CliError(
      `cannot load @cairn/runtime (${err instanceof Error ? err.message : String(err)}): reinstall the CLI, or run 'npm run build' in a source checkout`,
    );
  }
}

/** Adds every runtime option (and --config) to a command; `skip` leaves some out. */
export function addRuntimeOptions(
  command: Command,
  skip: ReadonlyArray<keyof RuntimeOptions> = [],
): Command {
  for (const option of RUNTIME_OPTIONS) {
    if (skip.includes(option.key)) continue;
    command.option(
      `--${option.flag} <${option.valueName}>`,
      `${option.description} [env ${option.env}, default ${JSON.stringify(option.defaultValue)}]`,
    );
  }
  return command.option(
    "--config <file.json>",
    'JSON file of runtime options, e.g. {"port": 9000} [env CAIRN_CONFIG]',
  );
}

/** Validated options, or a usage error (exit code 2) listing every problem. */
export function runtimeOptionsFrom(
  runtime: RuntimeModule,
  flags: Record<string, unknown>,
  overrides: Partial<RuntimeOptions> = {},
): RuntimeOptions {
  const resolved = resolveRuntimeOptions(
    { flags, env: process.env, overrides },
    runtime.RuntimeOptionsSchema,
  );
  if ("error" in resolved) throw new CliError(resolved.error, EXIT_USAGE);
  return resolved.value;
}

/** Rephrases a failed start: a busy port is the usual cause, and has an obvious fix. */
export function startError(err: unknown, options: RuntimeOptions): CliError {
  const e = err as NodeJS.ErrnoException;
  if (e.code === "EADDRINUSE") {
    return new CliError(
      `cannot listen on ${options.host} (${e.message}): another process uses the port; stop it or pick free ports with --port and --admin-port (0 picks any free port)`,
    );
  }
  return new CliError(
    `the runtime failed to start: ${e instanceof Error ? e.message : String(err)}`,
  );
}
