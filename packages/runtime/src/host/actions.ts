/**
 * Calls actions (stateless handlers) in the user function: one gRPC call per
 * invocation on the `Actions` service, bounded by the invocation's deadline.
 */
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
import type { ActionResponse } from "@cairn/protocol";
import type { ActionHandler } from "../core/router.js";
import type { Invocation } from "../core/types.js";
import { streamAction } from "./action-streams.js";
import { extendChain } from "./kinds/channel-messages.js";
import { messageAny, toWireMetadata } from "./payloads.js";

const def = grpcServiceDefinition(Actions);

/** Options of {@link createActionHandler}. */
export interface ActionHandlerOptions {
  client: () => grpc.Client;
  connection: { whenConnected(timeoutMs: number): Promise<boolean>; readonly status: string };
  commandTimeoutMs: number;
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
        metadata: toWireMetadata(extendChain(inv.metadata, inv.service.desc.typeName)),
      });
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
