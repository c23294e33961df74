/**
 * What travels between the entity engine and the user's handler in the hop
 * micro-benchmark (issue 14, item 2): real protocol frames
 * (`EventSourcedInFrame` / `EventSourcedOutFrame`), one command per entity
 * channel, and a handler that does what the bench's Tally does: decode the
 * request, fold one JSON event, answer the new value. Every candidate
 * transport runs this same code on both ends; only the carrying differs.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { Any } from "@bufbuild/protobuf/wkt";
import { EventSourcedInFrameSchema, EventSourcedOutFrameSchema } from "@cairn/protocol";
import type { EventSourcedIn, EventSourcedOut } from "@cairn/protocol";

/** The bidi method both ends of the gRPC candidate use (raw bytes, like the protocol's Handle). */
export const HOP_METHOD = "/cairnbench.Hop/Handle";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A JSON payload as the SDK sends plain values. */
function json(type: string, value: unknown): Any {
  return create(AnySchema, {
    typeUrl: `json.cairn.dev/${type}`,
    value: encoder.encode(JSON.stringify(value)),
  });
}

/** The command the engine sends: Increment {counterId, by: 1} on channel `channel`. */
export function command(channel: number, id: number): EventSourcedIn {
  return {
    $typeName: "cairn.protocol.v1.EventSourcedIn",
    channelId: BigInt(channel),
    body: {
      case: "command",
      value: {
        $typeName: "cairn.protocol.v1.Command",
        id: BigInt(id),
        name: "Increment",
        payload: json("IncrementRequest", { counterId: `k-${channel}`, by: 1 }),
      },
    },
  };
}

/** State of every channel the handler side has seen (the entities' state in the function). */
const state = new Map<bigint, number>();

/** The user's handler and the SDK's reply building: one event, one reply. */
export function handle(msg: EventSourcedIn): EventSourcedOut {
  if (msg.body.case !== "command") throw new Error(`unexpected ${msg.body.case}`);
  const cmd = msg.body.value;
  const req = JSON.parse(decoder.decode(cmd.payload!.value)) as { counterId: string; by: number };
  const value = (state.get(msg.channelId) ?? 0) + req.by;
  state.set(msg.channelId, value);
  return {
    $typeName: "cairn.protocol.v1.EventSourcedOut",
    channelId: msg.channelId,
    body: {
      case: "reply",
      value: {
        $typeName: "cairn.protocol.v1.EventSourcedReply",
        commandId: cmd.id,
        clientAction: {
          $typeName: "cairn.protocol.v1.ClientAction",
          action: {
            case: "reply",
            value: {
              $typeName: "cairn.protocol.v1.Reply",
              payload: json("CounterValue", { counterId: req.counterId, value }),
            },
          },
        },
        sideEffects: [],
        events: [json("Incremented", { by: req.by })],
        timers: [],
      },
    },
  };
}

/** Encodes the engine's batch of commands as one frame. */
export function encodeIn(messages: EventSourcedIn[]): Uint8Array {
  return toBinary(EventSourcedInFrameSchema, create(EventSourcedInFrameSchema, { messages }));
}

/** Decodes an in-frame, runs every command, encodes the replies as one frame. */
export function handleFrame(bytes: Uint8Array): Uint8Array {
  const frame = fromBinary(EventSourcedInFrameSchema, bytes);
  const messages = frame.messages.map(handle);
  return toBinary(EventSourcedOutFrameSchema, create(EventSourcedOutFrameSchema, { messages }));
}

/** Decodes a reply frame. */
export function decodeOut(bytes: Uint8Array): EventSourcedOut[] {
  return fromBinary(EventSourcedOutFrameSchema, bytes).messages;
}

/**
 * Batches per event-loop turn, as both sides of the protocol do: items
 * pushed during one turn leave together on `setImmediate`.
 */
export class TurnBatcher<T> {
  private items: T[] = [];
  private scheduled = false;

  constructor(private readonly flush: (items: T[]) => void) {}

  push(item: T): void {
    this.items.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const items = this.items;
      this.items = [];
      this.flush(items);
    });
  }
}

/** Length-prefixed frames on a byte stream (the Unix socket candidate). */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (frame: Uint8Array) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + len) return;
      this.onFrame(this.buf.subarray(4, 4 + len));
      this.buf = this.buf.subarray(4 + len);
    }
  }
}

/** A frame with its 4-byte length prefix. */
export function lengthPrefixed(frame: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + frame.length);
  out.writeUInt32BE(frame.length, 0);
  out.set(frame, 4);
  return out;
}
