/**
 * The router: finds who handles an invocation. An entity command goes to the
 * {@link EntityHandler} with its entity key (after the call-cycle check); an
 * action call goes to {@link ActionCalls}. What happens to the component's
 * reply (checks, effects, forwards) is reply execution, in replies.ts; the
 * router only routes, so that a shard router can stand in for the local
 * entity handler and send a command to the node that owns its entity.
 */
import { CairnError, Code } from "@cairn/protocol";
import type { ActionCalls } from "./action-calls.js";
import { DEFAULT_MAX_ENTITY_ID_BYTES, entityKey } from "./entity-key.js";
import type { FanOutLimit } from "./fan-out.js";
import { createStreamQueue, NO_OUTPUT } from "./stream-sink.js";
import { describeCall } from "./targets.js";
import { CALL_CHAIN_KEY } from "./types.js";
import type {
  Invocation,
  InvocationResult,
  ServiceEntry,
  StreamInvocation,
  StreamResult,
  StreamingDispatcher,
} from "./types.js";

/** Runs commands of entities (the local entity host, or a shard router in front of it). */
export interface EntityHandler {
  handle(
    service: ServiceEntry,
    entityId: string,
    invocation: Invocation,
  ): Promise<InvocationResult>;
}

/** Routes invocations to entities and actions. */
export class Router implements StreamingDispatcher {
  constructor(
    private readonly entities: EntityHandler,
    private readonly actions: ActionCalls,
    /** Bounds the calls one command has in flight; none = unbounded. */
    private readonly fanOut?: FanOutLimit,
    /** Longest entity id accepted, UTF-8 bytes; runtime option maxEntityIdBytes. */
    private readonly maxEntityIdBytes: number = DEFAULT_MAX_ENTITY_ID_BYTES,
  ) {}

  dispatch(invocation: Invocation): Promise<InvocationResult> {
    if (this.fanOut === undefined) return this.route(invocation);
    return this.fanOut.run(invocation, () => this.route(invocation));
  }

  private route(invocation: Invocation): Promise<InvocationResult> {
    switch (invocation.service.kind) {
      case "event_sourced_entity":
      case "value_entity":
      case "replicated_entity": {
        const key = entityKey(invocation, this.maxEntityIdBytes);
        if ("error" in key) return Promise.reject(key.error);
        const cycle = callCycle(invocation, `${invocation.service.desc.typeName}/${key.value}`);
        if (cycle !== undefined) return Promise.reject(cycle);
        return this.entities.handle(invocation.service, key.value, invocation);
      }
      case "action":
        return this.actions.unary(invocation);
    }
  }

  async dispatchStream(invocation: StreamInvocation): Promise<StreamResult> {
    if (invocation.service.kind === "replicated_entity") return this.subscribe(invocation);
    if (invocation.service.kind !== "action") {
      throw new CairnError(
        Code.Unimplemented,
        `streaming methods of ${invocation.service.kind.replaceAll("_", " ")} components are not served yet (${describeCall(invocation)})`,
      );
    }
    return { metadata: {}, outputs: await this.actions.stream(invocation) };
  }

  /**
   * A server-streaming method of a replicated entity: one command whose
   * reply opens the stream, then the messages the entity pushes until it
   * ends the stream or the client goes away (the entity's cancellation
   * handler then runs).
   */
  private async subscribe(invocation: StreamInvocation): Promise<StreamResult> {
    const { method } = invocation;
    if (method.methodKind !== "server_streaming") {
      throw new CairnError(
        Code.Unimplemented,
        `${describeCall(invocation)} is ${method.methodKind.replace("_", "-")}; replicated entities serve unary and server-streaming methods only`,
      );
    }
    let input: Uint8Array | undefined;
    for await (const message of invocation.inputs) {
      input = message;
      break;
    }
    if (input === undefined) {
      throw new CairnError(
        Code.InvalidArgument,
        `${describeCall(invocation)}: the call carried no request message`,
      );
    }
    const gone = new AbortController();
    const client = invocation.signal;
    if (client?.aborted === true) gone.abort();
    client?.addEventListener("abort", () => gone.abort(), { once: true });
    const queue = createStreamQueue(SUBSCRIBER_BACKLOG, describeCall(invocation), () =>
      gone.abort(),
    );
    const first = await this.dispatch({
      service: invocation.service,
      method,
      input,
      metadata: invocation.metadata,
      ...(invocation.deadline === undefined ? {} : { deadline: invocation.deadline }),
      signal: gone.signal,
      stream: queue,
    });
    return { metadata: first.metadata, outputs: subscription(first.output, queue.iterable) };
  }
}

/** Messages a subscriber may fall behind before its stream is ended. */
export const SUBSCRIBER_BACKLOG = 1_000;

/**
 * The messages of a subscription: the reply's message first (when it has
 * one), then what the stream queue receives.
 */
async function* subscription(
  first: Uint8Array,
  rest: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array, void, undefined> {
  if (first !== NO_OUTPUT) yield first;
  yield* rest;
}

/**
 * A call to an entity that is itself waiting, further up the chain, for this
 * call: it would queue behind its own caller and wait until its deadline
 * (the actor platforms' most reported deadlock). Refused at once instead.
 */
function callCycle(invocation: Invocation, target: string): CairnError | undefined {
  const chain = invocation.metadata[CALL_CHAIN_KEY];
  if (chain === undefined || chain === "") return undefined;
  const links = chain.split(" > ");
  if (!links.includes(target)) return undefined;
  return new CairnError(
    Code.FailedPrecondition,
    `call cycle: ${[...links, target].join(" → ")}; ${target} is waiting for this call and cannot take it. Reply first and call after (ctx.effect or ctx.forward), or call a different entity`,
  );
}
