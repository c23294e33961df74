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
import { extendChain } from "./kinds/channel-messages.js";
import { messageAny, toWireMetadata } from "./payloads.js";

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
    return mapErrors(call as AsyncIterable<ActionResponse>, inv);
  }
  if (kind === "client_streaming") {
    const m = def.handleStreamedIn!;
    let settle!: { resolve: (r: ActionResponse) => void; reject: (e: unknown) => void };
    const result = new Promise<ActionResponse>((resolve, reject) => (settle = { resolve, reject }));
    const call = client.makeClientStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      callOptions,
      (err, value) =>
        err ? settle.reject(streamError(err, inv)) : settle.resolve(value as ActionResponse),
    );
    inv.signal?.addEventListener("abort", () => call.cancel(), { once: true });
    void pipeInputs(inv, call);
    return (async function* () {
      yield await result;
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
  void pipeInputs(inv, call);
  return mapErrors(call as AsyncIterable<ActionResponse>, inv);
}

function command(inv: StreamInvocation, input: Uint8Array, first: boolean): ActionCommand {
  return create(ActionCommandSchema, {
    serviceName: first ? inv.service.desc.typeName : "",
    name: first ? inv.method.name : "",
    payload: messageAny(inv.method.input.typeName, input),
    ...(first
      ? { metadata: toWireMetadata(extendChain(inv.metadata, inv.service.desc.typeName)) }
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

/** Relays the client's messages with backpressure; the first names service and method. */
async function pipeInputs(
  inv: StreamInvocation,
  call: grpc.ClientWritableStream<ActionCommand> | grpc.ClientDuplexStream<ActionCommand, unknown>,
): Promise<void> {
  let first = true;
  try {
    for await (const input of inv.inputs) {
      if (!call.write(command(inv, input, first))) await once(call, "drain");
      first = false;
    }
    if (first) call.write(command(inv, new Uint8Array(), true)); // names the method even with no message
    call.end();
  } catch {
    call.cancel();
  }
}

async function* mapErrors(
  source: AsyncIterable<ActionResponse>,
  inv: StreamInvocation,
): AsyncIterable<ActionResponse> {
  try {
    for await (const r of source) yield r;
  } catch (err) {
    throw streamError(err as grpc.ServiceError, inv);
  }
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
