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
import { silentLogger } from "../log.js";
import type { Logger } from "../log.js";
import { packMessage } from "../payload/codec.js";
import { metadataFromMap, metadataToMap } from "../payload/metadata.js";
import type { MetadataMap } from "../payload/metadata.js";
import type { ValueEntity, ValueEntityDefinition } from "../value/entity.js";
import { ValueEntityInstance } from "../value/instance.js";
import type { TestCallOptions } from "./eventsourced.js";
import { StubCaller, decodeCall, decodeEffect, decodeTimer } from "./shared.js";
import type {
  CallStubs,
  RecordedComponentCall,
  RecordedEffect,
  RecordedOutgoingCall,
  RecordedTimerAction,
} from "./shared.js";

/** Options of {@link createValueEntityTestKit}. */
export interface ValueEntityTestKitOptions<State> {
  /** Id of the entity under test. Default "test-entity". */
  entityId?: string;
  /** The stored state to start from (through encode and decode); default: none, i.e. `initialState`. */
  state?: State;
  /** Stubs answering the handlers' `ctx.call()`, keyed by `"<package.Service>/<Method>"`. */
  calls?: CallStubs;
  /** Receives the SDK's logs (internal errors). Default: silent; the error is on `result.error.cause`. */
  logger?: Logger;
}

/** What one command did, as the runtime would see it, decoded back for assertions. */
export interface ValueCommandResult<O extends DescMessage, State> {
  /** The reply message; undefined when the command failed or forwarded. */
  readonly reply: MessageShape<O> | undefined;
  /** The forward the command answered with, if any. */
  readonly forward: RecordedComponentCall | undefined;
  /** The failure sent to the client; an internal error keeps the original on `cause`. */
  readonly error: CairnError | undefined;
  readonly effects: RecordedEffect[];
  /** Timers scheduled or cancelled, stored with the state change; empty on failure. */
  readonly timers: RecordedTimerAction[];
  readonly replyMetadata: MetadataMap;
  /** Whether the command updated the state (the new state is `state`). */
  readonly updated: boolean;
  /** Whether the command deleted the state (`state` is then the initial state). */
  readonly deleted: boolean;
  /** The entity's state after the command, read back from the store. */
  readonly state: State;
}

type MethodOf<
  Svc extends DescService,
  K extends keyof Svc["method"],
> = Svc["method"][K] extends DescMethod ? Svc["method"][K] : never;

/** A value entity running in memory, with a store of its own. */
export interface ValueEntityTestKit<Svc extends DescService, State> {
  /** Sends a command to the entity, by the method's local name (`login`). */
  call<K extends keyof Svc["method"] & string>(
    method: K,
    request: MessageInitShape<MethodOf<Svc, K>["input"]>,
    options?: TestCallOptions,
  ): Promise<ValueCommandResult<MethodOf<Svc, K>["output"], State>>;
  /** The entity's current state (the initial state when none is stored). */
  readonly state: State;
  /** Whether a state is stored (false before the first update and after a delete). */
  readonly hasState: boolean;
  /** Every `ctx.call()` the handlers made, in order. */
  readonly calls: readonly RecordedOutgoingCall[];
  /** Re-activates the entity from the stored state, as the runtime does after passivation. */
  restart(): void;
}

/**
 * Runs a value entity in memory, without runtime or network, on the same
 * command path as the server: same failure semantics, and the state and
 * replies go through their wire encoding. `ctx.call()` is answered by the
 * `calls` stubs.
 *
 * @example
 * ```ts
 * const kit = createValueEntityTestKit(session, { entityId: "s1" });
 * const r = await kit.call("login", { sessionId: "s1", userId: "u1" });
 * expect(r.reply?.loggedIn).toBe(true);
 * expect(r.timers).toEqual([expect.objectContaining({ kind: "schedule", name: "expire" })]);
 * const out = await kit.call("logout", { sessionId: "s1" });
 * expect(out.deleted).toBe(true);
 * ```
 */
export function createValueEntityTestKit<Svc extends DescService, State>(
  entity: ValueEntity<Svc, State>,
  options: ValueEntityTestKitOptions<State> = {},
): ValueEntityTestKit<Svc, State> {
  return new ValueEntityTestKitImpl<Svc, State>(entity.definition, options);
}

class ValueEntityTestKitImpl<Svc extends DescService, State> implements ValueEntityTestKit<
  Svc,
  State
> {
  private stored: Any | undefined;
  private instance!: ValueEntityInstance;
  private nextCommandId = 1n;
  private readonly entityId: string;
  private readonly logger: Logger;
  private readonly caller: StubCaller;

  constructor(
    private readonly def: ValueEntityDefinition,
    options: ValueEntityTestKitOptions<State>,
  ) {
    this.entityId = options.entityId ?? "test-entity";
    this.logger = options.logger ?? silentLogger;
    this.caller = new StubCaller(options.calls ?? {});
    if (options.state !== undefined) this.stored = def.codec.encode(options.state, "State");
    this.restart();
  }

  get state(): State {
    return this.instance.state as State;
  }

  get hasState(): boolean {
    return this.stored !== undefined;
  }

  get calls(): readonly RecordedOutgoingCall[] {
    return this.caller.calls;
  }

  restart(): void {
    this.instance = new ValueEntityInstance(
      this.def,
      this.entityId,
      this.logger,
      this.stored,
      this.caller,
    );
  }

  async call(
    name: string,
    request: unknown,
    options: TestCallOptions = {},
  ): Promise<ValueCommandResult<DescMessage, State>> {
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
    const { reply: wire } = outcome;
    const change = wire.stateAction?.action;
    // Store as the runtime would, then read the state back through the codec,
    // so that what the test sees is what a re-activated entity would see.
    if (change?.case === "update") this.stored = change.value;
    if (change?.case === "delete") this.stored = undefined;
    if (change !== undefined) this.restart();
    const action = wire.clientAction?.action;
    return {
      reply:
        action?.case === "reply" && action.value.payload
          ? fromBinary(method.output, action.value.payload.value)
          : undefined,
      forward: outcome.forwarded && decodeCall(outcome.forwarded),
      error: outcome.error,
      effects: outcome.effects.map(decodeEffect),
      timers: outcome.timers.map(decodeTimer),
      replyMetadata: metadataToMap(action?.case === "reply" ? action.value.metadata : undefined),
      updated: change?.case === "update",
      deleted: change?.case === "delete",
      state: this.state,
    };
  }
}
