/**
 * Multiplexes the channels of many event-sourced entities over one gRPC
 * bidirectional stream to the user function. Messages written in the same
 * tick travel in one frame: per-message gRPC overhead, not bytes, limits the
 * rate of small commands, so batching is where throughput comes from.
 */
import { create } from "@bufbuild/protobuf";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { EventSourcedInFrameSchema } from "@cairn/protocol";
import type {
  EventSourcedIn,
  EventSourcedInFrame,
  EventSourcedOut,
  EventSourcedOutFrame,
} from "@cairn/protocol";

type EsStream = ClientDuplexStream<EventSourcedInFrame, EventSourcedOutFrame>;

/** What a channel's owner (an entity) is told about. */
export interface ChannelListener {
  onMessage(message: EventSourcedOut): void;
  /** The stream broke; the channel is gone. */
  onLost(error: Error): void;
}

/** Upper bound of messages in one frame, to keep frames well under message limits. */
const MAX_FRAME_MESSAGES = 2_000;

export class EventSourcedMux {
  private stream: EsStream | undefined;
  private readonly channels = new Map<bigint, ChannelListener>();
  private nextChannel = 1n;
  private pending: EventSourcedIn[] = [];
  private flushScheduled = false;

  constructor(
    private readonly openStream: () => EsStream,
    private readonly onStreamLost: (error: Error) => void,
  ) {}

  /** Opens a fresh stream (after discovery). */
  open(): void {
    const stream = this.openStream();
    this.stream = stream;
    stream.on("data", (frame: EventSourcedOutFrame) => {
      for (const message of frame.messages)
        this.channels.get(message.channelId)?.onMessage(message);
    });
    const lost = (err: Error) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.pending = [];
      const listeners = [...this.channels.values()];
      this.channels.clear();
      // The connection learns first, so entities that re-activate at once
      // wait for the reconnect instead of finding a dead stream.
      this.onStreamLost(err);
      for (const l of listeners) l.onLost(err);
    };
    stream.on("error", (err: Error) => lost(err));
    stream.on("end", () => lost(new Error("the user function closed the entity stream")));
  }

  get isOpen(): boolean {
    return this.stream !== undefined;
  }

  /** Opens a channel; undefined when the stream is down. */
  openChannel(listener: ChannelListener): bigint | undefined {
    if (this.stream === undefined) return undefined;
    const id = this.nextChannel++;
    this.channels.set(id, listener);
    return id;
  }

  /** Forgets a channel (after sending its close, or after a failure). */
  closeChannel(id: bigint): void {
    this.channels.delete(id);
  }

  /** Queues a message for the next frame. */
  send(message: EventSourcedIn): void {
    if (this.stream === undefined) return;
    this.pending.push(message);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  close(): void {
    const stream = this.stream;
    this.stream = undefined;
    this.channels.clear();
    stream?.end();
  }

  private flush(): void {
    this.flushScheduled = false;
    const stream = this.stream;
    if (stream === undefined) return;
    while (this.pending.length > 0) {
      const messages = this.pending.splice(0, MAX_FRAME_MESSAGES);
      stream.write(create(EventSourcedInFrameSchema, { messages }));
    }
  }
}
