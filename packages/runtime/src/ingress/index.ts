/**
 * The runtime's client-facing ingress: gRPC (with server reflection),
 * gRPC-Web, Connect and HTTP/JSON (`google.api.http` transcoding and
 * `POST /<package.Service>/<Method>`) on one port, all turned into
 * {@link Invocation}s for the {@link Dispatcher}. Streaming methods are
 * served when the dispatcher also has `dispatchStream`: every kind over
 * gRPC; server-streaming also over Connect, gRPC-Web and server-sent
 * events; client-streaming and bidi also over Connect and HTTP/JSON (a JSON
 * array or NDJSON in), full-duplex when the client streams its request.
 *
 * @module
 */
export { createIngress } from "./ingress.js";
export { parseCorsOrigins } from "./cors.js";
export type { CorsPolicy } from "./cors.js";
export type {
  Ingress,
  IngressLogger,
  IngressMetrics,
  IngressOptions,
  IngressTimeout,
} from "./options.js";

// For other runtime modules and tests.
export { parsePathTemplate } from "./path-template.js";
export { httpRouteOf } from "./routes.js";
export type { PathTemplate } from "./path-template.js";
export { httpStatusOf, UNDISCOVERED_MESSAGE } from "./status.js";
