import type { DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import type { ComponentContext, HandlerResult } from "../context/types.js";

export type { CallOptions, EffectOptions, Forwarded, HandlerResult } from "../context/types.js";

/**
 * What a command handler may use besides the command and the state.
 */
export interface EventSourcedCommandContext<State, Event> extends ComponentContext {
  /** Id of the entity instance handling the command. */
  readonly entityId: string;
  /** The state including the events emitted so far by this command. */
  readonly state: State;
  /**
   * Persists an event (when the command succeeds) and applies it to the state
   * right away; returns the new state. If the command later fails, the event
   * is discarded.
   */
  emit(event: Event): State;
}

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
