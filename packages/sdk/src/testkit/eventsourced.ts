import { create, fromBinary } from "@bufbuild/protobuf";
import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { CommandSchema } from "@cairn/protocol";
import type { CairnError } from "@cairn/protocol";
import { eventTypeName } from "../eventsourced/context.js";
import type { EventSourcedDefinition, EventSourcedEntity } from "../eventsourced/entity.js";
import { EventSourcedInstance } from "../eventsourced/instance.js";
import type { CommandOutcome } from "../eventsourced/instance.js";
import { silentLogger } from "../log.js";
import type { Logger } from "../log.js";
import { packMessage } from "../payload/codec.js";
import { metadataFromMap, metadataToMap } from "../payload/metadata.js";
import type { MetadataMap, MetadataValue } from "../payload/metadata.js";
import { StubCaller, decodeCall, decodeEffect, decodeTimer } from "./shared.js";
import type {
  CallStubs,
  RecordedComponentCall,
  RecordedEffect,
  RecordedOutgoingCall,
  RecordedTimerAction,
} from "./shared.js";

/** Options of {@link createEventSourcedTestKit}. */
export interface EventSourcedTestKitOptions<Event> {
  /** Id of the entity under test. Default "test-entity". */
  entityId?: string;
  /** Events already in the journal, replayed (through encode and decode) before the first command. */
  initialEvents?: readonly Event[];
  /** Receives the SDK's logs (internal errors). Default: silent; the error is on `result.error.cause`. */
  logger?: Logger;
  /** Stubs answering the handlers' `ctx.call()`, keyed by `"<package.Service>/<Method>"`. */
  calls?: CallStubs;
}

/** What one command did, as the runtime would see it, decoded back for assertions. */
export interface CommandResult<O extends DescMessage, State, Event> {
  /** The reply message; undefined when the command failed or forwarded. */
  readonly reply: MessageShape<O> | undefined;
  /** The forward the command answered with, if any. */
  readonly forward: RecordedComponentCall | undefined;
  /** The failure sent to the client; an internal error keeps the original on `cause`. */
  readonly error: CairnError | undefined;
  /** Whether the SDK asked the runtime to restart the entity (the testkit then re-activates it). */
  readonly restart: boolean;
  /** Events persisted by the command, after an encode/decode round trip; empty on failure. */
  readonly events: Event[];
  readonly effects: RecordedEffect[];
  /** Timers scheduled or cancelled by the command, stored with its events; empty on failure. */
  readonly timers: RecordedTimerAction[];
  /** The snapshot stored after the command, decoded; undefined when none was due. */
  readonly snapshot: State | undefined;
  readonly replyMetadata: MetadataMap;
  /** The entity's state after the command. */
  readonly state: State;
}

/** Options of one {@link EventSourcedTestKit.call}. */
export interface TestCallOptions {
  metadata?: Readonly<Record<string, MetadataValue>>;
}

type MethodOf<
  Svc extends DescService,
  K extends keyof Svc["method"],
> = Svc["method"][K] extends DescMethod ? Svc["method"][K] : never;

/** An event-sourced entity running in memory, with a journal of its own. */
export interface EventSourcedTestKit<Svc extends DescService, State, Event> {
  /** Sends a command to the entity, by the method's local name (`addItem`). */
  call<K extends keyof Svc["method"] & string>(
    method: K,
    request: MessageInitShape<MethodOf<Svc, K>["input"]>,
    options?: TestCallOptions,
  ): Promise<CommandResult<MethodOf<Svc, K>["output"], State, Event>>;
  /** The entity's current state. */
  readonly state: State;
  /** Sequence number of the last persisted event. */
  readonly sequence: number;
  /** Every persisted event, decoded from the journal. */
  readonly events: Event[];
  /** The latest stored snapshot, decoded. */
  readonly snapshot: { sequence: number; state: State } | undefined;
  /** Re-activates the entity as the runtime would: latest snapshot, then the later events. */
  restart(): void;
  /** Every `ctx.call()` the handlers made, in order. */
  readonly calls: readonly RecordedOutgoingCall[];
}

/**
 * Runs an event-sourced entity in memory, without runtime or network, on the
 * same command path as the server: same failure semantics, and events, state
 * snapshots and replies go through their wire encoding.
 *
 * @example
 * ```ts
 * const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
 * const r = await kit.call("addItem", { cartId: "c1", productId: "apple", name: "Apple", quantity: 3 });
 * expect(r.events).toEqual([{ type: "ItemAdded", productId: "apple", name: "Apple", quantity: 3 }]);
 * const failed = await kit.call("addItem", { cartId: "c1", productId: "pear", quantity: 0 });
 * expect(failed.error?.code).toBe(Code.InvalidArgument);
 * ```
 */
export function createEventSourcedTestKit<Svc extends DescService, State, Event>(
  entity: EventSourcedEntity<Svc, State, Event>,
  options: EventSourcedTestKitOptions<Event> = {},
): EventSourcedTestKit<Svc, State, Event> {
  return new EventSourcedTestKitImpl<Svc, State, Event>(entity.definition, options);
}

class EventSourcedTestKitImpl<Svc extends DescService, State, Event> implements EventSourcedTestKit<
  Svc,
  State,
  Event
> {
  private readonly journal: Any[] = [];
  private stored: { sequence: number; state: Any } | undefined;
  private instance!: EventSourcedInstance;
  private nextCommandId = 1n;
  private readonly entityId: string;
  private readonly logger: Logger;
  private readonly caller: StubCaller;

  constructor(
    private readonly def: EventSourcedDefinition,
    options: EventSourcedTestKitOptions<Event>,
  ) {
    this.entityId = options.entityId ?? "test-entity";
    this.logger = options.logger ?? silentLogger;
    this.caller = new StubCaller(options.calls ?? {});
    for (const event of options.initialEvents ?? [])
      this.journal.push(def.codec.encode(event, eventTypeName(event)));
    this.restart();
  }

  get state(): State {
    return this.instance.state as State;
  }

  get sequence(): number {
    return this.instance.sequence;
  }

  get calls(): readonly RecordedOutgoingCall[] {
    return this.caller.calls;
  }

  get events(): Event[] {
    return this.journal.map((e) => this.def.codec.decode(e) as Event);
  }

  get snapshot(): { sequence: number; state: State } | undefined {
    if (this.stored === undefined) return undefined;
    return {
      sequence: this.stored.sequence,
      state: this.def.codec.decode(this.stored.state) as State,
    };
  }

  restart(): void {
    const snapshot = this.stored && {
      $typeName: "cairn.protocol.v1.EventSourcedSnapshot" as const,
      sequence: BigInt(this.stored.sequence),
      state: this.stored.state,
    };
    this.instance = new EventSourcedInstance(
      this.def,
      this.entityId,
      this.logger,
      snapshot,
      this.caller,
    );
    for (let seq = (this.stored?.sequence ?? 0) + 1; seq <= this.journal.length; seq++) {
      const payload = this.journal[seq - 1];
      this.instance.replay({
        $typeName: "cairn.protocol.v1.EventSourcedEvent",
        sequence: BigInt(seq),
        payload,
      });
    }
  }

  async call(
    name: string,
    request: unknown,
    options: TestCallOptions = {},
  ): Promise<CommandResult<DescMessage, State, Event>> {
    const method = this.def.service.methods.find((m) => m.localName === name);
    if (method === undefined)
      throw new Error(`${this.def.service.typeName} has no method '${name}'`);
    const command = create(CommandSchema, {
      id: this.nextCommandId++,
      name: method.name,
      payload: packMessage(method.input, request as MessageInitShape<DescMessage>),
      metadata: metadataFromMap(options.metadata),
    });
    const outcome = await this.instance.handle(command);
    this.persist(outcome);
    const result = this.describe(method, outcome);
    if (outcome.restart) this.restart();
    return { ...result, state: this.state };
  }

  /** Appends the events and snapshot as the runtime's store would. */
  private persist(outcome: CommandOutcome): void {
    const { events, snapshot } = outcome.reply;
    this.journal.push(...events);
    if (snapshot !== undefined) this.stored = { sequence: this.journal.length, state: snapshot };
  }

  private describe(
    method: DescMethod,
    outcome: CommandOutcome,
  ): Omit<CommandResult<DescMessage, State, Event>, "state"> {
    const action = outcome.reply.clientAction?.action;
    const reply =
      action?.case === "reply" && action.value.payload
        ? fromBinary(method.output, action.value.payload.value)
        : undefined;
    return {
      reply,
      forward: outcome.forwarded && decodeCall(outcome.forwarded),
      error: outcome.error,
      restart: outcome.restart,
      events: outcome.reply.events.map((e) => this.def.codec.decode(e) as Event),
      effects: outcome.effects.map(decodeEffect),
      timers: outcome.timers.map(decodeTimer),
      snapshot: outcome.reply.snapshot && (this.def.codec.decode(outcome.reply.snapshot) as State),
      replyMetadata: metadataToMap(action?.case === "reply" ? action.value.metadata : undefined),
    };
  }
}
