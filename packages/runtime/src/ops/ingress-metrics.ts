/**
 * Metrics of the client-facing port: open connections, connections shed at
 * the limit, and the timeouts that closed connections or ended calls. They
 * tell an operator whether slow or idle clients are pressing on the port.
 */
import { Counter, Gauge } from "prom-client";
import type { Registry } from "prom-client";

/** What the ingress reports (the ingress's `IngressMetrics`, by shape). */
export interface IngressMetricsRecorder {
  /** A connection was admitted (+1) or closed (-1). */
  connections(delta: 1 | -1): void;
  /** A connection was refused or evicted because `maxConnections` was reached. */
  connectionShed(outcome: "refused" | "evicted"): void;
  /** A timeout fired: "headers", "request", "idle" or "stall". */
  timedOut(kind: string): void;
}

/** Registers the ingress series in `registry`. */
export function createIngressMetrics(registry: Registry): IngressMetricsRecorder {
  const registers = [registry];
  const open = new Gauge({
    name: "cairn_ingress_connections",
    help: "Client connections open on the ingress port.",
    registers,
  });
  const shed = new Counter({
    name: "cairn_ingress_connections_shed_total",
    help: "Connections shed at maxConnections: evicted (an idle one made room) or refused.",
    labelNames: ["outcome"],
    registers,
  });
  const timeouts = new Counter({
    name: "cairn_ingress_timeouts_total",
    help: "Connections closed or calls ended by an ingress timeout: headers, request, idle or stall (the client stopped reading).",
    labelNames: ["kind"],
    registers,
  });
  const shedBy = new Map<string, Counter.Internal>();
  const timeoutsBy = new Map<string, Counter.Internal>();
  const child = (map: Map<string, Counter.Internal>, c: Counter<string>, v: string) => {
    let found = map.get(v);
    if (found === undefined) map.set(v, (found = c.labels(v)));
    return found;
  };
  return {
    connections: (delta) => open.inc(delta),
    connectionShed: (outcome) => child(shedBy, shed, outcome).inc(),
    timedOut: (kind) => child(timeoutsBy, timeouts, kind).inc(),
  };
}
