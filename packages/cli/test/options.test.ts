import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
// The schema from source: these unit tests need no runtime build.
import { RuntimeOptionsSchema } from "../../runtime/src/options.js";
import { RUNTIME_OPTIONS, resolveRuntimeOptions } from "../src/options.js";

const dir = mkdtempSync(join(tmpdir(), "cairn-cli-options-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(content: string): string {
  const path = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, content);
  return path;
}

const resolve = (flags: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
  resolveRuntimeOptions({ flags, env }, RuntimeOptionsSchema);

describe("resolveRuntimeOptions", () => {
  it("shows the schema's defaults in --help", () => {
    const defaults = RuntimeOptionsSchema.parse({}) as Record<string, unknown>;
    for (const option of RUNTIME_OPTIONS)
      expect(option.defaultValue, option.key).toEqual(defaults[option.key]);
  });

  it("takes flag over env over config file over default", () => {
    const file = config(
      JSON.stringify({ port: 7000, adminPort: 7001, store: "memory", mailboxCapacity: 5 }),
    );
    const result = resolve(
      { port: "9100", config: file },
      { CAIRN_PORT: "8000", CAIRN_ADMIN_PORT: "8001" },
    );
    expect(result).toEqual({
      value: expect.objectContaining({
        port: 9100,
        adminPort: 8001,
        store: "memory",
        mailboxCapacity: 5,
        logLevel: "info",
      }),
    });
  });

  it("maps --function to functionAddress", () => {
    expect(resolve({ function: "fn.internal:8081" })).toEqual({
      value: expect.objectContaining({ functionAddress: "fn.internal:8081" }),
    });
  });

  it("names the flag, the expectation and the given value", () => {
    expect(resolve({ port: "abc" })).toEqual({
      error: 'invalid option --port: expected an integer from 0 to 65535, got "abc"',
    });
    expect(resolve({ mailboxCapacity: "0" })).toEqual({
      error: 'invalid option --mailbox-capacity: expected a positive integer, got "0"',
    });
    expect(resolve({ logLevel: "loud" })).toEqual({
      error:
        'invalid option --log-level: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"',
    });
  });

  it("names the environment variable or config entry a bad value came from", () => {
    expect(resolve({}, { CAIRN_ADMIN_PORT: "70000" })).toEqual({
      error:
        'invalid environment variable CAIRN_ADMIN_PORT: expected an integer from 0 to 65535, got "70000"',
    });
    const file = config(JSON.stringify({ port: "x", colour: "blue" }));
    const result = resolve({ config: file });
    expect("error" in result && result.error).toContain(`unknown option "colour" in ${file}`);
    expect("error" in result && result.error).toContain(
      `invalid value "port" in ${file}: expected an integer from 0 to 65535, got "x"`,
    );
  });

  it("explains an unreadable or malformed config file", () => {
    expect(resolve({ config: join(dir, "missing.json") })).toEqual({
      error: expect.stringContaining("ENOENT"),
    });
    expect(resolve({ config: config("{port: 1") })).toEqual({
      error: expect.stringContaining("is not valid JSON"),
    });
    expect(resolve({ config: config("[1]") })).toEqual({
      error: expect.stringContaining("must hold a JSON object"),
    });
  });
});
