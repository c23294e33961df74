import { create } from "@bufbuild/protobuf";
import {
  CairnError,
  Code,
  EventSourcedOutFrameSchema,
  EventSourcedOutSchema,
} from "@cairn/protocol";
import type {
  Command,
  EventSourcedIn,
  EventSourcedInit,
  EventSourcedOut,
  EventSourcedOutFrame,
} from "@cairn/protocol";
import { describeError } from "../log.js";
import type { Logger } from "../log.js";
import { FrameWriter } from "../server/frame-writer.js";
import type { FrameSink } from "../server/frame-writer.js";
import type { EventSourcedDefinition } from "./entity.js";
import { EventSourcedInstance } from "./instance.js";

/** One open channel: an entity instance and the queue that keeps its work in order. */
interface Channel {
  readonly id: bigint;
  instance: EventSourcedInstance | undefined;
  /** Tail of the channel's work; each step runs after the previous one settled. */
  tail: Promise<void>;
}

/**
 * The function side of one `EventSourcedEntities.Handle` stream: many entity
 * channels multiplexed by channel id. Work on one channel runs strictly in
 * order (init, replayed events, commands one at a time); channels run
 * concurrently. Replies go out batched per event-loop turn.
 */
export class EventSourcedStreamHandler {
  private readonly channels = new Map<bigint, Channel>();
  private readonly writer: FrameWriter<EventSourcedOut, EventSourcedOutFrame>;
  private readonly inFlight = new Set<Promise<void>>();
  private draining = false;

  constructor(
    private readonly entities: ReadonlyMap<string, EventSourcedDefinition>,
    sink: FrameSink<EventSourcedOutFrame>,
    private readonly logger: Logger,
  ) {
    this.writer = new FrameWriter(sink, (messages) =>
      create(EventSourcedOutFrameSchema, { messages }),
    );
  }

  /** Dispatches one message of an incoming frame. */
  receive(message: EventSourcedIn): void {
    const id = message.channelId;
    const body = message.body;
    switch (body.case) {
      case "init":
        return this.open(id, body.value);
      case "event":
        return this.onChannel(id, undefined, (ch) => {
          if (ch.instance === undefined) return;
          ch.instance.replay(body.value);
        });
      case "command":
        return this.command(id, body.value);
      case "close":
        this.channels.delete(id);
        return;
      case undefined:
        return this.channelFailure(id, Code.InvalidArgument, "message without a body");
    }
  }

  /**
   * Stops taking commands and resolves once every queued command has been
   * answered and handed to the stream.
   */
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

  private open(id: bigint, init: EventSourcedInit): void {
    if (this.channels.has(id))
      return this.channelFailure(id, Code.FailedPrecondition, `channel ${id} is already open`);
    const def = this.entities.get(init.serviceName);
    if (def === undefined) {
      const known = [...this.entities.keys()].join(", ") || "none";
      return this.channelFailure(
        id,
        Code.NotFound,
        `no event-sourced entity serves '${init.serviceName}' (served: ${known})`,
      );
    }
    const channel: Channel = { id, instance: undefined, tail: Promise.resolve() };
    this.channels.set(id, channel);
    this.onChannel(id, undefined, (ch) => {
      ch.instance = new EventSourcedInstance(def, init.entityId, this.logger, init.snapshot);
    });
  }

  private command(id: bigint, command: Command): void {
    if (this.draining) {
      return this.reply(
        id,
        Code.Unavailable,
        "the user function is shutting down; retry",
        command.id,
      );
    }
    this.onChannel(id, command.id, async (ch) => {
      if (ch.instance === undefined) return;
      const outcome = await ch.instance.handle(command);
      this.writer.push(
        create(EventSourcedOutSchema, {
          channelId: id,
          body: { case: "reply", value: outcome.reply },
        }),
      );
    });
  }

  /**
   * Queues work on a channel. A step that throws (bad snapshot, undecodable
   * or failing replayed event) fails the whole channel: the runtime then
   * re-activates the entity from its journal.
   */
  private onChannel(
    id: bigint,
    commandId: bigint | undefined,
    step: (ch: Channel) => void | Promise<void>,
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
    void run.finally(() => this.inFlight.delete(run));
  }

  private async runStep(
    channel: Channel,
    commandId: bigint | undefined,
    step: (ch: Channel) => void | Promise<void>,
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

  /** A command refused before reaching an instance still gets exactly one reply. */
  private reply(id: bigint, code: Code, message: string, commandId: bigint): void {
    this.writer.push(
      create(EventSourcedOutSchema, {
        channelId: id,
        body: {
          case: "reply",
          value: {
            commandId,
            clientAction: { action: { case: "failure", value: { code, message } } },
          },
        },
      }),
    );
  }

  private channelFailure(id: bigint, code: Code, message: string, commandId = 0n): void {
    this.writer.push(
      create(EventSourcedOutSchema, {
        channelId: id,
        body: { case: "failure", value: { code, message, commandId } },
      }),
    );
  }
}
