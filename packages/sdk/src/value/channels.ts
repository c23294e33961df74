import { create } from "@bufbuild/protobuf";
import {
  Code,
  ValueEntityOutFrameSchema,
  ValueEntityOutSchema,
  ValueEntityReplySchema,
} from "@cairn/protocol";
import type {
  ValueEntityIn,
  ValueEntityInit,
  ValueEntityOut,
  ValueEntityOutFrame,
  ValueEntityReply,
} from "@cairn/protocol";
import type { Caller } from "../context/caller.js";
import type { Logger } from "../log.js";
import { ChannelMux } from "../server/channels.js";
import type { FrameSink } from "../server/frame-writer.js";
import type { ValueEntityDefinition } from "./entity.js";
import { ValueEntityInstance } from "./instance.js";

/**
 * The function side of one `ValueEntities.Handle` stream: entity channels
 * multiplexed exactly as for event-sourced entities (init with the stored
 * state, commands one at a time per channel, close).
 */
export class ValueEntityStreamHandler {
  private readonly mux: ChannelMux<
    ValueEntityDefinition,
    ValueEntityInit,
    ValueEntityInstance,
    ValueEntityReply,
    ValueEntityOut,
    ValueEntityOutFrame
  >;

  constructor(
    entities: ReadonlyMap<string, ValueEntityDefinition>,
    sink: FrameSink<ValueEntityOutFrame>,
    logger: Logger,
    caller?: Caller,
  ) {
    this.mux = new ChannelMux(
      {
        kind: "value entity",
        definitions: entities,
        instance: (def, init) =>
          new ValueEntityInstance(def, init.entityId, logger, init.state, caller),
        replyMessage: (channelId, reply) =>
          create(ValueEntityOutSchema, { channelId, body: { case: "reply", value: reply } }),
        failureReply: (commandId, code, message) =>
          create(ValueEntityReplySchema, {
            commandId,
            clientAction: { action: { case: "failure", value: { code, message } } },
          }),
        channelFailure: (channelId, code, message, commandId) =>
          create(ValueEntityOutSchema, {
            channelId,
            body: { case: "failure", value: { code, message, commandId } },
          }),
        frame: (messages) => create(ValueEntityOutFrameSchema, { messages }),
      },
      sink,
      logger,
    );
  }

  /** Dispatches one message of an incoming frame. */
  receive(message: ValueEntityIn): void {
    const id = message.channelId;
    const body = message.body;
    switch (body.case) {
      case "init":
        return this.mux.open(id, body.value);
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
