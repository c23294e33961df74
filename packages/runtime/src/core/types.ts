/**
 * The contract between the ingress adapters (gRPC, Connect, gRPC-Web,
 * HTTP/JSON) and the rest of the runtime. Ingress turns a wire request into
 * an {@link Invocation}; the {@link Dispatcher} routes it to the component
 * that owns it and resolves with the reply, or rejects with a CairnError.
 */
import type { DescMethod, DescService, Registry } from "@bufbuild/protobuf";
import type { ClientAction, SideEffect, TimerAction } from "@cairn/protocol";
import type { StreamSink } from "./stream-sink.js";
import type { CommandKey } from "./idempotency.js";

/**
 * Metadata key carrying the components waiting on a call (`svc/id > svc/id`),
 * set by the runtime on each command it sends to the function and passed on
 * by SDKs into `ctx.call`, so that a call cycle fails at once.
 */
export const CALL_CHAIN_KEY = "cairn-call-chain";

/** Request/response metadata: lower-case keys, as gRPC metadata and HTTP headers. */
export type Metadata = Record<string, string>;

/** Component kinds a runtime serves. */
export type ComponentKind =
  "event_sourced_entity" | "value_entity" | "replicated_entity" | "action";

/** One served gRPC service and what backs it. */
export interface ServiceEntry {
  readonly desc: DescService;
  readonly kind: ComponentKind;
  /** Stable persistence name (entities only). */
  readonly entityType?: string;
  /** Idle time before passivation, milliseconds. */
  readonly passivationTimeoutMs?: number;
  readonly snapshotEvery?: number;
  /** Replicated entities: the CRDT type name (`@cairn/crdt`) and whether the state is stored. */
  readonly replicated?: { readonly crdtType: string; readonly durable: boolean };
}

/**
 * What the user function serves, as learned at discovery. Replaced as a
 * whole when the function is discovered again (for example after a redeploy).
 */
export interface Catalog {
  /** Every type of the user's descriptor set plus well-known types. */
  readonly registry: Registry;
  /** By fully qualified service name, e.g. "shoppingcart.v1.ShoppingCart". */
  readonly services: ReadonlyMap<string, ServiceEntry>;
}

/** One call as the ingress hands it to the dispatcher. */
export interface Invocation {
  readonly service: ServiceEntry;
  readonly method: DescMethod;
  /** The request message, binary protobuf of method.input. */
  readonly input: Uint8Array;
  /**
   * The entity key of `input`, when whoever built the invocation decoded the
   * message already (the ingress does); the router decodes it otherwise.
   */
  readonly entityKey?: string;
  readonly metadata: Metadata;
  /** Absolute deadline, epoch milliseconds; undefined = runtime default. */
  readonly deadline?: number;
  /** Aborted when the client goes away. */
  readonly signal?: AbortSignal;
  /**
   * Set for a streamed entity command (a replicated entity's subscription):
   * where the messages after the reply go. The reply may then carry no
   * client action (the stream starts without a first message).
   */
  readonly stream?: StreamSink;
  /**
   * Set by KeyedCalls on the first attempt of a command sent with an
   * idempotency-key: whoever commits the command stores its outcome record
   * in the same transaction.
   */
  readonly idempotency?: CommandKey;
  /**
   * Set by KeyedCalls: told when an entity accepts the command into its
   * mailbox and when the command's outcome is decided, which may be after
   * the client's deadline answered the client.
   */
  readonly completion?: CommandCompletion;
}

/** See {@link Invocation.completion}. */
export interface CommandCompletion {
  accepted(): void;
  finished(): void;
}

/** What a component answers to one command: the part every kind shares. */
export interface ComponentReply {
  readonly clientAction?: ClientAction | undefined;
  readonly sideEffects: readonly SideEffect[];
  readonly timers: readonly TimerAction[];
}

/** The answer to an invocation. */
export interface InvocationResult {
  /** The response message, binary protobuf of method.output. */
  readonly output: Uint8Array;
  readonly metadata: Metadata;
}

/** Routes invocations to components. Rejects with a CairnError. */
export interface Dispatcher {
  dispatch(invocation: Invocation): Promise<InvocationResult>;
}

/**
 * A streaming call (client-, server- or bidirectional streaming) as the
 * ingress hands it to the dispatcher. For server-streaming methods `inputs`
 * yields exactly one message.
 */
export interface StreamInvocation {
  readonly service: ServiceEntry;
  readonly method: DescMethod;
  /** Request messages (binary protobuf of method.input); ends when the client half-closes. */
  readonly inputs: AsyncIterable<Uint8Array>;
  readonly metadata: Metadata;
  readonly deadline?: number;
  /** Aborted when the client goes away; the dispatcher then stops the stream. */
  readonly signal?: AbortSignal;
}

/** The answer to a streaming call: response metadata, then the messages. */
export interface StreamResult {
  readonly metadata: Metadata;
  /**
   * Response messages (binary protobuf of method.output). For
   * client-streaming methods exactly one. Iteration throws a CairnError when
   * the stream fails after it started.
   */
  readonly outputs: AsyncIterable<Uint8Array>;
}

/** A dispatcher that also serves streaming methods. */
export interface StreamingDispatcher extends Dispatcher {
  /** Starts a streaming call; rejects with a CairnError if it cannot start. */
  dispatchStream(invocation: StreamInvocation): Promise<StreamResult>;
}
