/**
 * A bound on fan-out: the calls one command may have in flight at once
 * (`ctx.call` from its handler). One request that calls 20,000 entities at
 * once held 20,000 calls open in both processes (RSS of the runtime from 204
 * to 537 MB) and slowed every other client to 1.9 s; past the bound such
 * calls are refused at once with RESOURCE_EXHAUSTED, and only that request
 * fails.
 *
 * The runtime gives every command it sends to the function a fresh caller
 * id in the metadata key {@link CALLER_KEY}; SDKs pass it on into the calls
 * the handler makes (like the call chain), which is how the runtime counts
 * them per command.
 */
import { randomBytes } from "node:crypto";
import { CairnError, Code } from "@cairn/protocol";
import { CALL_CHAIN_KEY } from "./types.js";
import type { Invocation } from "./types.js";

/** Metadata key of the command on whose behalf a call is made. */
export const CALLER_KEY = "cairn-caller";

/** Different in every process, so ids of two runtimes never meet. */
const NONCE = randomBytes(4).toString("hex");
let next = 0;

/** A caller id no other command of any runtime has. */
export function newCallerId(): string {
  next += 1;
  return `${NONCE}.${next.toString(36)}`;
}

/** Counts calls in flight per caller and refuses those past the limit. */
export class FanOutLimit {
  private readonly inFlight = new Map<string, number>();

  constructor(
    /** Calls one command may have in flight; runtime option maxFanOut. */
    private readonly limit: number,
    private readonly onRefused: () => void = () => {},
  ) {}

  /**
   * Runs `call` if the invocation's caller is under the limit (calls without
   * a caller id, e.g. from clients, are not counted); the slot is freed when
   * the call settles.
   */
  run<T>(invocation: Invocation, call: () => Promise<T>): Promise<T> {
    const caller = invocation.metadata[CALLER_KEY];
    if (caller === undefined || caller === "") return call();
    const count = this.inFlight.get(caller) ?? 0;
    if (count >= this.limit) {
      this.onRefused();
      return Promise.reject(this.refusal(invocation, count));
    }
    this.inFlight.set(caller, count + 1);
    const free = (): void => {
      const left = (this.inFlight.get(caller) ?? 1) - 1;
      if (left <= 0) this.inFlight.delete(caller);
      else this.inFlight.set(caller, left);
    };
    let started: Promise<T>;
    try {
      started = call();
    } catch (err) {
      free();
      throw err;
    }
    return started.finally(free);
  }

  private refusal(invocation: Invocation, count: number): CairnError {
    const chain = invocation.metadata[CALL_CHAIN_KEY] ?? "";
    const who = chain === "" ? "one command" : chain.split(" > ").at(-1);
    const target = `${invocation.service.desc.typeName}/${invocation.method.name}`;
    return new CairnError(
      Code.ResourceExhausted,
      `${who} has ${count} calls in flight, the limit per command (runtime option --max-fan-out is ${this.limit}); this call to ${target} was refused. Make fewer calls at once (for example in batches) or raise the limit`,
    );
  }
}
