import { create } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ReplicatedEntityOutFrameSchema,
  ReplicatedEntityOutSchema,
  ReplicatedEntityReplySchema,
} from "@cairn/protocol";
import type {
  ReplicatedEntityIn,
  ReplicatedEntityInit,
  ReplicatedEntityOut,
  ReplicatedEntityOutFrame,
  ReplicatedEntityReply,
} from "@cairn/protocol";
import type { Caller } from "../context/caller.js";
import type { Logger } from "../log.js";
import { ChannelMux } from "../server/channels.js";
import type { FrameSink } from "../server/frame-writer.js";
import type { ReplicatedEntityDefinition } from "./entity.js";
import { ReplicatedEntityInstance } from "./instance.js";

/**
 * The function side of one `ReplicatedEntities.Handle` stream: entity
 * channels multiplexed as for the other kinds (init with the current state
 * and the replica id, then commands, deltas from other replicas and
 * cancelled subscriptions, one at a time per channel, then close). Streamed
 * messages of subscriptions go out on the channel as they are produced.
 */
export class ReplicatedEntityStreamHandler {
  private readonly mux: ChannelMux<
    ReplicatedEntityDefinition,
    ReplicatedEntityInit,
    ReplicatedEntityInstance,
    ReplicatedEntityReply,
    ReplicatedEntityOut,
    ReplicatedEntityOutFrame
  >;

  constructor(
    entities: ReadonlyMap<string, ReplicatedEntityDefinition>,
    sink: FrameSink<ReplicatedEntityOutFrame>,
    logger: Logger,
    caller?: Caller,
  ) {
    const out = (
      channelId: bigint,
      body: MessageInitShape<typeof ReplicatedEntityOutSchema>["body"],
    ) => create(ReplicatedEntityOutSchema, { channelId, body });
    this.mux = new ChannelMux(
      {
        kind: "replicated entity",
        definitions: entities,
        instance: (def, init, channelId) =>
          new ReplicatedEntityInstance(
            def,
            init.entityId,
            init.replicaId,
            logger,
            init.delta,
            caller,
            (message) => this.mux.send(out(channelId, { case: "streamed", value: message })),
          ),
        replyMessage: (channelId, reply) => out(channelId, { case: "reply", value: reply }),
        failureReply: (commandId, code, message) =>
          create(ReplicatedEntityReplySchema, {
            commandId,
            clientAction: { action: { case: "failure", value: { code, message } } },
          }),
        channelFailure: (channelId, code, message, commandId) =>
          out(channelId, { case: "failure", value: { code, message, commandId } }),
        frame: (messages) => create(ReplicatedEntityOutFrameSchema, { messages }),
      },
      sink,
      logger,
    );
  }

  /** Dispatches one message of an incoming frame. */
  receive(message: ReplicatedEntityIn): void {
    const id = message.channelId;
    const body = message.body;
    switch (body.case) {
      case "init":
        return this.mux.open(id, body.value);
      case "command":
        return this.mux.command(id, body.value);
      case "delta": {
        const delta = body.value;
        return this.mux.step(id, undefined, (ch) => ch.instance?.applyDelta(delta));
      }
      case "delete":
        return this.mux.step(id, undefined, (ch) => ch.instance?.applyDelete());
      case "streamCancelled": {
        const commandId = body.value.commandId;
        return this.mux.step(id, undefined, (ch) => ch.instance?.cancel(commandId));
      }
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
