import type { DescMessage, DescService } from "@bufbuild/protobuf";
import { checkHandlerNames, handlerMap } from "../context/command.js";
import type { HandlerEntry } from "../context/command.js";
import type { ActionContext, ActionHandlers } from "./types.js";

/** Options of {@link action}. */
export interface ActionOptions<Svc extends DescService> {
  /** One handler per method of the service, typed by the method's kind. */
  handlers: ActionHandlers<Svc>;
}

/** A type-erased action handler: its first argument is a request or a stream of them. */
export type ErasedActionHandler = (input: unknown, ctx: ActionContext) => unknown;

/**
 * The runtime view of an action definition, free of type parameters.
 * @internal
 */
export interface ActionDefinition {
  readonly service: DescService;
  /** Handlers by the method's proto name (`TouchAll`), as commands name them. */
  readonly handlers: ReadonlyMap<string, HandlerEntry<ErasedActionHandler>>;
  /** Actions have no stored payloads; kept so that every kind has `types`. */
  readonly types: readonly DescMessage[];
}

/** An action component, made by {@link action}; pass it to `serve()` or to the testkit. */
export interface Action<Svc extends DescService = DescService> {
  readonly kind: "action";
  /** The gRPC service the action implements. */
  readonly service: Svc;
  /** @internal */
  readonly definition: ActionDefinition;
}

/**
 * Defines an action serving `service`: stateless handlers, unary or
 * streaming in either direction, typed from the generated service descriptor
 * by each method's kind (a unary handler for a streaming method does not
 * compile). Actions compose other components with `ctx.call()`, hand work on
 * with `ctx.forward()` and `ctx.effect()`, and schedule timers.
 *
 * @example
 * ```ts
 * const fanout = action(SessionFanout, {
 *   handlers: {
 *     async touchAll(req, ctx) {
 *       const touched = await Promise.all(
 *         req.sessionIds.map((sessionId) => ctx.call(UserSession.method.touch, { sessionId })),
 *       );
 *       return { touched };
 *     },
 *     async *watchSessions(req, ctx) {
 *       for (const sessionId of req.sessionIds) yield await ctx.call(UserSession.method.get, { sessionId });
 *     },
 *   },
 * });
 * ```
 */
export function action<Svc extends DescService>(
  service: Svc,
  options: ActionOptions<Svc>,
): Action<Svc> {
  const where = `action ${service.typeName}`;
  const handlers = options.handlers as Record<string, ErasedActionHandler | undefined>;
  checkHandlerNames(where, service, handlers);
  for (const [name, handler] of Object.entries(handlers)) {
    if (typeof handler !== "function")
      throw new Error(`${where}: handler '${name}' is not a function`);
  }
  const definition: ActionDefinition = {
    service,
    handlers: handlerMap<ErasedActionHandler>(service, handlers),
    types: [],
  };
  return { kind: "action", service, definition };
}
