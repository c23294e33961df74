import { create, fromBinary } from "@bufbuild/protobuf";
import type { AnyState } from "../replicated/types.js";
import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { CairnError, CommandSchema, WriteConsistency as WireConsistency } from "@cairn/protocol";
import type { ClientAction, ReplicatedStreamedMessage } from "@cairn/protocol";
import { silentLogger } from "../log.js";
import type { Logger } from "../log.js";
import { packMessage } from "../payload/codec.js";
import { metadataFromMap, metadataToMap } from "../payload/metadata.js";
import type { MetadataMap } from "../payload/metadata.js";
import type { ReplicatedEntity, ReplicatedEntityDefinition } from "../replicated/entity.js";
import { ReplicatedEntityInstance } from "../replicated/instance.js";
import type { WriteConsistency } from "../replicated/types.js";
import type { TestCallOptions } from "./eventsourced.js";
import { StubCaller, decodeCall, decodeEffect, decodeTimer } from "./shared.js";
import type {
  CallStubs,
  RecordedComponentCall,
  RecordedEffect,
  RecordedOutgoingCall,
  RecordedTimerAction,
} from "./shared.js";

/** Options of {@link createReplicatedEntityTestKit}. */
export interface ReplicatedEntityTestKitOptions {
  /** Id of the entity under test. Default "test-entity". */
  entityId?: string;
  /** The replica id the runtime would hand the entity. Default "test-replica". */
  replicaId?: string;
  /** Stubs answering the handlers' `ctx.call()`, keyed by `"<package.Service>/<Method>"`. */
  calls?: CallStubs;
  /** Receives the SDK's logs (internal errors). Default: silent. */
  logger?: Logger;
}

/** The messages a streamed command (subscription) pushed, decoded. */
export interface TestStream<O extends DescMessage> {
  /** Every message pushed so far, the first reply included, in order. */
  readonly messages: readonly MessageShape<O>[];
  /** True once the handler ended the stream (or it failed, see `error`). */
  readonly ended: boolean;
  /** The failure that ended the stream, if any. */
  readonly error: CairnError | undefined;
  /** The subscriber goes away: runs the cancellation handler, as when a client disconnects. */
  cancel(): void;
}

/** What one command did, as the runtime would see it, decoded back for assertions. */
export interface ReplicatedCommandResult<O extends DescMessage, C extends AnyState> {
  /** The reply message; undefined when the command failed, forwarded or streamed without a first message. */
  readonly reply: MessageShape<O> | undefined;
  readonly forward: RecordedComponentCall | undefined;
  /** The failure sent to the client; an internal error keeps the original on `cause`. */
  readonly error: CairnError | undefined;
  readonly effects: RecordedEffect[];
  readonly timers: RecordedTimerAction[];
  readonly replyMetadata: MetadataMap;
  /** The encoded delta sent to the runtime; undefined when the command changed nothing. */
  readonly delta: Uint8Array | undefined;
  /** Whether the command deleted the entity. */
  readonly deleted: boolean;
  /** The write consistency and timeout of the change (defaults when nothing changed). */
  readonly writeConsistency: WriteConsistency;
  readonly writeTimeoutMs: number | undefined;
  /** The CRDT after the command. */
  readonly crdt: C;
  /** For a server-streaming method: the subscription, while open. */
  readonly stream: TestStream<O> | undefined;
}

type MethodOf<
  Svc extends DescService,
  K extends keyof Svc["method"],
> = Svc["method"][K] extends DescMethod ? Svc["method"][K] : never;

/** A replicated entity running in memory, with a stand-in for the runtime's replica. */
export interface ReplicatedEntityTestKit<Svc extends DescService, C extends AnyState> {
  /** Sends a command to the entity, by the method's local name (`like`). */
  call<K extends keyof Svc["method"] & string>(
    method: K,
    request: MessageInitShape<MethodOf<Svc, K>["input"]>,
    options?: TestCallOptions,
  ): Promise<ReplicatedCommandResult<MethodOf<Svc, K>["output"], C>>;
  /** The entity's CRDT as its handlers see it. */
  readonly crdt: C;
  /**
   * A CRDT of the entity's type for another replica, holding what the entity
   * has: change it, then hand its `takeDelta()` to {@link deliverDelta}.
   */
  peer(replicaId: string): C;
  /** Delivers another replica's delta (or state), as the runtime does; subscribers see the change. */
  deliverDelta(delta: Uint8Array): void;
  /** Another replica deleted the entity. */
  deliverDelete(): void;
  /** Every `ctx.call()` the handlers made, in order. */
  readonly calls: readonly RecordedOutgoingCall[];
  /** Re-activates the entity from the merged state, as the runtime does after passivation. */
  restart(): void;
}

/**
 * Runs a replicated entity in memory, without runtime or network, on the
 * same command path as the server: the same rollback of failed commands and
 * the same deltas. The kit stands in for the runtime's replica: it merges
 * every delta, and {@link ReplicatedEntityTestKit.restart} re-activates the
 * entity from that state.
 *
 * @example
 * ```ts
 * const kit = createReplicatedEntityTestKit(likes, { entityId: "post-1" });
 * await kit.call("like", { postId: "post-1" });
 * const other = kit.peer("node-2");
 * other.increment(5);
 * kit.deliverDelta(other.takeDelta()!);
 * expect(kit.crdt.value).toBe(6);
 * ```
 */
export function createReplicatedEntityTestKit<Svc extends DescService, C extends AnyState>(
  entity: ReplicatedEntity<Svc, C>,
  options: ReplicatedEntityTestKitOptions = {},
): ReplicatedEntityTestKit<Svc, C> {
  return new ReplicatedTestKitImpl<Svc, C>(entity.definition, options);
}

interface OpenTestStream {
  readonly method: DescMethod;
  readonly messages: unknown[];
  ended: boolean;
  error: CairnError | undefined;
}

const LEVEL_NAMES: Record<WireConsistency, WriteConsistency> = {
  [WireConsistency.LOCAL_UNSPECIFIED]: "local",
  [WireConsistency.MAJORITY]: "majority",
  [WireConsistency.ALL]: "all",
};

class ReplicatedTestKitImpl<
  Svc extends DescService,
  C extends AnyState,
> implements ReplicatedEntityTestKit<Svc, C> {
  /** The runtime's replica, as the kit stands in for it. */
  private replica: AnyState;
  private instance!: ReplicatedEntityInstance;
  private nextCommandId = 1n;
  private readonly streams = new Map<bigint, OpenTestStream>();
  private readonly entityId: string;
  private readonly replicaId: string;
  private readonly logger: Logger;
  private readonly caller: StubCaller;

  constructor(
    private readonly def: ReplicatedEntityDefinition,
    options: ReplicatedEntityTestKitOptions,
  ) {
    this.entityId = options.entityId ?? "test-entity";
    this.replicaId = options.replicaId ?? "test-replica";
    this.logger = options.logger ?? silentLogger;
    this.caller = new StubCaller(options.calls ?? {});
    this.replica = def.create(this.replicaId);
    this.restart();
  }

  get crdt(): C {
    return this.instance.crdt as C;
  }

  get calls(): readonly RecordedOutgoingCall[] {
    return this.caller.calls;
  }

  peer(replicaId: string): C {
    if (replicaId === this.replicaId)
      throw new Error(`peer('${replicaId}'): that is the entity's own replica id; pick another`);
    const crdt = this.def.create(replicaId);
    (crdt as { merge(b: Uint8Array): void }).merge(this.replica.encodeState());
    return crdt as C;
  }

  deliverDelta(delta: Uint8Array): void {
    const wire = {
      $typeName: "cairn.protocol.v1.ReplicatedDelta" as const,
      type: this.def.crdtType,
      encoded: delta,
    };
    (this.replica as { merge(b: Uint8Array): void }).merge(delta);
    this.instance.applyDelta(wire);
  }

  deliverDelete(): void {
    this.replica = this.def.create(this.replicaId);
    this.instance.applyDelete();
  }

  restart(): void {
    for (const s of this.streams.values()) s.ended = true;
    this.streams.clear();
    const state = this.replica.encodeState();
    this.instance = new ReplicatedEntityInstance(
      this.def,
      this.entityId,
      this.replicaId,
      this.logger,
      { $typeName: "cairn.protocol.v1.ReplicatedDelta", type: this.def.crdtType, encoded: state },
      this.caller,
      (m) => this.streamed(m),
    );
  }

  async call(
    name: string,
    request: unknown,
    options: TestCallOptions = {},
  ): Promise<ReplicatedCommandResult<DescMessage, C>> {
    const method = this.def.service.methods.find((m) => m.localName === name);
    if (method === undefined)
      throw new Error(`${this.def.service.typeName} has no method '${name}'`);
    const id = this.nextCommandId++;
    const command = create(CommandSchema, {
      id,
      name: method.name,
      payload: packMessage(method.input, request as MessageInitShape<DescMessage>),
      metadata: metadataFromMap(options.metadata),
    });
    const outcome = await this.instance.handle(command);
    const { reply: wire } = outcome;
    const state = wire.stateAction;
    const change = state?.action;
    if (change?.case === "update")
      (this.replica as { merge(b: Uint8Array): void }).merge(change.value.encoded);
    if (change?.case === "delete") this.replica = this.def.create(this.replicaId);
    const action = wire.clientAction?.action;
    const reply = decodeReply(method, wire.clientAction);
    let stream: TestStream<DescMessage> | undefined;
    if (method.methodKind === "server_streaming" && outcome.error === undefined) {
      const open: OpenTestStream = {
        method,
        messages: [],
        ended: !wire.streamed,
        error: undefined,
      };
      if (reply !== undefined) open.messages.push(reply);
      if (wire.streamed) this.streams.set(id, open);
      stream = {
        get messages() {
          return open.messages as MessageShape<DescMessage>[];
        },
        get ended() {
          return open.ended;
        },
        get error() {
          return open.error;
        },
        cancel: () => {
          if (!this.streams.has(id)) return;
          this.instance.cancel(id);
        },
      };
    }
    return {
      reply,
      forward: outcome.forwarded && decodeCall(outcome.forwarded),
      error: outcome.error,
      effects: outcome.effects.map(decodeEffect),
      timers: outcome.timers.map(decodeTimer),
      replyMetadata: metadataToMap(action?.case === "reply" ? action.value.metadata : undefined),
      delta: change?.case === "update" ? change.value.encoded : undefined,
      deleted: change?.case === "delete",
      writeConsistency: LEVEL_NAMES[state?.writeConsistency ?? WireConsistency.LOCAL_UNSPECIFIED],
      writeTimeoutMs: state?.writeTimeoutMs ? state.writeTimeoutMs : this.def.writeTimeoutMs,
      crdt: this.crdt,
      stream,
    };
  }

  /** A streamed message, as the runtime would take it: merge its change, pass it to the subscriber. */
  private streamed(m: ReplicatedStreamedMessage): void {
    const change = m.stateAction?.action;
    if (change?.case === "update")
      (this.replica as { merge(b: Uint8Array): void }).merge(change.value.encoded);
    const open = this.streams.get(m.commandId);
    if (open === undefined) return;
    const action = m.clientAction?.action;
    if (action?.case === "failure")
      open.error = new CairnError(action.value.code, action.value.message);
    const message = decodeReply(open.method, m.clientAction);
    if (message !== undefined) open.messages.push(message);
    if (m.endStream) {
      open.ended = true;
      this.streams.delete(m.commandId);
    }
  }
}

function decodeReply(
  method: DescMethod,
  action: ClientAction | undefined,
): MessageShape<DescMessage> | undefined {
  const a = action?.action;
  return a?.case === "reply" && a.value.payload
    ? fromBinary(method.output, a.value.payload.value)
    : undefined;
}
