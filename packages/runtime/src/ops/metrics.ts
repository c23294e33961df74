/**
 * Prometheus metrics of a runtime node. Each runtime owns a Registry (not
 * prom-client's global one) so that several runtimes in one process, as in
 * tests, never collide on metric names.
 *
 * Hot paths (every command, every commit) call the typed helpers below;
 * they cache label children so that a call does no label-object allocation
 * and no label hashing after the first time a label combination is seen.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { createIngressMetrics } from "./ingress-metrics.js";
import type { IngressMetricsRecorder } from "./ingress-metrics.js";

/** Metrics the runtime records, plus the registry they live in. */
export interface RuntimeMetrics {
  /** The registry holding every series (default process metrics included). */
  readonly registry: Registry;
  /** A command finished; `code` is the gRPC code name, "OK" on success. */
  commandCompleted(service: string, method: string, code: string, seconds: number): void;
  /** An entity was activated (loaded and its channel opened). */
  entityActivated(service: string): void;
  /** An entity was passivated (idle timeout or shutdown). */
  entityPassivated(service: string): void;
  /**
   * An entity was restarted; reason: command_timeout, function_failure,
   * channel_failure, invalid_reply, store_failure or engine_fault.
   */
  entityRestarted(service: string, reason: string): void;
  /** Adds `delta` (+1 / -1) to the number of active entities of a service. */
  activeEntities(service: string, delta: number): void;
  /** A group commit of `batchSize` appends took `seconds` on store `store`. */
  storeCommit(store: string, batchSize: number, seconds: number): void;
  /** A command was refused because the entity's mailbox was full. */
  mailboxRejected(service: string): void;
  /** A request refused by a node limit, named by its option: "max-activations", "max-fan-out". */
  limitRejected(limit: string): void;
  /** The user function connection went up or down. */
  functionConnected(up: boolean): void;
  /** An asynchronous effect delivery attempt: "delivered" or "retry". */
  effectAttempt(outcome: string): void;
  /** A timer firing: "ok", "retry" or "parked". */
  timerFired(outcome: string): void;
  /** A promise rejected with nobody handling it (a bug; the node keeps serving). */
  unhandledRejection(): void;
  /** The Prometheus text exposition of every series. */
  render(): Promise<{ contentType: string; body: string }>;
  /** What the ingress port reports: connections, shedding, timeouts. */
  readonly ingress: IngressMetricsRecorder;
}

/** Buckets from 0.1 ms to 10 s, roughly ×2.5 apart. */
const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Group-commit sizes: one append up to a few thousand. */
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/** Children by one label value; created on first use. */
class ChildCache<C> {
  private readonly children = new Map<string, C>();
  constructor(private readonly make: (value: string) => C) {}
  get(value: string): C {
    let child = this.children.get(value);
    if (child === undefined) {
      child = this.make(value);
      this.children.set(value, child);
    }
    return child;
  }
}

/** Children by (service, method, code), nested so a lookup builds no key string. */
class CommandChildren {
  private readonly byService = new Map<string, Map<string, Map<string, Counter.Internal>>>();
  private readonly durations = new Map<string, Map<string, Histogram.Internal<string>>>();
  constructor(
    private readonly total: Counter<string>,
    private readonly duration: Histogram<string>,
  ) {}

  counter(service: string, method: string, code: string): Counter.Internal {
    const byMethod = getOrCreate(
      this.byService,
      service,
      () => new Map<string, Map<string, Counter.Internal>>(),
    );
    const byCode = getOrCreate(byMethod, method, () => new Map<string, Counter.Internal>());
    return getOrCreate(byCode, code, () => this.total.labels(service, method, code));
  }

  histogram(service: string, method: string): Histogram.Internal<string> {
    const byMethod = getOrCreate(
      this.durations,
      service,
      () => new Map<string, Histogram.Internal<string>>(),
    );
    return getOrCreate(byMethod, method, () => this.duration.labels(service, method));
  }
}

function getOrCreate<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

/**
 * Creates the runtime's metrics in a fresh registry.
 *
 * @example
 * ```ts
 * const metrics = createMetrics();
 * metrics.commandCompleted("shop.Cart", "AddItem", "OK", 0.0021);
 * const { contentType, body } = await metrics.render();
 * ```
 */
export function createMetrics(): RuntimeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const commands = new CommandChildren(
    new Counter({
      name: "cairn_commands_total",
      help: "Commands handled, by outcome (gRPC code name, OK on success).",
      labelNames: ["service", "method", "code"],
      registers,
    }),
    new Histogram({
      name: "cairn_command_duration_seconds",
      help: "Time from a command's arrival to its reply, seconds.",
      labelNames: ["service", "method"],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
  );
  const active = new Gauge({
    name: "cairn_active_entities",
    help: "Entities currently active (in memory).",
    labelNames: ["service"],
    registers,
  });
  const activations = new Counter({
    name: "cairn_entity_activations_total",
    help: "Entity activations.",
    labelNames: ["service"],
    registers,
  });
  const passivations = new Counter({
    name: "cairn_entity_passivations_total",
    help: "Entity passivations.",
    labelNames: ["service"],
    registers,
  });
  const restarts = new Counter({
    name: "cairn_entity_restarts_total",
    help: "Entity restarts, by reason.",
    labelNames: ["service", "reason"],
    registers,
  });
  const commits = new Counter({
    name: "cairn_store_commits_total",
    help: "Store group commits.",
    labelNames: ["store"],
    registers,
  });
  const batchSize = new Histogram({
    name: "cairn_store_commit_batch_size",
    help: "Appends per store group commit.",
    buckets: BATCH_BUCKETS,
    registers,
  });
  const commitDuration = new Histogram({
    name: "cairn_store_commit_duration_seconds",
    help: "Duration of a store group commit, seconds.",
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const rejections = new Counter({
    name: "cairn_mailbox_rejections_total",
    help: "Commands refused with RESOURCE_EXHAUSTED because an entity's mailbox was full.",
    labelNames: ["service"],
    registers,
  });
  const limits = new Counter({
    name: "cairn_limit_rejections_total",
    help: "Requests refused with RESOURCE_EXHAUSTED by a node limit, by the limit's option (max-activations, max-fan-out).",
    labelNames: ["limit"],
    registers,
  });
  const connected = new Gauge({
    name: "cairn_function_connected",
    help: "1 while the user function is connected and discovered, else 0.",
    registers,
  });
  connected.set(0);
  const effects = new Counter({
    name: "cairn_effect_deliveries_total",
    help: "Asynchronous effect delivery attempts from the outbox, by outcome (delivered, retry).",
    labelNames: ["outcome"],
    registers,
  });
  const timers = new Counter({
    name: "cairn_timer_firings_total",
    help: "Timer firings by outcome (ok, retry, parked: the target no longer exists).",
    labelNames: ["outcome"],
    registers,
  });
  const unhandled = new Counter({
    name: "cairn_unhandled_rejections_total",
    help: "Promises rejected with no handler: each is a bug, logged with its stack; the node kept serving.",
    registers,
  });
  const effectsBy = new ChildCache((o) => effects.labels(o));
  const timersBy = new ChildCache((o) => timers.labels(o));

  const activeBy = new ChildCache((s) => active.labels(s));
  const activationsBy = new ChildCache((s) => activations.labels(s));
  const passivationsBy = new ChildCache((s) => passivations.labels(s));
  const rejectionsBy = new ChildCache((s) => rejections.labels(s));
  const limitsBy = new ChildCache((l) => limits.labels(l));
  const commitsBy = new ChildCache((s) => commits.labels(s));
  const restartsBy = new ChildCache((s) => new ChildCache((reason) => restarts.labels(s, reason)));

  return {
    registry,
    commandCompleted(service, method, code, seconds) {
      commands.counter(service, method, code).inc();
      commands.histogram(service, method).observe(seconds);
    },
    entityActivated: (service) => activationsBy.get(service).inc(),
    entityPassivated: (service) => passivationsBy.get(service).inc(),
    entityRestarted: (service, reason) => restartsBy.get(service).get(reason).inc(),
    activeEntities: (service, delta) => activeBy.get(service).inc(delta),
    storeCommit(store, size, seconds) {
      commitsBy.get(store).inc();
      batchSize.observe(size);
      commitDuration.observe(seconds);
    },
    mailboxRejected: (service) => rejectionsBy.get(service).inc(),
    limitRejected: (limit) => limitsBy.get(limit).inc(),
    functionConnected: (up) => connected.set(up ? 1 : 0),
    effectAttempt: (outcome) => effectsBy.get(outcome).inc(),
    timerFired: (outcome) => timersBy.get(outcome).inc(),
    unhandledRejection: () => unhandled.inc(),
    ingress: createIngressMetrics(registry),
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
