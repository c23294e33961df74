/**
 * @cairn/sdk/testkit: run components in memory, without a runtime or a
 * network, and assert on replies, events, state, effects and timers. The
 * testkit drives the same command path as the server, so failure semantics
 * and payload encoding are those of production. Calls a handler makes with
 * `ctx.call()` are answered by stubs the test supplies (`calls`).
 *
 * @example
 * ```ts
 * import { createEventSourcedTestKit } from "@cairn/sdk/testkit";
 * const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
 * const r = await kit.call("addItem", { cartId: "c1", productId: "apple", name: "Apple", quantity: 3 });
 * expect(r.error).toBeUndefined();
 * expect(kit.state.items["apple"]?.quantity).toBe(3);
 * ```
 * @module
 */

export { createEventSourcedTestKit } from "./eventsourced.js";
export type {
  CommandResult,
  EventSourcedTestKit,
  EventSourcedTestKitOptions,
  TestCallOptions,
} from "./eventsourced.js";
export { createValueEntityTestKit } from "./value.js";
export type { ValueCommandResult, ValueEntityTestKit, ValueEntityTestKitOptions } from "./value.js";
export { createReplicatedEntityTestKit } from "./replicated.js";
export type {
  ReplicatedCommandResult,
  ReplicatedEntityTestKit,
  ReplicatedEntityTestKitOptions,
  TestStream,
} from "./replicated.js";
export { createActionTestKit } from "./action.js";
export type {
  ActionResult,
  ActionStreamResult,
  ActionTestInput,
  ActionTestKit,
  ActionTestKitOptions,
  ActionTestResult,
} from "./action.js";
export type {
  CallStub,
  CallStubs,
  RecordedComponentCall,
  RecordedEffect,
  RecordedOutgoingCall,
  RecordedTimerAction,
} from "./shared.js";
