/** `cairn gen`: the project's TypeScript from its .proto files, with no buf setup of its own. */
import type { Command } from "commander";
import { generate } from "../gen/generate.js";
import type { SyncResult } from "../gen/sync.js";
import { say } from "../lifecycle.js";

/** Where `cairn gen` (and `cairn dev`) read protos and write TypeScript by default. */
export const GEN_DEFAULTS = { proto: "proto", out: "src/gen" } as const;

interface GenFlags {
  readonly proto: string;
  readonly out: string;
}

const EXAMPLES = `
Your .proto files may import "cairn/options.proto" (for (cairn.entity_key))
and "google/api/annotations.proto" (for HTTP routes): the CLI ships both,
and the well-known google/protobuf types come with buf. No buf.yaml is
needed. Generated files that changed are rewritten; those whose proto is
gone are removed; nothing else in the output folder is touched.

Examples:
  $ cairn gen
  $ cairn gen --proto api --out src/generated`;

/** Registers the `gen` command. */
export function registerGen(program: Command): void {
  program
    .command("gen")
    .description("generate TypeScript from your .proto files (protoc-gen-es, via buf)")
    .option("--proto <dir>", "folder of your .proto files (an import root)", GEN_DEFAULTS.proto)
    .option("--out <dir>", "folder for the generated TypeScript", GEN_DEFAULTS.out)
    .addHelpText("after", EXAMPLES)
    .action(async (flags: GenFlags) => {
      const result = await generate({
        protoDir: flags.proto,
        outDir: flags.out,
        cwd: process.cwd(),
      });
      say(`cairn gen: ${describeGen(result, flags.proto, flags.out)}`);
    });
}

/** "4 files in src/gen from proto/ (2 rewritten, 1 removed)". */
export function describeGen(result: SyncResult, proto: string, out: string): string {
  const changes = [
    result.written.length === 0 ? "none changed" : `${result.written.length} written`,
    ...(result.removed.length === 0 ? [] : [`${result.removed.length} removed`]),
  ];
  return `${result.total} files in ${out} from ${proto} (${changes.join(", ")})`;
}
