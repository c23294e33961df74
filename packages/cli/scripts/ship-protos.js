#!/usr/bin/env node
// prepack of @cairn/cli: copies the annotation protos a user's .proto files
// import into the package's proto/ folder, so `cairn gen` finds them in an
// installed CLI. The sources stay where they live: cairn/options.proto in
// this repository's proto/, google/api in the google-proto-files package
// (decision 0005). The copy is ignored by git.
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "proto");
const googleRoot = dirname(
  createRequire(import.meta.url).resolve("google-proto-files/package.json"),
);
const files = [
  [join(here, "..", "..", "..", "proto", "cairn", "options.proto"), "cairn/options.proto"],
  [join(googleRoot, "google", "api", "annotations.proto"), "google/api/annotations.proto"],
  [join(googleRoot, "google", "api", "http.proto"), "google/api/http.proto"],
];
for (const [from, to] of files) {
  mkdirSync(dirname(join(out, to)), { recursive: true });
  copyFileSync(from, join(out, to));
}
process.stderr.write(`ship-protos: ${files.length} protos in ${out}\n`);
