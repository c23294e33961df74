/** The `cairn` command line: one commander program with a command per file. */
import { Command } from "commander";
import { registerCall } from "./commands/call.js";
import { registerDev } from "./commands/dev.js";
import { registerGen } from "./commands/gen.js";
import { registerInit } from "./commands/init.js";
import { registerInspect } from "./commands/inspect.js";
import { registerRuntime } from "./commands/runtime.js";

const EXAMPLES = `
Examples:
  $ cairn init my-app                             a new project: proto, code, a test, scripts
  $ cairn dev src/main.ts                         run your function with a local runtime
  $ cairn gen                                     TypeScript from your protos
  $ cairn call ShoppingCart/AddItem '{"cartId": "c1", "productId": "apple", "quantity": 1}'
  $ cairn inspect ShoppingCart c1                 show the cart's events
  $ cairn runtime --store postgres://db/cairn     a production node

Run 'cairn <command> --help' for a command's options.`;

/** Builds the `cairn` program (not yet parsed). */
export function createProgram(version: string): Command {
  const program = new Command("cairn")
    .description("Cairn: stateful serverless. Develop, run and inspect Cairn services.")
    .version(version, "-v, --version")
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", EXAMPLES);
  registerInit(program, version);
  registerDev(program);
  registerGen(program);
  registerRuntime(program);
  registerCall(program);
  registerInspect(program);
  return program;
}
