import { create } from "@bufbuild/protobuf";
import type { DescMethod, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { ForwardSchema, SideEffectSchema, TimerActionSchema } from "@cairn/protocol";
import type { Forward, SideEffect, TimerAction } from "@cairn/protocol";
import { packMessage } from "../payload/codec.js";
import { metadataFromMap } from "../payload/metadata.js";
import type { MetadataMap, MetadataValue } from "../payload/metadata.js";
import { CALL_KEY_BASE, callMetadata, IDEMPOTENCY_KEY } from "./caller.js";
import type { Caller } from "./caller.js";
import type {
  CallOptions,
  ComponentContext,
  EffectOptions,
  Forwarded,
  RequestOptions,
  TimerOptions,
  Timers,
} from "./types.js";

/** A forward or effect as the handler asked for it, kept for the testkit. */
export interface RecordedCall<W extends Forward | SideEffect = Forward | SideEffect> {
  readonly method: DescMethod;
  readonly wire: W;
}

/** A timer action as the handler asked for it, kept for the testkit. */
export interface RecordedTimer {
  /** The method the timer calls; undefined for a cancellation. */
  readonly method: DescMethod | undefined;
  readonly wire: TimerAction;
}

/**
 * What all command contexts share: it records the forward, effects, timers
 * and reply metadata a handler asks for. The owner sends them only if the
 * whole command succeeds, which is what makes a failed command change nothing.
 */
export class ContextBase implements ComponentContext {
  readonly effects: RecordedCall<SideEffect>[] = [];
  readonly timerActions: RecordedTimer[] = [];
  forwarded: RecordedCall<Forward> | undefined;
  readonly replyMetadata = new Map<string, MetadataValue>();
  readonly timers: Timers;
  /** Set once the handler settled; later calls are bugs (a stray async effect). */
  private sealed = false;
  /** ctx.call()s made so far: the position of the next one. */
  private callCount = 0;

  constructor(
    readonly method: DescMethod,
    readonly metadata: MetadataMap,
    private readonly caller: Caller,
  ) {
    this.timers = {
      schedule: (name, m, request, options) => this.schedule(name, m, request, options),
      cancel: (name) => this.cancel(name),
    };
  }

  forward<M extends DescMethod>(
    method: M,
    request: MessageInitShape<M["input"]>,
    options?: CallOptions,
  ): Forwarded {
    this.checkOpen("forward");
    if (this.forwarded !== undefined)
      throw new Error("forward() was already called for this command");
    const wire = create(ForwardSchema, {
      serviceName: method.parent.typeName,
      method: method.name,
      payload: packMessage(method.input, request),
      metadata: metadataFromMap(options?.metadata),
    });
    this.forwarded = { method, wire };
    return FORWARDED;
  }

  effect<M extends DescMethod>(
    method: M,
    request: MessageInitShape<M["input"]>,
    options?: EffectOptions,
  ): void {
    this.checkOpen("effect");
    const wire = create(SideEffectSchema, {
      serviceName: method.parent.typeName,
      method: method.name,
      payload: packMessage(method.input, request),
      synchronous: options?.synchronous ?? false,
      metadata: metadataFromMap(options?.metadata),
    });
    this.effects.push({ method, wire });
  }

  async call<M extends DescMethod>(
    method: M,
    request: MessageInitShape<M["input"]>,
    options?: RequestOptions,
  ): Promise<MessageShape<M["output"]>> {
    this.checkOpen("call");
    const timeoutMs = options?.timeoutMs;
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0))
      throw new Error(`call(): 'timeoutMs' must be a positive number, got ${timeoutMs}`);
    const message = create(method.input, request);
    const metadata = callMetadata(this.metadata, options?.metadata);
    // A command sent with an idempotency-key comes with a key base from the
    // runtime; each call gets the base and its position, so a retried
    // handler that makes the same calls in the same order repeats none of them.
    const position = this.callCount++;
    const base = this.metadata.get(CALL_KEY_BASE);
    if (typeof base === "string" && !metadata.has(IDEMPOTENCY_KEY)) {
      metadata.set(IDEMPOTENCY_KEY, `${base}.call.${position}`);
    }
    const reply = await this.caller.call(method, message, metadata, timeoutMs);
    return reply as MessageShape<M["output"]>;
  }

  setReplyMetadata(key: string, value: MetadataValue): void {
    this.checkOpen("setReplyMetadata");
    this.replyMetadata.set(key.toLowerCase(), value);
  }

  /** Forbids further use: the handler has settled. */
  seal(): void {
    this.sealed = true;
  }

  protected checkOpen(what: string): void {
    if (this.sealed) {
      throw new Error(
        `${what}() called after the handler of ${this.method.parent.name}.${this.method.name} returned`,
      );
    }
  }

  private schedule<M extends DescMethod>(
    name: string,
    method: M,
    request: MessageInitShape<M["input"]>,
    options: TimerOptions,
  ): void {
    this.checkOpen("timers.schedule");
    checkTimerName(name);
    const wire = create(TimerActionSchema, {
      action: {
        case: "schedule",
        value: {
          name,
          dueEpochMs: BigInt(dueTime(name, options)),
          serviceName: method.parent.typeName,
          method: method.name,
          payload: packMessage(method.input, request),
          metadata: metadataFromMap(options.metadata),
        },
      },
    });
    this.timerActions.push({ method, wire });
  }

  private cancel(name: string): void {
    this.checkOpen("timers.cancel");
    checkTimerName(name);
    const wire = create(TimerActionSchema, { action: { case: "cancel", value: { name } } });
    this.timerActions.push({ method: undefined, wire });
  }
}

function checkTimerName(name: string): void {
  if (typeof name !== "string" || name === "")
    throw new Error("timer name is empty; name the timer, e.g. 'expire'");
}

/** Epoch milliseconds when a timer is due; throws on a nonsensical time. */
function dueTime(name: string, when: TimerOptions): number {
  if ("at" in when) {
    const at = when.at.getTime();
    if (!Number.isFinite(at)) throw new Error(`timer '${name}': 'at' is an invalid Date`);
    return Math.round(at);
  }
  if (!Number.isFinite(when.delayMs) || when.delayMs < 0)
    throw new Error(
      `timer '${name}': 'delayMs' must be a non-negative number, got ${when.delayMs}`,
    );
  return Date.now() + Math.round(when.delayMs);
}

// The token a forwarding handler returns; only its type matters, since the
// owner reads the forward from the context, not from the return value.
const FORWARDED = Object.freeze({}) as Forwarded;
