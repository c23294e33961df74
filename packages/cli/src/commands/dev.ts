/**
 * `cairn dev <entry.ts>`: the runtime and the user function together, with
 * zero setup. The function runs as a child process (TypeScript through
 * tsx) and restarts when a source file changes; the runtime runs in this
 * process on the embedded SQLite store and reconnects by itself.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import type { Runtime, RuntimeOptions } from "@cairn/runtime";
import { CliError, EXIT_USAGE } from "../errors.js";
import { say, stopOnSignals, survivePromiseBugs } from "../lifecycle.js";
import { fetchServices } from "../services.js";
import { clientFlags, renderBanner } from "../dev/banner.js";
import { FunctionProcess } from "../dev/function-process.js";
import { prettyDestination } from "../dev/pretty-log.js";
import { watchTree } from "../dev/watch.js";
import {
  addRuntimeOptions,
  loadRuntime,
  runtimeOptionsFrom,
  startError,
} from "./runtime-options.js";

interface DevFlags extends Record<string, unknown> {
  readonly functionPort?: string;
  readonly watch: string[] | false;
}

const DEFAULT_FUNCTION_PORT = 8080;
const RESTART_DEBOUNCE_MS = 150;
const READY_POLL_MS = 200;
/** After this long without readiness, a hint tells where to look. */
const SLOW_START_MS = 15_000;

const EXAMPLES = `
The store defaults to .cairn/cairn.db in the current directory. The function
gets CAIRN_FUNCTION_HOST=127.0.0.1 and CAIRN_FUNCTION_PORT=<port>, which the
SDK's serve() reads. Files ending in .ts .js .json .proto under the entry's
folder (or each --watch folder) restart it.

Examples:
  $ cairn dev src/main.ts
  $ cairn dev src/main.ts --port 9100 --admin-port 9190 --function-port 8180
  $ cairn dev src/main.ts --watch src --watch proto
  $ cairn dev src/main.ts --no-watch --store memory`;

/** Registers the `dev` command. */
export function registerDev(program: Command): void {
  const command = program
    .command("dev")
    .description(
      "run the runtime and your user function together, restarting the function when its files change",
    )
    .argument(
      "<entry>",
      "the user function's entry file (the one calling serve()), e.g. src/main.ts",
    )
    .option(
      "--function-port <port>",
      `port of the user function (default ${DEFAULT_FUNCTION_PORT}, or a free one if taken)`,
    )
    .option(
      "--watch <dir>",
      "folder to watch for changes, repeatable (default: the entry's folder)",
      collect,
      [],
    )
    .option("--no-watch", "do not restart the function on changes")
    .addHelpText("after", EXAMPLES);
  addRuntimeOptions(command, ["functionAddress"]).action(async (entry: string, flags: DevFlags) => {
    await runDev(entry, flags);
  });
}

function collect(value: string, previous: string[] | false): string[] {
  return [...(previous === false ? [] : previous), value];
}

async function runDev(entry: string, flags: DevFlags): Promise<void> {
  const entryPath = checkEntry(entry);
  const module = await loadRuntime();
  const functionPort = await pickFunctionPort(flags.functionPort);
  const options = runtimeOptionsFrom(module, flags, {
    functionAddress: `127.0.0.1:${functionPort}`,
  });
  ensureStoreFolder(options.store);

  const fn = new FunctionProcess({
    entry: entryPath,
    port: functionPort,
    prefix: "[function] ",
    onExit: (code, signal) => {
      const how = signal === null ? `with code ${code ?? "?"}` : `on ${signal}`;
      say(
        `cairn dev: the function exited ${how}; ${flags.watch === false ? "Ctrl-C to quit" : "waiting for a file change to restart it"}`,
      );
    },
  });
  say(`cairn dev: starting ${entry} on 127.0.0.1:${functionPort}`);
  fn.start();

  const logger = module.createLogger({
    level: options.logLevel,
    name: "cairn-runtime",
    destination: prettyDestination((text) => process.stderr.write(text)),
  });
  const runtime = module.createRuntime(options, { logger });
  survivePromiseBugs(runtime);
  // Signals are handled from here on, even while the runtime starts: a
  // Ctrl-C during start-up still stops the function and closes the store.
  const parts: { watcher?: { close(): void }; readiness?: { stop(): void } } = {};
  stopOnSignals(
    async () => {
      parts.watcher?.close();
      parts.readiness?.stop();
      // The runtime drains in-flight commands first, which needs the function alive.
      await runtime.stop();
      await fn.stop();
    },
    (line) => say(`cairn dev: ${line}`),
  );
  try {
    await runtime.start();
  } catch (err) {
    await Promise.allSettled([runtime.stop(), fn.stop()]);
    throw startError(err, options);
  }
  parts.watcher = flags.watch === false ? undefined : startWatching(flags.watch, entryPath, fn);
  parts.readiness = announceReadiness(runtime, options);
}

function checkEntry(entry: string): string {
  const path = resolve(entry);
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new CliError(
      `entry file ${entry} not found (looked at ${path}): pass the file that calls serve(), e.g. cairn dev src/main.ts`,
      EXIT_USAGE,
    );
  }
  return path;
}

/** The requested port; else 8080 when free; else any free port. */
async function pickFunctionPort(raw: string | undefined): Promise<number> {
  if (raw !== undefined) {
    if (!/^\d+$/.test(raw) || Number(raw) > 65535) {
      throw new CliError(
        `invalid option --function-port: expected an integer from 0 to 65535, got "${raw}"`,
        EXIT_USAGE,
      );
    }
    return Number(raw) === 0 ? freePort(0) : Number(raw);
  }
  return freePort(DEFAULT_FUNCTION_PORT).catch(async () => {
    const port = await freePort(0);
    say(
      `cairn dev: port ${DEFAULT_FUNCTION_PORT} is taken; the function gets ${port} (--function-port picks one)`,
    );
    return port;
  });
}

/** Binds and releases a port to learn that it is free (or which one port 0 gives). */
function freePort(port: number): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const bound = typeof address === "object" && address !== null ? address.port : port;
      server.close(() => resolvePort(bound));
    });
  });
}

/** SQLite needs its folder to exist; memory and postgres:// need nothing. */
function ensureStoreFolder(store: string): void {
  if (store === "memory" || /^[a-z]+:\/\//i.test(store)) return;
  mkdirSync(dirname(resolve(store.replace(/^sqlite:/, ""))), { recursive: true });
}

function startWatching(dirs: string[], entryPath: string, fn: FunctionProcess): { close(): void } {
  const folders = dirs.length === 0 ? [dirname(entryPath)] : dirs.map((d) => resolve(d));
  for (const folder of folders) {
    if (!existsSync(folder))
      throw new CliError(`cannot watch ${folder}: no such folder; fix --watch`, EXIT_USAGE);
  }
  let restarting = Promise.resolve();
  return watchTree(folders, RESTART_DEBOUNCE_MS, (paths) => {
    say(
      `cairn dev: ${paths.slice(0, 3).join(", ")}${paths.length > 3 ? ", ..." : ""} changed; restarting the function`,
    );
    // Chained so that a change during a slow stop never starts two children.
    restarting = restarting.then(() => fn.restart());
  });
}

/**
 * Prints the banner each time the runtime becomes ready (first start and
 * after every function restart, since services may have changed).
 */
function announceReadiness(runtime: Runtime, options: RuntimeOptions): { stop(): void } {
  const ingress = `http://${options.host}:${runtime.ports.ingress}`;
  const admin = `http://${options.host}:${runtime.ports.admin}`;
  const flags = clientFlags(options.host, runtime.ports);
  const target = { ingress, admin, callFlags: flags.call, inspectFlags: flags.inspect };
  let wasReady = false;
  let since = Date.now();
  let hinted = false;
  const timer = setInterval(() => {
    const ready = runtime.ready;
    if (ready && !wasReady) {
      hinted = false;
      fetchServices({ base: admin, what: "the runtime's admin API", flag: "--admin-port" }).then(
        (services) => process.stderr.write(renderBanner(target, services)),
        (err: unknown) =>
          say(
            `cairn dev: ready on ${ingress}, but listing services failed: ${err instanceof Error ? err.message : String(err)}`,
          ),
      );
    }
    if (!ready && wasReady) since = Date.now();
    if (!ready && !hinted && Date.now() - since > SLOW_START_MS) {
      hinted = true;
      say(
        `cairn dev: still waiting for the function at ${options.functionAddress}; check its output above (${admin}/readyz tells more)`,
      );
    }
    wasReady = ready;
  }, READY_POLL_MS);
  return { stop: () => clearInterval(timer) };
}
