/**
 * `cairn dev <entry.ts>`: the runtime and the user function together, with
 * zero setup. The function runs as a child process (TypeScript through
 * tsx) and restarts when a source file changes, or after a crash; a changed
 * .proto regenerates the project's TypeScript first. The runtime runs in
 * this process on the embedded SQLite store and reconnects by itself.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, relative, resolve } from "node:path";
import type { Command } from "commander";
import type { Runtime, RuntimeOptions } from "@cairn/runtime";
import { CliError, EXIT_USAGE } from "../errors.js";
import { say, stopOnSignals, survivePromiseBugs } from "../lifecycle.js";
import { fetchServices } from "../services.js";
import { clientFlags, renderBanner } from "../dev/banner.js";
import { prettyDestination } from "../dev/pretty-log.js";
import { DevSupervisor } from "../dev/supervisor.js";
import type { DevGen } from "../dev/supervisor.js";
import { GEN_DEFAULTS } from "./gen.js";
import {
  addRuntimeOptions,
  loadRuntime,
  runtimeOptionsFrom,
  startError,
} from "./runtime-options.js";

interface DevFlags extends Record<string, unknown> {
  readonly functionPort?: string;
  readonly watch: string[] | false;
  readonly gen: boolean;
  readonly proto?: string;
  readonly genOut?: string;
}

const DEFAULT_FUNCTION_PORT = 8080;
/** Origins `cairn dev` lets call by default: pages on this machine, any port. */
export const DEV_CORS_ORIGINS = "http://localhost:*,http://127.0.0.1:*,http://[::1]:*";
const READY_POLL_MS = 200;
/** After this long without readiness, a hint tells where to look. */
const SLOW_START_MS = 15_000;

const EXAMPLES = `
The store defaults to .cairn/cairn.db in the current directory. The function
gets CAIRN_FUNCTION_HOST=127.0.0.1 and CAIRN_FUNCTION_PORT=<port>, which the
SDK's serve() reads. Files ending in .ts .js .json .proto under the entry's
folder (or each --watch folder) restart it; so does a crash, after a short
delay (a crash loop stops after 4 tries). When the project (the folder of the
package.json above the entry) has a proto/ folder, a changed .proto first
regenerates src/gen, as 'cairn gen' does.

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
    .option(
      "--proto <dir>",
      `folder of the project's .proto files (default: ${GEN_DEFAULTS.proto}/ beside the package.json above the entry)`,
    )
    .option(
      "--gen-out <dir>",
      `folder for the generated TypeScript (default: ${GEN_DEFAULTS.out} beside that package.json)`,
    )
    .option("--no-gen", "never regenerate code from the protos")
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
    // Pages served by a local dev server (Vite, Next...) may call; the banner says so.
    corsOrigins: DEV_CORS_ORIGINS,
  });
  ensureStoreFolder(options.store);

  const gen = genOf(entryPath, flags);
  const supervisor = new DevSupervisor({
    entry: entryPath,
    port: functionPort,
    watch: flags.watch === false ? false : watchedFolders(flags.watch, entryPath, gen),
    ...(gen === undefined ? {} : { gen }),
    say,
  });
  const logger = module.createLogger({
    level: options.logLevel,
    name: "cairn-runtime",
    destination: prettyDestination((text) => process.stderr.write(text)),
  });
  const runtime = module.createRuntime(options, { logger });
  survivePromiseBugs(runtime);
  // Signals are handled from here on, even while the function and the
  // runtime start: a Ctrl-C during start-up still stops both and closes the store.
  const parts: { readiness?: { stop(): void } } = {};
  stopOnSignals(
    async () => {
      parts.readiness?.stop();
      // The runtime drains in-flight commands first, which needs the function alive.
      await runtime.stop();
      await supervisor.stop();
    },
    (line) => say(`cairn dev: ${line}`),
  );
  say(`cairn dev: starting ${entry} on 127.0.0.1:${functionPort}`);
  try {
    await supervisor.start();
    await runtime.start();
  } catch (err) {
    await Promise.allSettled([runtime.stop(), supervisor.stop()]);
    throw err instanceof CliError ? err : startError(err, options);
  }
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

/**
 * Codegen settings: the flags, else proto/ and src/gen beside the nearest
 * package.json above the entry; none when there is no such proto folder.
 */
function genOf(entryPath: string, flags: DevFlags): DevGen | undefined {
  if (!flags.gen) return undefined;
  const root = projectRoot(dirname(entryPath));
  const protoDir =
    flags.proto === undefined ? join(root ?? ".", GEN_DEFAULTS.proto) : resolve(flags.proto);
  if (flags.proto === undefined && (root === undefined || !existsSync(protoDir))) return undefined;
  if (!existsSync(protoDir)) {
    throw new CliError(
      `no proto folder at ${flags.proto}: fix --proto (or pass --no-gen)`,
      EXIT_USAGE,
    );
  }
  const outDir =
    flags.genOut === undefined ? join(root ?? ".", GEN_DEFAULTS.out) : resolve(flags.genOut);
  return { protoDir, outDir };
}

/** The nearest folder at or above `dir` holding a package.json. */
function projectRoot(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, "package.json"))) return d;
    if (dirname(d) === d) return undefined;
  }
}

/** --watch folders, else the entry's folder plus the proto folder when it lies elsewhere. */
function watchedFolders(dirs: string[], entryPath: string, gen: DevGen | undefined): string[] {
  const folders = dirs.length === 0 ? [dirname(entryPath)] : dirs.map((d) => resolve(d));
  for (const folder of folders) {
    if (!existsSync(folder))
      throw new CliError(`cannot watch ${folder}: no such folder; fix --watch`, EXIT_USAGE);
  }
  const inside = (dir: string) => folders.some((f) => !relative(f, dir).startsWith(".."));
  if (dirs.length === 0 && gen !== undefined && !inside(gen.protoDir)) folders.push(gen.protoDir);
  return folders;
}

/**
 * Prints the banner each time the runtime becomes ready (first start and
 * after every function restart, since services may have changed).
 */
function announceReadiness(runtime: Runtime, options: RuntimeOptions): { stop(): void } {
  const ingress = `http://${options.host}:${runtime.ports.ingress}`;
  const admin = `http://${options.adminHost}:${runtime.ports.admin}`;
  const token = options.adminToken === "" ? undefined : options.adminToken;
  const flags = clientFlags(options.host, runtime.ports);
  const target = { ingress, admin, callFlags: flags.call, inspectFlags: flags.inspect };
  let wasReady = false;
  let since = Date.now();
  let hinted = false;
  const timer = setInterval(() => {
    const ready = runtime.ready;
    if (ready && !wasReady) {
      hinted = false;
      const endpoint = {
        base: admin,
        what: "the runtime's admin API",
        flag: "--admin-port",
        token,
      };
      fetchServices(endpoint).then(
        (services) =>
          process.stderr.write(
            renderBanner({ ...target, corsNote: corsNote(options.corsOrigins) }, services),
          ),
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

/** The banner's line about which browser pages may call. */
function corsNote(origins: string): string {
  if (origins === DEV_CORS_ORIGINS)
    return "Browser pages on localhost (any port) may call this runtime: a cairn dev default (CORS); --cors-origins changes it";
  if (origins === "")
    return "No browser page may call this runtime (CORS); allow origins with --cors-origins";
  return `Browser pages of ${origins} may call this runtime (CORS, --cors-origins)`;
}
