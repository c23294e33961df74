import * as grpc from "@grpc/grpc-js";
import {
  Actions,
  Discovery,
  EventSourcedEntities,
  ReplicatedEntities,
  ValueEntities,
  grpcServiceDefinition,
} from "@cairn/protocol";
import type { Component } from "../component.js";
import { describeError, stderrLogger } from "../log.js";
import type { Logger } from "../log.js";
import { buildSpec, discoveryService, warnUnsupported } from "./discovery.js";
import { actionService } from "./action-service.js";
import {
  eventSourcedService,
  replicatedEntityService,
  valueEntityService,
} from "./entity-services.js";
import type { OpenStream, ServiceEnv } from "./entity-services.js";
import { ProxyCaller } from "./proxy-caller.js";

/** Options of {@link serve}. */
export interface ServeOptions {
  /** The components this user function hosts. */
  components: readonly Component[];
  /** Port to listen on; 0 picks a free one. Default: env CAIRN_FUNCTION_PORT, else 8080. */
  port?: number;
  /** Address to bind. Default: env CAIRN_FUNCTION_HOST, else 127.0.0.1 (the runtime is a sidecar). */
  host?: string;
  /** Name announced at discovery. Default: env npm_package_name, else "". */
  serviceName?: string;
  /** Version announced at discovery. Default: env npm_package_version, else "". */
  serviceVersion?: string;
  /**
   * Close gracefully on SIGTERM and SIGINT, then exit. Default false: a
   * library must not take over process signals unasked, and tests start many
   * servers in one process. Set it in the program's main module.
   */
  handleSignals?: boolean;
  /** Where logs go. Default: one JSON line per record on stderr. */
  logger?: Logger;
  /** How long close() waits for in-flight commands before cutting streams. Default 10 s. */
  closeTimeoutMs?: number;
}

/** A running user function server. */
export interface Server {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Stops accepting streams, answers the commands in flight, then shuts down. */
  close(): Promise<void>;
}

// Entity states travel whole in snapshots and frames batch many replies, so
// messages may be large. Streams between runtime and function sit idle for
// long stretches: the server pings every 30 s to detect a dead peer (10 s to
// answer), and sets no max_connection_idle/age, so idle streams are never cut.
const CHANNEL_OPTIONS: grpc.ServerOptions = {
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
};

/**
 * Serves the components to the Cairn runtime over gRPC: Discovery and the
 * component protocols (event-sourced entities, value entities, actions).
 * Handlers' `ctx.call()` go to the proxy address the runtime announces at
 * discovery.
 *
 * @example
 * ```ts
 * const server = await serve({ components: [cart], handleSignals: true });
 * // later, e.g. in tests:
 * await server.close();
 * ```
 */
export async function serve(options: ServeOptions): Promise<Server> {
  const logger = options.logger ?? stderrLogger;
  const host = options.host ?? process.env["CAIRN_FUNCTION_HOST"] ?? "127.0.0.1";
  const port = options.port ?? portFromEnv();
  const server = new grpc.Server(CHANNEL_OPTIONS);
  const streams = new Set<OpenStream>();
  checkComponents(options.components);
  const spec = buildSpec(options.components, {
    serviceName: options.serviceName ?? process.env["npm_package_name"] ?? "",
    serviceVersion: options.serviceVersion ?? process.env["npm_package_version"] ?? "",
  });
  const caller = new ProxyCaller();
  const env: ServiceEnv = { logger, streams, caller };
  server.addService(
    serviceDefinition(Discovery),
    discoveryService(spec, logger, (info) => {
      caller.setAddress(info.proxyAddress);
      warnUnsupported(options.components, info, logger);
    }),
  );
  server.addService(
    serviceDefinition(EventSourcedEntities),
    eventSourcedService(options.components, env),
  );
  server.addService(serviceDefinition(ValueEntities), valueEntityService(options.components, env));
  server.addService(
    serviceDefinition(ReplicatedEntities),
    replicatedEntityService(options.components, env),
  );
  server.addService(serviceDefinition(Actions), actionService(options.components, env));
  const bound = await bind(server, host, port);
  let closing: Promise<void> | undefined;
  let removeSignals: () => void = () => undefined;
  const close = (): Promise<void> =>
    (closing ??= shutdown(
      server,
      streams,
      options.closeTimeoutMs ?? 10_000,
      logger,
      removeSignals,
    ).finally(() => caller.close()));
  // Before announcing the port: until a listener exists, SIGTERM keeps its
  // default action and kills the process at once, so a supervisor that stops
  // us right after "listening" would skip the graceful close.
  if (options.handleSignals === true) removeSignals = installSignals(close, logger);
  logger({
    level: "info",
    msg: "cairn user function listening",
    address: `${host}:${bound}`,
    host,
    port: bound,
    components: options.components.map((c) => c.service.typeName),
  });
  return { port: bound, close };
}

function portFromEnv(): number {
  const raw = process.env["CAIRN_FUNCTION_PORT"];
  if (raw === undefined || raw === "") return 8080;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`CAIRN_FUNCTION_PORT must be a port number (0-65535), got '${raw}'`);
  }
  return port;
}

/** Refuses definitions that cannot be served, before binding a port. */
function checkComponents(components: readonly Component[]): void {
  if (components.length === 0)
    throw new Error("serve(): 'components' is empty; pass at least one component");
  const seen = new Set<string>();
  for (const c of components) {
    const name = c.service.typeName;
    if (seen.has(name))
      throw new Error(`serve(): service ${name} is served by two components; keep one`);
    seen.add(name);
  }
}

function serviceDefinition(
  service: Parameters<typeof grpcServiceDefinition>[0],
): grpc.ServiceDefinition {
  return grpcServiceDefinition(service);
}

function bind(server: grpc.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err !== null)
        reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
      else resolve(bound);
    });
  });
}

async function shutdown(
  server: grpc.Server,
  streams: Set<OpenStream>,
  timeoutMs: number,
  logger: Logger,
  removeSignals: () => void,
): Promise<void> {
  removeSignals();
  const graceful = (async () => {
    // Stop accepting connections and calls first (tryShutdown sends GOAWAY
    // but lets open calls run), so no stream appears behind our back; then
    // answer the commands in flight and end each stream, which lets
    // tryShutdown, waiting for open calls, complete.
    const stopped = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    await Promise.all(
      [...streams].map(async (s) => {
        await s.drain();
        s.end();
      }),
    );
    await stopped;
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">(
    (resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)),
  );
  const result = await Promise.race([graceful, timeout]);
  clearTimeout(timer);
  if (result === "timeout") server.forceShutdown();
  logger({
    level: result === "timeout" ? "warn" : "info",
    msg:
      result === "timeout"
        ? "cairn user function stopped; in-flight commands were cut"
        : "cairn user function stopped",
  });
}

function installSignals(close: () => Promise<void>, logger: Logger): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    logger({ level: "info", msg: `received ${signal}, shutting down` });
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger({ level: "error", msg: "shutdown failed", error: describeError(err) });
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  return () => {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  };
}
