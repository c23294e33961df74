/**
 * `cairn gen`'s work: the user's `.proto` files to TypeScript with buf and
 * protoc-gen-es, both dependencies of the CLI, and the annotation protos it
 * ships. No `buf.yaml` or template in the project: buf runs in a temporary
 * workspace whose modules are symbolic links to the user's proto folder and
 * to the shipped protos, so error positions read as the user's own paths.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { CliError, EXIT_USAGE } from "../errors.js";
import { shippedImports } from "./imports.js";
import { syncGenerated } from "./sync.js";
import type { SyncResult } from "./sync.js";

/** What to generate. */
export interface GenerateOptions {
  /** Folder of the user's .proto files (an import root: `import "shop/v1/cart.proto"`). */
  readonly protoDir: string;
  /** Folder the TypeScript goes to, e.g. src/gen. */
  readonly outDir: string;
  /** Base for relative paths and for the names in buf's messages (the project folder). */
  readonly cwd: string;
}

/** The protoc-gen-es options every Cairn project uses: TypeScript, ESM imports ending in .js. */
const PLUGIN_OPTIONS = ["target=ts", "import_extension=js"];
/** A generation takes about a second; this only bounds a hung buf. */
const BUF_TIMEOUT_MS = 120_000;

const require = createRequire(import.meta.url);

/**
 * Generates the TypeScript of every .proto under `protoDir` into `outDir`,
 * with the imports they use (`include_imports`: the SDK sends a complete
 * descriptor set at discovery). Throws a CliError with buf's message when
 * the protos do not compile.
 */
export async function generate(options: GenerateOptions): Promise<SyncResult> {
  const protoDir = resolve(options.cwd, options.protoDir);
  const outDir = resolve(options.cwd, options.outDir);
  checkProtoDir(protoDir, options.protoDir);
  const workspace = mkdtempSync(join(tmpdir(), "cairn-gen-"));
  try {
    const moduleName = linkModule(workspace, protoDir, options.cwd);
    const imports = linkImports(workspace, protoDir);
    const out = join(workspace, "out");
    await runBuf(workspace, moduleName, imports, out);
    return syncGenerated(out, outDir);
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

function checkProtoDir(dir: string, given: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new CliError(
      `no proto folder at ${given} (${dir}): put your .proto files there, or pass --proto <dir>`,
      EXIT_USAGE,
    );
  }
  if (!hasProto(dir)) {
    throw new CliError(
      `no .proto files under ${given}: add one, e.g. ${join(given, "shop/v1/cart.proto")}`,
      EXIT_USAGE,
    );
  }
}

function hasProto(dir: string): boolean {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith(".proto")) return true;
    if (entry.isDirectory() && entry.name !== "node_modules" && hasProto(join(dir, entry.name)))
      return true;
  }
  return false;
}

/** Links the user's folder into the workspace under its own relative name (e.g. "proto"). */
function linkModule(workspace: string, protoDir: string, cwd: string): string {
  const rel = relative(cwd, protoDir);
  const name = rel === "" || rel.startsWith("..") || isAbsolute(rel) ? "proto" : rel;
  mkdirSync(dirname(join(workspace, name)), { recursive: true });
  symlinkSync(protoDir, join(workspace, name), "dir");
  return name;
}

/** Links each shipped proto the user's folder does not hold itself (a copy of theirs wins). */
function linkImports(workspace: string, protoDir: string): string {
  const shipped = shippedImports();
  if ("error" in shipped) throw new CliError(shipped.error);
  const root = join(workspace, ".cairn-imports");
  for (const proto of shipped.value) {
    if (existsSync(join(protoDir, proto.path))) continue;
    mkdirSync(dirname(join(root, proto.path)), { recursive: true });
    symlinkSync(proto.file, join(root, proto.path), "file");
  }
  mkdirSync(root, { recursive: true });
  return ".cairn-imports";
}

function runBuf(workspace: string, module: string, imports: string, out: string): Promise<void> {
  const buf = join(dirname(require.resolve("@bufbuild/buf/package.json")), "bin", "buf");
  const plugin = join(
    dirname(require.resolve("@bufbuild/protoc-gen-es/package.json")),
    "bin",
    "protoc-gen-es",
  );
  const config = { version: "v2", modules: [{ path: module }, { path: imports }] };
  const template = {
    version: "v2",
    plugins: [
      { local: [process.execPath, plugin], out, opt: PLUGIN_OPTIONS, include_imports: true },
    ],
  };
  const args = [
    buf,
    "generate",
    module,
    "--config",
    JSON.stringify(config),
    "--template",
    JSON.stringify(template),
    "--error-format",
    "text",
  ];
  return new Promise((resolvePromise, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd: workspace, timeout: BUF_TIMEOUT_MS },
      (err, _stdout, stderr) => {
        if (err === null) return resolvePromise();
        const text = stderr.trim() || err.message;
        reject(new CliError(`the protos do not compile:\n${text}`));
      },
    );
  });
}
