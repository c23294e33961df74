#!/usr/bin/env node
// The installed entry point. It exists before the first build (npm links
// bins at install time, and skips a target that does not exist yet), and
// says what to do when the CLI has not been built.
import { existsSync } from "node:fs";

const entry = new URL("../dist/bin.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    "cairn: the CLI is not built yet; run 'npm run build' in the repository first\n",
  );
  process.exit(1);
}
await import(entry.href);
