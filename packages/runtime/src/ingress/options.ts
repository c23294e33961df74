import type { Catalog, Dispatcher, StreamingDispatcher } from "../core/types.js";
import { parseCorsOrigins } from "./cors.js";
import type { CorsPolicy } from "./cors.js";

/** The pino-compatible logger the ingress writes to. */
export interface IngressLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** Options of {@link createIngress}. */
export interface IngressOptions {
  /**
   * The current catalog; undefined until the user function is discovered.
   * Called on every request, so it must be cheap; the result may change at
   * any time (a redeploy) and the ingress follows it.
   */
  readonly catalog: () => Catalog | undefined;
  /**
   * The user's serialized `FileDescriptorSet` as discovered, served by gRPC
   * reflection as is. Optional: without it reflection serves the files of
   * the catalog's registry.
   */
  readonly fileDescriptorSet?: () => Uint8Array | undefined;
  /**
   * Routes calls. Streaming methods are served when it also has
   * `dispatchStream` (a {@link StreamingDispatcher}); otherwise they are
   * answered UNIMPLEMENTED.
   */
  readonly dispatcher: Dispatcher & Partial<Pick<StreamingDispatcher, "dispatchStream">>;
  readonly logger: IngressLogger;
  /** Where connection counts, refusals and timeouts are reported. Optional. */
  readonly metrics?: IngressMetrics;
  /** Largest request message accepted, bytes. Default 4 MiB. */
  readonly maxRequestBytes?: number;
  /**
   * Deadline of unary calls that carry no timeout header, milliseconds.
   * Default 30 s. Streaming calls without a timeout header get no deadline:
   * a subscription may rightly live for hours.
   */
  readonly defaultTimeoutMs?: number;
  /**
   * Interval of the keep-alive comment lines of server-sent event streams,
   * so that proxies do not close a quiet stream. Default 15 s.
   */
  readonly sseHeartbeatMs?: number;
  /** Request messages of one streaming call buffered before its client is paused. Default 16. */
  readonly streamInputBuffer?: number;
  /**
   * Time a client has to send a request's headers, milliseconds: the
   * HTTP/1.1 request line and headers (each request of a kept-alive
   * connection), the HTTP/2 preface and first SETTINGS frame, the TLS
   * handshake, and the first bytes that tell the protocol. Default 10 s.
   */
  readonly headersTimeoutMs?: number;
  /**
   * Time a client has to send the whole body of a unary or server-streaming
   * request once its headers are in, milliseconds (HTTP/1.1 body; HTTP/2
   * request message and end of stream). Request streams are bounded by
   * `idleTimeoutMs` instead. Default 30 s.
   */
  readonly requestTimeoutMs?: number;
  /**
   * Time without progress after which a connection or stream is closed,
   * milliseconds: a kept-alive HTTP/1.1 connection between requests, an
   * HTTP/2 connection with no call, an HTTP/1.1 request stream with no new
   * bytes while the server is reading, and a reply the client stops
   * reading (its socket buffer full). Default 65 s: longer than the 60 s
   * idle timeout of common load balancers, so that they close first.
   */
  readonly idleTimeoutMs?: number;
  /**
   * Open client connections at most. A new connection beyond it first
   * evicts the oldest one that serves no request (undecided, or HTTP/1.1
   * between requests or still sending headers); if none can go, it is
   * refused. Default 10,000.
   */
  readonly maxConnections?: number;
  /**
   * Browser pages allowed to call (CORS): "" none (the default), "*" any,
   * or a comma-separated list of origins, where a port may be `*`
   * (`https://app.example.com, http://localhost:*`). A request from a page
   * of any other origin is refused with 403.
   */
  readonly corsOrigins?: string;
  /**
   * Serve TLS instead of cleartext (PEM key and certificate chain). gRPC
   * clients get HTTP/2 through ALPN, everything else HTTP/1.1.
   */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
}

/** Why the ingress closed a connection or ended a call on its own. */
export type IngressTimeout = "headers" | "request" | "idle" | "stall";

/** What the ingress reports for `/metrics`. */
export interface IngressMetrics {
  /** A connection was admitted (+1) or closed (-1). */
  connections(delta: 1 | -1): void;
  /** A connection was refused or evicted because the limit was reached. */
  connectionShed(outcome: "refused" | "evicted"): void;
  /** A timeout fired. */
  timedOut(kind: IngressTimeout): void;
}

/** The client-facing server: gRPC, gRPC-Web, Connect and HTTP/JSON on one port. */
export interface Ingress {
  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(port: number, host: string): Promise<number>;
  /** Stops accepting, ends open connections and resolves when all are closed. */
  close(): Promise<void>;
}

/** Options with defaults applied. */
export interface ResolvedOptions extends IngressOptions {
  readonly maxRequestBytes: number;
  readonly defaultTimeoutMs: number;
  readonly sseHeartbeatMs: number;
  readonly streamInputBuffer: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly metrics: IngressMetrics;
  readonly cors: CorsPolicy;
  /** The dispatcher when it serves streaming methods. */
  readonly streaming: StreamingDispatcher | undefined;
}

const NO_METRICS: IngressMetrics = {
  connections: () => {},
  connectionShed: () => {},
  timedOut: () => {},
};

/** Applies the defaults of {@link IngressOptions}; throws a CairnError on invalid `corsOrigins`. */
export function resolveOptions(options: IngressOptions): ResolvedOptions {
  const cors = parseCorsOrigins(options.corsOrigins ?? "");
  if (cors.error !== undefined) throw cors.error;
  return {
    ...options,
    maxRequestBytes: options.maxRequestBytes ?? 4 * 1024 * 1024,
    defaultTimeoutMs: options.defaultTimeoutMs ?? 30_000,
    sseHeartbeatMs: options.sseHeartbeatMs ?? 15_000,
    streamInputBuffer: Math.max(1, options.streamInputBuffer ?? 16),
    headersTimeoutMs: options.headersTimeoutMs ?? 10_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 65_000,
    maxConnections: options.maxConnections ?? 10_000,
    metrics: options.metrics ?? NO_METRICS,
    cors: cors.value,
    streaming: streamingOf(options.dispatcher),
  };
}

/** The dispatcher as a {@link StreamingDispatcher}, when it has `dispatchStream`. */
function streamingOf(dispatcher: IngressOptions["dispatcher"]): StreamingDispatcher | undefined {
  const { dispatchStream } = dispatcher;
  if (typeof dispatchStream !== "function") return undefined;
  return {
    dispatch: (inv) => dispatcher.dispatch(inv),
    dispatchStream: (inv) => dispatchStream.call(dispatcher, inv),
  };
}
