import type { EventSourcedEntity } from "./eventsourced/entity.js";

/**
 * Any component `serve()` can host. Value entities, replicated entities and
 * actions join this union as they are implemented, each with its own `kind`.
 */
export type Component = EventSourcedEntity;
