import { create } from "@bufbuild/protobuf";
import type { DescMethod } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { ValueEntityReplySchema } from "@cairn/protocol";
import type {
  CairnError,
  Command,
  Forward,
  SideEffect,
  ValueEntityReply,
  ValueEntityStateAction,
} from "@cairn/protocol";
import type { RecordedCall, RecordedTimer } from "../context/base.js";
import { unavailableCaller } from "../context/caller.js";
import type { Caller } from "../context/caller.js";
import { resolveCommand } from "../context/command.js";
import { clientError, failureAction, successAction } from "../context/outcome.js";
import type { Logger } from "../log.js";
import { deepFreeze } from "../payload/freeze.js";
import { metadataToMap } from "../payload/metadata.js";
import { ValueContextImpl } from "./context.js";
import type { ValueEntityDefinition } from "./entity.js";

/** The outcome of one command: the wire reply plus what the testkit inspects. */
export interface ValueCommandOutcome {
  readonly reply: ValueEntityReply;
  /** The failure sent to the client, with the original error as `cause` when it was internal. */
  readonly error?: CairnError;
  readonly effects: readonly RecordedCall<SideEffect>[];
  readonly forwarded?: RecordedCall<Forward> | undefined;
  readonly timers: readonly RecordedTimer[];
}

/**
 * One live value entity: its state, and the single command path shared by the
 * server and the testkit. Commands must be handed in one at a time (the
 * caller serialises them per entity).
 */
export class ValueEntityInstance {
  private current: unknown;

  constructor(
    private readonly def: ValueEntityDefinition,
    readonly entityId: string,
    private readonly logger: Logger,
    stored?: Any,
    private readonly caller: Caller = unavailableCaller,
  ) {
    if (stored !== undefined) {
      const value = def.codec.decode(stored);
      const migrate = def.migrateState;
      this.current = deepFreeze(migrate === undefined ? value : migrate(value, stored.typeUrl));
    } else {
      this.current = deepFreeze(def.initialState(entityId));
    }
  }

  /** The current state (frozen). */
  get state(): unknown {
    return this.current;
  }

  /** Handles one command; never throws, every failure becomes a failure reply. */
  async handle(command: Command): Promise<ValueCommandOutcome> {
    const resolved = resolveCommand(
      this.def.service,
      this.def.handlers,
      command.name,
      command.payload,
    );
    if ("error" in resolved) return this.fail(command, resolved.error);
    const { entry, request } = resolved;
    const ctx = new ValueContextImpl(
      this.entityId,
      entry.method,
      metadataToMap(command.metadata),
      this.current,
      () => this.def.initialState(this.entityId),
      this.caller,
    );
    let result: unknown;
    try {
      result = await entry.handler(request, this.current, ctx);
    } catch (err) {
      ctx.seal();
      return this.failHandler(command, entry.method, err);
    }
    ctx.seal();
    return this.succeed(command, entry.method, ctx, result);
  }

  private succeed(
    command: Command,
    method: DescMethod,
    ctx: ValueContextImpl,
    result: unknown,
  ): ValueCommandOutcome {
    let reply: ValueEntityReply;
    try {
      reply = create(ValueEntityReplySchema, {
        commandId: command.id,
        clientAction: successAction(method, ctx, result),
        sideEffects: ctx.effects.map((e) => e.wire),
        stateAction: this.stateAction(ctx),
        timers: ctx.timerActions.map((t) => t.wire),
      });
    } catch (err) {
      // The reply or the state could not be encoded: nothing is committed.
      return this.failHandler(command, method, err);
    }
    // Commit point: only now does the command's state become the entity's.
    if (ctx.change !== undefined) this.current = ctx.state;
    return {
      reply,
      effects: ctx.effects,
      forwarded: ctx.forwarded,
      timers: ctx.timerActions,
    };
  }

  private stateAction(ctx: ValueContextImpl): ValueEntityStateAction | undefined {
    const change = ctx.change;
    if (change === undefined) return undefined;
    if (change.kind === "delete") {
      return {
        $typeName: "cairn.protocol.v1.ValueEntityStateAction",
        action: { case: "delete", value: { $typeName: "cairn.protocol.v1.ValueEntityDelete" } },
      };
    }
    return {
      $typeName: "cairn.protocol.v1.ValueEntityStateAction",
      action: { case: "update", value: this.def.codec.encode(change.state, "State") },
    };
  }

  private failHandler(command: Command, method: DescMethod, err: unknown): ValueCommandOutcome {
    const error = clientError(
      err,
      { method, fields: { entityId: this.entityId, commandId: command.id } },
      this.logger,
    );
    return this.fail(command, error);
  }

  private fail(command: Command, error: CairnError): ValueCommandOutcome {
    const reply = create(ValueEntityReplySchema, {
      commandId: command.id,
      clientAction: failureAction(error),
    });
    return { reply, error, effects: [], timers: [] };
  }
}
