/**
 * Reply execution: what the runtime does with a component's reply, apart
 * from persisting its state change. Before the commit, {@link Replies.check}
 * validates everything the reply asks for (its payload type, the forward and
 * every effect and timer target), so that nothing is stored for a reply that
 * cannot be carried out. After the commit, {@link Replies.release} runs the
 * synchronous effects and then answers: the reply's payload, or the
 * forwarded call's answer.
 *
 * Forwards and effects are new invocations handed to a {@link Dispatcher}
 * (the router), so they reach their target wherever it lives; nothing here
 * knows how entities or actions are hosted.
 */
import { NO_OUTPUT } from "./stream-sink.js";
import { CairnError, Code } from "@cairn/protocol";
import type { Forward, SideEffect } from "@cairn/protocol";
import { CALLER_KEY } from "./fan-out.js";
import { anyTypeName, fromWireMetadata } from "./payloads.js";
import { derivedKey, IDEMPOTENCY_KEY } from "./idempotency.js";
import { durableExtras, EFFECT_ORIGIN_KEY } from "./reply-work.js";
import { describeCall, resolveTarget } from "./targets.js";
import { CALL_CHAIN_KEY } from "./types.js";
import type {
  Catalog,
  ComponentReply,
  Dispatcher,
  Invocation,
  InvocationResult,
  Metadata,
} from "./types.js";

/** Options of {@link Replies}. */
export interface RepliesOptions {
  readonly catalog: () => Catalog | undefined;
  /** Where forwards and synchronous effects go (the router). */
  readonly dispatcher: () => Dispatcher;
  /** Called after a reply whose asynchronous effects or timers were stored: wakes their workers. */
  readonly stored: () => void;
  /** Largest payload of one timer's call, bytes (runtime option maxTimerPayloadBytes). */
  readonly maxTimerPayloadBytes: number;
}

/** Checks replies before their commit and carries them out after it. */
export class Replies {
  constructor(private readonly options: RepliesOptions) {}

  /** The reason the reply cannot be carried out, if any; checked before anything is persisted. */
  check(invocation: Invocation, reply: ComponentReply): CairnError | undefined {
    const action = reply.clientAction?.action;
    if (action?.case === "reply") {
      const payload = action.value.payload;
      if (payload !== undefined && anyTypeName(payload) !== invocation.method.output.typeName) {
        return new CairnError(
          Code.Internal,
          `${describeCall(invocation)} replied with ${payload.typeUrl}, but the method returns ${invocation.method.output.typeName}`,
        );
      }
    } else if (action?.case === "forward") {
      const problem = this.checkForward(invocation, action.value);
      if (problem !== undefined) return problem;
    } else if (action === undefined && invocation.stream === undefined) {
      return new CairnError(
        Code.Internal,
        `${describeCall(invocation)}: the user function's reply has no client action`,
      );
    }
    return this.checkEffects(reply);
  }

  /** Validates effect and timer targets (streamed action replies have no client action to check). */
  checkEffects(reply: ComponentReply): CairnError | undefined {
    const catalog = this.options.catalog();
    for (const effect of reply.sideEffects) {
      const target = resolveTarget(catalog, effect.serviceName, effect.method, "effect");
      if ("error" in target) return target.error;
    }
    for (const timer of reply.timers) {
      if (timer.action.case !== "schedule") continue;
      const t = timer.action.value;
      const target = resolveTarget(catalog, t.serviceName, t.method, `timer '${t.name}'`);
      if ("error" in target) return target.error;
      const size = t.payload?.value.length ?? 0;
      const max = this.options.maxTimerPayloadBytes;
      if (size > max) {
        return new CairnError(
          Code.ResourceExhausted,
          `timer '${t.name}' carries a ${size}-byte payload, over the limit of ${max} bytes (runtime option --max-timer-payload-bytes)`,
        );
      }
    }
    return undefined;
  }

  /**
   * After the commit: synchronous effects (a failure fails the answer), then
   * the answer: the reply's payload, or the forwarded call's answer.
   */
  async release(invocation: Invocation, reply: ComponentReply): Promise<InvocationResult> {
    await this.runEffects(invocation, reply);
    const action = reply.clientAction?.action;
    if (action?.case === "forward") {
      return this.options.dispatcher().dispatch(this.call(action.value, invocation, "forward"));
    }
    if (action?.case === "reply") {
      return {
        output: action.value.payload?.value ?? new Uint8Array(),
        metadata: fromWireMetadata(action.value.metadata),
      };
    }
    if (action === undefined && invocation.stream !== undefined) {
      return { output: NO_OUTPUT, metadata: {} };
    }
    throw new CairnError(Code.Internal, `${describeCall(invocation)}: unexpected client action`);
  }

  /** Synchronous effects in order (awaited, a failure throws); asynchronous ones were stored with the commit. */
  async runEffects(invocation: Invocation, reply: ComponentReply): Promise<void> {
    // Numbered among the synchronous ones only: a keyed command's stored
    // outcome keeps just those, and a replay must derive the same keys.
    let position = 0;
    for (const effect of reply.sideEffects) {
      if (!effect.synchronous) continue;
      const step = `effect.${position++}`;
      try {
        await this.options.dispatcher().dispatch(this.call(effect, invocation, step));
      } catch (err) {
        // The command is committed (its state change and asynchronous
        // effects): the client must learn that, or a retry applies it twice.
        const e = CairnError.from(err);
        throw new CairnError(
          e.code,
          `${describeCall(invocation)} was committed, but its synchronous effect ${effect.serviceName}/${effect.method} failed afterwards: ${e.message}; do not retry it without its idempotency-key`,
          { cause: e, committed: true },
        );
      }
    }
    // Stored with the state change: the outbox and the scheduler take over.
    if (durableExtras.hasDurableWork(reply)) this.options.stored();
  }

  private checkForward(invocation: Invocation, forward: Forward): CairnError | undefined {
    const catalog = this.options.catalog();
    const target = resolveTarget(catalog, forward.serviceName, forward.method, "forward");
    if ("error" in target) return target.error;
    const returns = target.value.method.output.typeName;
    if (returns === invocation.method.output.typeName) return undefined;
    return new CairnError(
      Code.Internal,
      `${describeCall(invocation)} forwards to ${forward.serviceName}/${forward.method}, which returns ${returns}, not ${invocation.method.output.typeName}`,
    );
  }

  /**
   * The invocation a forward or effect makes on behalf of `origin`; `step`
   * names it among the origin's calls, for the key derived from a keyed origin's.
   */
  private call(target: SideEffect | Forward, origin: Invocation, step: string): Invocation {
    const catalog = this.options.catalog();
    const resolved = resolveTarget(catalog, target.serviceName, target.method, "call");
    if ("error" in resolved) throw resolved.error;
    // Forwards and effects run after the caller's commit and never block its
    // entity, so they start a new call chain.
    const metadata = withoutCallContext({
      ...pickTrace(origin.metadata),
      ...fromWireMetadata(target.metadata),
    });
    const key = derivedKey(origin, step);
    if (key !== undefined) metadata[IDEMPOTENCY_KEY] ??= key;
    return {
      service: resolved.value.service,
      method: resolved.value.method,
      input: target.payload?.value ?? new Uint8Array(),
      metadata,
      ...(origin.deadline === undefined ? {} : { deadline: origin.deadline }),
    };
  }
}

/**
 * Metadata without the call chain and the caller id: for calls that do not
 * block their caller (forwards, effects, timers) and do not count against
 * its fan-out.
 */
export function withoutCallContext(metadata: Metadata): Metadata {
  delete metadata[CALL_CHAIN_KEY];
  delete metadata[CALLER_KEY];
  delete metadata[EFFECT_ORIGIN_KEY];
  return metadata;
}

const TRACE_KEYS = ["traceparent", "tracestate", "x-request-id"];

function pickTrace(metadata: Metadata): Metadata {
  const out: Metadata = {};
  for (const k of TRACE_KEYS) if (metadata[k] !== undefined) out[k] = metadata[k];
  return out;
}
