import { create } from "@bufbuild/protobuf";
import type { DescMethod } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { CairnError, Code, EventSourcedReplySchema } from "@cairn/protocol";
import type {
  Command,
  EventSourcedEvent,
  Forward,
  SideEffect,
  EventSourcedReply,
  EventSourcedSnapshot,
} from "@cairn/protocol";
import type { RecordedTimer } from "../context/base.js";
import { unavailableCaller } from "../context/caller.js";
import type { Caller } from "../context/caller.js";
import { resolveCommand } from "../context/command.js";
import { clientError, failureAction, successAction } from "../context/outcome.js";
import type { Logger } from "../log.js";
import type { PayloadCodec } from "../payload/codec.js";
import { deepFreeze } from "../payload/freeze.js";
import { metadataToMap } from "../payload/metadata.js";
import { CommandContextImpl } from "./context.js";
import type { RecordedCall } from "./context.js";
import type { EventSourcedDefinition } from "./entity.js";

/** The outcome of one command: the wire reply plus what the testkit inspects. */
export interface CommandOutcome {
  readonly reply: EventSourcedReply;
  /** The failure sent to the client, with the original error as `cause` when it was internal. */
  readonly error?: CairnError;
  /** Whether the runtime was asked to restart the entity. */
  readonly restart: boolean;
  /** The events as emitted (before encoding); empty on failure. */
  readonly rawEvents: readonly unknown[];
  readonly effects: readonly RecordedCall<SideEffect>[];
  readonly forwarded?: RecordedCall<Forward> | undefined;
  readonly timers: readonly RecordedTimer[];
}

/**
 * One live event-sourced entity: its state and sequence, and the single
 * command path shared by the server and the testkit. Commands must be handed
 * in one at a time (the caller serialises them per entity).
 */
export class EventSourcedInstance {
  private current: unknown;
  private seq: number;
  /** Set after applyEvent threw: the state can no longer be trusted. */
  private broken = false;

  constructor(
    private readonly def: EventSourcedDefinition,
    readonly entityId: string,
    private readonly logger: Logger,
    snapshot?: EventSourcedSnapshot,
    private readonly caller: Caller = unavailableCaller,
  ) {
    if (snapshot?.state !== undefined) {
      this.current = deepFreeze(decodeStored(def.codec, snapshot.state, def.migrateState));
      this.seq = Number(snapshot.sequence);
    } else {
      this.current = deepFreeze(def.initialState(entityId));
      this.seq = 0;
    }
  }

  /** The current state (frozen). */
  get state(): unknown {
    return this.current;
  }

  /** Sequence number of the last event folded into the state. */
  get sequence(): number {
    return this.seq;
  }

  /** Folds a replayed event; throws when it cannot be decoded or applied. */
  replay(event: EventSourcedEvent): void {
    if (event.payload === undefined)
      throw new Error(`replayed event ${event.sequence} has no payload`);
    const decoded = deepFreeze(decodeStored(this.def.codec, event.payload, this.def.migrateEvent));
    this.current = deepFreeze(this.def.applyEvent(this.current, decoded));
    // The runtime numbers replayed events; tolerate an unset number rather
    // than lose track of the snapshot cadence.
    this.seq = event.sequence > 0n ? Number(event.sequence) : this.seq + 1;
  }

  /** Handles one command; never throws, every failure becomes a failure reply. */
  async handle(command: Command): Promise<CommandOutcome> {
    const resolved = resolveCommand(
      this.def.service,
      this.def.handlers,
      command.name,
      command.payload,
    );
    if ("error" in resolved) return this.fail(command, resolved.error);
    if (this.broken) {
      const message = `entity ${this.def.service.name} '${this.entityId}' awaits a restart after a failed event handler`;
      return this.fail(command, new CairnError(Code.Unavailable, message), true);
    }
    const { entry, request } = resolved;
    const ctx = new CommandContextImpl(
      this.def,
      this.entityId,
      entry.method,
      metadataToMap(command.metadata),
      this.current,
      this.caller,
    );
    let result: unknown;
    try {
      result = await entry.handler(request, this.current, ctx);
    } catch (err) {
      ctx.seal();
      return this.failHandler(command, entry.method, ctx, err);
    }
    ctx.seal();
    if (ctx.emitFailure !== undefined)
      return this.failHandler(command, entry.method, ctx, ctx.emitFailure.error);
    return this.succeed(command, entry.method, ctx, result);
  }

  /** Builds the reply of a successful handler, then commits its state change. */
  private succeed(
    command: Command,
    method: DescMethod,
    ctx: CommandContextImpl,
    result: unknown,
  ): CommandOutcome {
    let reply: EventSourcedReply;
    try {
      reply = create(EventSourcedReplySchema, {
        commandId: command.id,
        clientAction: successAction(method, ctx, result),
        sideEffects: ctx.effects.map((e) => e.wire),
        events: ctx.events,
        snapshot: this.snapshotAfter(ctx),
        timers: ctx.timerActions.map((t) => t.wire),
      });
    } catch (err) {
      // The reply or the snapshot could not be encoded: nothing is committed.
      return this.failHandler(command, method, ctx, err);
    }
    // Commit point: only now does the command's state become the entity's.
    this.current = ctx.state;
    this.seq += ctx.events.length;
    return {
      reply,
      restart: false,
      rawEvents: ctx.rawEvents,
      effects: ctx.effects,
      forwarded: ctx.forwarded,
      timers: ctx.timerActions,
    };
  }

  /** The snapshot to store when this command's events cross a multiple of snapshotEvery. */
  private snapshotAfter(ctx: CommandContextImpl): Any | undefined {
    const every = this.def.snapshotEvery;
    if (every <= 0 || ctx.events.length === 0) return undefined;
    const after = this.seq + ctx.events.length;
    if (Math.floor(after / every) === Math.floor(this.seq / every)) return undefined;
    return this.def.codec.encode(ctx.state, "State");
  }

  private failHandler(
    command: Command,
    method: DescMethod,
    ctx: CommandContextImpl,
    err: unknown,
  ): CommandOutcome {
    const restart = ctx.emitFailure?.kind === "apply";
    if (restart) this.broken = true;
    const where = `${method.parent.name}.${method.name}`;
    const error = clientError(
      err,
      {
        method,
        fields: { entityId: this.entityId, commandId: command.id },
        msg: restart ? `event handler failed in ${where}; the entity will restart` : undefined,
      },
      this.logger,
      restart,
    );
    return this.fail(command, error, restart);
  }

  private fail(command: Command, error: CairnError, restart = false): CommandOutcome {
    const reply = create(EventSourcedReplySchema, {
      commandId: command.id,
      clientAction: failureAction(error, restart),
    });
    return { reply, error, restart, rawEvents: [], effects: [], timers: [] };
  }
}

/** Decodes stored data, upgraded by the entity's migration hook if it has one. */
function decodeStored(
  codec: PayloadCodec,
  payload: Any,
  migrate: ((value: unknown, typeUrl: string) => unknown) | undefined,
): unknown {
  const value = codec.decode(payload);
  return migrate === undefined ? value : migrate(value, payload.typeUrl);
}
