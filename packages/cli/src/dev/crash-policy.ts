/**
 * What `cairn dev` does when the user function exits on its own: restart it
 * after a growing delay (a crash in a handler's promise, an `uncaughtException`,
 * an OOM), but stop quickly when it crashes again right after each start (a
 * syntax error, a missing import, a port in use), since restarting cannot fix
 * that and a scrolling loop of stack traces hides the first one.
 */

/** Options of {@link CrashPolicy}. */
export interface CrashPolicyOptions {
  /** Delays before each successive restart; one more crash after the last gives up. */
  readonly delaysMs: readonly number[];
  /** A function that ran this long before crashing was healthy: the count starts over. */
  readonly healthyAfterMs: number;
}

/** The restart delays and the crash-loop threshold `cairn dev` uses. */
export const DEV_CRASH_POLICY: CrashPolicyOptions = {
  delaysMs: [250, 1000, 3000],
  healthyAfterMs: 10_000,
};

/** What to do after a crash. */
export type CrashDecision =
  | { readonly kind: "restart"; readonly delayMs: number; readonly crash: number }
  | { readonly kind: "give-up"; readonly crashes: number };

/** Counts consecutive quick crashes and picks the delay before the next start. */
export class CrashPolicy {
  private crashes = 0;

  constructor(private readonly options: CrashPolicyOptions = DEV_CRASH_POLICY) {}

  /** A crash of a child that ran for `ranMs`. */
  crashed(ranMs: number): CrashDecision {
    this.crashes = ranMs >= this.options.healthyAfterMs ? 1 : this.crashes + 1;
    const delayMs = this.options.delaysMs[this.crashes - 1];
    if (delayMs === undefined) return { kind: "give-up", crashes: this.crashes };
    return { kind: "restart", delayMs, crash: this.crashes };
  }

  /** A restart for another reason (a file changed): the count starts over. */
  reset(): void {
    this.crashes = 0;
  }
}
