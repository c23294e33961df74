/**
 * Calls actions (stateless handlers) in the user function: one gRPC call per
 * invocation on the `Actions` service, bounded by the invocation's deadline.
 */
import { create } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import {
  ActionCommandSchema,
  ActionInSchema,
  Actions,
  CairnError,
  Code,
  grpcServiceDefinition,
} from "@cairn/protocol";
import type { ActionCommand, ActionIn, ActionOut, ActionResponse } from "@cairn/protocol";
import type { ChannelMux } from "./channel-mux.js";
import type { ActionHandler } from "../core/action-calls.js";
import type { Invocation } from "../core/types.js";
import { streamAction } from "./action-streams.js";
import { callContext } from "./kinds/channel-messages.js";
import { messageAny, toWireMetadata } from "../core/payloads.js";

const def = grpcServiceDefinition(Actions);

/** Options of {@link createActionHandler}. */
export interface ActionHandlerOptions {
  client: () => grpc.Client;
  connection: { whenConnected(timeoutMs: number): Promise<boolean>; readonly status: string };
  commandTimeoutMs: number;
  /** The multiplexed action stream; used for unary calls while it is open. */
  mux?: () => ChannelMux<ActionIn, ActionOut>;
}

/** Creates the action caller of a runtime. */
export function createActionHandler(options: ActionHandlerOptions): ActionHandler {
  return {
    async unary(inv: Invocation): Promise<ActionResponse> {
      const deadline = Math.min(inv.deadline ?? Infinity, Date.now() + options.commandTimeoutMs);
      if (!(await options.connection.whenConnected(deadline - Date.now()))) {
        throw new CairnError(
          Code.Unavailable,
          `the user function is not available (${options.connection.status}); retry later`,
        );
      }
      const command = create(ActionCommandSchema, {
        serviceName: inv.service.desc.typeName,
        name: inv.method.name,
        payload: messageAny(inv.method.input.typeName, inv.input),
        metadata: toWireMetadata(callContext(inv.metadata, inv.service.desc.typeName)),
      });
      const mux = options.mux?.();
      if (mux?.isOpen === true) return viaMux(mux, command, deadline, inv);
      const m = def.handleUnary!;
      return new Promise<ActionResponse>((resolve, reject) => {
        const call = options
          .client()
          .makeUnaryRequest(
            m.path,
            m.requestSerialize,
            m.responseDeserialize,
            command,
            { deadline },
            (err: grpc.ServiceError | null, value?: unknown) => {
              if (err === null) return resolve(value as ActionResponse);
              reject(actionError(err, inv));
            },
          );
        inv.signal?.addEventListener("abort", () => call.cancel(), { once: true });
      });
    },
    stream: (inv) => streamAction(options, inv),
  };
}

/** One unary call as a channel of the multiplexed stream: one command out, one response back. */
function viaMux(
  mux: ChannelMux<ActionIn, ActionOut>,
  command: ActionCommand,
  deadline: number,
  inv: Invocation,
): Promise<ActionResponse> {
  const what = `${inv.service.desc.typeName}.${inv.method.name}`;
  return new Promise<ActionResponse>((resolve, reject) => {
    let channel: bigint | undefined = undefined;
    const finish = () => {
      clearTimeout(timer);
      if (channel !== undefined) mux.closeChannel(channel);
    };
    const timer = setTimeout(
      () => {
        finish();
        reject(new CairnError(Code.DeadlineExceeded, `action ${what} did not answer in time`));
      },
      Math.max(0, deadline - Date.now()),
    );
    channel = mux.openChannel({
      onMessage: (out) => {
        finish();
        if (out.response === undefined) {
          reject(
            new CairnError(Code.Internal, `action ${what}: the user function sent no response`),
          );
        } else resolve(out.response);
      },
      onLost: (err) => {
        clearTimeout(timer);
        reject(
          new CairnError(
            Code.Unavailable,
            `the user function went away while handling ${what}: ${err.message}`,
          ),
        );
      },
    });
    if (channel === undefined) {
      clearTimeout(timer);
      reject(
        new CairnError(
          Code.Unavailable,
          `the user function connection dropped before ${what} could be sent; retry`,
        ),
      );
      return;
    }
    inv.signal?.addEventListener(
      "abort",
      () => {
        finish();
        reject(new CairnError(Code.Canceled, "the client cancelled the call"));
      },
      { once: true },
    );
    mux.send(create(ActionInSchema, { channelId: channel, command }));
  });
}

function actionError(err: grpc.ServiceError, inv: Invocation): CairnError {
  const what = `${inv.service.desc.typeName}.${inv.method.name}`;
  if (err.code === GrpcStatus.DEADLINE_EXCEEDED) {
    return new CairnError(Code.DeadlineExceeded, `action ${what} did not answer in time`);
  }
  if (err.code === GrpcStatus.UNAVAILABLE) {
    return new CairnError(
      Code.Unavailable,
      `the user function went away while handling ${what}: ${err.details}`,
    );
  }
  return new CairnError(
    Code.Internal,
    `action ${what} failed in the user function's SDK: ${err.details}`,
    { cause: err },
  );
}
