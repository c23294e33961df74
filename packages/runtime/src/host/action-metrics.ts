/**
 * Action calls in the command metrics (`cairn_commands_total`,
 * `cairn_command_duration_seconds`), labelled like entity commands: an
 * operator sees every call the node served, not only the stateful ones.
 */
import { CairnError, Code, codeName } from "@cairn/protocol";
import type { ActionHandler } from "../core/action-calls.js";
import type { ComponentReply, Invocation, StreamInvocation } from "../core/types.js";
import type { HostMetrics } from "./metrics.js";

/**
 * Wraps an action caller so each call is counted once with its outcome: a
 * unary call when its reply arrives, a streaming call when its stream ends
 * (its duration is the stream's whole life). A failure the function
 * answers with counts under that failure's code.
 */
export function withActionMetrics(
  actions: ActionHandler,
  metrics: Pick<HostMetrics, "commandCompleted">,
): ActionHandler {
  return {
    async unary(inv: Invocation) {
      const done = recorder(metrics, inv);
      try {
        const reply = await actions.unary(inv);
        done(outcomeOf(reply));
        return reply;
      } catch (err) {
        done(codeName(CairnError.from(err).code));
        throw err;
      }
    },
    async stream(inv: StreamInvocation) {
      const done = recorder(metrics, inv);
      try {
        return observed(await actions.stream(inv), done);
      } catch (err) {
        done(codeName(CairnError.from(err).code));
        throw err;
      }
    },
  };
}

type Done = (code: string) => void;

function recorder(
  metrics: Pick<HostMetrics, "commandCompleted">,
  inv: Pick<Invocation, "service" | "method">,
): Done {
  const started = performance.now();
  return (code) =>
    metrics.commandCompleted(
      inv.service.desc.typeName,
      inv.method.name,
      code,
      (performance.now() - started) / 1000,
    );
}

/** "OK", or the code of the failure the function answered with. */
function outcomeOf(reply: ComponentReply): string {
  const action = reply.clientAction?.action;
  if (action?.case !== "failure") return "OK";
  // Code 0 in a failure is a misbehaving SDK; the router answers it as UNKNOWN.
  return codeName(action.value.code === 0 ? Code.Unknown : action.value.code);
}

/** Relays a stream of replies and records its outcome once, when it ends however it ends. */
async function* observed(
  replies: AsyncIterable<ComponentReply>,
  done: Done,
): AsyncIterable<ComponentReply> {
  // A consumer that stops early (the client went away) ends us through return(): CANCELLED.
  let code = "CANCELLED";
  try {
    for await (const reply of replies) {
      if (reply.clientAction?.action.case === "failure") code = outcomeOf(reply);
      yield reply;
    }
    if (code === "CANCELLED") code = "OK";
  } catch (err) {
    code = codeName(CairnError.from(err).code);
    throw err;
  } finally {
    done(code);
  }
}
