import { CairnError, Code } from "@cairn/protocol";
import type { Command } from "@cairn/protocol";
import { describeError } from "../log.js";
import type { Logger } from "../log.js";
import { FrameWriter } from "./frame-writer.js";
import type { FrameSink } from "./frame-writer.js";

/** An entity instance as a channel drives it: one command at a time. */
export interface ChannelInstance<R> {
  handle(command: Command): Promise<{ readonly reply: R }>;
}

/**
 * What differs between the entity protocols multiplexing channels on one
 * stream: how replies, failures and frames are built, and how an instance is
 * made from an init message.
 */
export interface ChannelProtocol<Def, Init, Inst extends ChannelInstance<R>, R, Out, Frame> {
  /** For messages, e.g. "value entity". */
  readonly kind: string;
  /** Definitions by fully qualified service name. */
  readonly definitions: ReadonlyMap<string, Def>;
  /** Makes the instance of a channel; may throw (a bad stored state fails the channel). */
  instance(def: Def, init: Init, channelId: bigint): Inst;
  replyMessage(channelId: bigint, reply: R): Out;
  /** The reply to a command refused before it reaches an instance. */
  failureReply(commandId: bigint, code: Code, message: string): R;
  channelFailure(channelId: bigint, code: Code, message: string, commandId: bigint): Out;
  frame(messages: Out[]): Frame;
}

/** One open channel: an entity instance and the queue that keeps its work in order. */
interface Channel<Inst> {
  readonly id: bigint;
  instance: Inst | undefined;
  /** Tail of the channel's work; each step runs after the previous one settled. */
  tail: Promise<void>;
}

/**
 * The function side of one entity stream: many entity channels multiplexed
 * by channel id. Work on one channel runs strictly in order (init, replay,
 * commands one at a time); channels run concurrently. Output goes out batched
 * per event-loop turn. Shared by every entity kind.
 */
export class ChannelMux<
  Def,
  Init extends { serviceName: string; entityId: string },
  Inst extends ChannelInstance<R>,
  R,
  Out,
  Frame,
> {
  private readonly channels = new Map<bigint, Channel<Inst>>();
  private readonly writer: FrameWriter<Out, Frame>;
  private readonly inFlight = new Set<Promise<void>>();
  private draining = false;

  constructor(
    private readonly protocol: ChannelProtocol<Def, Init, Inst, R, Out, Frame>,
    sink: FrameSink<Frame>,
    private readonly logger: Logger,
  ) {
    this.writer = new FrameWriter(sink, (messages) => protocol.frame(messages));
  }

  /** Opens a channel; its instance is made as the channel's first step. */
  open(id: bigint, init: Init): void {
    if (this.channels.has(id))
      return this.channelFailure(id, Code.FailedPrecondition, `channel ${id} is already open`);
    const def = this.protocol.definitions.get(init.serviceName);
    if (def === undefined) {
      const known = [...this.protocol.definitions.keys()].join(", ") || "none";
      return this.channelFailure(
        id,
        Code.NotFound,
        `no ${this.protocol.kind} serves '${init.serviceName}' (served: ${known})`,
      );
    }
    this.channels.set(id, { id, instance: undefined, tail: Promise.resolve() });
    this.step(id, undefined, (ch) => {
      ch.instance = this.protocol.instance(def, init, id);
    });
  }

  /** Queues a command; its reply goes out when its turn comes. */
  command(id: bigint, command: Command): void {
    if (this.draining) {
      const reply = this.protocol.failureReply(
        command.id,
        Code.Unavailable,
        "the user function is shutting down; retry",
      );
      return this.writer.push(this.protocol.replyMessage(id, reply));
    }
    this.step(id, command.id, async (ch) => {
      if (ch.instance === undefined) return;
      const outcome = await ch.instance.handle(command);
      this.writer.push(this.protocol.replyMessage(id, outcome.reply));
    });
  }

  /**
   * Sends a message that answers no command (a streamed message of a
   * subscription), in order with the replies.
   */
  send(message: Out): void {
    this.writer.push(message);
  }

  /** The runtime closed the channel (passivation or restart). */
  closeChannel(id: bigint): void {
    this.channels.delete(id);
  }

  /**
   * Queues work on a channel. A step that throws (bad stored state, failing
   * replay) fails the whole channel: the runtime then re-activates the entity.
   */
  step(
    id: bigint,
    commandId: bigint | undefined,
    step: (ch: Channel<Inst>) => void | Promise<void>,
  ): void {
    const channel = this.channels.get(id);
    if (channel === undefined) {
      return this.channelFailure(
        id,
        Code.NotFound,
        `channel ${id} is not open (send init first)`,
        commandId,
      );
    }
    const run = channel.tail.then(() => this.runStep(channel, commandId, step));
    channel.tail = run;
    this.inFlight.add(run);
    // runStep turns a failing step into a channel failure; a rejection here is a bug in it.
    run
      .catch((err: unknown) =>
        this.logger({ level: "error", msg: "entity step failed", error: describeError(err) }),
      )
      .finally(() => this.inFlight.delete(run));
  }

  /** Stops taking commands; resolves once every queued one is answered and handed to the stream. */
  async drain(): Promise<void> {
    this.draining = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.writer.idle();
  }

  /** The stream is gone: drop all channels and pending output. */
  close(): void {
    this.channels.clear();
    this.writer.close();
  }

  channelFailure(id: bigint, code: Code, message: string, commandId = 0n): void {
    this.writer.push(this.protocol.channelFailure(id, code, message, commandId));
  }

  private async runStep(
    channel: Channel<Inst>,
    commandId: bigint | undefined,
    step: (ch: Channel<Inst>) => void | Promise<void>,
  ) {
    if (this.channels.get(channel.id) !== channel) return; // closed or failed meanwhile
    try {
      await step(channel);
    } catch (err) {
      this.channels.delete(channel.id);
      this.logger({
        level: "error",
        msg: "entity channel failed",
        channelId: channel.id,
        error: describeError(err),
      });
      const message =
        err instanceof CairnError ? err.message : `entity channel failed: ${String(err)}`;
      this.channelFailure(channel.id, Code.Internal, message, commandId);
    }
  }
}
