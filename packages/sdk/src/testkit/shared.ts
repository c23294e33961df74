import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMethod, Message, MessageInitShape } from "@bufbuild/protobuf";
import { CairnError, Code } from "@cairn/protocol";
import type { Forward, Metadata, SideEffect } from "@cairn/protocol";
import type { RecordedCall, RecordedTimer } from "../context/base.js";
import type { Caller } from "../context/caller.js";
import { metadataToMap } from "../payload/metadata.js";
import type { MetadataMap, MetadataValue } from "../payload/metadata.js";

/** A call to another component that a command asked for (forward or effect). */
export interface RecordedComponentCall {
  /** The method called. */
  readonly method: DescMethod;
  /** The request, decoded back from its wire form. */
  readonly request: unknown;
  readonly metadata: MetadataMap;
}

/** An effect a command asked for. */
export interface RecordedEffect extends RecordedComponentCall {
  readonly synchronous: boolean;
}

/** A timer a command scheduled or cancelled, decoded back from its wire form. */
export type RecordedTimerAction =
  | (RecordedComponentCall & {
      readonly kind: "schedule";
      readonly name: string;
      /** Epoch milliseconds when the timer is due. */
      readonly dueEpochMs: number;
    })
  | { readonly kind: "cancel"; readonly name: string };

/**
 * A stub answering `ctx.call()` in a testkit, keyed by `"<package.Service>/<Method>"`.
 * It receives the request (a message of the method's input) and the call's
 * metadata, and returns the reply (or its init shape); a `CairnError` it
 * throws reaches the handler as is, as a failed call would.
 */
// The stubs are keyed by strings, so the request type cannot be inferred from
// the key; the test knows which method it stubs.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CallStub = (request: any, metadata: MetadataMap) => unknown;

/** Stubs of the calls a component under test makes, keyed by `"<package.Service>/<Method>"`. */
export type CallStubs = Readonly<Record<string, CallStub>>;

/** A `ctx.call()` a handler made in a testkit. */
export interface RecordedOutgoingCall extends RecordedComponentCall {
  /** `"<package.Service>/<Method>"`, as the stubs are keyed. */
  readonly path: string;
}

/**
 * Answers `ctx.call()` from the test's stubs, through the wire encoding in
 * both directions; an unstubbed call fails with UNIMPLEMENTED naming the key
 * to add.
 */
export class StubCaller implements Caller {
  readonly calls: RecordedOutgoingCall[] = [];

  constructor(private readonly stubs: CallStubs) {}

  async call(
    method: DescMethod,
    request: Message,
    metadata: ReadonlyMap<string, MetadataValue>,
  ): Promise<Message> {
    const path = `${method.parent.typeName}/${method.name}`;
    const decoded = fromBinary(method.input, toBinary(method.input, request));
    this.calls.push({ path, method, request: decoded, metadata });
    const stub = this.stubs[path];
    if (stub === undefined) {
      const known = Object.keys(this.stubs).join(", ") || "none";
      throw new CairnError(
        Code.Unimplemented,
        `ctx.call() to ${path} has no stub in this testkit (stubbed: ${known}); add it to the 'calls' option`,
      );
    }
    let reply: unknown;
    try {
      reply = await stub(decoded, metadata);
    } catch (err) {
      throw CairnError.from(err);
    }
    const message = create(method.output, (reply ?? {}) as MessageInitShape<DescMethod["output"]>);
    return fromBinary(method.output, toBinary(method.output, message));
  }
}

/** Decodes a recorded forward or effect for assertions. */
export function decodeCall(call: RecordedCall<Forward | SideEffect>): RecordedComponentCall {
  const payload = call.wire.payload;
  const metadata: Metadata | undefined = call.wire.metadata;
  return {
    method: call.method,
    request:
      payload === undefined
        ? create(call.method.input)
        : fromBinary(call.method.input, payload.value),
    metadata: metadataToMap(metadata),
  };
}

/** Decodes a recorded effect for assertions. */
export function decodeEffect(effect: RecordedCall<SideEffect>): RecordedEffect {
  return { ...decodeCall(effect), synchronous: effect.wire.synchronous };
}

/** Decodes a recorded timer action for assertions. */
export function decodeTimer(timer: RecordedTimer): RecordedTimerAction {
  const action = timer.wire.action;
  if (action.case === "schedule" && timer.method !== undefined) {
    const s = action.value;
    return {
      kind: "schedule",
      name: s.name,
      dueEpochMs: Number(s.dueEpochMs),
      method: timer.method,
      request:
        s.payload === undefined
          ? create(timer.method.input)
          : fromBinary(timer.method.input, s.payload.value),
      metadata: metadataToMap(s.metadata),
    };
  }
  return { kind: "cancel", name: action.case === "cancel" ? action.value.name : "" };
}
