/**
 * The runtime's connection to the user function: discovery (retried with
 * backoff until the function is up), the protocol version check, and the
 * multiplexed entity streams (one per entity kind the function serves), and
 * the unary/streaming calls of actions. When a stream breaks (the function
 * died or was redeployed) every open channel is told, and the connection
 * discovers again and reopens the streams.
 */
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  Discovery,
  Actions,
  ActionInFrameSchema,
  CAPABILITY_MULTIPLEXED_ACTIONS,
  EventSourcedEntities,
  ReplicatedEntities,
  ValueEntities,
  PROTOCOL_MAJOR_VERSION,
  PROTOCOL_MINOR_VERSION,
  RuntimeInfoSchema,
  UserFunctionErrorSchema,
  grpcServiceDefinition,
} from "@cairn/protocol";
import type { GrpcMethodDefinition } from "@cairn/protocol";
import type {
  ActionIn,
  ActionOut,
  EventSourcedIn,
  EventSourcedOut,
  ReplicatedEntityIn,
  ReplicatedEntityOut,
  Spec,
  ValueEntityIn,
  ValueEntityOut,
} from "@cairn/protocol";
import type { Logger } from "pino";
import { buildCatalog } from "./catalog.js";
import type { DiscoveredCatalog } from "./catalog.js";
import { ChannelMux } from "./channel-mux.js";
import { eventSourcedMux } from "./kinds/event-sourced.js";
import { replicatedMux } from "./kinds/replicated.js";
import { valueMux } from "./kinds/value.js";

const discoveryDef = grpcServiceDefinition(Discovery);
const esDef = grpcServiceDefinition(EventSourcedEntities);
const valueDef = grpcServiceDefinition(ValueEntities);
const replicatedDef = grpcServiceDefinition(ReplicatedEntities);
const actionsDef = grpcServiceDefinition(Actions);

/** Options of {@link FunctionConnection}. */
export interface FunctionConnectionOptions {
  address: string;
  logger: Logger;
  runtimeVersion: string;
  defaultPassivationMs: number;
  /** Called with each new catalog (first discovery and every re-discovery). */
  onCatalog: (catalog: DiscoveredCatalog) => void;
  /** host:port the function may call components at (the ingress). */
  proxyAddress: () => string;
  /** Called when the function connection goes up or down. */
  onConnected?: (up: boolean) => void;
  /**
   * How long a command waits for a function that went away (connection lost,
   * discovery refused) before it fails with UNAVAILABLE, milliseconds
   * (runtime option unavailableGraceMs). Before the first discovery, commands
   * wait within their deadline: the runtime is starting.
   */
  unavailableGraceMs?: number;
}

type State =
  | { kind: "connecting"; attempt: number; lastError: string }
  | { kind: "connected" }
  | { kind: "refused"; reason: string }
  | { kind: "closed" };

/** Maintains discovery and the entity streams to one user function. */
export class FunctionConnection {
  private readonly client: grpc.Client;
  private state: State = { kind: "connecting", attempt: 0, lastError: "not tried yet" };
  private waiters: Array<() => void> = [];
  /** Epoch ms since when the function is known to be gone; undefined while up or before the first discovery. */
  private downSince: number | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Current event-sourced stream multiplexer; replaced on reconnect. */
  readonly eventSourced: ChannelMux<EventSourcedIn, EventSourcedOut>;
  /** Current value-entity stream multiplexer. */
  readonly value: ChannelMux<ValueEntityIn, ValueEntityOut>;
  /** Current replicated-entity stream multiplexer. */
  readonly replicated: ChannelMux<ReplicatedEntityIn, ReplicatedEntityOut>;
  /** Unary action calls multiplexed on one stream (when the SDK announces it). */
  readonly actions: ChannelMux<ActionIn, ActionOut>;

  constructor(private readonly options: FunctionConnectionOptions) {
    this.client = new grpc.Client(options.address, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      "grpc.max_send_message_length": 64 * 1024 * 1024,
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1_000,
    });
    const lost = (err: Error) => this.streamLost(err);
    this.eventSourced = eventSourcedMux(() => this.openStream(esDef.handle!), lost);
    this.value = valueMux(() => this.openStream(valueDef.handle!), lost);
    this.replicated = replicatedMux(() => this.openStream(replicatedDef.handle!), lost);
    this.actions = new ChannelMux<ActionIn, ActionOut>(
      () => this.openStream(actionsDef.handleMultiplexed!),
      (messages) => create(ActionInFrameSchema, { messages }),
      lost,
    );
  }

  /** Human-readable connection status for readiness checks. */
  get status(): string {
    const s = this.state;
    switch (s.kind) {
      case "connected":
        return "connected";
      case "connecting":
        return `connecting to ${this.options.address} (attempt ${s.attempt}): ${s.lastError}`;
      case "refused":
        return `refused: ${s.reason}`;
      case "closed":
        return "closed";
    }
  }

  get connected(): boolean {
    return this.state.kind === "connected";
  }

  /** Starts discovery; resolves immediately, progress shows in `status`. */
  start(): void {
    this.runDiscovery();
  }

  /**
   * Resolves to true once connected, or to false after `timeoutMs`; while
   * the function is known to be gone, after what is left of the grace period
   * at most, so that commands fail fast instead of waiting out their deadline.
   */
  whenConnected(timeoutMs: number): Promise<boolean> {
    if (this.connected) return Promise.resolve(true);
    if (this.downSince !== undefined) {
      const grace = this.options.unavailableGraceMs ?? 1_500;
      timeoutMs = Math.min(timeoutMs, this.downSince + grace - Date.now());
      if (timeoutMs <= 0) return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.waiters = this.waiters.filter((w) => w !== done);
          resolve(false);
        },
        Math.max(0, timeoutMs),
      );
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(done);
    });
  }

  /** Reports protocol misuse to the function (best effort) and logs it. */
  reportError(message: string, serviceName = "", entityId = ""): void {
    this.options.logger.error(
      { serviceName, entityId },
      `user function protocol error: ${message}`,
    );
    const request = create(UserFunctionErrorSchema, { message, serviceName, entityId });
    const m = discoveryDef.reportError!;
    this.client.makeUnaryRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      request,
      () => {},
    );
  }

  close(): void {
    this.state = { kind: "closed" };
    clearTimeout(this.retryTimer);
    this.eventSourced.close();
    this.value.close();
    this.replicated.close();
    this.actions.close();
    this.client.close();
  }

  /** Runs the discovery loop on its own; it handles its errors, so a rejection here is a bug. */
  private runDiscovery(): void {
    this.discoverLoop().catch((err: unknown) =>
      this.options.logger.error({ err }, "discovery loop failed; it no longer retries"),
    );
  }

  private async discoverLoop(): Promise<void> {
    let delay = 100;
    for (let attempt = 1; this.state.kind === "connecting"; attempt++) {
      try {
        const spec = await this.discover();
        const refusal = this.checkVersion(spec);
        if (refusal !== undefined) return this.refuse(refusal);
        const catalog = buildCatalog(spec, this.options.defaultPassivationMs);
        if ("error" in catalog) return this.refuse(catalog.error);
        this.options.onCatalog(catalog.value);
        // Only the streams of kinds the function serves: opening another
        // would fail at once (UNIMPLEMENTED) and look like a lost connection.
        const kinds = new Set([...catalog.value.services.values()].map((s) => s.kind));
        if (kinds.has("event_sourced_entity")) this.eventSourced.open();
        if (kinds.has("value_entity")) this.value.open();
        if (kinds.has("replicated_entity")) this.replicated.open();
        const capabilities = spec.serviceInfo?.capabilities ?? [];
        if (kinds.has("action") && capabilities.includes(CAPABILITY_MULTIPLEXED_ACTIONS)) {
          this.actions.open();
        }
        this.state = { kind: "connected" };
        this.downSince = undefined;
        this.options.logger.info(
          {
            function: this.options.address,
            sdk: spec.serviceInfo?.supportLibraryName,
            components: spec.components.length,
          },
          "user function discovered",
        );
        this.options.onConnected?.(true);
        for (const w of this.waiters.splice(0)) w();
        return;
      } catch (err) {
        const message = (err as Error).message;
        if (this.state.kind !== "connecting") return;
        this.state = { kind: "connecting", attempt, lastError: message };
        if (attempt === 1 || attempt % 20 === 0) {
          this.options.logger.info(
            `waiting for the user function at ${this.options.address} (attempt ${attempt}): ${message}`,
          );
        }
        await new Promise((r) => (this.retryTimer = setTimeout(r, delay)));
        delay = Math.min(delay * 2, 2_000);
      }
    }
  }

  private refuse(reason: string): void {
    this.state = { kind: "refused", reason };
    this.downSince ??= Date.now();
    this.options.logger.error(
      { function: this.options.address },
      `user function refused: ${reason}`,
    );
    this.reportError(reason);
    // A redeployed function may fix it: try again later, slowly.
    this.retryTimer = setTimeout(() => {
      if (this.state.kind !== "refused") return;
      this.state = { kind: "connecting", attempt: 0, lastError: reason };
      this.runDiscovery();
    }, 5_000);
  }

  private checkVersion(spec: Spec): string | undefined {
    const info = spec.serviceInfo;
    const major = info?.protocolMajorVersion ?? 0;
    if (major === PROTOCOL_MAJOR_VERSION) return undefined;
    return `protocol version mismatch: the user function (${info?.supportLibraryName ?? "unknown SDK"} ${info?.supportLibraryVersion ?? ""}) speaks Cairn protocol ${major}.${info?.protocolMinorVersion ?? 0}, this runtime speaks ${PROTOCOL_MAJOR_VERSION}.${PROTOCOL_MINOR_VERSION}; upgrade the older of the two`;
  }

  private discover(): Promise<Spec> {
    const m = discoveryDef.discover!;
    const info = create(RuntimeInfoSchema, {
      protocolMajorVersion: PROTOCOL_MAJOR_VERSION,
      protocolMinorVersion: PROTOCOL_MINOR_VERSION,
      runtimeName: "cairn-runtime",
      runtimeVersion: this.options.runtimeVersion,
      supportedComponentKinds: [
        "event_sourced_entity",
        "value_entity",
        "replicated_entity",
        "action",
      ],
      proxyAddress: this.options.proxyAddress(),
    });
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        info,
        new grpc.Metadata(),
        { deadline: Date.now() + 5_000 },
        (err, value) => (err ? reject(err) : resolve(value as Spec)),
      );
    });
  }

  private openStream<F>(m: GrpcMethodDefinition): grpc.ClientDuplexStream<unknown, F> {
    return this.client.makeBidiStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
    ) as grpc.ClientDuplexStream<unknown, F>;
  }

  /** The grpc-js client, for action calls. */
  get grpcClient(): grpc.Client {
    return this.client;
  }

  private streamLost(err: Error): void {
    if (this.state.kind !== "connected") return;
    this.options.logger.warn(
      { function: this.options.address, err: err.message },
      "user function connection lost; reconnecting",
    );
    this.options.onConnected?.(false);
    this.state = { kind: "connecting", attempt: 0, lastError: err.message };
    this.downSince = Date.now();
    // One stream down means the function went away or was redeployed: drop
    // the others too, so no channel outlives the discovery that opened it.
    this.eventSourced.abort(err);
    this.value.abort(err);
    this.replicated.abort(err);
    this.actions.abort(err);
    this.runDiscovery();
  }
}
