import { create } from "@bufbuild/protobuf";
import type { DescMethod, MessageInitShape } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { ForwardSchema, SideEffectSchema } from "@cairn/protocol";
import type { Forward, SideEffect } from "@cairn/protocol";
import { packMessage } from "../payload/codec.js";
import { deepFreeze } from "../payload/freeze.js";
import { metadataFromMap } from "../payload/metadata.js";
import type { MetadataMap, MetadataValue } from "../payload/metadata.js";
import type { EventSourcedDefinition } from "./entity.js";
import type { CallOptions, EffectOptions, EventSourcedCommandContext, Forwarded } from "./types.js";

/** A forward or effect as the handler asked for it, kept for the testkit. */
export interface RecordedCall<W extends Forward | SideEffect = Forward | SideEffect> {
  readonly method: DescMethod;
  readonly wire: W;
}

/** Why emit() failed; it fails the command even if the handler caught it. */
export type EmitFailure = { kind: "encode"; error: unknown } | { kind: "apply"; error: unknown };

/** The JSON type name of an event: its `type` field when that is a string. */
export function eventTypeName(event: unknown): string {
  const type =
    typeof event === "object" && event !== null ? (event as { type?: unknown }).type : undefined;
  return typeof type === "string" && type !== "" ? type : "Event";
}

/**
 * The context of one command. It accumulates the command's effects on a
 * private copy of the state; the instance commits them only if the whole
 * command succeeds.
 */
export class CommandContextImpl implements EventSourcedCommandContext<unknown, unknown> {
  state: unknown;
  readonly events: Any[] = [];
  readonly rawEvents: unknown[] = [];
  readonly effects: RecordedCall<SideEffect>[] = [];
  forwarded: RecordedCall<Forward> | undefined;
  readonly replyMetadata = new Map<string, MetadataValue>();
  emitFailure: EmitFailure | undefined;
  /** Set once the handler settled; later calls are bugs (a stray async emit). */
  private sealed = false;

  constructor(
    private readonly def: EventSourcedDefinition,
    readonly entityId: string,
    readonly method: DescMethod,
    readonly metadata: MetadataMap,
    state: unknown,
  ) {
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

  forward<M extends DescMethod>(
    method: M,
    request: MessageInitShape<M["input"]>,
    options?: CallOptions,
  ): Forwarded {
    this.checkOpen("forward");
    if (this.forwarded !== undefined)
      throw new Error("forward() was already called for this command");
    const wire = create(ForwardSchema, {
      serviceName: method.parent.typeName,
      method: method.name,
      payload: packMessage(method.input, request),
      metadata: metadataFromMap(options?.metadata),
    });
    this.forwarded = { method, wire };
    return FORWARDED;
  }

  effect<M extends DescMethod>(
    method: M,
    request: MessageInitShape<M["input"]>,
    options?: EffectOptions,
  ): void {
    this.checkOpen("effect");
    const wire = create(SideEffectSchema, {
      serviceName: method.parent.typeName,
      method: method.name,
      payload: packMessage(method.input, request),
      synchronous: options?.synchronous ?? false,
      metadata: metadataFromMap(options?.metadata),
    });
    this.effects.push({ method, wire });
  }

  setReplyMetadata(key: string, value: MetadataValue): void {
    this.checkOpen("setReplyMetadata");
    this.replyMetadata.set(key.toLowerCase(), value);
  }

  seal(): void {
    this.sealed = true;
  }

  private checkOpen(what: string): void {
    if (this.sealed) {
      throw new Error(
        `${what}() called after the handler of ${this.method.parent.name}.${this.method.name} returned`,
      );
    }
  }
}

// The token a forwarding handler returns; only its type matters, since the
// instance reads the forward from the context, not from the return value.
const FORWARDED = Object.freeze({}) as Forwarded;
