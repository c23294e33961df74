import type { DescMethod } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { ContextBase } from "../context/base.js";
import type { Caller } from "../context/caller.js";
import { deepFreeze } from "../payload/freeze.js";
import type { MetadataMap } from "../payload/metadata.js";
import type { EventSourcedDefinition } from "./entity.js";
import type { EventSourcedCommandContext } from "./types.js";

export type { RecordedCall } from "../context/base.js";

/** Why emit() failed; it fails the command even if the handler caught it. */
export type EmitFailure = { kind: "encode"; error: unknown } | { kind: "apply"; error: unknown };

/** The JSON type name of an event: its `type` field when that is a string. */
export function eventTypeName(event: unknown): string {
  const type =
    typeof event === "object" && event !== null ? (event as { type?: unknown }).type : undefined;
  return typeof type === "string" && type !== "" ? type : "Event";
}

/**
 * The context of one event-sourced command. It accumulates the command's
 * events on a private copy of the state; the instance commits them only if
 * the whole command succeeds.
 */
export class CommandContextImpl
  extends ContextBase
  implements EventSourcedCommandContext<unknown, unknown>
{
  state: unknown;
  readonly events: Any[] = [];
  readonly rawEvents: unknown[] = [];
  emitFailure: EmitFailure | undefined;

  constructor(
    private readonly def: EventSourcedDefinition,
    readonly entityId: string,
    method: DescMethod,
    metadata: MetadataMap,
    state: unknown,
    caller: Caller,
  ) {
    super(method, metadata, caller);
    this.state = state;
  }

  emit(event: unknown): unknown {
    this.checkOpen("emit");
    deepFreeze(event);
    let payload: Any;
    try {
      payload = this.def.codec.encode(event, eventTypeName(event));
    } catch (error) {
      this.emitFailure ??= { kind: "encode", error };
      throw error;
    }
    let next: unknown;
    try {
      next = this.def.applyEvent(this.state, event);
    } catch (error) {
      this.emitFailure = { kind: "apply", error };
      throw error;
    }
    this.state = deepFreeze(next);
    this.events.push(payload);
    this.rawEvents.push(event);
    return this.state;
  }
}
