import { create } from "@bufbuild/protobuf";
import type { DescMethod, MessageInitShape } from "@bufbuild/protobuf";
import { ActionResponseSchema, CairnError, Code } from "@cairn/protocol";
import type { ActionCommand, ActionResponse, Forward, SideEffect } from "@cairn/protocol";
import { ContextBase } from "../context/base.js";
import type { RecordedCall, RecordedTimer } from "../context/base.js";
import type { Caller } from "../context/caller.js";
import { resolveCommand } from "../context/command.js";
import type { HandlerEntry } from "../context/command.js";
import { clientError, failureAction, successAction } from "../context/outcome.js";
import type { CallOptions, Forwarded } from "../context/types.js";
import type { Logger } from "../log.js";
import { packMessage, unpackMessage } from "../payload/codec.js";
import { metadataFromMap, metadataToMap } from "../payload/metadata.js";
import type { MetadataMap } from "../payload/metadata.js";
import type { ActionDefinition, ErasedActionHandler } from "./action.js";

/** One response of an action, plus what the testkit inspects. */
export interface ActionOutcome {
  readonly response: ActionResponse;
  /** The failure sent to the client, with the original error as `cause` when it was internal. */
  readonly error?: CairnError;
  /** The effects this response carries (on a stream: those recorded since the previous one). */
  readonly effects: readonly RecordedCall<SideEffect>[];
  readonly forwarded?: RecordedCall<Forward> | undefined;
  readonly timers: readonly RecordedTimer[];
}

type MethodKind = DescMethod["methodKind"];
type Entry = HandlerEntry<ErasedActionHandler>;

/**
 * Runs action handlers for the four shapes of the `Actions` service. The one
 * command path shared by the server and the testkit; never throws, every
 * failure becomes a failure response (on a stream: the last one).
 */
export class ActionDispatcher {
  constructor(
    private readonly actions: ReadonlyMap<string, ActionDefinition>,
    private readonly logger: Logger,
    private readonly caller: Caller,
  ) {}

  /** `HandleUnary`: one command, one response. */
  async unary(command: ActionCommand): Promise<ActionOutcome> {
    const found = this.resolve(command, "unary");
    if ("error" in found) return failure(found.error);
    return this.single(found.entry, found.request, command, true);
  }

  /** `HandleStreamedIn`: the first command names the method; one response. */
  async streamedIn(commands: AsyncIterable<ActionCommand>): Promise<ActionOutcome> {
    const iterator = commands[Symbol.asyncIterator]();
    const first = await nextCommand(iterator);
    if ("error" in first) return failure(first.error);
    const found = this.resolve(first.command, "client_streaming");
    if ("error" in found) return failure(found.error);
    const requests = requestStream(found.entry.method, first.command, found.request, iterator);
    return this.single(found.entry, requests, first.command, true);
  }

  /** `HandleStreamedOut`: one command, a stream of responses. */
  async *streamedOut(command: ActionCommand): AsyncGenerator<ActionOutcome> {
    const found = this.resolve(command, "server_streaming");
    if ("error" in found) {
      yield failure(found.error);
      return;
    }
    yield* this.stream(found.entry, found.request, command);
  }

  /** `HandleStreamed`: the first command names the method; a stream of responses. */
  async *streamed(commands: AsyncIterable<ActionCommand>): AsyncGenerator<ActionOutcome> {
    const iterator = commands[Symbol.asyncIterator]();
    const first = await nextCommand(iterator);
    if ("error" in first) {
      yield failure(first.error);
      return;
    }
    const found = this.resolve(first.command, "bidi_streaming");
    if ("error" in found) {
      yield failure(found.error);
      return;
    }
    const requests = requestStream(found.entry.method, first.command, found.request, iterator);
    yield* this.stream(found.entry, requests, first.command);
  }

  private resolve(
    command: ActionCommand,
    kind: MethodKind,
  ): { entry: Entry; request: unknown } | { error: CairnError } {
    const def = this.actions.get(command.serviceName);
    if (def === undefined) {
      const known = [...this.actions.keys()].join(", ") || "none";
      return {
        error: new CairnError(
          Code.NotFound,
          `no action serves '${command.serviceName}' (served: ${known})`,
        ),
      };
    }
    const resolved = resolveCommand(def.service, def.handlers, command.name, command.payload);
    if ("error" in resolved) return resolved;
    const actual = resolved.entry.method.methodKind;
    if (actual !== kind) {
      const message = `method ${def.service.typeName}/${command.name} is ${actual}, but was called as ${kind} (use ${RPC_OF[actual]})`;
      return { error: new CairnError(Code.InvalidArgument, message) };
    }
    return resolved;
  }

  /** Runs a handler answering one message: unary and client-streaming. */
  private async single(
    entry: Entry,
    input: unknown,
    command: ActionCommand,
    canForward: boolean,
  ): Promise<ActionOutcome> {
    const ctx = new ActionContextImpl(
      entry.method,
      metadataToMap(command.metadata),
      this.caller,
      canForward,
    );
    try {
      const result = await entry.handler(input, ctx);
      ctx.seal();
      const response = create(ActionResponseSchema, {
        clientAction: successAction(entry.method, ctx, result),
        sideEffects: ctx.effects.map((e) => e.wire),
        timers: ctx.timerActions.map((t) => t.wire),
      });
      return {
        response,
        effects: ctx.effects,
        forwarded: ctx.forwarded,
        timers: ctx.timerActions,
      };
    } catch (err) {
      ctx.seal();
      return failure(clientError(err, { method: entry.method }, this.logger));
    }
  }

  /**
   * Runs a handler answering a stream: each reply carries the effects and
   * timers recorded since the previous one; a failure is the last message and
   * drops what was recorded since the last reply.
   */
  private async *stream(
    entry: Entry,
    input: unknown,
    command: ActionCommand,
  ): AsyncGenerator<ActionOutcome> {
    const method = entry.method;
    const ctx = new ActionContextImpl(method, metadataToMap(command.metadata), this.caller, false);
    let effectsSent = 0;
    let timersSent = 0;
    let first = true;
    const next = (clientAction: ActionResponse["clientAction"]): ActionOutcome => {
      const effects = ctx.effects.slice(effectsSent);
      const timers = ctx.timerActions.slice(timersSent);
      effectsSent += effects.length;
      timersSent += timers.length;
      const response = create(ActionResponseSchema, {
        clientAction,
        sideEffects: effects.map((e) => e.wire),
        timers: timers.map((t) => t.wire),
      });
      return { response, effects, timers };
    };
    try {
      const replies = entry.handler(input, ctx) as AsyncIterable<unknown> | Iterable<unknown>;
      for await (const value of replies) {
        const payload = packMessage(method.output, value as MessageInitShape<DescMethod["output"]>);
        const metadata = first ? metadataFromMap(ctx.replyMetadata) : undefined;
        first = false;
        yield next({
          $typeName: "cairn.protocol.v1.ClientAction",
          action: {
            case: "reply",
            value: { $typeName: "cairn.protocol.v1.Reply", payload, metadata },
          },
        });
      }
    } catch (err) {
      ctx.seal();
      yield failure(clientError(err, { method }, this.logger));
      return;
    }
    ctx.seal();
    if (ctx.effects.length > effectsSent || ctx.timerActions.length > timersSent)
      yield next(undefined);
  }
}

/** The context of an action call; streams of replies cannot be forwarded. */
class ActionContextImpl extends ContextBase {
  constructor(
    method: DescMethod,
    metadata: MetadataMap,
    caller: Caller,
    private readonly canForward: boolean,
  ) {
    super(method, metadata, caller);
  }

  override forward<M extends DescMethod>(
    method: M,
    request: MessageInitShape<M["input"]>,
    options?: CallOptions,
  ): Forwarded {
    if (!this.canForward) {
      throw new Error(
        `forward() is not available in the ${this.method.methodKind} handler of ${this.method.parent.name}.${this.method.name}: a stream of replies cannot be handed to another component; use ctx.call() and yield its reply`,
      );
    }
    return super.forward(method, request, options);
  }
}

const RPC_OF: Record<MethodKind, string> = {
  unary: "HandleUnary",
  server_streaming: "HandleStreamedOut",
  client_streaming: "HandleStreamedIn",
  bidi_streaming: "HandleStreamed",
};

function failure(error: CairnError): ActionOutcome {
  const response = create(ActionResponseSchema, { clientAction: failureAction(error) });
  return { response, error, effects: [], timers: [] };
}

async function nextCommand(
  iterator: AsyncIterator<ActionCommand>,
): Promise<{ command: ActionCommand } | { error: CairnError }> {
  const first = await iterator.next();
  if (first.done === true) {
    return {
      error: new CairnError(
        Code.InvalidArgument,
        "the command stream ended before its first message, which must name the service and method",
      ),
    };
  }
  return { command: first.value };
}

/**
 * The requests of a streamed call, decoded: the first one (already decoded
 * while resolving the method), then each later command. A later command that
 * names another method or carries an invalid payload ends the stream with
 * INVALID_ARGUMENT, which fails the call unless the handler catches it.
 */
async function* requestStream(
  method: DescMethod,
  first: ActionCommand,
  firstRequest: unknown,
  rest: AsyncIterator<ActionCommand>,
): AsyncGenerator<unknown> {
  yield firstRequest;
  const where = `${method.parent.typeName}/${method.name}`;
  for (;;) {
    const next = await rest.next();
    if (next.done === true) return;
    const command = next.value;
    if (
      (command.serviceName !== "" && command.serviceName !== first.serviceName) ||
      (command.name !== "" && command.name !== first.name)
    ) {
      throw new CairnError(
        Code.InvalidArgument,
        `a command of the stream of ${where} names ${command.serviceName}/${command.name}; later messages may only leave the names empty or repeat them`,
      );
    }
    const request = unpackMessage(method.input, command.payload);
    if ("error" in request)
      throw new CairnError(Code.InvalidArgument, `invalid command ${where}: ${request.error}`);
    yield request.value;
  }
}
