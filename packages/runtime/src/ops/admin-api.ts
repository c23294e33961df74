/**
 * The admin API contract: what the admin server asks the runtime. The ops
 * folder defines it so the HTTP layer never reaches into the runtime's
 * internals; the runtime implements it.
 */

/** A method of a served component, as the admin API lists it. */
export interface AdminMethodInfo {
  /** Method name as in the .proto, e.g. "AddItem". */
  readonly name: string;
  /** Full name of the request message, e.g. "shop.v1.AddItemRequest". */
  readonly inputType: string;
  /** Full name of the response message. */
  readonly outputType: string;
  /** The HTTP route from `google.api.http`, e.g. "POST /carts/{cart_id}/items". */
  readonly http?: string;
  /** The route's `body`: "*" (the whole request), a field name, or "" (no body). */
  readonly httpBody?: string;
  /**
   * A sample request in proto3 JSON with every field set, e.g.
   * `{"cartId": "cart-1", "quantity": 1}`, for copy-paste examples.
   */
  readonly example: Readonly<Record<string, unknown>>;
}

/** A served component (one gRPC service). */
export interface AdminServiceInfo {
  /** Full gRPC service name, e.g. "shop.v1.ShoppingCart". */
  readonly name: string;
  /** Component kind, e.g. "event_sourced_entity", "value_entity", "action". */
  readonly kind: string;
  /** Persistence name of the entity type (the service name when not set). */
  readonly entityType: string;
  readonly methods: readonly AdminMethodInfo[];
}

/** A journal event of an entity, payload decoded to JSON. */
export interface InspectedEvent {
  readonly sequence: number;
  /** Global journal offset. */
  readonly offset: number;
  /** ISO-8601 time of the append. */
  readonly timestamp: string;
  /** Payload type name, e.g. "shop.v1.ItemAdded". */
  readonly type: string;
  readonly payload: unknown;
}

/** What every inspection says, whatever the entity's kind. */
interface InspectionBase {
  readonly service: string;
  readonly entityId: string;
  readonly entityType: string;
  /** True when the entity is in memory on this node now. */
  readonly active: boolean;
}

/** An event-sourced entity: its latest snapshot and journal. */
export interface EventSourcedInspection extends InspectionBase {
  readonly kind: "event_sourced_entity";
  /** Sequence number of the latest event (0 when it has none). */
  readonly sequence: number;
  readonly snapshot?: { readonly sequence: number; readonly state: unknown };
  readonly events: readonly InspectedEvent[];
}

/** A value entity: its current state and version. */
export interface ValueInspection extends InspectionBase {
  readonly kind: "value_entity";
  /** Incremented on each write; 0 when there is no state (never written, or deleted). */
  readonly version: number;
  /** The state decoded to JSON; absent when there is none. */
  readonly state?: unknown;
}

/** What the runtime knows about one entity, by its kind. */
export type EntityInspection = EventSourcedInspection | ValueInspection;

/** Options of {@link AdminApi.inspectEntity}. */
export interface InspectOptions {
  /** Most recent events to return at most. */
  readonly limit?: number;
}

/**
 * The runtime's side of the admin API. Implementations throw a CairnError
 * (NOT_FOUND for an unknown service or entity, INVALID_ARGUMENT for bad
 * input); the admin server maps its code to an HTTP status.
 */
export interface AdminApi {
  /** The components the user function serves (empty before discovery). */
  services(): readonly AdminServiceInfo[] | Promise<readonly AdminServiceInfo[]>;
  /** Snapshot and events of an event-sourced entity, or a value entity's state. */
  inspectEntity(
    service: string,
    entityId: string,
    options?: InspectOptions,
  ): Promise<EntityInspection>;
}

/** A readiness answer: `ready` plus details that explain it, e.g. `{ store: "open" }`. */
export interface ReadinessReport {
  readonly ready: boolean;
  readonly [detail: string]: unknown;
}
