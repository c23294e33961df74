/**
 * @cairn/runtime: a Cairn runtime node. It discovers the user function,
 * serves its components over gRPC, gRPC-Web, Connect and HTTP/JSON, keeps
 * active entities in memory with a single writer each, and persists their
 * state in SQLite, PostgreSQL or memory before it replies.
 *
 * @example
 * ```ts
 * import { createRuntime } from "@cairn/runtime";
 * const runtime = createRuntime({ store: ".cairn/cairn.db", functionAddress: "127.0.0.1:8080" });
 * await runtime.start();
 * process.on("SIGTERM", () => void runtime.stop());
 * ```
 * @module
 */
export { createRuntime } from "./runtime.js";
export type { Runtime, RuntimeDeps } from "./runtime.js";
export { RuntimeOptionsSchema } from "./options.js";
export type { RuntimeOptions, RuntimeOptionsInput } from "./options.js";
export { createLogger, createMetrics, createAdminServer } from "./ops/index.js";
export type {
  Logger,
  RuntimeMetrics,
  AdminServer,
  AdminApi,
  AdminServiceInfo,
  AdminMethodInfo,
  EntityInspection,
  EventSourcedInspection,
  ValueInspection,
  InspectedEvent,
} from "./ops/index.js";
export { createStore } from "./store/index.js";
export type { Store, StoreKind } from "./store/types.js";
export type {
  Catalog,
  ServiceEntry,
  Dispatcher,
  Invocation,
  InvocationResult,
} from "./core/types.js";
