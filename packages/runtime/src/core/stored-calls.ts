/**
 * Stored calls (outbox entries, timers) made into invocations when they are
 * delivered: the target is looked up in the catalog of that moment, which
 * may differ from the one the call was stored under (a redeploy).
 */
import { CairnError, Code } from "@cairn/protocol";
import type { StoredCall } from "../store/durable-work.js";
import type { Clock } from "./clock.js";
import { withoutCallContext } from "./replies.js";
import { resolveTarget } from "./targets.js";
import type { Catalog, Invocation } from "./types.js";

/** Turns a stored call into an invocation, or explains why it cannot be made now. */
export type CallResolver = (
  call: StoredCall,
) => { value: Invocation } | { error: CairnError; permanent: boolean };

/**
 * The resolver of a runtime: a call whose service or method no longer
 * exists is `permanent` (a timer is parked); before the first discovery
 * nothing is known yet, so the call waits. Each call gets `timeoutMs`.
 */
export function storedCallResolver(
  catalog: () => Catalog | undefined,
  clock: Clock,
  timeoutMs: number,
): CallResolver {
  return (call) => {
    const current = catalog();
    if (current === undefined) {
      return {
        error: new CairnError(Code.Unavailable, "the user function is not discovered yet"),
        permanent: false,
      };
    }
    const target = resolveTarget(current, call.service, call.method, "call");
    if ("error" in target) return { error: target.error, permanent: true };
    return {
      value: {
        service: target.value.service,
        method: target.value.method,
        input: call.payload.value,
        metadata: withoutCallContext({ ...call.metadata }),
        deadline: clock.now() + timeoutMs,
      },
    };
  };
}
