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
import type { ValueCommandHandlers, ValueEntityCommandContext } from "./types.js";

/** Options of {@link valueEntity}. */
export interface ValueEntityOptions<Svc extends DescService, State> {
  /**
   * Stable persistence name, the state's key prefix. Keep it when renaming
   * the service, or the entities lose their state.
   */
  entityType: string;
  /** Idle time before the runtime passivates an instance (absent: runtime default). */
  passivationTimeoutMs?: number;
  /** The state of an entity with no stored state (never written, or deleted). */
  initialState: (entityId: string) => State;
  /** One handler per method of the service. */
  commands: ValueCommandHandlers<Svc, State>;
  /**
   * Schemas of a protobuf state (plain JSON states need none). The messages
   * of the service's own file are always known.
   */
  types?: readonly DescMessage[];
  /**
   * Upgrades a stored state before the entity sees it, with the decoded value
   * and its type URL. Use it when the shape of the state changed.
   */
  migrate?: { state?: (state: unknown, typeUrl: string) => State };
}

/** A type-erased command handler, as the server calls it. */
export type ErasedValueHandler = (
  command: unknown,
  state: unknown,
  ctx: ValueEntityCommandContext<unknown>,
) => unknown;

/**
 * The runtime view of a value entity definition, free of type parameters.
 * @internal
 */
export interface ValueEntityDefinition {
  readonly service: DescService;
  readonly entityType: string;
  readonly passivationTimeoutMs: number | undefined;
  readonly initialState: (entityId: string) => unknown;
  /** Handlers by the method's proto name (`Login`), as commands name them. */
  readonly handlers: ReadonlyMap<string, HandlerEntry<ErasedValueHandler>>;
  readonly types: readonly DescMessage[];
  readonly migrateState: ((state: unknown, typeUrl: string) => unknown) | undefined;
  readonly registry: Registry;
  readonly codec: PayloadCodec;
}

/**
 * A value entity component, made by {@link valueEntity}; pass it to
 * `serve()` or to the testkit.
 */
export interface ValueEntity<Svc extends DescService = DescService, State = unknown> {
  readonly kind: "value-entity";
  /** The gRPC service the entity implements. */
  readonly service: Svc;
  /** @internal */
  readonly definition: ValueEntityDefinition;
  /** Carries the state type for the testkit; never set. @internal */
  readonly $types?: { state: State };
}

/**
 * Defines a value entity serving `service`: each instance holds one state
 * value, replaced whole by `ctx.updateState()` or removed by
 * `ctx.deleteState()`, and stored by the runtime before the reply is
 * released. Handlers are typed from the generated service descriptor.
 *
 * A failed command (a thrown `CommandError` or any other error) changes
 * nothing: no state change, no effect, no timer. States are deep-frozen, as
 * in event-sourced entities.
 *
 * @example
 * ```ts
 * type State = { userId: string; lastSeen: number } | null;
 * const session = valueEntity(UserSession, {
 *   entityType: "user-session",
 *   initialState: (): State => null,
 *   commands: {
 *     login(cmd, _state, ctx) {
 *       const s = ctx.updateState({ userId: cmd.userId, lastSeen: Date.now() });
 *       return { sessionId: ctx.entityId, userId: s.userId, loggedIn: true };
 *     },
 *     logout(_cmd, _state, ctx) {
 *       ctx.deleteState();
 *       return {};
 *     },
 *     // ...one handler per method
 *   },
 * });
 * ```
 */
export function valueEntity<Svc extends DescService, State>(
  service: Svc,
  options: ValueEntityOptions<Svc, State>,
): ValueEntity<Svc, State> {
  const where = `value entity ${service.typeName}`;
  if (options.entityType.trim() === "")
    throw new Error(`${where}: 'entityType' is empty; give it a stable name`);
  checkPassivation(where, options.passivationTimeoutMs);
  checkHandlerNames(where, service, options.commands);
  checkUnaryOnly(where, service);
  const types = options.types ?? [];
  const registry = createRegistry(service.file, ...types);
  const definition: ValueEntityDefinition = {
    service,
    entityType: options.entityType,
    passivationTimeoutMs: options.passivationTimeoutMs,
    initialState: options.initialState,
    handlers: handlerMap<ErasedValueHandler>(
      service,
      options.commands as Record<string, ErasedValueHandler | undefined>,
    ),
    types,
    migrateState: options.migrate?.state,
    registry,
    codec: createPayloadCodec(registry),
  };
  return { kind: "value-entity", service, definition };
}
