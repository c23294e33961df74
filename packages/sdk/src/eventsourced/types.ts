import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import type { MetadataMap, MetadataValue } from "../payload/metadata.js";

/** Options of a call made on the caller's behalf (forward or effect). */
export interface CallOptions {
  /** Metadata sent with the call. */
  metadata?: Readonly<Record<string, MetadataValue>>;
}

/** Options of {@link EventSourcedCommandContext.effect}. */
export interface EffectOptions extends CallOptions {
  /**
   * Synchronous effects complete before the reply is released; asynchronous
   * ones (the default) run after it and are retried until delivered.
   */
  synchronous?: boolean;
}

declare const forwardedBrand: unique symbol;

/**
 * Returned by {@link EventSourcedCommandContext.forward}: return it from the
 * handler to answer the client with another component's reply.
 */
export interface Forwarded {
  readonly [forwardedBrand]: true;
}

/**
 * What a command handler may use besides the command and the state.
 */
export interface EventSourcedCommandContext<State, Event> {
  /** Id of the entity instance handling the command. */
  readonly entityId: string;
  /** The command's metadata (lower-case keys). */
  readonly metadata: MetadataMap;
  /** The method being handled. */
  readonly method: DescMethod;
  /** The state including the events emitted so far by this command. */
  readonly state: State;
  /**
   * Persists an event (when the command succeeds) and applies it to the state
   * right away; returns the new state. If the command later fails, the event
   * is discarded.
   */
  emit(event: Event): State;
  /**
   * Answers the client with the reply of another component's method, called
   * once this command's events are durable. Return the result from the handler
   * (once forward() was called, whatever the handler returns is ignored).
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
  /** Calls another component's method once this command's events are durable. */
  effect<M extends DescMethod>(
    method: M,
    request: MessageInitShape<M["input"]>,
    options?: EffectOptions,
  ): void;
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

/** A command handler for method `M`; it may be async. */
export type CommandHandler<M extends DescMethod, State, Event> = (
  command: MessageShape<M["input"]>,
  state: State,
  ctx: EventSourcedCommandContext<State, Event>,
) => HandlerResult<M["output"]> | Promise<HandlerResult<M["output"]>>;

/** One handler per method of the service, keyed by the method's local name (`addItem`). */
export type CommandHandlers<Svc extends DescService, State, Event> = {
  [K in keyof Svc["method"]]: Svc["method"][K] extends DescMethod
    ? CommandHandler<Svc["method"][K], State, Event>
    : never;
};
