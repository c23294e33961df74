import type { DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import type { ComponentContext, HandlerResult } from "../context/types.js";

/**
 * What a value entity's command handler may use besides the command and the
 * state: the state change, plus everything every handler has.
 */
export interface ValueEntityCommandContext<State> extends ComponentContext {
  /** Id of the entity instance handling the command. */
  readonly entityId: string;
  /** The state as this command left it so far (after updateState/deleteState). */
  readonly state: State;
  /**
   * Replaces the entity's state when the command succeeds (the runtime stores
   * it before the reply is released); returns it, frozen. The last call of a
   * command wins.
   */
  updateState(state: State): State;
  /**
   * Deletes the entity's state when the command succeeds: a later command
   * sees `initialState` again. Returns that initial state.
   */
  deleteState(): State;
}

/** A value entity command handler for method `M`; it may be async. */
export type ValueCommandHandler<M extends DescMethod, State> = (
  command: MessageShape<M["input"]>,
  state: State,
  ctx: ValueEntityCommandContext<State>,
) => HandlerResult<M["output"]> | Promise<HandlerResult<M["output"]>>;

/** One handler per method of the service, keyed by the method's local name (`login`). */
export type ValueCommandHandlers<Svc extends DescService, State> = {
  [K in keyof Svc["method"]]: Svc["method"][K] extends DescMethod
    ? ValueCommandHandler<Svc["method"][K], State>
    : never;
};
