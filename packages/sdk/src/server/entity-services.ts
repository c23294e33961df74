import type * as grpc from "@grpc/grpc-js";
import type {
  EventSourcedInFrame,
  EventSourcedOutFrame,
  ReplicatedEntityInFrame,
  ReplicatedEntityOutFrame,
  ValueEntityInFrame,
  ValueEntityOutFrame,
} from "@cairn/protocol";
import type { Component } from "../component.js";
import type { Caller } from "../context/caller.js";
import type { EventSourcedDefinition } from "../eventsourced/entity.js";
import { EventSourcedStreamHandler } from "../eventsourced/channels.js";
import { describeError } from "../log.js";
import type { Logger } from "../log.js";
import type { ReplicatedEntityDefinition } from "../replicated/entity.js";
import { ReplicatedEntityStreamHandler } from "../replicated/channels.js";
import type { ValueEntityDefinition } from "../value/entity.js";
import { ValueEntityStreamHandler } from "../value/channels.js";

/** A stream the server can drain and end on shutdown. */
export interface OpenStream {
  /** Resolves once the commands received so far are answered and written. */
  drain(): Promise<void>;
  /** Ends our side of the stream (idempotent). */
  end(): void;
}

/** What serving a component protocol needs besides its components. */
export interface ServiceEnv {
  readonly logger: Logger;
  /** Open streams, so that shutdown can drain them. */
  readonly streams: Set<OpenStream>;
  /** Makes the `ctx.call()` calls of handlers. */
  readonly caller: Caller;
}

/** The grpc-js implementation of `EventSourcedEntities`: one stream handler per `Handle` call. */
export function eventSourcedService(
  components: readonly Component[],
  env: ServiceEnv,
): grpc.UntypedServiceImplementation {
  const entities = new Map<string, EventSourcedDefinition>();
  for (const c of components) {
    if (c.kind === "event-sourced-entity") entities.set(c.service.typeName, c.definition);
  }
  return {
    handle(call: grpc.ServerDuplexStream<EventSourcedInFrame, EventSourcedOutFrame>) {
      const handler = new EventSourcedStreamHandler(entities, call, env.logger, env.caller);
      serveChannels(call, handler, env, "event-sourced");
    },
  };
}

/** The grpc-js implementation of `ValueEntities`: one stream handler per `Handle` call. */
export function valueEntityService(
  components: readonly Component[],
  env: ServiceEnv,
): grpc.UntypedServiceImplementation {
  const entities = new Map<string, ValueEntityDefinition>();
  for (const c of components) {
    if (c.kind === "value-entity") entities.set(c.service.typeName, c.definition);
  }
  return {
    handle(call: grpc.ServerDuplexStream<ValueEntityInFrame, ValueEntityOutFrame>) {
      const handler = new ValueEntityStreamHandler(entities, call, env.logger, env.caller);
      serveChannels(call, handler, env, "value entity");
    },
  };
}

/** The grpc-js implementation of `ReplicatedEntities`: one stream handler per `Handle` call. */
export function replicatedEntityService(
  components: readonly Component[],
  env: ServiceEnv,
): grpc.UntypedServiceImplementation {
  const entities = new Map<string, ReplicatedEntityDefinition>();
  for (const c of components) {
    if (c.kind === "replicated-entity") entities.set(c.service.typeName, c.definition);
  }
  return {
    handle(call: grpc.ServerDuplexStream<ReplicatedEntityInFrame, ReplicatedEntityOutFrame>) {
      const handler = new ReplicatedEntityStreamHandler(entities, call, env.logger, env.caller);
      serveChannels(call, handler, env, "replicated entity");
    },
  };
}

/** A channel stream handler of any entity kind. */
interface ChannelHandler<M> {
  receive(message: M): void;
  drain(): Promise<void>;
  close(): void;
}

/**
 * Wires a bidi stream of frames to its handler, and registers it while open
 * so that shutdown can drain it.
 */
function serveChannels<M, Out>(
  call: grpc.ServerDuplexStream<{ messages: M[] }, Out>,
  handler: ChannelHandler<M>,
  env: ServiceEnv,
  kind: string,
): void {
  let done = false;
  const release = () => {
    done = true;
    env.streams.delete(stream);
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
  env.streams.add(stream);
  call.on("data", (frame: { messages: M[] }) => {
    for (const message of frame.messages) handler.receive(message);
  });
  // The runtime half-closed: answer what is queued, then end our side.
  call.on("end", () => {
    handler.drain().then(
      () => stream.end(),
      (err: unknown) => {
        env.logger({
          level: "error",
          msg: `${kind} stream drain failed`,
          error: describeError(err),
        });
        stream.end();
      },
    );
  });
  call.on("error", (err) => {
    env.logger({ level: "warn", msg: `${kind} stream failed`, error: describeError(err) });
    release();
  });
  call.on("cancelled", release);
}
