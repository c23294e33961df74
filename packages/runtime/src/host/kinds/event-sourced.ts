/** The event-sourced kind: activation from snapshot + events, persistence by append. */
import { create } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { EventSourcedInFrameSchema, EventSourcedInSchema } from "@cairn/protocol";
import type { EventSourcedIn, EventSourcedOut, EventSourcedReply } from "@cairn/protocol";
import type { Invocation } from "../../core/types.js";
import type { EntityRef, JournalEvent, Snapshot, Store, StoredPayload } from "../../store/types.js";
import { ChannelMux } from "../channel-mux.js";
import type { EntityChannels } from "../channel-mux.js";
import type { EntityKind } from "../entity-kind.js";
import { fromAny, toAny } from "../../core/payloads.js";
import { closeBody, commandBody, decodeOut, records } from "./channel-messages.js";
import type { PersistExtras } from "../../core/reply-work.js";

type Loaded = { snapshot: Snapshot | undefined; events: JournalEvent[] };
/** The event-sourced entity kind's type. */
export type EventSourcedKind = EntityKind<
  EventSourcedIn,
  EventSourcedOut,
  EventSourcedReply,
  Loaded
>;

/** Builds the mux of the event-sourced stream. */
export function eventSourcedMux(
  open: ConstructorParameters<typeof ChannelMux<EventSourcedIn, EventSourcedOut>>[0],
  onLost: (err: Error) => void,
): ChannelMux<EventSourcedIn, EventSourcedOut> {
  return new ChannelMux(
    open,
    (messages) => create(EventSourcedInFrameSchema, { messages }),
    onLost,
  );
}

const msg = (channelId: bigint, body: MessageInitShape<typeof EventSourcedInSchema>["body"]) =>
  create(EventSourcedInSchema, { channelId, body });

export function eventSourcedKind(
  store: Store,
  mux: () => EntityChannels<EventSourcedIn, EventSourcedOut>,
  extras: PersistExtras,
): EventSourcedKind {
  return {
    mux,
    async load(ref: EntityRef) {
      const snapshot = await store.loadSnapshot(ref);
      const events = await store.loadEvents(ref, snapshot?.sequence ?? 0);
      const position =
        events.length > 0 ? events[events.length - 1]!.sequence : (snapshot?.sequence ?? 0);
      return { loaded: { snapshot, events }, position };
    },
    initMessages(channel, serviceName, entityId, { snapshot, events }) {
      const init = msg(channel, {
        case: "init",
        value: {
          serviceName,
          entityId,
          ...(snapshot === undefined
            ? {}
            : { snapshot: { sequence: BigInt(snapshot.sequence), state: toAny(snapshot.state) } }),
        },
      });
      return [
        init,
        ...events.map((e) =>
          msg(channel, {
            case: "event",
            value: { sequence: BigInt(e.sequence), payload: toAny(e.payload) },
          }),
        ),
      ];
    },
    commandMessage: (channel, id, inv: Invocation, entityId) =>
      msg(channel, commandBody(id, inv, entityId)),
    closeMessage: (channel) => msg(channel, closeBody),
    decode: (out) => decodeOut<EventSourcedReply>(out),
    endsGroup: (reply) => reply.snapshot !== undefined,
    changesState: (reply) => reply.events.length > 0 || extras.hasDurableWork(reply),
    async persist(ref, position, batch, idempotency) {
      const events: StoredPayload[] = [];
      for (const r of batch) for (const e of r.events) events.push(fromAny(e));
      const last = batch[batch.length - 1]!;
      // A snapshot is only valid at the sequence of its own command's last event.
      const snapshot =
        last.snapshot !== undefined && last.events.length > 0 ? fromAny(last.snapshot) : undefined;
      const result = await store.append({
        ...ref,
        expectedSequence: position,
        events,
        ...(snapshot === undefined ? {} : { snapshot }),
        ...extras.forBatch(ref, batch),
        ...records(idempotency),
      });
      return result.sequence;
    },
  };
}
