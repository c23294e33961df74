import type * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { status as GrpcStatus } from "@grpc/grpc-js";
import {
  ActionOutFrameSchema,
  ActionOutSchema,
  ActionResponseSchema,
  CairnError,
  Code,
} from "@cairn/protocol";
import type {
  ActionCommand,
  ActionInFrame,
  ActionOut,
  ActionOutFrame,
  ActionResponse,
} from "@cairn/protocol";
import { failureAction } from "../context/outcome.js";
import { FrameWriter } from "./frame-writer.js";
import type { ActionDefinition } from "../action/action.js";
import { ActionDispatcher } from "../action/runner.js";
import type { ActionOutcome } from "../action/runner.js";
import type { Component } from "../component.js";
import { describeError } from "../log.js";
import type { ServiceEnv } from "./entity-services.js";

/**
 * The grpc-js implementation of `Actions`. Each call is one action call;
 * failures travel as `client_action.failure` in a response (on a stream: the
 * last one, then the stream ends OK), so gRPC errors only mean that the
 * transport broke.
 */
export function actionService(
  components: readonly Component[],
  env: ServiceEnv,
): grpc.UntypedServiceImplementation {
  const actions = new Map<string, ActionDefinition>();
  for (const c of components)
    if (c.kind === "action") actions.set(c.service.typeName, c.definition);
  const dispatcher = new ActionDispatcher(actions, env.logger, env.caller);
  return {
    handleUnary(
      call: grpc.ServerUnaryCall<ActionCommand, ActionResponse>,
      callback: grpc.sendUnaryData<ActionResponse>,
    ) {
      dispatcher.unary(call.request).then(
        (o) => callback(null, o.response),
        (err: unknown) => callback(internal(err, env)),
      );
    },
    handleStreamedIn(
      call: grpc.ServerReadableStream<ActionCommand, ActionResponse>,
      callback: grpc.sendUnaryData<ActionResponse>,
    ) {
      dispatcher.streamedIn(incoming(call)).then(
        (o) => callback(null, o.response),
        (err: unknown) => callback(internal(err, env)),
      );
    },
    handleStreamedOut(call: grpc.ServerWritableStream<ActionCommand, ActionResponse>) {
      pipe(dispatcher.streamedOut(call.request), call, env);
    },
    handleStreamed(call: grpc.ServerDuplexStream<ActionCommand, ActionResponse>) {
      pipe(dispatcher.streamed(incoming(call)), call, env);
    },
    // Unary calls multiplexed on one stream: each inbound message is a call,
    // answered on the same channel id; answers of one tick share a frame.
    handleMultiplexed(call: grpc.ServerDuplexStream<ActionInFrame, ActionOutFrame>) {
      const writer = new FrameWriter<ActionOut, ActionOutFrame>(call, (messages) =>
        create(ActionOutFrameSchema, { messages }),
      );
      call.on("data", (frame: ActionInFrame) => {
        for (const message of frame.messages) {
          const command = message.command;
          if (command === undefined) continue;
          dispatcher.unary(command).then(
            (o) =>
              writer.push(
                create(ActionOutSchema, { channelId: message.channelId, response: o.response }),
              ),
            (err: unknown) => {
              // The dispatcher answers failures itself; this is a bug in it.
              env.logger({ level: "error", msg: "action call failed", error: describeError(err) });
              writer.push(
                create(ActionOutSchema, {
                  channelId: message.channelId,
                  response: failureResponse(err),
                }),
              );
            },
          );
        }
      });
      call.on("end", () => {
        writer.idle().then(
          () => call.end(),
          () => call.end(),
        );
      });
      call.on("error", () => writer.close());
      call.on("cancelled", () => writer.close());
    },
  };
}

/**
 * The commands of a client stream; a broken stream ends the handler's
 * requests with an error. The plain async iterator of a Node stream destroys
 * it when the loop ends, which on a bidi call would also kill the response
 * side before the handler has answered: hence `destroyOnReturn: false`.
 */
async function* incoming(
  call: grpc.ServerReadableStream<ActionCommand, ActionResponse>,
): AsyncGenerator<ActionCommand> {
  const commands = call.iterator({ destroyOnReturn: false }) as AsyncIterable<ActionCommand>;
  for await (const command of commands) yield command;
}

/**
 * Writes a stream of responses, waiting for the transport to drain when its
 * buffer is full, and stops the handler (its generator's `finally` runs) when
 * the client cancels.
 */
function pipe(
  outcomes: AsyncGenerator<ActionOutcome>,
  call:
    | grpc.ServerWritableStream<ActionCommand, ActionResponse>
    | grpc.ServerDuplexStream<ActionCommand, ActionResponse>,
  env: ServiceEnv,
): void {
  // pipeOutcomes handles its own failures; a rejection here is a bug in it.
  pipeOutcomes(outcomes, call, env).catch((err: unknown) =>
    env.logger({ level: "error", msg: "action stream failed", error: describeError(err) }),
  );
}

async function pipeOutcomes(
  outcomes: AsyncGenerator<ActionOutcome>,
  call:
    | grpc.ServerWritableStream<ActionCommand, ActionResponse>
    | grpc.ServerDuplexStream<ActionCommand, ActionResponse>,
  env: ServiceEnv,
): Promise<void> {
  let cancelled = false;
  call.on("cancelled", () => {
    cancelled = true;
    // Runs the handler's `finally`; what it throws there has nobody to go to but the log.
    outcomes.return(undefined).catch((err: unknown) =>
      env.logger({
        level: "warn",
        msg: "action stream cleanup failed",
        error: describeError(err),
      }),
    );
  });
  try {
    for await (const outcome of outcomes) {
      if (cancelled) break;
      if (!call.write(outcome.response)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            call.off("drain", done);
            call.off("cancelled", done);
            resolve();
          };
          call.on("drain", done);
          call.on("cancelled", done);
        });
      }
    }
    if (!cancelled) call.end();
  } catch (err) {
    // The dispatcher never throws; this is the transport failing mid-write.
    env.logger({ level: "warn", msg: "action stream failed", error: describeError(err) });
    if (!cancelled) call.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}

/** A failure response for an error that escaped the dispatcher (a bug: it answers failures itself). */
function failureResponse(err: unknown): ActionResponse {
  return create(ActionResponseSchema, {
    clientAction: failureAction(
      new CairnError(Code.Internal, `the action failed in the SDK: ${messageOf(err)}`),
    ),
  });
}

/** The gRPC status for an error that escaped the dispatcher; logged, since it is a bug. */
function internal(err: unknown, env: ServiceEnv): Partial<grpc.StatusObject> {
  env.logger({ level: "error", msg: "action call failed", error: describeError(err) });
  return { code: GrpcStatus.INTERNAL, details: `the action failed in the SDK: ${messageOf(err)}` };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
