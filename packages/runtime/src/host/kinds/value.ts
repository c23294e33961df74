/** The value-entity kind: activation from the stored state, persistence by versioned save. */
import { create } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ValueEntityInFrameSchema, ValueEntityInSchema } from "@cairn/protocol";
import type { ValueEntityIn, ValueEntityOut, ValueEntityReply } from "@cairn/protocol";
import type { Invocation } from "../../core/types.js";
import type { EntityRef, Store, ValueState } from "../../store/types.js";
import { ChannelMux } from "../channel-mux.js";
import type { EntityChannels } from "../channel-mux.js";
import type { EntityKind } from "../entity-kind.js";
import { fromAny, toAny } from "../../core/payloads.js";
import { closeBody, commandBody, decodeOut } from "./channel-messages.js";
import type { PersistExtras } from "../../core/reply-work.js";
import { hasWork } from "../../store/work-plan.js";
import { records } from "./channel-messages.js";

/** The value entity kind's type. */
export type ValueKind = EntityKind<
  ValueEntityIn,
  ValueEntityOut,
  ValueEntityReply,
  ValueState | undefined
>;

/** Builds the mux of the value-entity stream. */
export function valueMux(
  open: ConstructorParameters<typeof ChannelMux<ValueEntityIn, ValueEntityOut>>[0],
  onLost: (err: Error) => void,
): ChannelMux<ValueEntityIn, ValueEntityOut> {
  return new ChannelMux(open, (messages) => create(ValueEntityInFrameSchema, { messages }), onLost);
}

const msg = (channelId: bigint, body: MessageInitShape<typeof ValueEntityInSchema>["body"]) =>
  create(ValueEntityInSchema, { channelId, body });

export function valueKind(
  store: Store,
  mux: () => EntityChannels<ValueEntityIn, ValueEntityOut>,
  extras: PersistExtras,
): ValueKind {
  return {
    mux,
    async load(ref: EntityRef) {
      const value = await store.loadValue(ref);
      return { loaded: value, position: value?.version ?? 0 };
    },
    initMessages(channel, serviceName, entityId, value) {
      return [
        msg(channel, {
          case: "init",
          value: {
            serviceName,
            entityId,
            ...(value === undefined ? {} : { state: toAny(value.state) }),
          },
        }),
      ];
    },
    commandMessage: (channel, id, inv: Invocation, entityId) =>
      msg(channel, commandBody(id, inv, entityId)),
    closeMessage: (channel) => msg(channel, closeBody),
    decode: (out) => decodeOut<ValueEntityReply>(out),
    changesState: (reply) =>
      reply.stateAction?.action.case !== undefined || extras.hasDurableWork(reply),
    async persist(ref, position, batch, idempotency) {
      // Only the last state action of the batch matters: one write per group.
      let action: ValueEntityReply["stateAction"];
      for (const r of batch) if (r.stateAction?.action.case !== undefined) action = r.stateAction;
      // Without a state action only durable work (effects, timers) remains:
      // it is stored on its own, the state and its version stay.
      if (action === undefined) {
        const work = { ...extras.forBatch(ref, batch), ...records(idempotency) };
        if (hasWork(work)) await store.writeWork(work);
        return position;
      }
      const state = action.action.case === "update" ? fromAny(action.action.value) : undefined;
      return store.saveValue({
        ...ref,
        expectedVersion: position,
        state,
        ...extras.forBatch(ref, batch),
        ...records(idempotency),
      });
    },
  };
}
