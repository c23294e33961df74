import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-gen-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const PROTO = `syntax = "proto3";
package shop.v1;
import "cairn/options.proto";
import "google/api/annotations.proto";
service Shelf {
  rpc Get(GetRequest) returns (GetReply) { option (google.api.http) = {get: "/shelves/{shelf_id}"}; }
}
message GetRequest { string shelf_id = 1 [(cairn.entity_key) = true]; }
message GetReply { int32 books = 1; }
`;

function write(path: string, text: string): void {
  mkdirSync(join(dir, path, ".."), { recursive: true });
  writeFileSync(join(dir, path), text);
}

const gen = (...args: string[]) => runCli(["gen", ...args], { cwd: dir, timeoutMs: 60_000 });

describe("cairn gen", () => {
  it("generates a project's protos with the shipped annotation protos, and no buf.yaml", async () => {
    write("proto/shop/v1/shelf.proto", PROTO);
    const first = await gen();
    expect(first.stderr).toBe("cairn gen: 4 files in src/gen from proto (4 written)\n");
    expect(first.code).toBe(0);
    for (const file of [
      "shop/v1/shelf_pb.ts",
      "cairn/options_pb.ts",
      "google/api/annotations_pb.ts",
      "google/api/http_pb.ts",
    ]) {
      expect(existsSync(join(dir, "src/gen", file))).toBe(true);
    }
    expect(existsSync(join(dir, "buf.yaml"))).toBe(false);
    const mtime = statSync(join(dir, "src/gen/shop/v1/shelf_pb.ts")).mtimeMs;
    // Unchanged output is not rewritten (cairn dev watches it).
    expect((await gen()).stderr).toContain("(none changed)");
    expect(statSync(join(dir, "src/gen/shop/v1/shelf_pb.ts")).mtimeMs).toBe(mtime);
  });

  it("removes the code of a deleted proto and leaves other files alone", async () => {
    write("api/shop/v1/shelf.proto", PROTO);
    write("api/shop/v1/old.proto", 'syntax = "proto3";\npackage shop.v1;\nmessage Old {}\n');
    expect((await gen("--proto", "api", "--out", "src/generated")).code).toBe(0);
    write("src/generated/README.md", "mine\n");
    rmSync(join(dir, "api/shop/v1/old.proto"));
    const again = await gen("--proto", "api", "--out", "src/generated");
    expect(again.stderr).toContain("(none changed, 1 removed)");
    expect(existsSync(join(dir, "src/generated/shop/v1/old_pb.ts"))).toBe(false);
    expect(readFileSync(join(dir, "src/generated/README.md"), "utf8")).toBe("mine\n");
  });

  it("reports a proto that does not compile with the user's own path and line", async () => {
    write("proto/shop/v1/shelf.proto", PROTO.replace("int32 books", "int33 books"));
    const result = await gen();
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /cairn: the protos do not compile:\nproto\/shop\/v1\/shelf\.proto:9:\d+:/,
    );
    expect(existsSync(join(dir, "src/gen"))).toBe(false);
  });

  it("says where to put protos when there are none", async () => {
    const result = await gen();
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("no proto folder at proto");
  });
});
