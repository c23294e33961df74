/**
 * Durable work a reply may carry besides its state change: asynchronous
 * effects (recorded in the outbox) and timer changes. They are written in the
 * same transaction as the state change, so a crash between the commit and
 * their execution loses nothing.
 */
import type { EntityRef } from "../../store/types.js";
import type { ComponentReply } from "../entity-env.js";

export interface PersistExtras {
  /** True when the reply carries work that must be stored even without a state change. */
  hasDurableWork(reply: ComponentReply): boolean;
  /** Fields to merge into the store write of a batch of replies. */
  forBatch(ref: EntityRef, batch: readonly ComponentReply[]): Record<string, unknown>;
}

/** No durable extras: effects run from memory after the commit. */
export const noExtras: PersistExtras = {
  hasDurableWork: () => false,
  forBatch: () => ({}),
};
