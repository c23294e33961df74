import type { DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { Crdt } from "@cairn/crdt";

/** Any CRDT of `@cairn/crdt`, whatever its store and value types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- stores and values differ per type; only the shared Crdt API is used
export type AnyState = Crdt<any, any>;
import type { ComponentContext, HandlerResult } from "../context/types.js";

/**
 * How many replicas must have a write before its reply is released:
 * - `local`: this node's replica (the default; the reply does not wait for others);
 * - `majority`: more than half of the nodes hosting the entity;
 * - `all`: every node hosting the entity.
 *
 * On a single node the one replica is all of them, so every level is met at
 * once. In a cluster, a level the runtime cannot meet within the timeout fails
 * the command with DEADLINE_EXCEEDED or UNAVAILABLE, naming how many replicas
 * answered; the write itself stays in the replicas that have it (CRDT writes
 * are never rolled back) and spreads to the others later.
 */
export type WriteConsistency = "local" | "majority" | "all";

/** Options of {@link ReplicatedEntityCommandContext.writeConsistency}. */
export interface WriteOptions {
  /**
   * How long the runtime may wait for the consistency to be met; default the
   * command's own deadline.
   */
  timeoutMs?: number;
}

/**
 * What a replicated entity's command handler may use besides the command and
 * the CRDT: the write consistency of its change, deleting the entity, plus
 * everything every handler has.
 */
export interface ReplicatedEntityCommandContext<C extends AnyState> extends ComponentContext {
  /** Id of the entity instance handling the command. */
  readonly entityId: string;
  /** The entity's CRDT: read its value, change it through its API (the same object as the handler's argument). */
  readonly crdt: C;
  /**
   * Sets the write consistency (and its timeout) of this command's change;
   * the component's default otherwise. Has no effect on a command that
   * changes nothing.
   */
  writeConsistency(level: WriteConsistency, options?: WriteOptions): void;
  /**
   * Deletes the whole entity when the command succeeds: the state is removed
   * (from the store too, when durable) and a later command starts from the
   * empty CRDT. Changes made to the CRDT by this command are dropped.
   */
  deleteEntity(): void;
}

/** A replicated entity command handler for unary method `M`; it may be async. */
export type ReplicatedCommandHandler<M extends DescMethod, C extends AnyState> = (
  command: MessageShape<M["input"]>,
  crdt: C,
  ctx: ReplicatedEntityCommandContext<C>,
) => HandlerResult<M["output"]> | Promise<HandlerResult<M["output"]>>;

/**
 * The open stream of a streamed command (a subscription), as its change and
 * cancellation handlers see it.
 */
export interface ReplicatedStream<M extends DescMethod> {
  /** Pushes one message to the subscriber. */
  send(message: MessageInitShape<M["output"]>): void;
  /** Ends the stream (the subscriber sees a normal end). */
  end(): void;
}

/**
 * What a server-streaming handler registers to keep its call open: a change
 * handler run after every change of the entity's state (from any command, or
 * from another replica), and a cancellation handler run when the subscriber
 * goes away. Both may change the CRDT (a cancellation handler typically
 * withdraws the subscriber's presence); those changes replicate like a
 * command's, with the component's default write consistency.
 */
export interface ReplicatedStreamContext<
  M extends DescMethod,
  C extends AnyState,
> extends ReplicatedEntityCommandContext<C> {
  /** Runs `handler` after every change of the state while the stream is open. */
  onChange(handler: (crdt: C, stream: ReplicatedStream<M>) => void): void;
  /** Runs `handler` once when the subscriber goes away (not when the stream ends by itself). */
  onCancel(handler: (crdt: C) => void): void;
}

/**
 * A replicated entity handler of a server-streaming method `M`: returns the
 * first message (or nothing), and keeps the stream open with
 * `ctx.onChange`; without an `onChange` the stream ends after the first message.
 */
export type ReplicatedStreamHandler<M extends DescMethod, C extends AnyState> = (
  command: MessageShape<M["input"]>,
  crdt: C,
  ctx: ReplicatedStreamContext<M, C>,
) => MessageInitShape<M["output"]> | void | Promise<MessageInitShape<M["output"]> | void>;

/** One handler per method of the service, keyed by the method's local name (`addItem`). */
export type ReplicatedCommandHandlers<Svc extends DescService, C extends AnyState> = {
  [K in keyof Svc["method"]]: Svc["method"][K] extends DescMethod
    ? Svc["method"][K]["methodKind"] extends "server_streaming"
      ? ReplicatedStreamHandler<Svc["method"][K], C>
      : ReplicatedCommandHandler<Svc["method"][K], C>
    : never;
};
