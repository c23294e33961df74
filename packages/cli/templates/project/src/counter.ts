/**
 * A counter per id: a value entity. The runtime keeps each counter's state
 * durably and in memory next to this code, and runs one command at a time
 * per counter, so there is no database code and no race here.
 */
import { Code, CommandError, valueEntity } from "@cairn/sdk";
import { Counter } from "./gen/counter/v1/counter_pb.js";

/** The state of one counter, stored as JSON. */
export interface CounterState {
  readonly value: number;
}

/** The largest value an int32 field holds (the proto's `int32 value`). */
const MAX = 2 ** 31 - 1;

/** The counter entity, served by main.ts. */
export const counter = valueEntity(Counter, {
  // The name its state is stored under: keep it when you rename the service.
  entityType: "counter",
  initialState: (): CounterState => ({ value: 0 }),
  commands: {
    increase(cmd, state, ctx) {
      const by = cmd.by === 0 ? 1 : cmd.by;
      if (by < 0) throw new CommandError(Code.InvalidArgument, `by must be positive, got ${by}`);
      if (state.value > MAX - by) {
        throw new CommandError(
          Code.OutOfRange,
          `counter '${ctx.entityId}' is at ${state.value}: adding ${by} would pass ${MAX}`,
        );
      }
      return { value: ctx.updateState({ value: state.value + by }).value };
    },
    get: (_cmd, state) => ({ value: state.value }),
    reset(_cmd, _state, ctx) {
      ctx.deleteState();
      return { value: 0 };
    },
  },
});
