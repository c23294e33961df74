/**
 * @cairn/sdk: write Cairn components in TypeScript.
 *
 * A component implements a gRPC service from your `.proto` contract. Define
 * it from the service descriptor that protoc-gen-es generated, so handler
 * names, requests and replies are checked by the compiler; then `serve()` it
 * to the Cairn runtime, or unit-test it in memory with `@cairn/sdk/testkit`.
 *
 * An **event-sourced entity** keeps its state as the fold of its events:
 * handlers validate a command and `emit` events; `applyEvent` folds an event
 * into a new state. A failed command (a thrown {@link CommandError} or any
 * other error) changes nothing: its events are discarded and the state is the
 * one from before the command.
 *
 * A **value entity** holds one state value that handlers replace with
 * `ctx.updateState()` or remove with `ctx.deleteState()`. A **replicated
 * entity** holds a CRDT of `@cairn/crdt` (counters, sets, registers, flags,
 * votes, maps), writable on every node; handlers change it through its API
 * and the SDK sends only deltas. An **action** is
 * stateless: unary or streaming handlers that compose other components with
 * `ctx.call()`. Every handler may `forward`, attach `effect`s and schedule
 * durable `timers`.
 *
 * @example
 * ```ts
 * import { eventSourcedEntity, serve, CommandError, Code } from "@cairn/sdk";
 * import { ShoppingCart } from "./gen/shoppingcart/v1/shopping_cart_pb.js";
 *
 * type Event = { type: "ItemAdded"; productId: string; name: string; quantity: number };
 * type State = { items: Record<string, { name: string; quantity: number }> };
 *
 * const cart = eventSourcedEntity(ShoppingCart, {
 *   entityType: "shopping-cart",
 *   initialState: (): State => ({ items: {} }),
 *   applyEvent: (state: State, e: Event): State => ({
 *     items: { ...state.items, [e.productId]: { name: e.name, quantity: (state.items[e.productId]?.quantity ?? 0) + e.quantity } },
 *   }),
 *   commands: {
 *     addItem(cmd, _state, ctx) {
 *       if (cmd.quantity <= 0) throw new CommandError(Code.InvalidArgument, `quantity must be positive, got ${cmd.quantity}`);
 *       ctx.emit({ type: "ItemAdded", productId: cmd.productId, name: cmd.name, quantity: cmd.quantity });
 *     },
 *     removeItem: () => { throw new CommandError(Code.Unimplemented, "not yet"); },
 *     checkout: () => ({}),
 *     getCart: (_cmd, state) => ({
 *       items: Object.entries(state.items).map(([productId, i]) => ({ productId, ...i })),
 *     }),
 *   },
 * });
 *
 * await serve({ components: [cart], handleSignals: true });
 * ```
 * @module
 */

export { eventSourcedEntity } from "./eventsourced/entity.js";
export type { EventSourcedEntity, EventSourcedEntityOptions } from "./eventsourced/entity.js";
export type {
  CommandHandler,
  CommandHandlers,
  EventSourcedCommandContext,
} from "./eventsourced/types.js";
export { valueEntity } from "./value/entity.js";
export type { ValueEntity, ValueEntityOptions } from "./value/entity.js";
export type {
  ValueCommandHandler,
  ValueCommandHandlers,
  ValueEntityCommandContext,
} from "./value/types.js";
export { replicatedEntity } from "./replicated/entity.js";
export type { CrdtClass, ReplicatedEntity, ReplicatedEntityOptions } from "./replicated/entity.js";
export type {
  ReplicatedCommandHandler,
  ReplicatedCommandHandlers,
  ReplicatedEntityCommandContext,
  ReplicatedStream,
  ReplicatedStreamContext,
  ReplicatedStreamHandler,
  WriteConsistency,
  WriteOptions,
} from "./replicated/types.js";
export { action } from "./action/action.js";
export type { Action, ActionOptions } from "./action/action.js";
export type {
  ActionContext,
  ActionHandler,
  ActionHandlers,
  BidiStreamingActionHandler,
  ClientStreamingActionHandler,
  ServerStreamingActionHandler,
  UnaryActionHandler,
} from "./action/types.js";
export type {
  CallOptions,
  ComponentContext,
  EffectOptions,
  Forwarded,
  HandlerResult,
  RequestOptions,
  TimerOptions,
  Timers,
  TimerWhen,
} from "./context/types.js";
export { serve } from "./server/serve.js";
export type { Server, ServeOptions } from "./server/serve.js";
export type { Component } from "./component.js";
export { CommandError } from "./errors.js";
export { CairnError, Code } from "@cairn/protocol";
export type { MetadataMap, MetadataValue } from "./payload/metadata.js";
export type { LogRecord, Logger } from "./log.js";
export { stderrLogger } from "./log.js";

// Below: building blocks for other libraries (the CLI, the conformance suite).

export { SDK_NAME, SDK_VERSION } from "./version.js";
export { buildSpec, descriptorFiles } from "./server/discovery.js";
