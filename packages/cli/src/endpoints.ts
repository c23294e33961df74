/**
 * Where `cairn call` and `cairn inspect` find a runtime: from the same
 * sources the runtime reads its ports from (flags, `CAIRN_PORT`,
 * `CAIRN_ADMIN_PORT`, `CAIRN_HOST`, `CAIRN_ADMIN_HOST`, the
 * `--config`/`CAIRN_CONFIG` file), so a shell that started `cairn dev` on
 * other ports reaches it without flags. The admin endpoint carries the
 * admin token (`--admin-token`, `CAIRN_ADMIN_TOKEN` or the file's
 * `adminToken`), which only the admin API is sent.
 */
import type { Command } from "commander";
import { CliError, EXIT_USAGE } from "./errors.js";
import { checkBaseUrl } from "./http.js";
import type { Endpoint } from "./http.js";
import { readConfig } from "./options.js";

/** The flags that locate a runtime (commander's camelCased names). */
export interface EndpointFlags {
  /** --address <url>: the ingress, whole. */
  readonly address?: string;
  /** --admin <url>: the admin API, whole. */
  readonly admin?: string;
  readonly port?: string;
  readonly adminPort?: string;
  /** --admin-token <token>: the admin API's bearer token. */
  readonly adminToken?: string;
  readonly config?: string;
}

/** The ports the runtime uses when nothing says otherwise. */
export const DEFAULT_PORTS = { ingress: 9000, admin: 9090 } as const;

/** Adds --port, --admin-port, --admin, --admin-token and --config (and --address when `ingress`). */
export function addEndpointOptions(command: Command, ingress: boolean): Command {
  if (ingress) {
    command
      .option(
        "-a, --address <url>",
        `the runtime's ingress URL (default http://127.0.0.1:${DEFAULT_PORTS.ingress})`,
      )
      .option(
        "--port <port>",
        `the runtime's ingress port on 127.0.0.1 [env CAIRN_PORT, default ${DEFAULT_PORTS.ingress}]`,
      );
  }
  return command
    .option(
      "--admin <url>",
      `the runtime's admin API URL (default http://127.0.0.1:${DEFAULT_PORTS.admin})`,
    )
    .option(
      "--admin-port <port>",
      `the runtime's admin port on 127.0.0.1 [env CAIRN_ADMIN_PORT, default ${DEFAULT_PORTS.admin}]`,
    )
    .option(
      "--admin-token <token>",
      "the admin API's bearer token, when the runtime has one [env CAIRN_ADMIN_TOKEN, or adminToken in --config]",
    )
    .option(
      "--config <file.json>",
      "the runtime's config file, read for host, port, adminHost, adminPort and adminToken [env CAIRN_CONFIG]",
    );
}

/** The ingress and admin endpoints; a usage error (exit 2) names a bad value and its source. */
export function resolveEndpoints(
  flags: EndpointFlags,
  env: NodeJS.ProcessEnv,
): { ingress: Endpoint; admin: Endpoint } {
  const configPath = flags.config ?? nonEmpty(env["CAIRN_CONFIG"]);
  const config = configPath === undefined ? { value: {} } : readConfig(configPath);
  if ("error" in config) throw new CliError(config.error, EXIT_USAGE);
  const sources: Sources = { env, configPath: configPath ?? "", config: config.value };
  const host = clientHost(nonEmpty(env["CAIRN_HOST"]) ?? stringOf(config.value["host"]));
  // The admin port has its own bind address (loopback unless asked), and maybe a token.
  const adminHost = clientHost(
    nonEmpty(env["CAIRN_ADMIN_HOST"]) ?? stringOf(config.value["adminHost"]),
  );
  // The runtime's precedence: flag > env > config file.
  const token =
    nonEmpty(flags.adminToken) ??
    nonEmpty(env["CAIRN_ADMIN_TOKEN"]) ??
    stringOf(config.value["adminToken"]);
  const ingress: PortSpec = {
    flag: "--port",
    env: "CAIRN_PORT",
    key: "port",
    fallback: DEFAULT_PORTS.ingress,
  };
  const admin: PortSpec = {
    flag: "--admin-port",
    env: "CAIRN_ADMIN_PORT",
    key: "adminPort",
    fallback: DEFAULT_PORTS.admin,
  };
  return {
    ingress:
      flags.address !== undefined
        ? { base: checkBaseUrl(flags.address, "--address"), what: "the runtime", flag: "--address" }
        : portEndpoint("the runtime", "--port (or --address)", host, flags.port, ingress, sources),
    admin: {
      ...(flags.admin !== undefined
        ? {
            base: checkBaseUrl(flags.admin, "--admin"),
            what: "the runtime's admin API",
            flag: "--admin",
          }
        : portEndpoint(
            "the runtime's admin API",
            "--admin-port (or --admin)",
            adminHost,
            flags.adminPort,
            admin,
            sources,
          )),
      token,
    },
  };
}

/** Where one port may be set. */
interface PortSpec {
  readonly flag: string;
  readonly env: string;
  /** Its key in the runtime's config file. */
  readonly key: string;
  readonly fallback: number;
}

interface Sources {
  readonly env: NodeJS.ProcessEnv;
  readonly configPath: string;
  readonly config: Record<string, unknown>;
}

/** The first source that sets the port, in the runtime's precedence: flag > env > config file > default. */
function portEndpoint(
  what: string,
  fix: string,
  host: string,
  flag: string | undefined,
  spec: PortSpec,
  sources: Sources,
): Endpoint {
  // [how an error names the source, how the unreachable message names it, the value]
  const found = (
    [
      [`option ${spec.flag}`, spec.flag, flag],
      [`environment variable ${spec.env}`, spec.env, nonEmpty(sources.env[spec.env])],
      [
        `value "${spec.key}" in ${sources.configPath}`,
        sources.configPath,
        sources.config[spec.key],
      ],
    ] as const
  ).find(([, , raw]) => raw !== undefined);
  if (found === undefined) return { base: `http://${host}:${spec.fallback}`, what, flag: fix };
  const [source, origin, raw] = found;
  const port = typeof raw === "number" ? raw : /^\d+$/.test(String(raw)) ? Number(raw) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new CliError(
      `invalid ${source}: expected an integer from 1 to 65535 (the port the runtime printed when it started), got ${JSON.stringify(raw)}`,
      EXIT_USAGE,
    );
  }
  return { base: `http://${host}:${port}`, what: `${what} (port from ${origin})`, flag: fix };
}

/** The address a client dials: a wildcard bind address means this machine. */
function clientHost(host: string | undefined): string {
  if (host === undefined || host === "0.0.0.0" || host === "::" || host === "[::]")
    return "127.0.0.1";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function stringOf(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}
