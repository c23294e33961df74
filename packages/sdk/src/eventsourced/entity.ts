import { createRegistry } from "@bufbuild/protobuf";
import type { DescMessage, DescService, Registry } from "@bufbuild/protobuf";
import {
  checkHandlerNames,
  checkPassivation,
  checkUnaryOnly,
  handlerMap,
} from "../context/command.js";
import type { HandlerEntry } from "../context/command.js";
import { createPayloadCodec } from "../payload/codec.js";
import type { PayloadCodec } from "../payload/codec.js";
import type { CommandHandlers, EventSourcedCommandContext } from "./types.js";

/** Options of {@link eventSourcedEntity}. */
export interface EventSourcedEntityOptions<Svc extends DescService, State, Event> {
  /**
   * Stable persistence name, the journal's key prefix. Keep it when renaming
   * the service, or the entities lose their history.
   */
  entityType: string;
  /** Snapshot the state every this many events (0 or absent: never). */
  snapshotEvery?: number;
  /** Idle time before the runtime passivates an instance (absent: runtime default). */
  passivationTimeoutMs?: number;
  /** The state of an entity with no events. */
  initialState: (entityId: string) => State;
  /** Folds one event into the state; must return a new state and not mutate the old one. */
  applyEvent: (state: State, event: Event) => State;
  /** One handler per method of the service. */
  commands: CommandHandlers<Svc, State, Event>;
  /**
   * Schemas of protobuf events and states (plain JSON values need none). The
   * messages of the service's own file are always known.
   */
  types?: readonly DescMessage[];
  /**
   * Upgrades stored data before the entity sees it: called for every event
   * replayed from the journal and for the snapshot on activation, with the
   * decoded value and its type URL. Use it when the shape of an event or of
   * the state changed; live events are already current and do not pass here.
   */
  migrate?: {
    event?: (event: unknown, typeUrl: string) => Event;
    state?: (state: unknown, typeUrl: string) => State;
  };
}

/** A type-erased command handler, as the server calls it. */
export type ErasedHandler = (
  command: unknown,
  state: unknown,
  ctx: EventSourcedCommandContext<unknown, unknown>,
) => unknown;

/**
 * The runtime view of an entity definition, free of type parameters.
 * @internal
 */
export interface EventSourcedDefinition {
  readonly service: DescService;
  readonly entityType: string;
  readonly snapshotEvery: number;
  readonly passivationTimeoutMs: number | undefined;
  readonly initialState: (entityId: string) => unknown;
  readonly applyEvent: (state: unknown, event: unknown) => unknown;
  /** Handlers by the method's proto name (`AddItem`), as commands name them. */
  readonly handlers: ReadonlyMap<string, HandlerEntry<ErasedHandler>>;
  readonly types: readonly DescMessage[];
  readonly migrateEvent: ((event: unknown, typeUrl: string) => unknown) | undefined;
  readonly migrateState: ((state: unknown, typeUrl: string) => unknown) | undefined;
  readonly registry: Registry;
  readonly codec: PayloadCodec;
}

/**
 * An event-sourced entity component, made by {@link eventSourcedEntity}; pass
 * it to `serve()` or to the testkit.
 */
export interface EventSourcedEntity<
  Svc extends DescService = DescService,
  State = unknown,
  Event = unknown,
> {
  readonly kind: "event-sourced-entity";
  /** The gRPC service the entity implements. */
  readonly service: Svc;
  /** @internal */
  readonly definition: EventSourcedDefinition;
  /** Carries the state and event types for the testkit; never set. @internal */
  readonly $types?: { state: State; event: Event };
}

/**
 * Defines an event-sourced entity serving `service`: its state is the fold
 * of its events. Handlers are typed from the generated service descriptor, so
 * a missing or misspelt handler, a wrong request field or a wrong reply type
 * is a compile error.
 *
 * States and events are treated as immutable: the SDK deep-freezes them, so
 * mutating one in place throws (and fails the command) instead of corrupting
 * the state that a failed command must leave untouched.
 *
 * @example
 * ```ts
 * type Event = { type: "ItemAdded"; productId: string; name: string; quantity: number };
 * type State = { items: Record<string, number> };
 * export const cart = eventSourcedEntity(ShoppingCart, {
 *   entityType: "shopping-cart",
 *   initialState: (): State => ({ items: {} }),
 *   applyEvent: (state: State, e: Event): State => ({
 *     items: { ...state.items, [e.productId]: (state.items[e.productId] ?? 0) + e.quantity },
 *   }),
 *   commands: {
 *     addItem(cmd, _state, ctx) {
 *       if (cmd.quantity <= 0) throw new CommandError(Code.InvalidArgument, "quantity must be positive");
 *       ctx.emit({ type: "ItemAdded", productId: cmd.productId, name: cmd.name, quantity: cmd.quantity });
 *     },
 *     // ...one handler per method
 *   },
 * });
 * ```
 */
export function eventSourcedEntity<Svc extends DescService, State, Event>(
  service: Svc,
  options: EventSourcedEntityOptions<Svc, State, Event>,
): EventSourcedEntity<Svc, State, Event> {
  validateOptions(
    service,
    options as unknown as EventSourcedEntityOptions<DescService, unknown, unknown>,
  );
  const types = options.types ?? [];
  const registry = createRegistry(service.file, ...types);
  const definition: EventSourcedDefinition = {
    service,
    entityType: options.entityType,
    snapshotEvery: options.snapshotEvery ?? 0,
    passivationTimeoutMs: options.passivationTimeoutMs,
    initialState: options.initialState,
    applyEvent: options.applyEvent as (state: unknown, event: unknown) => unknown,
    handlers: handlerMap<ErasedHandler>(
      service,
      options.commands as Record<string, ErasedHandler | undefined>,
    ),
    types,
    migrateEvent: options.migrate?.event,
    migrateState: options.migrate?.state,
    registry,
    codec: createPayloadCodec(registry),
  };
  return { kind: "event-sourced-entity", service, definition };
}

function validateOptions(
  service: DescService,
  options: EventSourcedEntityOptions<DescService, unknown, unknown>,
) {
  const where = `event-sourced entity ${service.typeName}`;
  if (options.entityType.trim() === "")
    throw new Error(`${where}: 'entityType' is empty; give it a stable name`);
  const every = options.snapshotEvery ?? 0;
  if (!Number.isInteger(every) || every < 0) {
    throw new Error(`${where}: 'snapshotEvery' must be a non-negative integer, got ${every}`);
  }
  checkPassivation(where, options.passivationTimeoutMs);
  checkHandlerNames(where, service, options.commands);
  checkUnaryOnly(where, service);
}
