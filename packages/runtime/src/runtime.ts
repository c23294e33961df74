/**
 * A runtime node: store, user-function connection, entity host, router,
 * ingress and admin server, wired together and started/stopped in order.
 */
import { readFileSync } from "node:fs";
import { createAdminApi } from "./admin-api-impl.js";
import { ActionCalls } from "./core/action-calls.js";
import { systemClock } from "./core/clock.js";
import { FanOutLimit } from "./core/fan-out.js";
import type { Clock } from "./core/clock.js";
import { Replies } from "./core/replies.js";
import { Router } from "./core/router.js";
import { storedCallResolver } from "./core/stored-calls.js";
import type { Catalog } from "./core/types.js";
import type { DiscoveredCatalog } from "./host/catalog.js";
import { ActivationLimit } from "./host/activation-limit.js";
import { withActionMetrics } from "./host/action-metrics.js";
import { createActionHandler } from "./host/actions.js";
import { EntityHost } from "./host/entity-host.js";
import { eventSourcedKind } from "./host/kinds/event-sourced.js";
import { durableExtras } from "./core/reply-work.js";
import { OutboxDeliverer } from "./core/outbox.js";
import { TimerScheduler } from "./core/timers.js";
import { IdempotencyExpiry } from "./core/idempotency-expiry.js";
import { KeyedCalls, keyedEntities } from "./core/idempotency.js";
import { valueKind } from "./host/kinds/value.js";
import { replicatedKind } from "./host/kinds/replicated.js";
import { Replicas } from "./host/replicated/replicas.js";
import { SingleNodeReplicator } from "./host/replicated/replicator.js";
import type { Replicator } from "./host/replicated/replicator.js";
import type { EntityEnv } from "./host/entity-env.js";
import { FunctionConnection } from "./host/function-connection.js";
import { createIngress, httpRouteOf } from "./ingress/index.js";
import type { Ingress } from "./ingress/index.js";
import { createAdminServer, createLogger, createMetrics } from "./ops/index.js";
import type { AdminServer, Logger, RuntimeMetrics } from "./ops/index.js";
import { RuntimeOptionsSchema } from "./options.js";
import type { RuntimeOptions, RuntimeOptionsInput } from "./options.js";
import { createStore } from "./store/index.js";
import type { Store } from "./store/types.js";

/** A running (or stopped) runtime node. */
export interface Runtime {
  /** Opens the store, binds ingress and admin ports, starts discovering the user function. */
  start(): Promise<void>;
  /** Stops accepting, drains in-flight commands, passivates entities, closes ports and the store. */
  stop(): Promise<void>;
  /** Bound ports (valid after start). */
  readonly ports: { readonly ingress: number; readonly admin: number };
  /** True once the store is open and the user function is discovered. */
  readonly ready: boolean;
  /** The current catalog (undefined before discovery). */
  readonly catalog: Catalog | undefined;
  /**
   * Records a rejection nobody handled (the program hosting the node routes
   * `process.on("unhandledRejection")` here): logged with its stack and
   * counted in `cairn_unhandled_rejections_total`. One request's bug must
   * not end a node that serves everyone else.
   */
  unhandledRejection(reason: unknown): void;
}

/** Extra wiring for embedding (tests, `cairn dev`). */
export interface RuntimeDeps {
  readonly logger?: Logger;
  readonly metrics?: RuntimeMetrics;
  /** Time and timeouts; default the system clock. */
  readonly clock?: Clock;
}

const VERSION = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;

/**
 * Creates a runtime node; throws a ZodError on invalid options.
 *
 * @example
 * ```ts
 * const runtime = createRuntime({ store: ".cairn/cairn.db", functionAddress: "127.0.0.1:8080" });
 * await runtime.start();
 * ```
 */
export function createRuntime(options: RuntimeOptionsInput, deps: RuntimeDeps = {}): Runtime {
  return new RuntimeImpl(RuntimeOptionsSchema.parse(options), deps);
}

class RuntimeImpl implements Runtime {
  private readonly logger: Logger;
  private readonly metrics: RuntimeMetrics;
  private readonly clock: Clock;
  private store: Store | undefined;
  private connection: FunctionConnection | undefined;
  private host: EntityHost | undefined;
  private ingress: Ingress | undefined;
  private admin: AdminServer | undefined;
  private current: DiscoveredCatalog | undefined;
  private outbox: OutboxDeliverer | undefined;
  private timers: TimerScheduler | undefined;
  private replicator: Replicator | undefined;
  private expiry: IdempotencyExpiry | undefined;
  ports = { ingress: 0, admin: 0 };

  constructor(
    private readonly options: RuntimeOptions,
    deps: RuntimeDeps,
  ) {
    this.logger = deps.logger ?? createLogger({ level: options.logLevel, name: "cairn-runtime" });
    this.metrics = deps.metrics ?? createMetrics();
    this.clock = deps.clock ?? systemClock;
  }

  unhandledRejection(reason: unknown): void {
    this.metrics.unhandledRejection();
    this.logger.error(
      { err: reason },
      "unhandled promise rejection (a bug in Cairn: please report it); the node keeps serving",
    );
  }

  get ready(): boolean {
    return this.store !== undefined && this.connection?.connected === true;
  }

  get catalog(): Catalog | undefined {
    return this.current;
  }

  async start(): Promise<void> {
    const o = this.options;
    this.store = await createStore(o.store, {
      metrics: this.metrics,
      logger: this.logger,
      maxTimersPerOwner: o.maxTimersPerOwner,
      maxIdempotencyKeysPerEntity: o.maxIdempotencyKeysPerEntity,
    });
    const connection = new FunctionConnection({
      address: o.functionAddress,
      logger: this.logger,
      runtimeVersion: VERSION,
      defaultPassivationMs: o.passivationTimeoutMs,
      onCatalog: (c) => (this.current = c),
      onConnected: (up) => this.metrics.functionConnected(up),
      unavailableGraceMs: o.unavailableGraceMs,
      proxyAddress: () =>
        `${o.host === "0.0.0.0" || o.host === "::" ? "127.0.0.1" : o.host}:${this.ports.ingress}`,
    });
    this.connection = connection;
    const store = this.store;
    // Replies dispatch forwards and effects through the router, which is
    // built last: it needs the host, whose entities use the replies.
    const late: { router?: Router } = {};
    const replies = new Replies({
      catalog: () => this.current,
      dispatcher: () => late.router!,
      stored: () => this.wakeWork(),
      maxTimerPayloadBytes: o.maxTimerPayloadBytes,
    });
    const env: EntityEnv = {
      logger: this.logger,
      clock: this.clock,
      metrics: this.metrics,
      mailboxCapacity: o.mailboxCapacity,
      commandTimeoutMs: o.commandTimeoutMs,
      activations: new ActivationLimit(o.maxActivations),
      connection,
      reportError: (m, s, e) => connection.reportError(m, s, e),
      checkReply: (inv, reply) => replies.check(inv, reply),
      release: (inv, reply) => replies.release(inv, reply),
      activated: (e) => {
        this.metrics.entityActivated(e.service.desc.typeName);
        this.metrics.activeEntities(e.service.desc.typeName, 1);
      },
      deactivated: (e) => this.metrics.activeEntities(e.service.desc.typeName, -1),
      restarted: (e, reason) => this.metrics.entityRestarted(e.service.desc.typeName, reason),
    };
    // One node alone: a cluster puts its replicator here.
    const replicator: Replicator = new SingleNodeReplicator();
    this.replicator = replicator;
    const replicated = replicatedKind({
      store,
      replicas: new Replicas(store),
      replicator,
      mux: () => connection.replicated,
      extras: durableExtras,
      defaultWriteTimeoutMs: o.commandTimeoutMs,
      warn: (message, err) => this.logger.warn({ err }, message),
    });
    replicator.onPeer((change) => {
      const refused = replicated.deliverPeer(change);
      if (refused !== undefined)
        this.logger.warn({ from: change.from, err: refused }, refused.message);
    });
    const host = new EntityHost(env, {
      event_sourced_entity: eventSourcedKind(store, () => connection.eventSourced, durableExtras),
      value_entity: valueKind(store, () => connection.value, durableExtras),
      replicated_entity: replicated,
    });
    this.host = host;
    const actions = withActionMetrics(
      createActionHandler({
        client: () => connection.grpcClient,
        connection,
        commandTimeoutMs: o.commandTimeoutMs,
        mux: () => connection.actions,
      }),
      this.metrics,
    );
    const fanOut = new FanOutLimit(o.maxFanOut, () => this.metrics.limitRejected("max-fan-out"));
    const keyed = new KeyedCalls({ store, release: (inv, reply) => replies.release(inv, reply) });
    const router = new Router(
      keyedEntities(keyed, host),
      new ActionCalls(actions, replies, store, keyed),
      fanOut,
      o.maxEntityIdBytes,
    );
    late.router = router;
    const dispatch = (inv: Parameters<Router["dispatch"]>[0]) => router.dispatch(inv);
    const resolve = storedCallResolver(() => this.current, this.clock, o.commandTimeoutMs);
    this.outbox = new OutboxDeliverer({
      store,
      resolve,
      dispatch,
      logger: this.logger,
      clock: this.clock,
      onAttempt: (outcome) => this.metrics.effectAttempt(outcome),
    });
    this.timers = new TimerScheduler({
      store,
      resolve,
      dispatch,
      logger: this.logger,
      clock: this.clock,
      onFired: (outcome) => this.metrics.timerFired(outcome),
    });
    this.expiry = new IdempotencyExpiry({
      store,
      retentionMs: o.idempotencyRetentionMs,
      logger: this.logger,
      clock: this.clock,
    });
    this.ingress = createIngress({
      catalog: () => this.current,
      fileDescriptorSet: () => this.current?.fileDescriptorSet,
      dispatcher: router,
      logger: this.logger,
      metrics: this.metrics.ingress,
      maxRequestBytes: o.maxRequestBytes,
      defaultTimeoutMs: o.commandTimeoutMs,
      headersTimeoutMs: o.headersTimeoutMs,
      requestTimeoutMs: o.requestTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      maxConnections: o.maxConnections,
      corsOrigins: o.corsOrigins,
    });
    this.ports.ingress = await this.ingress.listen(o.port, o.host);
    this.admin = createAdminServer({
      readiness: () => ({
        ready: this.ready,
        store: this.store === undefined ? "closed" : `open (${this.store.description})`,
        function: connection.status,
      }),
      metrics: this.metrics,
      admin: createAdminApi(
        () => this.current,
        () => this.store,
        (service, id) => host.isActive(service, id),
        (catalog, method) => {
          const route = httpRouteOf(method, catalog.registry);
          return route === undefined
            ? undefined
            : { http: `${route.verb} ${route.path}`, body: route.body };
        },
      ),
      logger: this.logger,
      token: o.adminToken,
    });
    this.ports.admin = await this.admin.listen(o.adminPort, o.adminHost);
    this.logger.info(
      {
        ingress: `${o.host}:${this.ports.ingress}`,
        admin: `${o.adminHost}:${this.ports.admin}`,
        store: this.store.description,
        function: o.functionAddress,
      },
      "cairn runtime started",
    );
    connection.start();
    // Work left by an earlier run (a crash between commit and delivery).
    this.wakeWork();
  }

  private wakeWork(): void {
    this.outbox?.wake();
    this.timers?.refresh();
  }

  async stop(): Promise<void> {
    this.logger.info("cairn runtime stopping");
    await this.host?.drain(5_000);
    this.replicator?.close();
    this.outbox?.stop();
    this.timers?.stop();
    await this.expiry?.stop();
    await this.ingress?.close();
    this.connection?.close();
    await this.admin?.close();
    await this.store?.close();
    this.store = undefined;
    this.logger.info("cairn runtime stopped");
  }
}
