import { create } from "@bufbuild/protobuf";
import type { AnyState } from "./types.js";
import type { DescMethod, MessageInitShape } from "@bufbuild/protobuf";
import {
  ReplicatedEntityReplySchema,
  ReplicatedStreamedMessageSchema,
  WriteConsistency as WireConsistency,
} from "@cairn/protocol";
import type {
  CairnError,
  Command,
  Forward,
  ReplicatedDelta,
  ReplicatedEntityReply,
  ReplicatedStateAction,
  ReplicatedStreamedMessage,
  SideEffect,
} from "@cairn/protocol";
import type { RecordedCall, RecordedTimer } from "../context/base.js";
import { unavailableCaller } from "../context/caller.js";
import type { Caller } from "../context/caller.js";
import { resolveCommand } from "../context/command.js";
import { clientError, failureAction, successAction } from "../context/outcome.js";
import { describeError } from "../log.js";
import type { Logger } from "../log.js";
import { packMessage } from "../payload/codec.js";
import { metadataToMap } from "../payload/metadata.js";
import { ReplicatedContextImpl } from "./context.js";
import type { ChangeHandler, WriteSettings } from "./context.js";
import type { ReplicatedEntityDefinition } from "./entity.js";

/** The outcome of one command: the wire reply plus what the testkit inspects. */
export interface ReplicatedCommandOutcome {
  readonly reply: ReplicatedEntityReply;
  /** The failure sent to the client, with the original error as `cause` when it was internal. */
  readonly error?: CairnError;
  readonly effects: readonly RecordedCall<SideEffect>[];
  readonly forwarded?: RecordedCall<Forward> | undefined;
  readonly timers: readonly RecordedTimer[];
}

/** An open subscription (a streamed command) of this instance. */
interface Subscription {
  readonly method: DescMethod;
  readonly onChange: ChangeHandler;
  readonly onCancel: ((crdt: AnyState) => void) | undefined;
}

const WIRE_LEVEL = {
  local: WireConsistency.LOCAL_UNSPECIFIED,
  majority: WireConsistency.MAJORITY,
  all: WireConsistency.ALL,
} as const;

/**
 * One live replicated entity: its CRDT, its open subscriptions, and the
 * single command path shared by the server and the testkit. Commands must be
 * handed in one at a time, and deltas from other replicas between them (the
 * channel serialises both).
 *
 * Two copies of the CRDT are kept: `working`, which handlers change in
 * place, and `committed`, which only ever receives committed deltas. A
 * successful command costs one delta application on `committed`; a failed
 * command that had changed the CRDT is rolled back by rebuilding `working`
 * from `committed`.
 */
export class ReplicatedEntityInstance {
  private working: AnyState;
  private committed: AnyState;
  private readonly subscriptions = new Map<bigint, Subscription>();

  constructor(
    private readonly def: ReplicatedEntityDefinition,
    readonly entityId: string,
    readonly replicaId: string,
    private readonly logger: Logger,
    initial: ReplicatedDelta | undefined,
    private readonly caller: Caller = unavailableCaller,
    /** Sends a further message of a streamed command. */
    private readonly push: (message: ReplicatedStreamedMessage) => void = () => undefined,
  ) {
    if (replicaId === "")
      throw new Error(
        `replicated entity ${def.service.typeName}/${entityId}: init without a replica id`,
      );
    this.committed = def.create(replicaId);
    if (initial !== undefined) this.merge(this.committed, initial);
    this.working = this.copy(this.committed);
  }

  /** The CRDT as the last successful command left it. */
  get crdt(): AnyState {
    return this.working;
  }

  /** Command ids of the open subscriptions. */
  get openStreams(): bigint[] {
    return [...this.subscriptions.keys()];
  }

  /** Handles one command; never throws, every failure becomes a failure reply. */
  async handle(command: Command): Promise<ReplicatedCommandOutcome> {
    const { def } = this;
    const resolved = resolveCommand(def.service, def.handlers, command.name, command.payload);
    if ("error" in resolved) return this.fail(command, resolved.error);
    const { entry, request } = resolved;
    const ctx = new ReplicatedContextImpl(
      this.entityId,
      entry.method,
      metadataToMap(command.metadata),
      this.working,
      this.defaults(),
      this.caller,
    );
    let result: unknown;
    try {
      result = await entry.handler(request, this.working, ctx as never);
    } catch (err) {
      ctx.seal();
      if (this.working.hasDelta) this.rollback();
      return this.failHandler(command, entry.method, err);
    }
    ctx.seal();
    return this.succeed(command, entry.method, ctx, result);
  }

  /** A delta (or state) merged on another replica: apply it and tell the subscribers. */
  applyDelta(delta: ReplicatedDelta): void {
    this.merge(this.committed, delta);
    this.merge(this.working, delta);
    this.changed();
  }

  /** The entity was deleted on another replica: start over from the empty CRDT. */
  applyDelete(): void {
    this.committed = this.def.create(this.replicaId);
    this.working = this.def.create(this.replicaId);
    this.changed();
  }

  /** The subscriber of streamed command `commandId` went away: run its cancellation handler. */
  cancel(commandId: bigint): void {
    const sub = this.subscriptions.get(commandId);
    if (sub === undefined) {
      // Ended already, or never opened: say so, so that the runtime forgets it too.
      this.push(create(ReplicatedStreamedMessageSchema, { commandId, endStream: true }));
      return;
    }
    this.subscriptions.delete(commandId);
    let stateAction: ReplicatedStateAction | undefined;
    if (sub.onCancel !== undefined) {
      try {
        sub.onCancel(this.working);
        const delta = this.working.takeDelta();
        if (delta !== undefined) {
          stateAction = this.updateAction(delta, this.defaults());
          this.committed.applyDelta(delta);
        }
      } catch (err) {
        if (this.working.hasDelta) this.rollback();
        this.logger({
          level: "error",
          msg: `cancellation handler of ${sub.method.parent.name}.${sub.method.name} failed; its changes were dropped`,
          entityId: this.entityId,
          error: describeError(err),
        });
      }
    }
    this.push(
      create(ReplicatedStreamedMessageSchema, {
        commandId,
        endStream: true,
        ...(stateAction === undefined ? {} : { stateAction }),
      }),
    );
    if (stateAction !== undefined) this.changed();
  }

  private defaults(): WriteSettings {
    return { level: this.def.writeConsistency, timeoutMs: this.def.writeTimeoutMs };
  }

  private succeed(
    command: Command,
    method: DescMethod,
    ctx: ReplicatedContextImpl,
    result: unknown,
  ): ReplicatedCommandOutcome {
    const streaming = method.methodKind === "server_streaming";
    let reply: ReplicatedEntityReply;
    let delta: Uint8Array | undefined;
    try {
      delta = ctx.deleted ? undefined : this.working.takeDelta();
      const clientAction =
        streaming && result === undefined && ctx.forwarded === undefined
          ? undefined
          : successAction(method, ctx, result);
      reply = create(ReplicatedEntityReplySchema, {
        commandId: command.id,
        clientAction,
        sideEffects: ctx.effects.map((e) => e.wire),
        stateAction: ctx.deleted
          ? this.deleteAction(ctx.write)
          : delta === undefined
            ? undefined
            : this.updateAction(delta, ctx.write),
        streamed: streaming && ctx.changeHandler !== undefined,
        timers: ctx.timerActions.map((t) => t.wire),
      });
    } catch (err) {
      // The reply could not be encoded: nothing of the command is kept.
      if (delta !== undefined || this.working.hasDelta) this.rollback();
      return this.failHandler(command, method, err);
    }
    // Commit point: only now does the command's change become the entity's.
    if (ctx.deleted) {
      this.applyDeleteLocally();
    } else if (delta !== undefined) {
      this.committed.applyDelta(delta);
      this.changed();
    }
    if (reply.streamed && ctx.changeHandler !== undefined) {
      this.subscriptions.set(command.id, {
        method,
        onChange: ctx.changeHandler,
        onCancel: ctx.cancelHandler,
      });
    }
    return { reply, effects: ctx.effects, forwarded: ctx.forwarded, timers: ctx.timerActions };
  }

  private applyDeleteLocally(): void {
    this.committed = this.def.create(this.replicaId);
    this.working = this.def.create(this.replicaId);
    this.changed();
  }

  /** Runs every subscription's change handler on the new state. */
  private changed(): void {
    for (const [commandId, sub] of [...this.subscriptions]) this.notify(commandId, sub);
  }

  private notify(commandId: bigint, sub: Subscription): void {
    const messages: ReplicatedStreamedMessage[] = [];
    let ended = false;
    const stream = {
      send: (message: MessageInitShape<DescMethod["output"]>) => {
        if (ended) throw new Error("send() after end() on a replicated entity stream");
        const payload = packMessage(sub.method.output, message);
        messages.push(
          create(ReplicatedStreamedMessageSchema, {
            commandId,
            clientAction: { action: { case: "reply", value: { payload } } },
          }),
        );
      },
      end: () => {
        ended = true;
      },
    };
    try {
      sub.onChange(this.working, stream);
      if (this.working.hasDelta) {
        this.rollback();
        throw new Error("a change handler must not change the CRDT (change it in commands)");
      }
    } catch (err) {
      const where = `${sub.method.parent.name}.${sub.method.name}`;
      const error = clientError(
        err,
        {
          method: sub.method,
          fields: { entityId: this.entityId, commandId },
          msg: `change handler of ${where} failed; the stream ends`,
        },
        this.logger,
      );
      messages.push(
        create(ReplicatedStreamedMessageSchema, { commandId, clientAction: failureAction(error) }),
      );
      ended = true;
    }
    if (ended) {
      this.subscriptions.delete(commandId);
      const last = messages[messages.length - 1];
      if (last !== undefined) last.endStream = true;
      else messages.push(create(ReplicatedStreamedMessageSchema, { commandId, endStream: true }));
    }
    for (const m of messages) this.push(m);
  }

  private updateAction(delta: Uint8Array, write: WriteSettings): ReplicatedStateAction {
    return {
      $typeName: "cairn.protocol.v1.ReplicatedStateAction",
      action: {
        case: "update",
        value: {
          $typeName: "cairn.protocol.v1.ReplicatedDelta",
          type: this.def.crdtType,
          encoded: delta,
        },
      },
      writeConsistency: WIRE_LEVEL[write.level],
      writeTimeoutMs: write.timeoutMs ?? 0,
    };
  }

  private deleteAction(write: WriteSettings): ReplicatedStateAction {
    return {
      $typeName: "cairn.protocol.v1.ReplicatedStateAction",
      action: { case: "delete", value: { $typeName: "cairn.protocol.v1.ReplicatedEntityDelete" } },
      writeConsistency: WIRE_LEVEL[write.level],
      writeTimeoutMs: write.timeoutMs ?? 0,
    };
  }

  /** Drops the uncommitted changes of `working`. */
  private rollback(): void {
    this.working = this.copy(this.committed);
  }

  private copy(from: AnyState): AnyState {
    const c = this.def.create(this.replicaId);
    (c as { merge(b: Uint8Array): void }).merge(from.encodeState());
    return c;
  }

  private merge(into: AnyState, delta: ReplicatedDelta): void {
    if (delta.type !== this.def.crdtType) {
      throw new Error(
        `replicated entity ${this.def.service.typeName}/${this.entityId} is a ${this.def.crdtType}; got a ${delta.type || "untyped"} delta`,
      );
    }
    (into as { merge(b: Uint8Array): void }).merge(delta.encoded);
  }

  private failHandler(
    command: Command,
    method: DescMethod,
    err: unknown,
  ): ReplicatedCommandOutcome {
    const error = clientError(
      err,
      { method, fields: { entityId: this.entityId, commandId: command.id } },
      this.logger,
    );
    return this.fail(command, error);
  }

  private fail(command: Command, error: CairnError): ReplicatedCommandOutcome {
    const reply = create(ReplicatedEntityReplySchema, {
      commandId: command.id,
      clientAction: failureAction(error),
    });
    return { reply, error, effects: [], timers: [] };
  }
}
