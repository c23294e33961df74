/**
 * Idempotency keys on commands (decision 0008). A client may send an
 * `idempotency-key` header or gRPC metadata with any entity command or action
 * call. {@link KeyedCalls} sits in front of the component: the first attempt
 * with a key runs, and its outcome is stored in the same transaction as its
 * state change (the entity engine and action calls write it); a repeat of
 * the key for the same component instance gets the stored outcome without
 * running again; a repeat that arrives while the first runs waits for it; a
 * repeat with another request is refused with FAILED_PRECONDITION. Calls
 * without a key pass straight through: no read, no write, no hash.
 *
 * The outcome stored is what the component decided (its reply or forward,
 * and its synchronous effects), encoded as an ActionResponse. A repeat
 * carries that decision out again: forwards and effects are sent with keys
 * derived from the command's, so their targets answer them from their own
 * records instead of running them twice.
 */
import { createHash } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ActionResponseSchema, CairnError, Code } from "@cairn/protocol";
import type { IdempotencyStore, IdempotencyWrite } from "../store/idempotency.js";
import { checkIdempotencyKey, instanceKey } from "../store/idempotency.js";
import type { DurableWorkStore } from "../store/durable-work.js";
import type { EntityRef, StoredPayload } from "../store/types.js";
import type { EntityHandler } from "./router.js";
import type { ComponentReply, Invocation, InvocationResult } from "./types.js";

/** The metadata key (header) a client sends its key in. */
export const IDEMPOTENCY_KEY = "idempotency-key";

/**
 * Metadata key the runtime adds to a keyed command it sends to the function:
 * a digest of the command's instance and key, from which the SDK derives the
 * keys of the command's `ctx.call`s (`<base>.<position>`), and the runtime
 * those of its forward and effects.
 */
export const CALL_KEY_BASE = "cairn-call-key";

/** Reply metadata set on an answer replayed from a stored outcome (as Stripe's header). */
export const REPLAYED_KEY = "idempotent-replayed";

const OUTCOME_TYPE = "type.googleapis.com/cairn.protocol.v1.ActionResponse";

/** What a keyed command carries down to where its record is written. */
export interface CommandKey {
  readonly key: string;
  /** Digest of the method and the request bytes. */
  readonly requestHash: string;
}

/** A failure the component itself answered (not the runtime): stored for a keyed command. */
export class CommandFailedError extends CairnError {}

/** The record of a keyed command's outcome, for the write that commits it. */
export function outcomeRecord(
  scope: EntityRef,
  key: CommandKey,
  reply: ComponentReply,
): IdempotencyWrite {
  return { ...scope, ...key, outcome: encodeOutcome(reply) };
}

/** A reply's decision as stored: the client action and the synchronous effects. */
function encodeOutcome(reply: ComponentReply): StoredPayload {
  const message = create(ActionResponseSchema, {
    clientAction: reply.clientAction,
    sideEffects: reply.sideEffects.filter((e) => e.synchronous),
  });
  return { typeUrl: OUTCOME_TYPE, value: toBinary(ActionResponseSchema, message) };
}

function encodeFailure(error: CairnError): StoredPayload {
  return encodeOutcome({
    clientAction: {
      $typeName: "cairn.protocol.v1.ClientAction",
      action: {
        case: "failure",
        value: {
          $typeName: "cairn.protocol.v1.Failure",
          code: error.code,
          message: error.message,
          restart: false,
        },
      },
    },
    sideEffects: [],
    timers: [],
  });
}

function decodeOutcome(payload: StoredPayload): ComponentReply {
  const r = fromBinary(ActionResponseSchema, payload.value);
  return { clientAction: r.clientAction, sideEffects: r.sideEffects, timers: [] };
}

/** The key of a step (forward, effect) of a keyed command, from the command's key base. */
export function derivedKey(invocation: Invocation, step: string): string | undefined {
  const base = invocation.metadata[CALL_KEY_BASE];
  return base === undefined ? undefined : `${base}.${step}`;
}

/** What {@link KeyedCalls} needs of the runtime. */
export interface KeyedCallsOptions {
  readonly store: IdempotencyStore & DurableWorkStore;
  /** Carries out a stored decision again (reply execution's release). */
  readonly release: (invocation: Invocation, reply: ComponentReply) => Promise<InvocationResult>;
}

interface Running {
  readonly requestHash: string;
  readonly done: Promise<void>;
}

/** Runs keyed calls at most once per (instance, key); see the module doc. */
export class KeyedCalls {
  private readonly running = new Map<string, Running>();

  constructor(private readonly options: KeyedCallsOptions) {}

  /**
   * Runs `invocation` on the instance `scope` through `run`, or answers it
   * from the stored outcome of its key. `run` gets the invocation with
   * `idempotency` set, and must store the outcome record with its commit.
   */
  async call(
    scope: EntityRef,
    invocation: Invocation,
    run: (invocation: Invocation) => Promise<InvocationResult>,
  ): Promise<InvocationResult> {
    const key = invocation.metadata[IDEMPOTENCY_KEY];
    if (key === undefined) return run(invocation);
    const problem = checkIdempotencyKey(key);
    if (problem !== undefined) throw new CairnError(Code.InvalidArgument, problem);
    const requestHash = hashRequest(invocation);
    const id = `${instanceKey(scope)}\u0000${key}`;
    for (;;) {
      const first = this.running.get(id);
      if (first === undefined) break;
      if (first.requestHash !== requestHash) throw mismatch(key, scope, invocation);
      // A repeat while the first runs waits for it, then looks again.
      await waitWithin(first.done, invocation, key);
    }
    let finish!: () => void;
    const entry = { requestHash, done: new Promise<void>((r) => (finish = r)) };
    this.running.set(id, entry);
    const free = () => {
      if (this.running.get(id) === entry) this.running.delete(id);
      finish();
    };
    let stored;
    try {
      stored = await this.options.store.loadIdempotency(scope, key);
    } catch (err) {
      free();
      throw err;
    }
    if (stored !== undefined) {
      try {
        if (stored.requestHash !== requestHash) throw mismatch(key, scope, invocation);
        return await this.replay(withBase(invocation, scope, key), stored.outcome);
      } finally {
        free();
      }
    }
    return this.first(scope, withBase(invocation, scope, key), { key, requestHash }, run, free);
  }

  /**
   * The first attempt. Its key stays taken until the command's outcome is
   * decided: when an entity accepted it, that may be after the client's
   * deadline answered this call, and a retry in between must wait, not run
   * the command a second time.
   */
  private async first(
    scope: EntityRef,
    invocation: Invocation,
    key: CommandKey,
    run: (invocation: Invocation) => Promise<InvocationResult>,
    free: () => void,
  ): Promise<InvocationResult> {
    let accepted = false;
    let finished = false;
    let answered = false;
    const maybeFree = () => {
      if (answered && (!accepted || finished)) free();
    };
    const completion = {
      accepted: () => (accepted = true),
      finished: () => {
        finished = true;
        maybeFree();
      },
    };
    try {
      return await run({ ...invocation, idempotency: key, completion });
    } catch (err) {
      // The component's own failure is an outcome like a reply; a runtime
      // failure (unavailable, deadline, conflict) is not, and the retry runs.
      if (err instanceof CommandFailedError) {
        await this.options.store
          .writeWork({ idempotency: [{ ...scope, ...key, outcome: encodeFailure(err) }] })
          .catch(() => undefined);
      }
      throw err;
    } finally {
      answered = true;
      maybeFree();
    }
  }

  private async replay(invocation: Invocation, outcome: StoredPayload): Promise<InvocationResult> {
    const reply = decodeOutcome(outcome);
    const action = reply.clientAction?.action;
    if (action?.case === "failure") {
      throw new CairnError(
        action.value.code === 0 ? Code.Unknown : action.value.code,
        action.value.message,
      );
    }
    const result = await this.options.release(invocation, reply);
    return { ...result, metadata: { ...result.metadata, [REPLAYED_KEY]: "true" } };
  }
}

/** Waits for `done` within the invocation's deadline and until its client leaves. */
async function waitWithin(done: Promise<void>, invocation: Invocation, key: string): Promise<void> {
  if (invocation.deadline === undefined && invocation.signal === undefined) return done;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const gave = new Promise<never>((_, reject) => {
    const gone = (code: Code, why: string) =>
      reject(
        new CairnError(
          code,
          `${why} while the first attempt with idempotency-key '${key}' was still running; retry with the same key to learn its outcome`,
        ),
      );
    if (invocation.deadline !== undefined) {
      timer = setTimeout(
        () => gone(Code.DeadlineExceeded, "the deadline passed"),
        Math.max(0, invocation.deadline - Date.now()),
      );
    }
    onAbort = () => gone(Code.Canceled, "the client cancelled the call");
    invocation.signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    await Promise.race([done, gave]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) invocation.signal?.removeEventListener("abort", onAbort);
  }
}

/** The invocation with the key base its function and steps derive their keys from. */
function withBase(invocation: Invocation, scope: EntityRef, key: string): Invocation {
  const base = createHash("sha256")
    .update(`${instanceKey(scope)}\u0000${key}`)
    .digest("base64url");
  return { ...invocation, metadata: { ...invocation.metadata, [CALL_KEY_BASE]: `k${base}` } };
}

function hashRequest(invocation: Invocation): string {
  return createHash("sha256")
    .update(`${invocation.method.parent.typeName}/${invocation.method.name}\u0000`)
    .update(invocation.input)
    .digest("hex");
}

function mismatch(key: string, scope: EntityRef, invocation: Invocation): CairnError {
  const where = scope.entityId === "" ? scope.entityType : `${scope.entityType}/${scope.entityId}`;
  return new CairnError(
    Code.FailedPrecondition,
    `idempotency-key '${key}' was already used on ${where} with a different request (this one is ${invocation.method.parent.typeName}/${invocation.method.name}); send a new key for a new request`,
  );
}

/**
 * The entity handler with idempotency keys in front: in a cluster it wraps
 * the node's local entity host, where the instance's commands run, so that
 * a repeat waits for the first attempt on the same node.
 */
export function keyedEntities(keyed: KeyedCalls, entities: EntityHandler): EntityHandler {
  return {
    handle(service, entityId, invocation) {
      const scope = { entityType: service.entityType ?? service.desc.typeName, entityId };
      return keyed.call(scope, invocation, (inv) => entities.handle(service, entityId, inv));
    },
  };
}
