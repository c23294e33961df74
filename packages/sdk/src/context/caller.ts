import type { DescMethod, Message } from "@bufbuild/protobuf";
import { CairnError, Code } from "@cairn/protocol";
import type { MetadataMap, MetadataValue } from "../payload/metadata.js";

/**
 * Makes `ctx.call()` calls: over gRPC to the runtime's proxy address in
 * production, to the test's stubs in the testkit.
 * @internal
 */
export interface Caller {
  /** Calls `method` with a complete request message; resolves with its reply. */
  call(
    method: DescMethod,
    request: Message,
    metadata: ReadonlyMap<string, MetadataValue>,
    timeoutMs?: number,
  ): Promise<Message>;
}

/**
 * Metadata keys of a command that follow it into the calls it makes: trace
 * context; `cairn-call-chain`, the components waiting on this call, with
 * which the runtime refuses a call cycle at once instead of letting it wait
 * on itself until its deadline; and `cairn-caller`, the command's id, with
 * which the runtime bounds the calls one command has in flight.
 */
export const TRACE_METADATA_KEYS: readonly string[] = [
  "traceparent",
  "tracestate",
  "x-request-id",
  "cairn-call-chain",
  "cairn-caller",
];

/** The metadata key (header) of a client's idempotency key. */
export const IDEMPOTENCY_KEY = "idempotency-key";

/**
 * Metadata key of the key base the runtime sends with a keyed command; the
 * keys of the command's calls derive from it (see the runtime's core/idempotency.ts).
 */
export const CALL_KEY_BASE = "cairn-call-key";

/**
 * The metadata of a call made while handling a command: the command's trace
 * metadata, overridden by what the handler passed.
 */
export function callMetadata(
  command: MetadataMap,
  explicit: Readonly<Record<string, MetadataValue>> | undefined,
): Map<string, MetadataValue> {
  const out = new Map<string, MetadataValue>();
  for (const key of TRACE_METADATA_KEYS) {
    const value = command.get(key);
    if (value !== undefined) out.set(key, value);
  }
  for (const [key, value] of Object.entries(explicit ?? {})) out.set(key.toLowerCase(), value);
  return out;
}

/** A caller for places where calls are impossible; says why. */
export const unavailableCaller: Caller = {
  call(method) {
    return Promise.reject(
      new CairnError(
        Code.FailedPrecondition,
        `cannot call ${method.parent.typeName}/${method.name}: no runtime proxy address is known yet (the runtime announces it at discovery)`,
      ),
    );
  },
};
