import type { Action } from "./action/action.js";
import type { EventSourcedEntity } from "./eventsourced/entity.js";
import type { ReplicatedEntity } from "./replicated/entity.js";
import type { ValueEntity } from "./value/entity.js";

/** Any component `serve()` can host, discriminated by `kind`. */
export type Component = EventSourcedEntity | ValueEntity | ReplicatedEntity | Action;
