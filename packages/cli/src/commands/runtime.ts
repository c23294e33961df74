/** `cairn runtime`: a production runtime node in the foreground. */
import type { Command } from "commander";
import type { Runtime } from "@cairn/runtime";
import { say, stopOnSignals, survivePromiseBugs } from "../lifecycle.js";
import {
  addRuntimeOptions,
  loadRuntime,
  runtimeOptionsFrom,
  startError,
} from "./runtime-options.js";

const READY_POLL_MS = 200;

const EXAMPLES = `
Every option may also come from the environment (CAIRN_STORE, CAIRN_FUNCTION,
CAIRN_PORT, ...) or from a JSON file given with --config (keys in camelCase:
store, functionAddress, port, adminPort, ...). Precedence: flag > environment
> config file > default.

Examples:
  $ cairn runtime --store postgres://cairn@db:5432/cairn --function 127.0.0.1:8080
  $ CAIRN_STORE=/data/cairn.db CAIRN_LOG_LEVEL=debug cairn runtime
  $ cairn runtime --config cairn.json --port 9000 --admin-port 9090`;

/** Registers the `runtime` command. */
export function registerRuntime(program: Command): void {
  const command = program
    .command("runtime")
    .description(
      "run a Cairn runtime node: ingress, entities, journal and admin endpoints for one user function",
    )
    .addHelpText("after", EXAMPLES);
  addRuntimeOptions(command).action(async (flags: Record<string, unknown>) => {
    await runRuntime(flags);
  });
}

async function runRuntime(flags: Record<string, unknown>): Promise<void> {
  const module = await loadRuntime();
  const options = runtimeOptionsFrom(module, flags);
  const runtime = module.createRuntime(options);
  survivePromiseBugs(runtime);
  // Signals are handled from here on, even while the runtime starts (an
  // orchestrator may stop a node that is still opening its store).
  const timers: { readiness?: NodeJS.Timeout } = {};
  stopOnSignals(
    async () => {
      clearInterval(timers.readiness);
      await runtime.stop();
    },
    (line) => say(`cairn runtime: ${line}`),
  );
  try {
    await runtime.start();
  } catch (err) {
    await runtime.stop().catch(() => undefined);
    throw startError(err, options);
  }
  const { ingress, admin } = runtime.ports;
  say(
    `cairn runtime: ingress on http://${options.host}:${ingress} (gRPC, gRPC-Web, Connect, HTTP/JSON)`,
  );
  say(
    `cairn runtime: admin on http://${options.adminHost}:${admin} (/healthz, /readyz, /metrics, /v1/services${options.adminToken === "" ? "" : "; /v1 needs the admin token"})`,
  );
  say(`cairn runtime: store ${options.store}; user function at ${options.functionAddress}`);
  timers.readiness = sayWhenReady(runtime, options.functionAddress);
}

/** One line when the node first becomes ready; the logs tell the details. */
function sayWhenReady(runtime: Runtime, functionAddress: string): NodeJS.Timeout {
  const timer = setInterval(() => {
    if (!runtime.ready) return;
    clearInterval(timer);
    say(`cairn runtime: ready (user function at ${functionAddress} discovered)`);
  }, READY_POLL_MS);
  return timer;
}
