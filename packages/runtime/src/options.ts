/**
 * Runtime configuration: one zod schema validates flags, environment
 * (`CAIRN_*`) and config file alike, so every source gets the same checks
 * and the same error messages.
 */
import { z } from "zod";
import { parseCorsOrigins } from "./ingress/index.js";
import { adminExposureProblem } from "./ops/admin-guard.js";

/** Options of {@link createRuntime}; every field has a documented default. */
export const RuntimeOptionsSchema = z
  .object({
    /** Store location: "memory", a SQLite file path or "sqlite:<path>", or a postgres:// URL. */
    store: z.string().min(1).default(".cairn/cairn.db"),
    /** Address of the user function's gRPC server, host:port. */
    functionAddress: z.string().min(1).default("127.0.0.1:8080"),
    /** Interface the ingress binds to. */
    host: z.string().min(1).default("127.0.0.1"),
    /** Ingress port (gRPC, gRPC-Web, Connect, HTTP/JSON); 0 picks a free port. */
    port: z.number().int().min(0).max(65535).default(9000),
    /** Admin port (health, readiness, /metrics, admin API); 0 picks a free port. */
    adminPort: z.number().int().min(0).max(65535).default(9090),
    /** Interface the admin server binds to: loopback unless asked, whatever `host` is. */
    adminHost: z.string().min(1).default("127.0.0.1"),
    /**
     * Bearer token of the admin API; "" for none. Required when `adminHost`
     * is not a loopback address.
     */
    adminToken: z.string().default(""),
    /**
     * Browser pages allowed to call the ingress (CORS): "" none, "*" any, or
     * comma-separated origins, a port may be `*` (`http://localhost:*`).
     */
    corsOrigins: z
      .string()
      .default("")
      .refine((spec) => parseCorsOrigins(spec).error === undefined, {
        error: (issue) => parseCorsOrigins(String(issue.input)).error?.message ?? "invalid",
      }),
    /** Largest accepted request body, bytes. */
    maxRequestBytes: z
      .number()
      .int()
      .positive()
      .default(4 * 1024 * 1024),
    /**
     * Time a client has to send a request's headers (HTTP/1.1 request line
     * and headers, HTTP/2 preface and SETTINGS, TLS handshake), milliseconds.
     */
    headersTimeoutMs: z.number().int().positive().default(10_000),
    /** Time a client has to send a unary request's body once its headers are in, milliseconds. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
    /**
     * Time without progress before the ingress closes a connection or stream,
     * milliseconds: a kept-alive connection between requests, an HTTP/2
     * connection without calls, a quiet HTTP/1.1 request stream, a reply the
     * client stopped reading.
     */
    idleTimeoutMs: z.number().int().positive().default(65_000),
    /** Open client connections at most; at the limit an idle one is evicted, else the newcomer refused. */
    maxConnections: z.number().int().positive().default(10_000),
    /**
     * Longest entity id accepted, UTF-8 bytes; a longer one is refused with
     * INVALID_ARGUMENT on every path (client calls, ctx.call, forwards, effects).
     */
    maxEntityIdBytes: z.number().int().positive().default(1024),
    /** Commands queued per entity before callers get RESOURCE_EXHAUSTED. */
    mailboxCapacity: z.number().int().positive().default(1000),
    /**
     * Deadline of a command whose client set none, and how long the user
     * function may take to answer one command before its entity is restarted,
     * milliseconds. A client's shorter deadline ends only that client's wait.
     */
    commandTimeoutMs: z.number().int().positive().default(10_000),
    /**
     * How long a command waits for a user function that went away (its
     * connection lost, or discovery refusing it) before it fails with
     * UNAVAILABLE, milliseconds: long enough for a restart in progress,
     * far shorter than the command timeout.
     */
    unavailableGraceMs: z.number().int().min(0).default(1_500),
    /** Entities activating at once on the node; more are refused with RESOURCE_EXHAUSTED. */
    maxActivations: z.number().int().positive().default(1000),
    /** Calls one command may have in flight at once (ctx.call); more are refused with RESOURCE_EXHAUSTED. */
    maxFanOut: z.number().int().positive().default(1000),
    /** Default idle time before an entity is passivated, milliseconds. */
    passivationTimeoutMs: z.number().int().positive().default(30_000),
    /** Timers one component instance may have at once (scheduling more fails with RESOURCE_EXHAUSTED). */
    maxTimersPerOwner: z.number().int().positive().default(1000),
    /**
     * How long the reply of a command sent with an idempotency-key is kept
     * for its retries, milliseconds (default 24 h); older records are removed
     * in the background.
     */
    idempotencyRetentionMs: z
      .number()
      .int()
      .positive()
      .default(24 * 60 * 60 * 1000),
    /** Idempotency records kept per component instance; beyond it the oldest are dropped. */
    maxIdempotencyKeysPerEntity: z.number().int().positive().default(10_000),
    /** Largest payload of one timer's call, bytes (larger fails with RESOURCE_EXHAUSTED). */
    maxTimerPayloadBytes: z
      .number()
      .int()
      .positive()
      .default(64 * 1024),
    /** pino log level. */
    logLevel: z
      .enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"])
      .default("info"),
  })
  .superRefine((o, ctx) => {
    const problem = adminExposureProblem(o.adminHost, o.adminToken);
    if (problem !== undefined)
      ctx.addIssue({ code: "custom", path: ["adminHost"], message: problem });
  });

/** Validated runtime options. */
export type RuntimeOptions = z.infer<typeof RuntimeOptionsSchema>;
/** Runtime options as a caller may give them (defaults filled in). */
export type RuntimeOptionsInput = z.input<typeof RuntimeOptionsSchema>;
