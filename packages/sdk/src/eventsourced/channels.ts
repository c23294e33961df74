import { create } from "@bufbuild/protobuf";
import {
  Code,
  EventSourcedOutFrameSchema,
  EventSourcedOutSchema,
  EventSourcedReplySchema,
} from "@cairn/protocol";
import type {
  EventSourcedIn,
  EventSourcedInit,
  EventSourcedOut,
  EventSourcedOutFrame,
  EventSourcedReply,
} from "@cairn/protocol";
import type { Caller } from "../context/caller.js";
import type { Logger } from "../log.js";
import { ChannelMux } from "../server/channels.js";
import type { ChannelProtocol } from "../server/channels.js";
import type { FrameSink } from "../server/frame-writer.js";
import type { EventSourcedDefinition } from "./entity.js";
import { EventSourcedInstance } from "./instance.js";

type Protocol = ChannelProtocol<
  EventSourcedDefinition,
  EventSourcedInit,
  EventSourcedInstance,
  EventSourcedReply,
  EventSourcedOut,
  EventSourcedOutFrame
>;

/**
 * The function side of one `EventSourcedEntities.Handle` stream: the shared
 * channel multiplexing, plus the replay of journal events after init.
 */
export class EventSourcedStreamHandler {
  private readonly mux: ChannelMux<
    EventSourcedDefinition,
    EventSourcedInit,
    EventSourcedInstance,
    EventSourcedReply,
    EventSourcedOut,
    EventSourcedOutFrame
  >;

  constructor(
    entities: ReadonlyMap<string, EventSourcedDefinition>,
    sink: FrameSink<EventSourcedOutFrame>,
    logger: Logger,
    caller?: Caller,
  ) {
    const protocol: Protocol = {
      kind: "event-sourced entity",
      definitions: entities,
      instance: (def, init) =>
        new EventSourcedInstance(def, init.entityId, logger, init.snapshot, caller),
      replyMessage: (channelId, reply) =>
        create(EventSourcedOutSchema, { channelId, body: { case: "reply", value: reply } }),
      failureReply: (commandId, code, message) =>
        create(EventSourcedReplySchema, {
          commandId,
          clientAction: { action: { case: "failure", value: { code, message } } },
        }),
      channelFailure: (channelId, code, message, commandId) =>
        create(EventSourcedOutSchema, {
          channelId,
          body: { case: "failure", value: { code, message, commandId } },
        }),
      frame: (messages) => create(EventSourcedOutFrameSchema, { messages }),
    };
    this.mux = new ChannelMux(protocol, sink, logger);
  }

  /** Dispatches one message of an incoming frame. */
  receive(message: EventSourcedIn): void {
    const id = message.channelId;
    const body = message.body;
    switch (body.case) {
      case "init":
        return this.mux.open(id, body.value);
      case "event":
        return this.mux.step(id, undefined, (ch) => ch.instance?.replay(body.value));
      case "command":
        return this.mux.command(id, body.value);
      case "close":
        return this.mux.closeChannel(id);
      case undefined:
        return this.mux.channelFailure(id, Code.InvalidArgument, "message without a body");
    }
  }

  /** Stops taking commands; resolves once every queued command is answered and written. */
  drain(): Promise<void> {
    return this.mux.drain();
  }

  /** The stream is gone: drop all channels and pending output. */
  close(): void {
    this.mux.close();
  }
}
