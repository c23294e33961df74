/**
 * Operations of a runtime node: structured logs, Prometheus metrics, and the
 * admin server (health, readiness, /metrics, admin API).
 *
 * @module
 */
export { createLogger } from "./logger.js";
export type { Logger, LoggerOptions } from "./logger.js";
export { createMetrics } from "./metrics.js";
export type { RuntimeMetrics } from "./metrics.js";
export { createAdminServer } from "./admin-server.js";
export type { AdminServer, AdminServerOptions } from "./admin-server.js";
export type {
  AdminApi,
  AdminMethodInfo,
  AdminServiceInfo,
  EntityInspection,
  EventSourcedInspection,
  ValueInspection,
  InspectedEvent,
  InspectOptions,
  ReadinessReport,
} from "./admin-api.js";
