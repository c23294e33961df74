/**
 * Durable work a reply may carry besides its state change: asynchronous
 * effects (recorded in the outbox) and timer changes. They are written in the
 * same transaction as the state change, so a crash between the commit and
 * their execution loses nothing.
 */
import { randomUUID } from "node:crypto";
import type { SideEffect, TimerAction } from "@cairn/protocol";
import type { DurableWork, StoredCall, TimerChange } from "../store/durable-work.js";
import type { EntityRef } from "../store/types.js";
import type { ComponentReply } from "./types.js";
import { fromAny, fromWireMetadata } from "./payloads.js";

export interface PersistExtras {
  /** True when the reply carries work that must be stored even without a state change. */
  hasDurableWork(reply: ComponentReply): boolean;
  /** The durable work of a batch of replies, to store with its state change. */
  forBatch(ref: EntityRef, batch: readonly ComponentReply[]): DurableWork;
}

/**
 * Metadata key of a stored effect naming the command that recorded it (its
 * instance and a unique id), set when a command records several: the outbox
 * delivers one command's effects one after the other, in recorded order.
 * Removed before the call is made.
 */
export const EFFECT_ORIGIN_KEY = "cairn-effect-origin";

/** The scope of an entity's timer names. */
export function timerOwner(ref: EntityRef): string {
  return ref.entityId === "" ? ref.entityType : `${ref.entityType}/${ref.entityId}`;
}

/** Stores asynchronous effects in the outbox and timers with the state change. */
export const durableExtras: PersistExtras = {
  hasDurableWork: (reply) =>
    reply.timers.length > 0 || reply.sideEffects.some((e) => !e.synchronous),
  forBatch(ref, batch) {
    const owner = timerOwner(ref);
    const outbox: StoredCall[] = [];
    const timers: TimerChange[] = [];
    for (const reply of batch) {
      const effects = reply.sideEffects.filter((e) => !e.synchronous);
      // Only a command with several effects needs its order kept.
      const origin = effects.length > 1 ? `${owner}#${randomUUID()}` : undefined;
      for (const e of effects) {
        const call = effectCall(e);
        outbox.push(
          origin === undefined
            ? call
            : { ...call, metadata: { ...call.metadata, [EFFECT_ORIGIN_KEY]: origin } },
        );
      }
      for (const t of reply.timers) {
        const change = timerChange(owner, t);
        if (change !== undefined) timers.push(change);
      }
    }
    return {
      ...(outbox.length > 0 ? { outbox } : {}),
      ...(timers.length > 0 ? { timers } : {}),
    };
  },
};

/** The call an effect makes, as stored. */
export function effectCall(e: SideEffect): StoredCall {
  return {
    service: e.serviceName,
    method: e.method,
    payload:
      e.payload === undefined ? { typeUrl: "", value: new Uint8Array() } : fromAny(e.payload),
    metadata: fromWireMetadata(e.metadata),
  };
}

/** A timer action as a store change, scoped to `owner`. */
export function timerChange(owner: string, t: TimerAction): TimerChange | undefined {
  if (t.action.case === "cancel") return { kind: "cancel", owner, name: t.action.value.name };
  if (t.action.case !== "schedule") return undefined;
  const s = t.action.value;
  return {
    kind: "schedule",
    owner,
    name: s.name,
    dueAt: Number(s.dueEpochMs),
    call: {
      service: s.serviceName,
      method: s.method,
      payload:
        s.payload === undefined ? { typeUrl: "", value: new Uint8Array() } : fromAny(s.payload),
      metadata: fromWireMetadata(s.metadata),
    },
  };
}
