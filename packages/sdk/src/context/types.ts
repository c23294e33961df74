import type { DescMessage, DescMethod, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { MetadataMap, MetadataValue } from "../payload/metadata.js";

/** Options of a call made on the caller's behalf (forward, effect, timer). */
export interface CallOptions {
  /** Metadata sent with the call. */
  metadata?: Readonly<Record<string, MetadataValue>>;
}

/** Options of {@link ComponentContext.call}. */
export interface RequestOptions extends CallOptions {
  /**
   * Fails the call with DEADLINE_EXCEEDED when no answer came within this
   * many milliseconds. Default: no deadline of its own (the runtime's command
   * deadline still bounds the command making the call).
   */
  timeoutMs?: number;
}

/** Options of {@link ComponentContext.effect}. */
export interface EffectOptions extends CallOptions {
  /**
   * Synchronous effects complete before the reply is released; asynchronous
   * ones (the default) run after it and are retried until delivered.
   */
  synchronous?: boolean;
}

/**
 * When a timer is due: after a delay from now, or at a point in time. A time
 * in the past makes the timer due at once.
 */
export type TimerWhen = { delayMs: number } | { at: Date };

/** Options of {@link Timers.schedule}: when, plus the call's metadata. */
export type TimerOptions = TimerWhen & CallOptions;

/**
 * Durable timers: a call to a component method at a given time, stored by the
 * runtime together with the command's state change (so a failed command
 * schedules and cancels nothing). A timer fires at least once, survives
 * restarts, and is removed once its call succeeds; a failing call is retried
 * with backoff.
 *
 * Timer names are scoped by the runtime to the scheduling component instance
 * (the entity id for entities, the service for actions): two sessions may
 * both have a timer named `expire`, and scheduling a name again replaces that
 * instance's timer.
 */
export interface Timers {
  /**
   * Schedules (or replaces) the timer `name`, which calls `method` with
   * `request` when due.
   *
   * @example
   * ```ts
   * ctx.timers.schedule("expire", UserSession.method.expire, { sessionId }, { delayMs: 30 * 60_000 });
   * ```
   */
  schedule<M extends DescMethod>(
    name: string,
    method: M,
    request: MessageInitShape<M["input"]>,
    options: TimerOptions,
  ): void;
  /** Cancels the timer `name` of this component instance (nothing happens if there is none). */
  cancel(name: string): void;
}

declare const forwardedBrand: unique symbol;

/**
 * Returned by {@link ComponentContext.forward}: return it from the handler to
 * answer the client with another component's reply.
 */
export interface Forwarded {
  readonly [forwardedBrand]: true;
}

/**
 * What every handler may use, whatever the component kind: the command's
 * metadata, forwards, effects, timers, calls and reply metadata.
 */
export interface ComponentContext {
  /** The command's metadata (lower-case keys). */
  readonly metadata: MetadataMap;
  /** The method being handled. */
  readonly method: DescMethod;
  /**
   * Answers the client with the reply of another component's method, called
   * once this command's state change is durable. Return the result from the
   * handler (once forward() was called, whatever the handler returns is ignored).
   *
   * @example
   * ```ts
   * return ctx.forward(ShoppingCart.method.getCart, { cartId: cmd.cartId });
   * ```
   */
  forward<M extends DescMethod>(
    method: M,
    request: MessageInitShape<M["input"]>,
    options?: CallOptions,
  ): Forwarded;
  /** Calls another component's method once this command's state change is durable. */
  effect<M extends DescMethod>(
    method: M,
    request: MessageInitShape<M["input"]>,
    options?: EffectOptions,
  ): void;
  /** Durable timers of this component instance, stored with the command's state change. */
  readonly timers: Timers;
  /**
   * Calls another component's method now, through the runtime, and resolves
   * with its reply; a failure rejects with a `CairnError` carrying the gRPC
   * code and message. Trace metadata (`traceparent`, `tracestate`,
   * `x-request-id`) of the command travels with the call.
   *
   * In an entity the call runs while the entity holds its command: calling
   * the same entity (directly or through others) waits on itself until the
   * deadline. Prefer `effect` or `forward` when the answer is not needed.
   *
   * @example
   * ```ts
   * const session = await ctx.call(UserSession.method.get, { sessionId });
   * ```
   */
  call<M extends DescMethod>(
    method: M,
    request: MessageInitShape<M["input"]>,
    options?: RequestOptions,
  ): Promise<MessageShape<M["output"]>>;
  /** Adds metadata to the reply (gRPC trailers/headers at the ingress). */
  setReplyMetadata(key: string, value: MetadataValue): void;
}

/**
 * What a handler of a method with output `O` may return: the output message
 * (or its init shape), a {@link Forwarded} call, or nothing when the output is
 * `google.protobuf.Empty`.
 */
export type HandlerResult<O extends DescMessage> =
  MessageInitShape<O> | Forwarded | (O["typeName"] extends "google.protobuf.Empty" ? void : never);
