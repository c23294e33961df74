import type { DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { ComponentContext, HandlerResult } from "../context/types.js";

/**
 * What an action handler may use: the command's metadata, forwards (unary
 * and client-streaming handlers), effects, timers and calls. Actions are
 * stateless: effects and timers of a unary call are sent with its reply; those
 * of a streamed reply go out with the next message.
 */
export type ActionContext = ComponentContext;

/** Handler of a unary method: one request, one reply (or a forward). */
export type UnaryActionHandler<M extends DescMethod> = (
  request: MessageShape<M["input"]>,
  ctx: ActionContext,
) => HandlerResult<M["output"]> | Promise<HandlerResult<M["output"]>>;

/** Handler of a server-streaming method: one request, a stream of replies (an async generator). */
export type ServerStreamingActionHandler<M extends DescMethod> = (
  request: MessageShape<M["input"]>,
  ctx: ActionContext,
) => AsyncIterable<MessageInitShape<M["output"]>> | Iterable<MessageInitShape<M["output"]>>;

/** Handler of a client-streaming method: a stream of requests, one reply (or a forward). */
export type ClientStreamingActionHandler<M extends DescMethod> = (
  requests: AsyncIterable<MessageShape<M["input"]>>,
  ctx: ActionContext,
) => HandlerResult<M["output"]> | Promise<HandlerResult<M["output"]>>;

/** Handler of a bidi-streaming method: a stream of requests, a stream of replies. */
export type BidiStreamingActionHandler<M extends DescMethod> = (
  requests: AsyncIterable<MessageShape<M["input"]>>,
  ctx: ActionContext,
) => AsyncIterable<MessageInitShape<M["output"]>>;

/** The handler type of method `M`, chosen by the method's kind. */
export type ActionHandler<M extends DescMethod> = M["methodKind"] extends "unary"
  ? UnaryActionHandler<M>
  : M["methodKind"] extends "server_streaming"
    ? ServerStreamingActionHandler<M>
    : M["methodKind"] extends "client_streaming"
      ? ClientStreamingActionHandler<M>
      : BidiStreamingActionHandler<M>;

/** One handler per method of the service, keyed by the method's local name (`touchAll`). */
export type ActionHandlers<Svc extends DescService> = {
  [K in keyof Svc["method"]]: Svc["method"][K] extends DescMethod
    ? ActionHandler<Svc["method"][K]>
    : never;
};
