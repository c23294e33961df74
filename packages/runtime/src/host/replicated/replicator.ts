/**
 * The replicator: how a replicated entity's writes reach the other nodes
 * that host a replica of it, and how theirs arrive here. Replicated entities
 * are not sharded: every node serving one holds a replica and accepts writes;
 * the replicator ships deltas and waits for as many acknowledgements as the
 * write consistency asks for.
 *
 * This file holds the interface and the single-node implementation. On one
 * node the local replica is every replica there is, so `majority` and `all`
 * are met as soon as the local replica has the write (it has, before
 * `replicate` is called). A cluster implementation (deltas over the internal
 * port, anti-entropy) plugs in behind the same interface.
 */
import type { ReplicatedDelta } from "@cairn/protocol";
import type { EntityRef } from "../../store/types.js";

/** A write consistency, as the runtime handles it. */
export type WriteLevel = "local" | "majority" | "all";

/** One local write to ship: a delta, or the deletion of the entity. */
export interface ReplicatedWrite {
  readonly ref: EntityRef;
  readonly change:
    { readonly kind: "delta"; readonly delta: ReplicatedDelta } | { readonly kind: "delete" };
  /** How many replicas must have it before `replicate` resolves. */
  readonly level: WriteLevel;
  /** How long to wait for them, milliseconds. */
  readonly timeoutMs: number;
}

/** What `replicate` learned: how many replicas have the write, of how many. */
export interface ReplicationResult {
  readonly acknowledged: number;
  readonly replicas: number;
}

/** A change made on another node, for the local replica. */
export interface PeerChange {
  readonly ref: EntityRef;
  /** The node that sent it. */
  readonly from: string;
  readonly change: ReplicatedWrite["change"];
}

/** Ships local writes to the other replicas and hands theirs to `onPeer`. */
export interface Replicator {
  /**
   * Ships `write` to the other replicas; resolves once `write.level` is met,
   * rejects with DEADLINE_EXCEEDED or UNAVAILABLE (naming how many replicas
   * answered) when it cannot be met within `write.timeoutMs`.
   */
  replicate(write: ReplicatedWrite): Promise<ReplicationResult>;
  /** Registers the receiver of changes from other nodes (one receiver). */
  onPeer(receiver: (change: PeerChange) => void): void;
  /** Stops shipping and receiving. */
  close(): void;
}

/** The replicator of a node that is alone: every level is met by the local replica. */
export class SingleNodeReplicator implements Replicator {
  replicate(_write: ReplicatedWrite): Promise<ReplicationResult> {
    return Promise.resolve({ acknowledged: 1, replicas: 1 });
  }

  onPeer(_receiver: (change: PeerChange) => void): void {
    // No peers: nothing ever arrives.
  }

  close(): void {}
}
