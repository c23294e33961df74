import type { Action } from "./action/action.js";
import type { EventSourcedEntity } from "./eventsourced/entity.js";
import type { ValueEntity } from "./value/entity.js";

/**
 * Any component `serve()` can host, discriminated by `kind`. Replicated
 * entities join this union when they are implemented.
 */
export type Component = EventSourcedEntity | ValueEntity | Action;
