/**
 * The replicated-entity kind: activation from the node's replica (memory,
 * or the store for durable types), and "persistence" by merging the
 * function's deltas into the replica, storing it when durable, and shipping
 * the deltas through the replicator with the write consistency the reply
 * asks for. The replica, not the function, is the state: the function's
 * instance is re-initialised from it whenever its channel opens.
 */
import { create } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  CairnError,
  Code,
  ReplicatedEntityInFrameSchema,
  ReplicatedEntityInSchema,
  WriteConsistency,
} from "@cairn/protocol";
import type {
  ReplicatedEntityIn,
  ReplicatedEntityOut,
  ReplicatedEntityReply,
  ReplicatedStateAction,
} from "@cairn/protocol";
import type { PersistExtras } from "../../core/reply-work.js";
import type { Invocation, ServiceEntry } from "../../core/types.js";
import type { EntityRef, Store } from "../../store/types.js";
import { ChannelMux } from "../channel-mux.js";
import type { EntityChannels } from "../channel-mux.js";
import type { EntityKind } from "../entity-kind.js";
import type { Replica, Replicas } from "../replicated/replicas.js";
import { Subscriptions } from "../replicated/subscriptions.js";
import type {
  PeerChange,
  ReplicatedWrite,
  Replicator,
  WriteLevel,
} from "../replicated/replicator.js";
import { closeBody, commandBody, decodeOut } from "./channel-messages.js";

/** The replicated entity kind's type, plus the delivery of other nodes' changes. */
export interface ReplicatedKind extends EntityKind<
  ReplicatedEntityIn,
  ReplicatedEntityOut,
  ReplicatedEntityReply,
  Replica
> {
  /**
   * A change from another node: checked, merged into this node's replica (if
   * it has one in memory) and passed to the entity's open channel. Returns
   * the error when the change is refused (nothing is merged then).
   */
  deliverPeer(change: PeerChange): CairnError | undefined;
}

/** Builds the mux of the replicated-entity stream. */
export function replicatedMux(
  open: ConstructorParameters<typeof ChannelMux<ReplicatedEntityIn, ReplicatedEntityOut>>[0],
  onLost: (err: Error) => void,
): ChannelMux<ReplicatedEntityIn, ReplicatedEntityOut> {
  return new ChannelMux(
    open,
    (messages) => create(ReplicatedEntityInFrameSchema, { messages }),
    onLost,
  );
}

const msg = (channelId: bigint, body: MessageInitShape<typeof ReplicatedEntityInSchema>["body"]) =>
  create(ReplicatedEntityInSchema, { channelId, body });

const LEVELS: Record<number, WriteLevel> = {
  [WriteConsistency.LOCAL_UNSPECIFIED]: "local",
  [WriteConsistency.MAJORITY]: "majority",
  [WriteConsistency.ALL]: "all",
};

/** What the replicated kind needs. */
export interface ReplicatedKindDeps {
  readonly store: Store;
  readonly replicas: Replicas;
  readonly replicator: Replicator;
  readonly mux: () => EntityChannels<ReplicatedEntityIn, ReplicatedEntityOut>;
  readonly extras: PersistExtras;
  /** The wait for a write consistency whose reply names no timeout. */
  readonly defaultWriteTimeoutMs: number;
  /** Logs what cannot be answered to a client (a bad delta from a cancellation handler). */
  readonly warn: (message: string, err?: unknown) => void;
}

export function replicatedKind(deps: ReplicatedKindDeps): ReplicatedKind {
  const { store, replicas, replicator, extras } = deps;
  /** The open channel of each entity with one, for other nodes' changes. */
  const open = new Map<string, bigint>();
  const byChannel = new Map<bigint, string>();
  const refKey = (ref: EntityRef) => `${ref.entityType}\u0000${ref.entityId}`;
  const subscriptions = new Subscriptions((channel, commandId) =>
    deps.mux().send(msg(channel, { case: "streamCancelled", value: { commandId } })),
  );
  /** A change a streamed message carries (a cancellation handler's): merged and shipped like a write. */
  const streamedChange = (channel: bigint, action: ReplicatedStateAction) => {
    const k = byChannel.get(channel);
    const replica = k === undefined ? undefined : replicas.peekKey(k);
    if (replica === undefined || action.action.case === undefined) return;
    if (action.action.case === "update") {
      const refused = replicas.check(replica, action.action.value);
      if (refused !== undefined) return deps.warn(refused.message, refused);
      replicas.merge(replica, action.action.value);
    } else {
      replicas.clear(replica);
    }
    const write = toWrite(replica.ref, action, deps.defaultWriteTimeoutMs);
    const stored = replica.type.durable
      ? replicas.save(replica, action.action.case === "delete", {})
      : Promise.resolve(0);
    stored
      .then(() => replicator.replicate(write))
      .catch((err: unknown) =>
        deps.warn(
          `the change of a cancellation handler on ${replica.ref.entityType}/${replica.ref.entityId} was merged but not stored or shipped`,
          err,
        ),
      );
  };
  return {
    mux: deps.mux,
    async load(ref: EntityRef, service: ServiceEntry) {
      const type = service.replicated;
      if (type === undefined) {
        throw new CairnError(
          Code.FailedPrecondition,
          `${service.desc.typeName} is a replicated entity without a CRDT type; upgrade the SDK to protocol 1.1`,
        );
      }
      const replica = await replicas.load(ref, type);
      return { loaded: replica, position: replica.version };
    },
    initMessages(channel, serviceName, entityId, replica) {
      open.set(refKey(replica.ref), channel);
      byChannel.set(channel, refKey(replica.ref));
      const state = replica.written ? replica.crdt.encodeState() : undefined;
      return [
        msg(channel, {
          case: "init",
          value: {
            serviceName,
            entityId,
            replicaId: replica.replicaId,
            ...(state === undefined
              ? {}
              : { delta: { type: replica.type.crdtType, encoded: state } }),
          },
        }),
      ];
    },
    commandMessage(channel, id, inv: Invocation, entityId) {
      const k = byChannel.get(channel);
      const ref = k === undefined ? undefined : replicas.peekKey(k)?.ref;
      if (inv.stream !== undefined && ref !== undefined) {
        const label = `${inv.service.desc.typeName}/${inv.method.name} of ${entityId}`;
        subscriptions.register(ref, channel, id, inv.stream, inv.signal, label);
      }
      return msg(channel, commandBody(id, inv, entityId));
    },
    closeMessage(channel) {
      subscriptions.channelGone(channel, "the entity was restarted or passivated");
      const k = byChannel.get(channel);
      byChannel.delete(channel);
      if (k !== undefined && open.get(k) === channel) open.delete(k);
      return msg(channel, closeBody);
    },
    deliverPeer(change) {
      const replica = replicas.peek(change.ref);
      // No replica in memory: the change reaches this node again by
      // anti-entropy when it next hosts the entity.
      if (replica === undefined) return undefined;
      const channel = open.get(refKey(change.ref));
      if (change.change.kind === "delete") {
        replicas.clear(replica);
        if (channel !== undefined) deps.mux().send(msg(channel, { case: "delete", value: {} }));
        return undefined;
      }
      const delta = change.change.delta;
      // Another node may never write under this node's replica id.
      const refused = replicas.check(replica, delta, change.from);
      if (refused !== undefined) return refused;
      replicas.merge(replica, delta);
      if (channel !== undefined) deps.mux().send(msg(channel, { case: "delta", value: delta }));
      return undefined;
    },
    decode(out) {
      const body = out.body;
      if (body.case === "streamed") {
        const change = body.value.stateAction;
        if (change !== undefined) streamedChange(out.channelId, change);
        subscriptions.streamed(out.channelId, body.value);
        return undefined;
      }
      if (body.case === "reply") subscriptions.replied(out.channelId, body.value);
      return decodeOut<ReplicatedEntityReply>(out);
    },
    holdsStreams: (ref) => subscriptions.holds(ref),
    channelLost(channel) {
      subscriptions.channelGone(channel, "the connection to the user function broke");
      const k = byChannel.get(channel);
      byChannel.delete(channel);
      if (k !== undefined && open.get(k) === channel) open.delete(k);
    },
    checkReply(ref, reply) {
      const action = reply.stateAction;
      if (action?.action.case === undefined) return undefined;
      const level = LEVELS[action.writeConsistency];
      if (level === undefined) {
        return new CairnError(
          Code.InvalidArgument,
          `write consistency ${action.writeConsistency} of a reply for ${ref.entityType}/${ref.entityId} is not local (0), majority (1) or all (2); nothing was merged`,
        );
      }
      if (action.action.case === "delete") return undefined;
      const replica = replicas.peek(ref);
      if (replica === undefined) {
        return new CairnError(Code.Internal, `no replica of ${ref.entityType}/${ref.entityId}`);
      }
      return replicas.check(replica, action.action.value);
    },
    changesState: (reply) =>
      reply.stateAction?.action.case !== undefined || extras.hasDurableWork(reply),
    async persist(ref, position, batch) {
      const replica = replicas.peek(ref);
      if (replica === undefined) throw new Error(`no replica of ${ref.entityType}/${ref.entityId}`);
      const writes: ReplicatedWrite[] = [];
      let deleted = false;
      for (const r of batch) {
        const action = r.stateAction;
        const change = action?.action;
        if (action === undefined || change?.case === undefined) continue;
        if (change.case === "update") {
          replicas.merge(replica, change.value);
          deleted = false;
        } else {
          replicas.clear(replica);
          deleted = true;
        }
        writes.push(toWrite(ref, action, deps.defaultWriteTimeoutMs));
      }
      const work = extras.forBatch(ref, batch);
      try {
        if (replica.type.durable && writes.length > 0) {
          await replicas.save(replica, deleted, work);
        } else if ((work.outbox?.length ?? 0) + (work.timers?.length ?? 0) > 0) {
          await store.writeWork(work);
        }
      } catch (err) {
        // The replica holds what the store does not: reload it from the store.
        replicas.evict(ref);
        throw err;
      }
      await Promise.all(writes.map((w) => replicator.replicate(w)));
      return replica.type.durable ? replica.version : position + writes.length;
    },
    passivated: (ref) => replicas.evict(ref),
  };
}

/** The replicator's view of a reply's state action (its level was checked). */
function toWrite(
  ref: EntityRef,
  action: ReplicatedStateAction,
  defaultTimeoutMs: number,
): ReplicatedWrite {
  const change = action.action;
  return {
    ref,
    change: change.case === "update" ? { kind: "delta", delta: change.value } : { kind: "delete" },
    level: LEVELS[action.writeConsistency] ?? "local",
    timeoutMs: action.writeTimeoutMs > 0 ? action.writeTimeoutMs : defaultTimeoutMs,
  };
}
