/**
 * A bound on entities activating at once on this node (loading their state
 * and replaying it, or waiting for the function to do so). A burst of
 * activations (one request touching thousands of cold entities) would
 * otherwise hold every one's journal in memory at the same time and starve
 * other clients; past the bound an activation is refused at once with
 * RESOURCE_EXHAUSTED.
 */
import { CairnError, Code } from "@cairn/protocol";

/** Counts activations in progress against a limit. */
export class ActivationLimit {
  private running = 0;

  constructor(
    /** Runtime option maxActivations. */
    readonly limit: number,
  ) {}

  /** Activations in progress now. */
  get active(): number {
    return this.running;
  }

  /** Takes a slot, or returns the refusal for `label` when none is left. */
  acquire(label: string): CairnError | undefined {
    if (this.running >= this.limit) {
      return new CairnError(
        Code.ResourceExhausted,
        `cannot activate ${label} now: ${this.running} entities are activating on this node, the limit (runtime option --max-activations is ${this.limit}); retry shortly`,
      );
    }
    this.running += 1;
    return undefined;
  }

  /** Gives back a slot taken with {@link ActivationLimit.acquire}. */
  release(): void {
    this.running = Math.max(0, this.running - 1);
  }
}
