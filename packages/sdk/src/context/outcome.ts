import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { DescMethod, MessageInitShape } from "@bufbuild/protobuf";
import { CairnError, ClientActionSchema, Code } from "@cairn/protocol";
import type { ClientAction } from "@cairn/protocol";
import { describeError } from "../log.js";
import type { Logger } from "../log.js";
import { packMessage } from "../payload/codec.js";
import { metadataFromMap } from "../payload/metadata.js";
import type { ContextBase } from "./base.js";

/**
 * The client action of a successful handler: its forward if it called
 * forward(), else its result as the method's output (nothing = empty
 * message). Throws when the result does not fit the output type.
 */
export function successAction(method: DescMethod, ctx: ContextBase, result: unknown): ClientAction {
  if (ctx.forwarded !== undefined)
    return create(ClientActionSchema, { action: { case: "forward", value: ctx.forwarded.wire } });
  const payload = packMessage(
    method.output,
    (result ?? {}) as MessageInitShape<DescMethod["output"]>,
  );
  return create(ClientActionSchema, {
    action: { case: "reply", value: { payload, metadata: metadataFromMap(ctx.replyMetadata) } },
  });
}

/** The client action of a failure. */
export function failureAction(error: CairnError, restart = false): ClientAction {
  return create(ClientActionSchema, {
    action: { case: "failure", value: { code: error.code, message: error.message, restart } },
  });
}

/** Where a handler failed, for the log record. */
export interface FailureSite {
  readonly method: DescMethod;
  /** Extra fields for the log record (entity id, command id). */
  readonly fields?: Readonly<Record<string, unknown>>;
  /** The log message; default `command handler failed in <Service>.<Method>`. */
  readonly msg?: string;
}

/**
 * What the client learns of an error thrown by a handler: a `CairnError`
 * keeps its code and message; anything else becomes INTERNAL with a
 * correlation id, and the full error goes to the log under that id (never to
 * the client, who may not see internals).
 */
export function clientError(
  err: unknown,
  site: FailureSite,
  logger: Logger,
  internal = false,
): CairnError {
  if (err instanceof CairnError && !internal) return err;
  const correlationId = randomUUID();
  const where = `${site.method.parent.name}.${site.method.name}`;
  logger({
    level: "error",
    msg: site.msg ?? `command handler failed in ${where}`,
    service: site.method.parent.typeName,
    method: site.method.name,
    ...site.fields,
    correlationId,
    error: describeError(err),
  });
  const message = `internal error in ${where} (correlation id ${correlationId})`;
  return new CairnError(Code.Internal, message, { cause: err });
}
