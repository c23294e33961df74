/**
 * The handler side of every hop candidate: decode the frame, run each
 * command, queue the replies and send them as one frame per event-loop turn
 * (what the SDK does on the protocol stream).
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EventSourcedInFrameSchema, EventSourcedOutFrameSchema } from "@cairn/protocol";
import type { EventSourcedOut } from "@cairn/protocol";
import { TurnBatcher, handle } from "./frames.js";

/** Returns the function to call with each frame received; `send` gets each reply frame. */
export function frameSide(send: (frame: Uint8Array) => void): (frame: Uint8Array) => void {
  const out = new TurnBatcher<EventSourcedOut>((messages) =>
    send(toBinary(EventSourcedOutFrameSchema, create(EventSourcedOutFrameSchema, { messages }))),
  );
  return (frame) => {
    for (const m of fromBinary(EventSourcedInFrameSchema, frame).messages) out.push(handle(m));
  };
}
