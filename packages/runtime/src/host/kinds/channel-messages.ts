/** The parts of the channel protocol that every entity kind shares. */
import type { IdempotencyWrite } from "../../store/idempotency.js";
import type { ChannelFailure } from "@cairn/protocol";
import { CALLER_KEY, newCallerId } from "../../core/fan-out.js";
import { CALL_CHAIN_KEY } from "../../core/types.js";
import type { Invocation } from "../../core/types.js";
import { messageAny, toWireMetadata } from "../../core/payloads.js";

/**
 * The metadata of a command as sent to the function, with what its
 * handler's own calls must carry: the call chain (the incoming one plus
 * `self`, for the cycle check) and a fresh caller id (for the fan-out bound).
 */
export function callContext(
  metadata: Invocation["metadata"],
  self: string,
): Invocation["metadata"] {
  const chain = metadata[CALL_CHAIN_KEY];
  return {
    ...metadata,
    [CALL_CHAIN_KEY]: chain === undefined || chain === "" ? self : `${chain} > ${self}`,
    [CALLER_KEY]: newCallerId(),
  };
}

/** The `command` body of a kind's In message for an invocation to entity `entityId`. */
export function commandBody(id: bigint, inv: Invocation, entityId: string) {
  return {
    case: "command" as const,
    value: {
      id,
      name: inv.method.name,
      payload: messageAny(inv.method.input.typeName, inv.input),
      metadata: toWireMetadata(
        callContext(inv.metadata, `${inv.service.desc.typeName}/${entityId}`),
      ),
    },
  };
}

/** The `close` body of a kind's In message. */
export const closeBody = { case: "close" as const, value: {} };

/** A kind's Out message body: a reply, a channel failure, or something else to ignore. */
type OutBody<R> =
  | { case: "reply"; value: R }
  | { case: "failure"; value: ChannelFailure }
  | { case: string | undefined; value?: unknown };

/** Splits a kind's Out message into a reply or a channel failure. */
export function decodeOut<R>(out: {
  body: OutBody<R>;
}): { reply: R } | { failure: ChannelFailure } | undefined {
  const body = out.body;
  if (body.case === "reply") return { reply: body.value as R };
  if (body.case === "failure") return { failure: body.value as ChannelFailure };
  return undefined;
}

/** The `idempotency` field of a write: absent when there are no records, so unkeyed writes stay as they were. */
export function records(idempotency: readonly IdempotencyWrite[]): {
  idempotency?: readonly IdempotencyWrite[];
} {
  return idempotency.length === 0 ? {} : { idempotency };
}
