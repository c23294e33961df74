import type * as grpc from "@grpc/grpc-js";
import type { EventSourcedInFrame, EventSourcedOutFrame } from "@cairn/protocol";
import type { Component } from "../component.js";
import type { EventSourcedDefinition } from "../eventsourced/entity.js";
import { EventSourcedStreamHandler } from "../eventsourced/channels.js";
import { describeError } from "../log.js";
import type { Logger } from "../log.js";

/** A stream the server can drain and end on shutdown. */
export interface OpenStream {
  /** Resolves once the commands received so far are answered and written. */
  drain(): Promise<void>;
  /** Ends our side of the stream (idempotent). */
  end(): void;
}

/**
 * The grpc-js implementation of `EventSourcedEntities`: one
 * {@link EventSourcedStreamHandler} per `Handle` stream, registered in
 * `streams` while open so that shutdown can drain it.
 */
export function eventSourcedService(
  components: readonly Component[],
  logger: Logger,
  streams: Set<OpenStream>,
): grpc.UntypedServiceImplementation {
  const entities = new Map<string, EventSourcedDefinition>();
  for (const c of components) {
    if (c.kind === "event-sourced-entity") entities.set(c.service.typeName, c.definition);
  }
  return {
    handle(call: grpc.ServerDuplexStream<EventSourcedInFrame, EventSourcedOutFrame>) {
      handleStream(call, entities, logger, streams);
    },
  };
}

function handleStream(
  call: grpc.ServerDuplexStream<EventSourcedInFrame, EventSourcedOutFrame>,
  entities: ReadonlyMap<string, EventSourcedDefinition>,
  logger: Logger,
  streams: Set<OpenStream>,
): void {
  const handler = new EventSourcedStreamHandler(entities, call, logger);
  let done = false;
  const release = () => {
    done = true;
    streams.delete(stream);
    handler.close();
  };
  const stream: OpenStream = {
    drain: () => handler.drain(),
    end: () => {
      if (done) return;
      release();
      call.end();
    },
  };
  streams.add(stream);
  call.on("data", (frame: EventSourcedInFrame) => {
    for (const message of frame.messages) handler.receive(message);
  });
  // The runtime half-closed: answer what is queued, then end our side.
  call.on("end", () => void handler.drain().then(() => stream.end()));
  call.on("error", (err) => {
    logger({ level: "warn", msg: "event-sourced stream failed", error: describeError(err) });
    release();
  });
  call.on("cancelled", release);
}
