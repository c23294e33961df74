import { fromBinary } from "@bufbuild/protobuf";
import { Metadata as GrpcMetadata, Server, ServerCredentials, status } from "@grpc/grpc-js";
import type {
  ConnectionInjector,
  sendUnaryData,
  ServerErrorResponse,
  ServerUnaryCall,
} from "@grpc/grpc-js";
import { CairnError, Code, COMMITTED_KEY } from "@cairn/protocol";
import type { InvocationResult } from "../core/types.js";
import type { CatalogView, MethodTarget } from "./catalog-view.js";
import { fillReplyMetadata, metadataFromGrpc } from "./metadata.js";
import type { ResolvedOptions } from "./options.js";
import { compressionInterceptor, unaryRequestInterceptor } from "./grpc-guards.js";
import { streamingGrpcHandler } from "./grpc-stream.js";
import { keyOf } from "./transcode.js";
import { addReflection } from "./reflection.js";
import { logInternal, toClientError, UNDISCOVERED_MESSAGE } from "./status.js";

/** grpc-js's internal handler record (server.js `register()` builds the same). */
export interface Handler {
  func: (call: never, callback: never) => void;
  serialize: (value: Buffer) => Buffer;
  deserialize: (bytes: Buffer) => Buffer;
  type: "unary" | "serverStream" | "clientStream" | "bidi";
  path: string;
}

/** The gRPC side of the ingress: a grpc-js server fed connections by the sniffer. */
export interface GrpcIngress {
  readonly injector: ConnectionInjector;
  close(): Promise<void>;
}

type UnaryCall = ServerUnaryCall<Buffer, Buffer>;
type Reply = sendUnaryData<Buffer>;

const identity = (b: Buffer): Buffer => b;
const STREAMING_MESSAGE = "streaming methods are not served: the dispatcher has no dispatchStream";

/**
 * Creates the grpc-js server. Requests and replies stay bytes (identity
 * serializers): the dispatcher wants binary protobuf anyway, so decoding is
 * done once, only to validate.
 *
 * grpc-js finds handlers by exact path in a Map filled by `register()`. The
 * catalog may change under a live HTTP/2 connection (a redeploy), and calls
 * before discovery must get UNAVAILABLE rather than grpc-js's UNIMPLEMENTED,
 * so we make that Map fall back to a lookup in the current catalog. That
 * touches a private field, so it is feature-tested; without it we fall back
 * to public `register()`/`unregister()` on each new connection.
 */
export function createGrpcIngress(
  options: ResolvedOptions,
  views: () => CatalogView | undefined,
): GrpcIngress {
  const server = new Server({
    "grpc.max_receive_message_length": options.maxRequestBytes,
    // A connection without calls is closed (GOAWAY) after this long.
    "grpc.max_connection_idle_ms": options.idleTimeoutMs,
    // The compression guard first: only the base call sees the compressed flag.
    interceptors: [compressionInterceptor(), unaryRequestInterceptor(options)],
  });
  addReflection(server, views, options.fileDescriptorSet);
  const resolve = createResolver(options, views);
  const hooked = hookHandlerLookup(server, resolve);
  if (!hooked)
    options.logger.warn(
      {},
      "grpc-js handler map not found; gRPC services follow catalog changes per connection only",
    );
  const sync = hooked ? undefined : createSync(server, views, resolve);
  const raw = server.createConnectionInjector(ServerCredentials.createInsecure());
  const injector: ConnectionInjector = {
    injectConnection: (socket) => {
      sync?.();
      raw.injectConnection(socket);
    },
    drain: (ms) => raw.drain(ms),
    destroy: () => raw.destroy(),
  };
  return { injector, close: () => shutdown(server) };
}

function shutdown(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.tryShutdown(() => resolve());
    // Calls in flight get a short grace, then are cancelled: close() must end.
    setTimeout(() => server.forceShutdown(), 1000).unref();
  });
}

function hookHandlerLookup(
  server: Server,
  resolve: (path: string) => Handler | undefined,
): boolean {
  const handlers: unknown = (server as unknown as { handlers?: unknown }).handlers;
  if (!(handlers instanceof Map)) return false;
  const map = handlers as Map<string, Handler>;
  const own = map.get.bind(map);
  map.get = (path: string) => own(path) ?? resolve(path);
  return true;
}

/** Fallback when the lookup cannot be hooked: (re)register the current catalog's paths. */
function createSync(
  server: Server,
  views: () => CatalogView | undefined,
  resolve: (path: string) => Handler | undefined,
): () => void {
  let registered: CatalogView | undefined;
  return () => {
    const view = views();
    if (view === registered) return;
    for (const path of registered?.methods.keys() ?? []) server.unregister(path);
    for (const path of view?.methods.keys() ?? []) {
      const h = resolve(path);
      if (h !== undefined)
        server.register(path, h.func as never, h.serialize, h.deserialize, h.type);
    }
    registered = view;
  };
}

/** Per catalog view, one handler per method path, made on first use. */
function createResolver(
  options: ResolvedOptions,
  views: () => CatalogView | undefined,
): (path: string) => Handler | undefined {
  const cache = new WeakMap<CatalogView, Map<string, Handler>>();
  const unavailable = errorHandler("", status.UNAVAILABLE, UNDISCOVERED_MESSAGE);
  return (path) => {
    const view = views();
    if (view === undefined) return { ...unavailable, path };
    let handlers = cache.get(view);
    if (handlers === undefined) cache.set(view, (handlers = new Map<string, Handler>()));
    const existing = handlers.get(path);
    if (existing !== undefined) return existing;
    const target = view.methods.get(path);
    if (target === undefined)
      return errorHandler(path, status.UNIMPLEMENTED, unknownMethodMessage(path, view));
    const handler =
      target.method.methodKind === "unary"
        ? unaryHandler(path, target, options)
        : options.streaming !== undefined
          ? streamingGrpcHandler(path, target, options, options.streaming)
          : streamingHandler(path, target);
    handlers.set(path, handler);
    return handler;
  };
}

function unknownMethodMessage(path: string, view: CatalogView): string {
  const service = path.split("/")[1] ?? "";
  return view.catalog.services.has(service)
    ? `method ${path.slice(1)} not found: service ${service} has no such method`
    : `service ${service} not found (asked for ${path}); served: ${[...view.catalog.services.keys()].join(", ")}`;
}

/** A unary-typed handler that fails every call; unary reads the whole request first, which is fine for an error. */
function errorHandler(path: string, code: status, details: string): Handler {
  const func = (_call: UnaryCall, callback: Reply): void => callback({ code, details });
  return { func, serialize: identity, deserialize: identity, type: "unary", path };
}

/** Streaming methods when the dispatcher cannot serve them: UNIMPLEMENTED. */
function streamingHandler(path: string, target: MethodTarget): Handler {
  const kind = target.method.methodKind;
  const details = `${STREAMING_MESSAGE} (${target.name} is ${kind.replace("_", " ")})`;
  const fail = { code: status.UNIMPLEMENTED, details };
  if (kind === "client_streaming") {
    const func = (_call: unknown, callback: Reply): void => callback(fail);
    return { func, serialize: identity, deserialize: identity, type: "clientStream", path };
  }
  const func = (call: { emit(event: "error", err: ServerErrorResponse): void }): void => {
    call.emit("error", Object.assign(new Error(details), fail));
  };
  return {
    func,
    serialize: identity,
    deserialize: identity,
    type: kind === "server_streaming" ? "serverStream" : "bidi",
    path,
  };
}

function unaryHandler(path: string, target: MethodTarget, options: ResolvedOptions): Handler {
  const { logger } = options;
  const func = (call: UnaryCall, callback: Reply): void => {
    const input = call.request;
    let entityKey: string | undefined;
    try {
      entityKey = keyOf(target, fromBinary(target.method.input, input)).entityKey;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      callback({
        code: status.INVALID_ARGUMENT,
        details: `invalid request for ${target.name}: cannot decode ${target.method.input.typeName}: ${why}`,
      });
      return;
    }
    // A dispatcher that throws instead of rejecting must not reach grpc-js,
    // which would answer UNKNOWN and log nothing.
    let pending: Promise<InvocationResult>;
    try {
      pending = dispatchCall(call, target, input, entityKey, options);
    } catch (err) {
      pending = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    pending.then(
      (result) => {
        const md = new GrpcMetadata();
        if (fillReplyMetadata(md, result.metadata, logger)) call.sendMetadata(md);
        const out = result.output;
        callback(null, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
      },
      (err: unknown) => {
        const e = toClientError(err);
        logInternal(logger, e, { method: target.name }, "dispatch failed");
        callback({ code: e.code as number as status, details: e.message, ...committedTrailer(e) });
      },
    );
  };
  return { func, serialize: identity, deserialize: identity, type: "unary", path };
}

/**
 * Dispatches one call. grpc-js enforces a client's `grpc-timeout` itself
 * (and then emits "cancelled", which aborts the signal); a call without one
 * gets the default timeout here, so a stuck dispatcher cannot hold it forever.
 */
function dispatchCall(
  call: UnaryCall,
  target: MethodTarget,
  input: Buffer,
  entityKey: string | undefined,
  options: ResolvedOptions,
): Promise<InvocationResult> {
  const abort = new AbortController();
  call.once("cancelled", () => abort.abort());
  const clientDeadline = call.getDeadline();
  const when = clientDeadline instanceof Date ? clientDeadline.getTime() : clientDeadline;
  const own = !Number.isFinite(when);
  const deadline = own ? Date.now() + options.defaultTimeoutMs : when;
  const dispatched = options.dispatcher.dispatch({
    service: target.service,
    method: target.method,
    input,
    ...(entityKey === undefined ? {} : { entityKey }),
    metadata: metadataFromGrpc(call.metadata),
    deadline,
    signal: abort.signal,
  });
  if (!own) return dispatched;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new CairnError(
          Code.DeadlineExceeded,
          `deadline of ${options.defaultTimeoutMs} ms exceeded calling ${target.name}`,
        ),
      );
      abort.abort();
    }, options.defaultTimeoutMs);
  });
  return Promise.race([dispatched, expired]).finally(() => clearTimeout(timer));
}

/** The trailer that tells a client a failed command was committed (none otherwise). */
function committedTrailer(e: CairnError): { metadata?: GrpcMetadata } {
  if (!e.committed) return {};
  const metadata = new GrpcMetadata();
  metadata.set(COMMITTED_KEY, "true");
  return { metadata };
}
