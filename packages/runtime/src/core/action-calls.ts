/**
 * Calls of stateless actions, unary and streaming: the action's reply is
 * checked, its durable work (asynchronous effects, timers) is stored on its
 * own (an action has no state to store it with), then it is released like
 * an entity's reply.
 */
import { CairnError, Code } from "@cairn/protocol";
import type { DurableWorkStore } from "../store/durable-work.js";
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
  ) {}

  /** A unary call: the function's reply, checked, its work stored, released. */
  async unary(invocation: Invocation): Promise<InvocationResult> {
    const reply = await this.actions.unary(invocation);
    throwIfFailure(reply);
    const problem = this.replies.check(invocation, reply);
    if (problem !== undefined) throw problem;
    await this.storeWork(invocation.service, reply);
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

  /** Stores the durable work of an action's reply before it is released. */
  private async storeWork(service: ServiceEntry, reply: ComponentReply): Promise<void> {
    if (!durableExtras.hasDurableWork(reply)) return;
    const ref = { entityType: service.desc.typeName, entityId: "" };
    try {
      await this.store.writeWork(durableExtras.forBatch(ref, [reply]));
    } catch (err) {
      throw storeError(err, `the effects and timers of ${service.desc.typeName}`);
    }
  }
}

/** A failure reply becomes the call's error. */
function throwIfFailure(reply: ComponentReply): void {
  const action = reply.clientAction?.action;
  if (action?.case !== "failure") return;
  throw new CairnError(
    action.value.code === 0 ? Code.Unknown : action.value.code,
    action.value.message,
  );
}
