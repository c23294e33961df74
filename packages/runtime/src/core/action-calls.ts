/**
 * Calls of stateless actions, unary and streaming: the action's reply is
 * checked, its durable work (asynchronous effects, timers) is stored on its
 * own (an action has no state to store it with), then it is released like
 * an entity's reply.
 */
import { Code } from "@cairn/protocol";
import type { DurableWorkStore } from "../store/durable-work.js";
import type { IdempotencyWrite } from "../store/idempotency.js";
import { CommandFailedError, outcomeRecord } from "./idempotency.js";
import type { KeyedCalls } from "./idempotency.js";
import type { Replies } from "./replies.js";
import { durableExtras } from "./reply-work.js";
import { storeError } from "./store-errors.js";
import type {
  ComponentReply,
  Invocation,
  InvocationResult,
  ServiceEntry,
  StreamInvocation,
} from "./types.js";

/** Calls stateless actions in the user function. */
export interface ActionHandler {
  unary(invocation: Invocation): Promise<ComponentReply>;
  /** Starts a streaming call; each response is a reply to relay. */
  stream(invocation: StreamInvocation): Promise<AsyncIterable<ComponentReply>>;
}

/** Runs action calls and carries out their replies. */
export class ActionCalls {
  constructor(
    private readonly actions: ActionHandler,
    private readonly replies: Replies,
    private readonly store: DurableWorkStore,
    /** Answers repeats of keyed calls; none = keys are ignored. */
    private readonly keyed?: KeyedCalls,
  ) {}

  /**
   * A unary call: the function's reply, checked, its work stored (with the
   * outcome record of a keyed call), released.
   */
  unary(invocation: Invocation): Promise<InvocationResult> {
    if (this.keyed === undefined) return this.runUnary(invocation);
    const scope = { entityType: invocation.service.desc.typeName, entityId: "" };
    return this.keyed.call(scope, invocation, (inv) => this.runUnary(inv));
  }

  private async runUnary(invocation: Invocation): Promise<InvocationResult> {
    const reply = await this.actions.unary(invocation);
    throwIfFailure(reply);
    const problem = this.replies.check(invocation, reply);
    if (problem !== undefined) throw problem;
    const key = invocation.idempotency;
    const scope = { entityType: invocation.service.desc.typeName, entityId: "" };
    await this.storeWork(
      invocation.service,
      reply,
      key === undefined ? [] : [outcomeRecord(scope, key, reply)],
    );
    return this.replies.release(invocation, reply);
  }

  /** A streaming call: each streamed reply is carried out and its answer yielded. */
  async stream(invocation: StreamInvocation): Promise<AsyncIterable<Uint8Array>> {
    const replies = await this.actions.stream(invocation);
    return this.relay(invocation, replies);
  }

  /** Each streamed reply: failure ends the stream, effects run, the payload (or forward's answer) is yielded. */
  private async *relay(
    invocation: StreamInvocation,
    replies: AsyncIterable<ComponentReply>,
  ): AsyncIterable<Uint8Array> {
    const unary: Invocation = { ...invocation, input: new Uint8Array() };
    for await (const reply of replies) {
      throwIfFailure(reply);
      const problem = this.replies.checkEffects(reply);
      if (problem !== undefined) throw problem;
      await this.storeWork(invocation.service, reply);
      if (reply.clientAction?.action === undefined) {
        await this.replies.runEffects(unary, reply);
        continue;
      }
      const result = await this.replies.release(unary, reply);
      yield result.output;
    }
  }

  /** Stores the durable work of an action's reply (and its outcome record, if keyed) before it is released. */
  private async storeWork(
    service: ServiceEntry,
    reply: ComponentReply,
    idempotency: readonly IdempotencyWrite[] = [],
  ): Promise<void> {
    if (!durableExtras.hasDurableWork(reply) && idempotency.length === 0) return;
    const ref = { entityType: service.desc.typeName, entityId: "" };
    try {
      const work = durableExtras.forBatch(ref, [reply]);
      await this.store.writeWork(idempotency.length === 0 ? work : { ...work, idempotency });
    } catch (err) {
      throw storeError(err, `the effects and timers of ${service.desc.typeName}`);
    }
  }
}

/** A failure reply becomes the call's error. */
function throwIfFailure(reply: ComponentReply): void {
  const action = reply.clientAction?.action;
  if (action?.case !== "failure") return;
  throw new CommandFailedError(
    action.value.code === 0 ? Code.Unknown : action.value.code,
    action.value.message,
  );
}
