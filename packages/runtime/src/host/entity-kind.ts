/**
 * What is kind-specific about an entity (event-sourced, value): how it loads,
 * which messages its channel carries, how it persists. One object per kind,
 * shared by its entities; the flow in entity.ts is the same for all.
 */
import type { CairnError, ChannelFailure } from "@cairn/protocol";
import type { ComponentReply, Invocation, ServiceEntry } from "../core/types.js";
import type { IdempotencyWrite } from "../store/idempotency.js";
import type { EntityRef } from "../store/types.js";
import type { EntityChannels } from "./channel-mux.js";

/** A reply of any entity kind: the common part plus the kind's state change. */
export interface EntityReply extends ComponentReply {
  readonly commandId: bigint;
}

/** The kind-specific part of an entity. */
export interface EntityKind<
  In,
  Out extends { readonly channelId: bigint },
  R extends EntityReply,
  Loaded,
> {
  /** The channels of this kind (a multiplexed stream, replaced on reconnect). */
  mux(): EntityChannels<In, Out>;
  /** Reads what activation needs, and the position (sequence or version) it is at. */
  load(ref: EntityRef, service: ServiceEntry): Promise<{ loaded: Loaded; position: number }>;
  initMessages(channel: bigint, serviceName: string, entityId: string, loaded: Loaded): In[];
  commandMessage(channel: bigint, id: bigint, invocation: Invocation, entityId: string): In;
  closeMessage(channel: bigint): In;
  /** A reply or a channel failure; undefined for messages the entity ignores. */
  decode(message: Out): { reply: R } | { failure: ChannelFailure } | undefined;
  /**
   * Kind-specific checks of a successful reply before anything of it is
   * kept (a replicated entity's delta type and replica id); an error fails
   * the command and restarts the entity.
   */
  checkReply?(ref: EntityRef, reply: R): CairnError | undefined;
  /** The entity was passivated (its channel closed while idle). */
  passivated?(ref: EntityRef): void;
  /** True while the entity has open streamed commands: it is not idle then. */
  holdsStreams?(ref: EntityRef): boolean;
  /** The stream to the function broke: channel `channel` is gone. */
  channelLost?(channel: bigint): void;
  /** True when the reply changes state (a failure must not). */
  changesState(reply: R): boolean;
  /**
   * True when a reply must be the last of its write group (an event-sourced
   * snapshot is stored at the sequence of the group's last event, so a reply
   * carrying one closes the group).
   */
  endsGroup?(reply: R): boolean;
  /**
   * Persists the state changes of consecutive replies as one write, with the
   * idempotency records of their keyed commands; resolves to the new position.
   */
  persist(
    ref: EntityRef,
    position: number,
    batch: readonly R[],
    idempotency: readonly IdempotencyWrite[],
  ): Promise<number>;
}
