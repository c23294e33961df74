/**
 * Runtime options from flags, environment and a JSON config file, merged with
 * precedence flag > env > config file > default, then validated by the
 * runtime's own schema so every source gets the same checks. Errors name the
 * source (`--port`, `CAIRN_PORT`, `"port" in cairn.json`), the expected
 * value and what was given.
 */
import { readFileSync } from "node:fs";
// Types only: the runtime (grpc-js, SQLite, pg) loads lazily, so `cairn call`
// and `--help` stay fast and never depend on the runtime's native modules.
import type { RuntimeOptions, RuntimeOptionsSchema } from "@cairn/runtime";

/** The runtime's option schema, passed in by callers that have loaded it. */
export type OptionsSchema = typeof RuntimeOptionsSchema;

type Key = keyof RuntimeOptions;

/** One runtime option as the CLI exposes it. */
export interface OptionSpec {
  readonly key: Key;
  /** Flag without dashes, e.g. "admin-port". */
  readonly flag: string;
  /** Environment variable, e.g. "CAIRN_ADMIN_PORT". */
  readonly env: string;
  /** Shown in --help; a test checks it against the schema's default. */
  readonly defaultValue: string | number;
  readonly valueName: string;
  readonly description: string;
}

type Row = [Key, string, string | number, string, string];

// prettier-ignore
const ROWS: Row[] = [
  ["store", "store", ".cairn/cairn.db", "location", 'store: "memory", a SQLite file path (or sqlite:<path>) or a postgres:// URL'],
  ["functionAddress", "function", "127.0.0.1:8080", "host:port", "address of the user function's gRPC server"],
  ["host", "host", "127.0.0.1", "address", "interface the ingress binds to"],
  ["port", "port", 9000, "port", "ingress port (gRPC, gRPC-Web, Connect, HTTP/JSON); 0 picks a free port"],
  ["adminPort", "admin-port", 9090, "port", "admin port (health, readiness, /metrics, admin API); 0 picks a free port"],
  ["adminHost", "admin-host", "127.0.0.1", "address", "interface the admin server binds to (loopback by default, whatever --host is)"],
  ["adminToken", "admin-token", "", "token", "bearer token the admin API requires (required beyond loopback; prefer the environment variable)"],
  ["corsOrigins", "cors-origins", "", "origins", 'browser origins allowed to call: "*", or a comma-separated list such as https://app.example.com,http://localhost:*'],
  ["maxRequestBytes", "max-request-bytes", 4194304, "bytes", "largest accepted request body"],
  ["headersTimeoutMs", "headers-timeout-ms", 10000, "ms", "time a client has to send a request's headers (HTTP/1.1 headers, HTTP/2 preface, TLS handshake)"],
  ["requestTimeoutMs", "request-timeout-ms", 30000, "ms", "time a client has to send a unary request's body once its headers are in"],
  ["idleTimeoutMs", "idle-timeout-ms", 65000, "ms", "idle time before the ingress closes a connection or a stalled stream"],
  ["maxConnections", "max-connections", 10000, "n", "open client connections at most (idle ones are evicted first)"],
  ["maxEntityIdBytes", "max-entity-id-bytes", 1024, "bytes", "longest entity id accepted (UTF-8); longer ones get INVALID_ARGUMENT"],
  ["mailboxCapacity", "mailbox-capacity", 1000, "n", "commands queued per entity before callers get RESOURCE_EXHAUSTED"],
  ["commandTimeoutMs", "command-timeout-ms", 10000, "ms", "deadline of a command whose client set none, and the time the function may take to answer one before its entity is restarted"],
  ["unavailableGraceMs", "unavailable-grace-ms", 1500, "ms", "how long a command waits for a user function that went away before it fails with UNAVAILABLE"],
  ["maxActivations", "max-activations", 1000, "n", "entities activating at once; more are refused with RESOURCE_EXHAUSTED"],
  ["maxFanOut", "max-fan-out", 1000, "n", "calls one command may have in flight at once (ctx.call); more are refused with RESOURCE_EXHAUSTED"],
  ["passivationTimeoutMs", "passivation-timeout-ms", 30000, "ms", "idle time before an entity is passivated"],
  ["maxTimersPerOwner", "max-timers-per-owner", 1000, "n", "timers one component instance may have at once"],
  ["idempotencyRetentionMs", "idempotency-retention-ms", 86400000, "ms", "how long the reply of a command sent with an idempotency-key is kept for its retries"],
  ["maxIdempotencyKeysPerEntity", "max-idempotency-keys-per-entity", 10000, "n", "idempotency records kept per component instance (the oldest beyond it are dropped)"],
  ["maxTimerPayloadBytes", "max-timer-payload-bytes", 65536, "bytes", "largest payload of one timer's call"],
  ["logLevel", "log-level", "info", "level", "trace, debug, info, warn, error, fatal or silent"],
];

/** Every runtime option the CLI accepts, in `--help` order. */
export const RUNTIME_OPTIONS: readonly OptionSpec[] = ROWS.map(
  ([key, flag, defaultValue, valueName, description]) => ({
    key,
    flag,
    env: `CAIRN_${flag.replace(/-/g, "_").toUpperCase()}`,
    defaultValue,
    valueName,
    description,
  }),
);

/** Where a value came from, for error messages. */
interface Origin {
  readonly name: string;
  readonly raw: unknown;
}

/** Inputs of {@link resolveRuntimeOptions}. */
export interface OptionSources {
  /** Commander's parsed flags, camelCased (`adminPort`, `function`, `config`). */
  readonly flags: Readonly<Record<string, unknown>>;
  readonly env: NodeJS.ProcessEnv;
  /** Defaults that differ from the schema's (`cairn dev` picks the function address). */
  readonly overrides?: Partial<RuntimeOptions>;
}

/**
 * Merges the sources and validates them with the runtime's schema; the
 * error lists every problem, one line each.
 */
export function resolveRuntimeOptions(
  sources: OptionSources,
  schema: OptionsSchema,
): { value: RuntimeOptions } | { error: string } {
  const configPath = stringFlag(sources.flags["config"]) ?? sources.env["CAIRN_CONFIG"];
  const config = configPath === undefined ? { value: {} } : readConfig(configPath);
  if ("error" in config) return config;

  const merged: Record<string, unknown> = { ...sources.overrides };
  const origins = new Map<Key, Origin>();
  for (const option of RUNTIME_OPTIONS) {
    const origin = pick(option, sources, config.value, configPath ?? "");
    if (origin === undefined) continue;
    origins.set(option.key, origin);
    const numeric = typeof option.defaultValue === "number";
    merged[option.key] =
      numeric && typeof origin.raw === "string" ? toInteger(origin.raw) : origin.raw;
  }
  const problems = Object.keys(config.value)
    .filter((k) => !RUNTIME_OPTIONS.some((o) => o.key === k))
    .map(
      (k) =>
        `unknown option "${k}" in ${configPath ?? ""}: known options are ${RUNTIME_OPTIONS.map((o) => o.key).join(", ")}`,
    );
  const parsed = schema.safeParse(merged);
  if (parsed.success && problems.length === 0) return { value: parsed.data };
  for (const issue of parsed.success ? [] : parsed.error.issues) {
    const key = String(issue.path[0]) as Key;
    const origin = origins.get(key);
    const name = origin?.name ?? `option ${key}`;
    const got = origin === undefined ? merged[key] : origin.raw;
    // A refinement's own message says what is wrong; otherwise say what is expected.
    const what = issue.code === "custom" ? issue.message : `expected ${expectation(schema, key)}`;
    problems.push(`invalid ${name}: ${what}, got ${JSON.stringify(got)}`);
  }
  return { error: problems.join("\n") };
}

function pick(
  option: OptionSpec,
  sources: OptionSources,
  config: Record<string, unknown>,
  configPath: string,
): Origin | undefined {
  // commander camelCases --function to "function", not "functionAddress".
  const flagKey = option.key === "functionAddress" ? "function" : option.key;
  const flag = sources.flags[flagKey];
  if (flag !== undefined) return { name: `option --${option.flag}`, raw: flag };
  const env = sources.env[option.env];
  if (env !== undefined && env !== "") {
    return { name: `environment variable ${option.env}`, raw: env };
  }
  if (option.key in config) {
    return { name: `value "${option.key}" in ${configPath}`, raw: config[option.key] };
  }
  return undefined;
}

/** Reads the JSON config file: an object of runtime option keys (camelCase). */
export function readConfig(path: string): { value: Record<string, unknown> } | { error: string } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return { error: `cannot read config file ${path} (${code}): check the path given to --config` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return {
      error: `config file ${path} is not valid JSON (${(err as Error).message}); fix the syntax or pass the options as flags`,
    };
  }
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    return { value: value as Record<string, unknown> };
  }
  return {
    error: `config file ${path} must hold a JSON object such as {"port": 9000, "store": "cairn.db"}`,
  };
}

/** "42" → 42; anything else stays a string so the message shows the raw value. */
function toInteger(raw: string): number | string {
  return /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
}

function stringFlag(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** The introspectable parts of a zod 4 field. */
interface FieldShape {
  minValue?: number | null;
  maxValue?: number | null;
  options?: readonly string[];
  safeParse(v: unknown): { success: boolean };
}

/** What the schema accepts for a key, read from the schema so messages follow it. */
export function expectation(schema: OptionsSchema, key: Key): string {
  const field = schema.shape[key];
  const inner = ("unwrap" in field ? field.unwrap() : field) as FieldShape;
  if (inner.options !== undefined) return `one of ${inner.options.join(", ")}`;
  if (!inner.safeParse(1).success) return "a non-empty string";
  const { minValue: min, maxValue: max } = inner;
  const bounded = typeof max === "number" && max < Number.MAX_SAFE_INTEGER;
  if (min === 0 && !inner.safeParse(0).success) {
    return bounded ? `an integer from 1 to ${max}` : "a positive integer";
  }
  if (typeof min === "number" && Number.isFinite(min) && bounded) {
    return `an integer from ${min} to ${max}`;
  }
  return "an integer";
}
