/**
 * Streaming calls of actions: server-, client- and bidirectional streaming
 * on the `Actions` service. The runtime relays the client's messages as
 * ActionCommands (the first names service and method) and yields the
 * function's ActionResponses as they come.
 */
import { once } from "node:events";
import { create } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import {
  ActionCommandSchema,
  Actions,
  CairnError,
  Code,
  grpcServiceDefinition,
} from "@cairn/protocol";
import type { ActionCommand, ActionResponse } from "@cairn/protocol";
import type { StreamInvocation } from "../core/types.js";
import type { ActionHandlerOptions } from "./actions.js";
import { callContext } from "./kinds/channel-messages.js";
import { messageAny, toWireMetadata } from "../core/payloads.js";

const def = grpcServiceDefinition(Actions);

/** Starts a streaming action call; the responses arrive as an async iterable. */
export async function streamAction(
  options: ActionHandlerOptions,
  inv: StreamInvocation,
): Promise<AsyncIterable<ActionResponse>> {
  const callOptions: grpc.CallOptions =
    inv.deadline === undefined ? {} : { deadline: inv.deadline };
  const wait = inv.deadline === undefined ? options.commandTimeoutMs : inv.deadline - Date.now();
  if (!(await options.connection.whenConnected(wait))) {
    throw new CairnError(
      Code.Unavailable,
      `the user function is not available (${options.connection.status}); retry later`,
    );
  }
  const client = options.client();
  const kind = inv.method.methodKind;
  if (kind === "server_streaming") {
    const first = await firstInput(inv);
    const m = def.handleStreamedOut!;
    const call = client.makeServerStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      command(inv, first, true),
      callOptions,
    );
    inv.signal?.addEventListener("abort", () => call.cancel(), { once: true });
    return mapErrors(call, inv);
  }
  if (kind === "client_streaming") {
    const m = def.handleStreamedIn!;
    // The outcome is settled into a value, never left as a rejected promise:
    // the consumer may never ask for it (a bad input message fails the call
    // first), and a rejection that nobody awaits ends the process.
    let settle!: (outcome: Outcome<ActionResponse>) => void;
    const outcome = new Promise<Outcome<ActionResponse>>((resolve) => (settle = resolve));
    const call = client.makeClientStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      callOptions,
      (err, value) =>
        settle(err ? { error: streamError(err, inv) } : { value: value as ActionResponse }),
    );
    inv.signal?.addEventListener("abort", () => call.cancel(), { once: true });
    pipeInputs(inv, call);
    return (async function* () {
      const o = await outcome;
      if ("error" in o) throw o.error;
      yield o.value;
    })();
  }
  const m = def.handleStreamed!;
  const call = client.makeBidiStreamRequest(
    m.path,
    m.requestSerialize,
    m.responseDeserialize,
    callOptions,
  );
  inv.signal?.addEventListener("abort", () => call.cancel(), { once: true });
  pipeInputs(inv, call);
  return mapErrors(call, inv);
}

type Outcome<T> = { readonly value: T } | { readonly error: CairnError };

function command(inv: StreamInvocation, input: Uint8Array, first: boolean): ActionCommand {
  return create(ActionCommandSchema, {
    serviceName: first ? inv.service.desc.typeName : "",
    name: first ? inv.method.name : "",
    payload: messageAny(inv.method.input.typeName, input),
    ...(first
      ? { metadata: toWireMetadata(callContext(inv.metadata, inv.service.desc.typeName)) }
      : {}),
  });
}

async function firstInput(inv: StreamInvocation): Promise<Uint8Array> {
  for await (const input of inv.inputs) return input;
  throw new CairnError(
    Code.InvalidArgument,
    `${inv.service.desc.typeName}/${inv.method.name} needs a request message`,
  );
}

/**
 * Relays the client's messages with backpressure; the first names service
 * and method. Runs on its own and never rejects: a failed input (a bad
 * message, the client gone) cancels the call, whose end reaches the
 * consumer through the response side.
 */
function pipeInputs(
  inv: StreamInvocation,
  call: grpc.ClientWritableStream<ActionCommand> | grpc.ClientDuplexStream<ActionCommand, unknown>,
): void {
  const relay = async (): Promise<void> => {
    let first = true;
    for await (const input of inv.inputs) {
      if (!call.write(command(inv, input, first))) await once(call, "drain");
      first = false;
    }
    if (first) call.write(command(inv, new Uint8Array(), true)); // names the method even with no message
    call.end();
  };
  relay().catch(() => call.cancel());
}

/**
 * The call's responses with errors mapped to CairnErrors. The call's
 * `'error'` event always has a listener: the consumer may stop iterating
 * (or never start) before the call ends, and an `'error'` with no listener
 * ends the process. While iterating, the error also ends the iteration.
 */
function mapErrors(
  call: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<ActionCommand, unknown>,
  inv: StreamInvocation,
): AsyncIterable<ActionResponse> {
  call.on("error", () => {});
  const source = call as AsyncIterable<ActionResponse>;
  return (async function* () {
    try {
      for await (const r of source) yield r;
    } catch (err) {
      throw streamError(err as grpc.ServiceError, inv);
    }
  })();
}

function streamError(err: grpc.ServiceError, inv: StreamInvocation): CairnError {
  const what = `${inv.service.desc.typeName}.${inv.method.name}`;
  switch (err.code) {
    case GrpcStatus.CANCELLED:
      return new CairnError(Code.Canceled, `the call to ${what} was cancelled`);
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new CairnError(Code.DeadlineExceeded, `action ${what} did not finish in time`);
    case GrpcStatus.UNAVAILABLE:
      return new CairnError(
        Code.Unavailable,
        `the user function went away during ${what}: ${err.details}`,
      );
    default:
      return new CairnError(
        Code.Internal,
        `streaming action ${what} failed in the user function's SDK: ${err.details}`,
        { cause: err },
      );
  }
}
