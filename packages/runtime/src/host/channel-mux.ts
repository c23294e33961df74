/**
 * Multiplexes the channels of many entities over one gRPC bidirectional
 * stream to the user function (one stream per component kind). Messages
 * written in the same tick travel in one frame: per-message gRPC overhead,
 * not bytes, limits the rate of small commands, so batching is where
 * throughput comes from. See decision 0003.
 */
import type { ClientDuplexStream } from "@grpc/grpc-js";

/** What a channel's owner (an entity) is told about. */
export interface ChannelListener<Out> {
  onMessage(message: Out): void;
  /** The stream broke; the channel is gone. */
  onLost(error: Error): void;
}

/**
 * The channels an entity uses: what {@link ChannelMux} offers an entity, and
 * what a test's stand-in function implements.
 */
export interface EntityChannels<In, Out> {
  /** Opens a channel; undefined when the stream is down. */
  openChannel(listener: ChannelListener<Out>): bigint | undefined;
  /** Forgets a channel (after sending its close, or after a failure). */
  closeChannel(id: bigint): void;
  /** Queues a message for the next frame. */
  send(message: In): void;
}

/** A frame as the protocol defines them: a list of messages. */
export interface Frame<M> {
  readonly messages: readonly M[];
}

/** Upper bound of messages in one frame, to keep frames well under message limits. */
const MAX_FRAME_MESSAGES = 2_000;

/** Channels of many entities over one gRPC stream. */
export class ChannelMux<In, Out extends { readonly channelId: bigint }> implements EntityChannels<
  In,
  Out
> {
  private stream: ClientDuplexStream<unknown, Frame<Out>> | undefined;
  private readonly channels = new Map<bigint, ChannelListener<Out>>();
  private nextChannel = 1n;
  private pending: In[] = [];
  private flushScheduled = false;

  constructor(
    private readonly openStream: () => ClientDuplexStream<unknown, Frame<Out>>,
    private readonly makeFrame: (messages: In[]) => unknown,
    private readonly onStreamLost: (error: Error) => void,
  ) {}

  /** Opens a fresh stream (after discovery). */
  open(): void {
    const stream = this.openStream();
    this.stream = stream;
    stream.on("data", (frame: Frame<Out>) => {
      for (const message of frame.messages)
        this.channels.get(message.channelId)?.onMessage(message);
    });
    stream.on("error", (err: Error) => this.drop(stream, err, true));
    stream.on("end", () =>
      this.drop(stream, new Error("the user function closed the entity stream"), true),
    );
  }

  /** Ends the stream (if open) and tells every channel it is lost. */
  abort(err: Error): void {
    const stream = this.stream;
    if (stream === undefined) return;
    this.drop(stream, err, false);
    stream.end();
  }

  private drop(stream: ClientDuplexStream<unknown, Frame<Out>>, err: Error, notify: boolean): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    this.pending = [];
    const listeners = [...this.channels.values()];
    this.channels.clear();
    // The connection learns first, so entities that re-activate at once
    // wait for the reconnect instead of finding a dead stream.
    if (notify) this.onStreamLost(err);
    for (const l of listeners) l.onLost(err);
  }

  get isOpen(): boolean {
    return this.stream !== undefined;
  }

  /** Opens a channel; undefined when the stream is down. */
  openChannel(listener: ChannelListener<Out>): bigint | undefined {
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
  send(message: In): void {
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
      stream.write(this.makeFrame(this.pending.splice(0, MAX_FRAME_MESSAGES)));
    }
  }
}
