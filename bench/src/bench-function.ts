/**
 * The bench's own user function (issue 3's scenarios): a value entity
 * `Counter` and an action `Echo`, each as small as a component can be, so
 * that `value-update` and `action-echo` measure the runtime, the function hop
 * and the store rather than a sample's logic (the user-session sample's Touch
 * would also reschedule a durable timer on every call).
 *
 * Run by the bench as a child process (`node --import tsx` from sources,
 * plain `node` from dist); it prints the SDK's JSON "listening" line with its
 * port, like the shopping-cart sample.
 */
import { action, eventSourcedEntity, serve, valueEntity } from "@cairn/sdk";
import { Counter, Echo, Tally } from "./gen/cairnbench/v1/bench_pb.js";

/** The stored state: a plain JSON number, the smallest value a state update can write. */
type CounterState = number;

const counter = valueEntity(Counter, {
  entityType: "bench-counter",
  // Longer than a bench run, so no counter is passivated while measured.
  passivationTimeoutMs: 600_000,
  initialState: (): CounterState => 0,
  commands: {
    increment(cmd, state, ctx) {
      const value = ctx.updateState(state + (cmd.by === 0 ? 1 : cmd.by));
      return { counterId: ctx.entityId, value };
    },
    get: (_cmd, state, ctx) => ({ counterId: ctx.entityId, value: state }),
  },
});

/** The one event of a tally, stored as JSON in the journal. */
interface Incremented {
  by: number;
}

/**
 * An event-sourced counter (issue 14's side-by-side bench): each increment
 * appends one event; reads answer from the state in memory. Snapshots every
 * 100 events, like the shopping-cart sample, so activation replays < 100.
 */
const tally = eventSourcedEntity(Tally, {
  entityType: "bench-tally",
  snapshotEvery: 100,
  passivationTimeoutMs: 600_000,
  initialState: (): CounterState => 0,
  applyEvent: (state: CounterState, e: Incremented): CounterState => state + e.by,
  commands: {
    increment(cmd, state, ctx) {
      const by = cmd.by === 0 ? 1 : cmd.by;
      ctx.emit({ by });
      return { counterId: ctx.entityId, value: state + by };
    },
    get: (_cmd, state, ctx) => ({ counterId: ctx.entityId, value: state }),
  },
});

const echo = action(Echo, {
  handlers: {
    // The request message itself is a valid reply: no copy, no allocation.
    echo: (req) => req,
  },
});

// The bench stops it with SIGTERM at the end of the run.
await serve({ components: [counter, tally, echo], handleSignals: true });
