import { randomUUID } from "node:crypto";
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
import { describeError } from "../log.js";
import type { Logger } from "../log.js";
import { packMessage, unpackMessage } from "../payload/codec.js";
import type { PayloadCodec } from "../payload/codec.js";
import { deepFreeze } from "../payload/freeze.js";
import { metadataFromMap, metadataToMap } from "../payload/metadata.js";
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
    const entry = this.def.handlers.get(command.name);
    if (entry === undefined) {
      const known = [...this.def.handlers.keys()].join(", ");
      return this.fail(
        command,
        new CairnError(
          Code.Unimplemented,
          `method '${command.name}' is not implemented by ${this.def.service.typeName} (it has: ${known})`,
        ),
      );
    }
    if (this.broken) {
      const message = `entity ${this.def.service.name} '${this.entityId}' awaits a restart after a failed event handler`;
      return this.fail(command, new CairnError(Code.Unavailable, message), true);
    }
    const request = unpackMessage(entry.method.input, command.payload);
    if ("error" in request) {
      const message = `invalid command ${this.def.service.typeName}/${command.name}: ${request.error}`;
      return this.fail(command, new CairnError(Code.InvalidArgument, message));
    }
    const ctx = new CommandContextImpl(
      this.def,
      this.entityId,
      entry.method,
      metadataToMap(command.metadata),
      this.current,
    );
    let result: unknown;
    try {
      result = await entry.handler(request.value, this.current, ctx);
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
        clientAction: { action: this.clientAction(method, ctx, result) },
        sideEffects: ctx.effects.map((e) => e.wire),
        events: ctx.events,
        snapshot: this.snapshotAfter(ctx),
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
    };
  }

  private clientAction(method: DescMethod, ctx: CommandContextImpl, result: unknown) {
    if (ctx.forwarded !== undefined) return { case: "forward" as const, value: ctx.forwarded.wire };
    const payload = packMessage(method.output, (result ?? {}) as never);
    return {
      case: "reply" as const,
      value: { payload, metadata: metadataFromMap(ctx.replyMetadata) },
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
    if (err instanceof CairnError && !restart) return this.fail(command, err);
    const correlationId = randomUUID();
    const where = `${method.parent.name}.${method.name}`;
    this.logger({
      level: "error",
      msg: restart
        ? `event handler failed in ${where}; the entity will restart`
        : `command handler failed in ${where}`,
      service: method.parent.typeName,
      method: method.name,
      entityId: this.entityId,
      commandId: command.id,
      correlationId,
      error: describeError(err),
    });
    const message = `internal error in ${where} (correlation id ${correlationId})`;
    return this.fail(command, new CairnError(Code.Internal, message, { cause: err }), restart);
  }

  private fail(command: Command, error: CairnError, restart = false): CommandOutcome {
    const reply = create(EventSourcedReplySchema, {
      commandId: command.id,
      clientAction: {
        action: { case: "failure", value: { code: error.code, message: error.message, restart } },
      },
    });
    return { reply, error, restart, rawEvents: [], effects: [] };
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
