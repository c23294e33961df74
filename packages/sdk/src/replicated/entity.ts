import { createRegistry } from "@bufbuild/protobuf";
import type { AnyState } from "./types.js";
import type { DescMessage, DescService, Registry } from "@bufbuild/protobuf";
import type { Clock, TypeName } from "@cairn/crdt";
import { checkHandlerNames, checkPassivation, handlerMap } from "../context/command.js";
import type { HandlerEntry } from "../context/command.js";
import { createPayloadCodec } from "../payload/codec.js";
import type { PayloadCodec } from "../payload/codec.js";
import type { ReplicatedCommandHandlers, WriteConsistency } from "./types.js";

/**
 * A CRDT class of `@cairn/crdt` (`PNCounter`, `ORSet<string>`, ...): the
 * runtime hands out replica ids, so the SDK makes the instances.
 */
export interface CrdtClass<C extends AnyState> {
  new (replicaId: string): C;
  readonly typeName: TypeName;
}

/** Options of {@link replicatedEntity}. */
export interface ReplicatedEntityOptions<Svc extends DescService, C extends AnyState> {
  /**
   * Stable name of the entity type (the store key prefix when durable). Keep
   * it when renaming the service.
   */
  entityType: string;
  /** The CRDT type of the state, e.g. `PNCounter` or `ORSet<string>`. */
  crdt: CrdtClass<C>;
  /** One handler per method of the service. */
  commands: ReplicatedCommandHandlers<Svc, C>;
  /**
   * Keep the state in the runtime's store, so that a restart of the node
   * (or, in a cluster, of every node) keeps it. Default false: the state
   * lives in the runtime's memory only (and on the other replicas).
   */
  durable?: boolean;
  /** Write consistency of a change whose handler sets none. Default "local". */
  writeConsistency?: WriteConsistency;
  /** Timeout of a `majority`/`all` write whose handler sets none; default the command's deadline. */
  writeTimeoutMs?: number;
  /** Idle time before the runtime passivates an instance (absent: runtime default). */
  passivationTimeoutMs?: number;
  /** For an `LWWRegister` state: how write timestamps are chosen (default wall clock). */
  clock?: Clock;
  /** Schemas of protobuf messages used in effects and forwards of other files. */
  types?: readonly DescMessage[];
}

/** A type-erased handler, as the server calls it. */
export type ErasedReplicatedHandler = (command: unknown, crdt: unknown, ctx: never) => unknown;

/**
 * The runtime view of a replicated entity definition, free of type parameters.
 * @internal
 */
export interface ReplicatedEntityDefinition {
  readonly service: DescService;
  readonly entityType: string;
  readonly passivationTimeoutMs: number | undefined;
  readonly crdtType: TypeName;
  readonly durable: boolean;
  readonly writeConsistency: WriteConsistency;
  readonly writeTimeoutMs: number | undefined;
  /** An empty CRDT of the entity's type, owned by `replicaId`. */
  readonly create: (replicaId: string) => AnyState;
  readonly handlers: ReadonlyMap<string, HandlerEntry<ErasedReplicatedHandler>>;
  readonly types: readonly DescMessage[];
  readonly registry: Registry;
  readonly codec: PayloadCodec;
}

/**
 * A replicated entity component, made by {@link replicatedEntity}; pass it
 * to `serve()` or to the testkit.
 */
export interface ReplicatedEntity<
  Svc extends DescService = DescService,
  C extends AnyState = AnyState,
> {
  readonly kind: "replicated-entity";
  /** The gRPC service the entity implements. */
  readonly service: Svc;
  /** @internal */
  readonly definition: ReplicatedEntityDefinition;
  /** Carries the CRDT type for the testkit; never set. @internal */
  readonly $types?: { crdt: C };
}

/**
 * Defines a replicated entity serving `service`: its state is a CRDT of
 * `@cairn/crdt`, writable on every node that hosts the entity, and merged by
 * the runtime. Handlers read the CRDT's value and change it through its API
 * (`increment`, `add`, `set`, ...); the SDK sends the runtime only the delta
 * of each command, with the command's write consistency. Server-streaming
 * methods are subscriptions: see {@link ReplicatedStreamContext}.
 *
 * A failed command (a thrown `CommandError` or any other error) changes
 * nothing: its changes to the CRDT are rolled back, and no effect runs.
 *
 * @example
 * ```ts
 * import { PNCounter } from "@cairn/crdt";
 * const likes = replicatedEntity(Likes, {
 *   entityType: "likes",
 *   crdt: PNCounter,
 *   commands: {
 *     like(_cmd, counter, ctx) {
 *       counter.increment();
 *       ctx.writeConsistency("majority", { timeoutMs: 2_000 });
 *       return { likes: BigInt(counter.value) };
 *     },
 *     get: (_cmd, counter) => ({ likes: BigInt(counter.value) }),
 *   },
 * });
 * ```
 */
export function replicatedEntity<Svc extends DescService, C extends AnyState>(
  service: Svc,
  options: ReplicatedEntityOptions<Svc, C>,
): ReplicatedEntity<Svc, C> {
  const where = `replicated entity ${service.typeName}`;
  if (options.entityType.trim() === "")
    throw new Error(`${where}: 'entityType' is empty; give it a stable name`);
  checkPassivation(where, options.passivationTimeoutMs);
  checkHandlerNames(where, service, options.commands);
  checkMethodKinds(where, service);
  const Crdt = options.crdt as unknown as CrdtClass<AnyState> | undefined;
  if (typeof Crdt !== "function" || typeof Crdt.typeName !== "string") {
    throw new Error(
      `${where}: 'crdt' must be a CRDT class of @cairn/crdt (GCounter, PNCounter, GSet, ORSet, LWWRegister, Flag, ORMap, Vote)`,
    );
  }
  const timeout = options.writeTimeoutMs;
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0))
    throw new Error(`${where}: 'writeTimeoutMs' must be a positive integer, got ${timeout}`);
  const clock = options.clock;
  const create =
    clock !== undefined && Crdt.typeName === "LWWRegister"
      ? (id: string) =>
          new (Crdt as new (id: string, o: { clock: Clock }) => AnyState)(id, { clock })
      : (id: string) => new Crdt(id);
  const types = options.types ?? [];
  const registry = createRegistry(service.file, ...types);
  const definition: ReplicatedEntityDefinition = {
    service,
    entityType: options.entityType,
    passivationTimeoutMs: options.passivationTimeoutMs,
    crdtType: Crdt.typeName,
    durable: options.durable ?? false,
    writeConsistency: options.writeConsistency ?? "local",
    writeTimeoutMs: timeout,
    create,
    handlers: handlerMap<ErasedReplicatedHandler>(
      service,
      options.commands as Record<string, ErasedReplicatedHandler | undefined>,
    ),
    types,
    registry,
    codec: createPayloadCodec(registry),
  };
  return { kind: "replicated-entity", service, definition };
}

/** Replicated entities serve unary and server-streaming (subscription) methods. */
function checkMethodKinds(where: string, service: DescService): void {
  for (const method of service.methods) {
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      throw new Error(
        `${where}: method ${method.name} is ${method.methodKind}; replicated entities serve unary and server-streaming methods only`,
      );
    }
  }
}
