import { create, fromBinary } from "@bufbuild/protobuf";
import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { ActionCommandSchema } from "@cairn/protocol";
import type { ActionCommand, CairnError } from "@cairn/protocol";
import type { Action } from "../action/action.js";
import { ActionDispatcher } from "../action/runner.js";
import type { ActionOutcome } from "../action/runner.js";
import { silentLogger } from "../log.js";
import type { Logger } from "../log.js";
import { packMessage } from "../payload/codec.js";
import { metadataFromMap, metadataToMap } from "../payload/metadata.js";
import type { MetadataMap } from "../payload/metadata.js";
import type { TestCallOptions } from "./eventsourced.js";
import { StubCaller, decodeCall, decodeEffect, decodeTimer } from "./shared.js";
import type {
  CallStubs,
  RecordedComponentCall,
  RecordedEffect,
  RecordedOutgoingCall,
  RecordedTimerAction,
} from "./shared.js";

/** Options of {@link createActionTestKit}. */
export interface ActionTestKitOptions {
  /** Stubs answering the handlers' `ctx.call()`, keyed by `"<package.Service>/<Method>"`. */
  calls?: CallStubs;
  /** Receives the SDK's logs (internal errors). Default: silent; the error is on `result.error.cause`. */
  logger?: Logger;
}

/** What a unary or client-streaming call did, decoded back for assertions. */
export interface ActionResult<O extends DescMessage> {
  /** The reply message; undefined when the call failed or forwarded. */
  readonly reply: MessageShape<O> | undefined;
  /** The forward the call answered with, if any. */
  readonly forward: RecordedComponentCall | undefined;
  /** The failure sent to the client; an internal error keeps the original on `cause`. */
  readonly error: CairnError | undefined;
  readonly effects: RecordedEffect[];
  readonly timers: RecordedTimerAction[];
  readonly replyMetadata: MetadataMap;
}

/** What a server- or bidi-streaming call did, decoded back for assertions. */
export interface ActionStreamResult<O extends DescMessage> {
  /** The replies streamed before the end (or the failure). */
  readonly replies: MessageShape<O>[];
  /** The failure that ended the stream, if any. */
  readonly error: CairnError | undefined;
  /** Effects of all streamed messages, in order. */
  readonly effects: RecordedEffect[];
  /** Timers of all streamed messages, in order. */
  readonly timers: RecordedTimerAction[];
  /** Metadata of the first reply. */
  readonly replyMetadata: MetadataMap;
}

type MethodOf<
  Svc extends DescService,
  K extends keyof Svc["method"],
> = Svc["method"][K] extends DescMethod ? Svc["method"][K] : never;

/** The input of a test call: a request, or the requests of a client stream. */
export type ActionTestInput<M extends DescMethod> = M["methodKind"] extends
  "unary" | "server_streaming"
  ? MessageInitShape<M["input"]>
  : Iterable<MessageInitShape<M["input"]>> | AsyncIterable<MessageInitShape<M["input"]>>;

/** The result of a test call, by the method's kind. */
export type ActionTestResult<M extends DescMethod> = M["methodKind"] extends
  "unary" | "client_streaming"
  ? ActionResult<M["output"]>
  : ActionStreamResult<M["output"]>;

/** An action running in memory. */
export interface ActionTestKit<Svc extends DescService> {
  /**
   * Calls a handler by the method's local name. Streaming methods take an
   * iterable of requests (client and bidi streaming) and collect the stream
   * of replies (server and bidi streaming).
   */
  call<K extends keyof Svc["method"] & string>(
    method: K,
    input: ActionTestInput<MethodOf<Svc, K>>,
    options?: TestCallOptions,
  ): Promise<ActionTestResult<MethodOf<Svc, K>>>;
  /** Every `ctx.call()` the handlers made, in order. */
  readonly calls: readonly RecordedOutgoingCall[];
}

/**
 * Runs an action in memory, without runtime or network, on the server's own
 * dispatch path; `ctx.call()` is answered by the `calls` stubs.
 *
 * @example
 * ```ts
 * const kit = createActionTestKit(fanout, {
 *   calls: { "usersession.v1.UserSession/Touch": (req) => ({ sessionId: req.sessionId, loggedIn: true }) },
 * });
 * const r = await kit.call("touchAll", { sessionIds: ["a", "b"] });
 * expect(r.reply?.touched).toHaveLength(2);
 * const w = await kit.call("watchSessions", { sessionIds: ["a"] });
 * expect(w.replies).toHaveLength(1);
 * ```
 */
export function createActionTestKit<Svc extends DescService>(
  action: Action<Svc>,
  options: ActionTestKitOptions = {},
): ActionTestKit<Svc> {
  const caller = new StubCaller(options.calls ?? {});
  const def = action.definition;
  const dispatcher = new ActionDispatcher(
    new Map([[def.service.typeName, def]]),
    options.logger ?? silentLogger,
    caller,
  );
  const call = async (name: string, input: unknown, opts: TestCallOptions = {}) => {
    const method = def.service.methods.find((m) => m.localName === name);
    if (method === undefined) throw new Error(`${def.service.typeName} has no method '${name}'`);
    const command = (request: unknown, first: boolean): ActionCommand =>
      create(ActionCommandSchema, {
        serviceName: first ? def.service.typeName : "",
        name: first ? method.name : "",
        payload: packMessage(method.input, request as MessageInitShape<DescMessage>),
        metadata: first ? metadataFromMap(opts.metadata) : undefined,
      });
    async function* commands(): AsyncGenerator<ActionCommand> {
      let first = true;
      for await (const request of input as AsyncIterable<unknown>) {
        yield command(request, first);
        first = false;
      }
    }
    switch (method.methodKind) {
      case "unary":
        return single(method, await dispatcher.unary(command(input, true)));
      case "client_streaming":
        return single(method, await dispatcher.streamedIn(commands()));
      case "server_streaming":
        return collect(method, dispatcher.streamedOut(command(input, true)));
      case "bidi_streaming":
        return collect(method, dispatcher.streamed(commands()));
    }
  };
  return {
    call: call as ActionTestKit<Svc>["call"],
    get calls() {
      return caller.calls;
    },
  };
}

function single(method: DescMethod, outcome: ActionOutcome): ActionResult<DescMessage> {
  const action = outcome.response.clientAction?.action;
  return {
    reply:
      action?.case === "reply" && action.value.payload
        ? fromBinary(method.output, action.value.payload.value)
        : undefined,
    forward: outcome.forwarded && decodeCall(outcome.forwarded),
    error: outcome.error,
    effects: outcome.effects.map(decodeEffect),
    timers: outcome.timers.map(decodeTimer),
    replyMetadata: metadataToMap(action?.case === "reply" ? action.value.metadata : undefined),
  };
}

async function collect(
  method: DescMethod,
  outcomes: AsyncIterable<ActionOutcome>,
): Promise<ActionStreamResult<DescMessage>> {
  const replies: MessageShape<DescMessage>[] = [];
  const effects: RecordedEffect[] = [];
  const timers: RecordedTimerAction[] = [];
  let error: CairnError | undefined;
  let replyMetadata: MetadataMap | undefined;
  for await (const outcome of outcomes) {
    const action = outcome.response.clientAction?.action;
    if (action?.case === "reply") {
      replies.push(
        action.value.payload
          ? fromBinary(method.output, action.value.payload.value)
          : create(method.output),
      );
      replyMetadata ??= metadataToMap(action.value.metadata);
    }
    if (outcome.error !== undefined) error = outcome.error;
    effects.push(...outcome.effects.map(decodeEffect));
    timers.push(...outcome.timers.map(decodeTimer));
  }
  return { replies, error, effects, timers, replyMetadata: replyMetadata ?? new Map() };
}
