/**
 * The dispatcher: routes an invocation to the component that owns it, and
 * carries out what a component's reply asks for once its state change is
 * durable: forwards (another component answers the client) and effects
 * (calls made synchronously before the reply, or asynchronously after it).
 */
import { fromBinary } from "@bufbuild/protobuf";
import type { DescMethod } from "@bufbuild/protobuf";
import { CairnError, Code } from "@cairn/protocol";
import type { SideEffect, Forward } from "@cairn/protocol";
import type { Logger } from "pino";
import { entityKeyFields } from "../host/catalog.js";
import type { ComponentReply } from "../host/entity-env.js";
import { durableExtras } from "../host/kinds/extras.js";
import type { DurableWorkStore, StoredCall } from "../store/durable-work.js";
import { anyTypeName, fromWireMetadata } from "../host/payloads.js";
import { CALL_CHAIN_KEY } from "./types.js";
import type {
  Catalog,
  Invocation,
  InvocationResult,
  ServiceEntry,
  StreamInvocation,
  StreamResult,
  StreamingDispatcher,
} from "./types.js";

/** The entity side the router hands entity commands to. */
export interface EntityHandler {
  handle(
    service: ServiceEntry,
    entityId: string,
    invocation: Invocation,
  ): Promise<InvocationResult>;
}

interface Target {
  readonly service: ServiceEntry;
  readonly method: DescMethod;
}

/** Calls stateless actions in the user function. */
export interface ActionHandler {
  unary(invocation: Invocation): Promise<ComponentReply>;
  /** Starts a streaming call; each response is a reply to relay. */
  stream(invocation: StreamInvocation): Promise<AsyncIterable<ComponentReply>>;
}

export class Router implements StreamingDispatcher {
  constructor(
    private readonly catalog: () => Catalog | undefined,
    private readonly entities: EntityHandler,
    private readonly actions: ActionHandler,
    private readonly logger: Logger,
    /** Asynchronous effects and timers are stored, then run by the outbox and the scheduler. */
    private readonly work: {
      readonly store: DurableWorkStore;
      readonly stored: () => void;
      readonly timeoutMs: number;
      readonly maxTimerPayloadBytes: number;
    },
  ) {}

  /** The invocation a stored call (outbox entry, timer) makes; `permanent` when its target is gone. */
  resolveCall(call: StoredCall): { value: Invocation } | { error: CairnError; permanent: boolean } {
    if (this.catalog() === undefined) {
      return {
        error: new CairnError(Code.Unavailable, "the user function is not discovered yet"),
        permanent: false,
      };
    }
    const target = this.resolve(call.service, call.method, "call");
    if ("error" in target) return { error: target.error, permanent: true };
    return {
      value: {
        service: target.value.service,
        method: target.value.method,
        input: call.payload.value,
        metadata: withoutChain({ ...call.metadata }),
        deadline: Date.now() + this.work.timeoutMs,
      },
    };
  }

  /** Stores the durable work of an action's reply (actions have no state to store it with). */
  private async storeActionWork(
    invocation: { service: ServiceEntry },
    reply: ComponentReply,
  ): Promise<void> {
    if (!durableExtras.hasDurableWork(reply)) return;
    const ref = { entityType: invocation.service.desc.typeName, entityId: "" };
    try {
      await this.work.store.writeWork(durableExtras.forBatch(ref, [reply]));
    } catch (err) {
      throw storeWorkError(err);
    }
  }

  dispatch(invocation: Invocation): Promise<InvocationResult> {
    switch (invocation.service.kind) {
      case "event_sourced_entity":
      case "value_entity": {
        const key = entityKey(invocation);
        if ("error" in key) return Promise.reject(key.error);
        const cycle = callCycle(invocation, `${invocation.service.desc.typeName}/${key.value}`);
        if (cycle !== undefined) return Promise.reject(cycle);
        return this.entities.handle(invocation.service, key.value, invocation);
      }
      case "action":
        return this.runAction(invocation);
      default:
        return Promise.reject(
          new CairnError(
            Code.Unimplemented,
            `${invocation.service.kind.replaceAll("_", " ")} components are not served by this runtime yet (${invocation.service.desc.typeName})`,
          ),
        );
    }
  }

  /** Validates a reply's forward and effects before its events are persisted. */
  checkReply(invocation: Invocation, reply: ComponentReply): CairnError | undefined {
    const action = reply.clientAction?.action;
    if (action?.case === "reply") {
      const payload = action.value.payload;
      if (payload !== undefined && anyTypeName(payload) !== invocation.method.output.typeName) {
        return new CairnError(
          Code.Internal,
          `${describe(invocation)} replied with ${payload.typeUrl}, but the method returns ${invocation.method.output.typeName}`,
        );
      }
    } else if (action?.case === "forward") {
      const target = this.resolve(action.value.serviceName, action.value.method, "forward");
      if ("error" in target) return target.error;
      if (target.value.method.output.typeName !== invocation.method.output.typeName) {
        return new CairnError(
          Code.Internal,
          `${describe(invocation)} forwards to ${action.value.serviceName}/${action.value.method}, which returns ${target.value.method.output.typeName}, not ${invocation.method.output.typeName}`,
        );
      }
    } else if (action === undefined) {
      return new CairnError(
        Code.Internal,
        `${describe(invocation)}: the user function's reply has no client action`,
      );
    }
    return this.checkEffects(reply);
  }

  /** Validates effect and timer targets. */
  private checkEffects(reply: ComponentReply): CairnError | undefined {
    for (const effect of reply.sideEffects) {
      const target = this.resolve(effect.serviceName, effect.method, "effect");
      if ("error" in target) return target.error;
    }
    for (const timer of reply.timers) {
      if (timer.action.case !== "schedule") continue;
      const t = timer.action.value;
      const target = this.resolve(t.serviceName, t.method, `timer '${t.name}'`);
      if ("error" in target) return target.error;
      const size = t.payload?.value.length ?? 0;
      const max = this.work.maxTimerPayloadBytes;
      if (size > max) {
        return new CairnError(
          Code.ResourceExhausted,
          `timer '${t.name}' carries a ${size}-byte payload, over the limit of ${max} bytes (runtime option --max-timer-payload-bytes)`,
        );
      }
    }
    return undefined;
  }

  async dispatchStream(invocation: StreamInvocation): Promise<StreamResult> {
    if (invocation.service.kind !== "action") {
      throw new CairnError(
        Code.Unimplemented,
        `streaming methods of ${invocation.service.kind.replaceAll("_", " ")} components are not served yet (${describe(invocation)})`,
      );
    }
    const replies = await this.actions.stream(invocation);
    return { metadata: {}, outputs: this.relay(invocation, replies) };
  }

  /** Each streamed reply: failure ends the stream, effects run, the payload (or forward's answer) is yielded. */
  private async *relay(
    invocation: StreamInvocation,
    replies: AsyncIterable<ComponentReply>,
  ): AsyncIterable<Uint8Array> {
    const unary: Invocation = { ...invocation, input: new Uint8Array() };
    for await (const reply of replies) {
      const action = reply.clientAction?.action;
      if (action?.case === "failure") {
        throw new CairnError(
          action.value.code === 0 ? Code.Unknown : action.value.code,
          action.value.message,
        );
      }
      const problem = this.checkEffects(reply);
      if (problem !== undefined) throw problem;
      await this.storeActionWork(invocation, reply);
      if (action === undefined) {
        await this.runEffects(unary, reply);
        continue;
      }
      const result = await this.release(unary, reply);
      yield result.output;
    }
  }

  private async runAction(invocation: Invocation): Promise<InvocationResult> {
    const reply = await this.actions.unary(invocation);
    const action = reply.clientAction?.action;
    if (action?.case === "failure") {
      throw new CairnError(
        action.value.code === 0 ? Code.Unknown : action.value.code,
        action.value.message,
      );
    }
    const problem = this.checkReply(invocation, reply);
    if (problem !== undefined) throw problem;
    await this.storeActionWork(invocation, reply);
    return this.release(invocation, reply);
  }

  /** Runs effects and the forward after the commit; resolves with the client's answer. */
  async release(invocation: Invocation, reply: ComponentReply): Promise<InvocationResult> {
    await this.runEffects(invocation, reply);
    const action = reply.clientAction?.action;
    if (action?.case === "forward") return this.dispatch(this.call(action.value, invocation));
    if (action?.case === "reply") {
      return {
        output: action.value.payload?.value ?? new Uint8Array(),
        metadata: fromWireMetadata(action.value.metadata),
      };
    }
    throw new CairnError(Code.Internal, `${describe(invocation)}: unexpected client action`);
  }

  /** Synchronous effects (awaited, a failure fails the reply), then asynchronous ones. */
  private async runEffects(invocation: Invocation, reply: ComponentReply): Promise<void> {
    for (const effect of reply.sideEffects) {
      if (!effect.synchronous) continue;
      try {
        await this.dispatch(this.call(effect, invocation));
      } catch (err) {
        const e = CairnError.from(err);
        throw new CairnError(
          e.code,
          `synchronous effect ${effect.serviceName}/${effect.method} failed: ${e.message}`,
          { cause: e },
        );
      }
    }
    // Stored with the state change: the outbox and the scheduler take over.
    if (durableExtras.hasDurableWork(reply)) this.work.stored();
  }

  private call(target: SideEffect | Forward, origin: Invocation): Invocation {
    const resolved = this.resolve(target.serviceName, target.method, "call");
    if ("error" in resolved) throw resolved.error;
    // Forwards and effects run after the caller's commit and never block its
    // entity, so they start a new call chain.
    const metadata = withoutChain({
      ...pickTrace(origin.metadata),
      ...fromWireMetadata(target.metadata),
    });
    return {
      service: resolved.value.service,
      method: resolved.value.method,
      input: target.payload?.value ?? new Uint8Array(),
      metadata,
      ...(origin.deadline === undefined ? {} : { deadline: origin.deadline }),
    };
  }

  private resolve(
    serviceName: string,
    methodName: string,
    what: string,
  ): { value: Target } | { error: CairnError } {
    const service = this.catalog()?.services.get(serviceName);
    if (service === undefined) {
      return {
        error: new CairnError(
          Code.NotFound,
          `${what} target service '${serviceName}' is not served by this user function`,
        ),
      };
    }
    const method = service.desc.methods.find((m) => m.name === methodName);
    if (method === undefined) {
      return {
        error: new CairnError(
          Code.Unimplemented,
          `${what} target method '${serviceName}/${methodName}' does not exist; ${serviceName} has ${service.desc.methods.map((m) => m.name).join(", ")}`,
        ),
      };
    }
    return { value: { service, method } };
  }
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

function withoutChain(metadata: Record<string, string>): Record<string, string> {
  delete metadata[CALL_CHAIN_KEY];
  return metadata;
}

/** A store failure of durable work as the client sees it: a limit is RESOURCE_EXHAUSTED. */
export function storeWorkError(err: unknown): CairnError {
  if (err instanceof Error && err.name === "TimerLimitError") {
    return new CairnError(Code.ResourceExhausted, err.message, { cause: err });
  }
  return new CairnError(
    Code.Unavailable,
    `could not store effects and timers: ${(err as Error).message}`,
    { cause: err },
  );
}

function describe(invocation: { service: ServiceEntry; method: { name: string } }): string {
  return `${invocation.service.desc.typeName}/${invocation.method.name}`;
}

const TRACE_KEYS = ["traceparent", "tracestate", "x-request-id"];

function pickTrace(metadata: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of TRACE_KEYS) if (metadata[k] !== undefined) out[k] = metadata[k];
  return out;
}

/** The entity id of a request: the (cairn.entity_key) field(s), joined by "/". */
export function entityKey(invocation: Invocation): { value: string } | { error: CairnError } {
  const input = invocation.method.input;
  let message: Record<string, unknown>;
  try {
    message = fromBinary(input, invocation.input);
  } catch (err) {
    return {
      error: new CairnError(
        Code.InvalidArgument,
        `malformed ${input.typeName} in request ${describe(invocation)}: ${(err as Error).message}`,
      ),
    };
  }
  const parts: string[] = [];
  for (const field of entityKeyFields(input)) {
    const value = message[field.localName];
    // Key fields are scalars (checked at discovery): string, number or bigint.
    const text =
      typeof value === "string"
        ? value
        : typeof value === "number" || typeof value === "bigint"
          ? value.toString()
          : "";
    if (text === "") {
      return {
        error: new CairnError(
          Code.InvalidArgument,
          `entity key field '${field.name}' is empty in request ${describe(invocation)}`,
        ),
      };
    }
    parts.push(text);
  }
  if (parts.length === 0) {
    return {
      error: new CairnError(
        Code.InvalidArgument,
        `request ${input.typeName} has no (cairn.entity_key) field`,
      ),
    };
  }
  return { value: parts.join("/") };
}
