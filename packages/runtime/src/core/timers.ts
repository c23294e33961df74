/**
 * Fires durable timers. The next due time is kept in one in-memory timeout
 * (push, not poll: a timer fires on time instead of at the next polling
 * round), refreshed after every commit that changes timers and when the
 * runtime starts, so timers stored by an earlier run fire after a restart.
 * A firing is at least once: the timer is removed only when its call
 * succeeded. A failing call is retried with backoff; a call whose target no
 * longer exists (renamed after a redeploy) is parked and reported, not retried
 * forever.
 */
import { CairnError } from "@cairn/protocol";
import type { Logger } from "pino";
import type { DurableWorkStore, TimerEntry } from "../store/durable-work.js";
import { systemClock } from "./clock.js";
import type { CancelTimeout, Clock } from "./clock.js";
import { backoffMs } from "./outbox.js";
import type { CallResolver } from "./stored-calls.js";
import type { Invocation } from "./types.js";

/** Options of {@link TimerScheduler}. */
export interface TimerOptions {
  readonly store: DurableWorkStore;
  readonly resolve: CallResolver;
  readonly dispatch: (invocation: Invocation) => Promise<unknown>;
  readonly logger: Logger;
  readonly onFired?: (outcome: "ok" | "retry" | "parked") => void;
  readonly batch?: number;
  /** Default: the system clock. */
  readonly clock?: Clock;
}

/** Longest single wait; a refresh every so often also catches clock jumps. */
const MAX_WAIT_MS = 30_000;

export class TimerScheduler {
  private cancel: CancelTimeout | undefined;
  private firing = false;
  private stopped = false;
  private readonly clock: Clock;

  constructor(private readonly options: TimerOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** Re-reads the next due time (call after commits that change timers). */
  refresh(): void {
    if (this.stopped) return;
    // A firing in progress re-reads the next due time when it ends.
    if (this.firing) return;
    void this.options.store.nextTimerDue().then(
      (due) => this.arm(due),
      (err: unknown) => {
        this.options.logger.error({ err }, "could not read timers; retrying");
        this.arm(this.clock.now() + 1_000);
      },
    );
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
  }

  private arm(due: number | undefined): void {
    this.cancel?.();
    if (this.stopped) return;
    const wait =
      due === undefined ? MAX_WAIT_MS : Math.min(Math.max(0, due - this.clock.now()), MAX_WAIT_MS);
    this.cancel = this.clock.timeout(wait, () => {
      // fire() logs its own failures; reaching this handler is a bug in it.
      this.fire().catch((err: unknown) =>
        this.options.logger.error({ err }, "timer firing failed"),
      );
    });
  }

  private async fire(): Promise<void> {
    this.firing = true;
    try {
      const due = await this.options.store.loadDueTimers(
        this.clock.now(),
        this.options.batch ?? 200,
      );
      await Promise.all(due.map((t) => this.fireOne(t)));
    } catch (err) {
      this.options.logger.error({ err }, "could not fire timers; retrying");
    } finally {
      this.firing = false;
      this.refresh();
    }
  }

  private async fireOne(timer: TimerEntry): Promise<void> {
    const target = `${timer.service}/${timer.method}`;
    const resolved = this.options.resolve(timer);
    if ("error" in resolved) {
      if (resolved.permanent) return this.park(timer, resolved.error);
      return this.retry(timer, resolved.error);
    }
    try {
      await this.options.dispatch(resolved.value);
      await this.options.store.completeTimer(timer.owner, timer.name, timer.generation);
      this.options.onFired?.("ok");
      this.options.logger.debug({ timer: timer.name, owner: timer.owner, target }, "timer fired");
    } catch (err) {
      const e = CairnError.from(err);
      // A target that vanished between resolve and dispatch (a redeploy) is
      // as gone as one that never resolved; any other failure is retried.
      const again = this.options.resolve(timer);
      if ("error" in again && again.permanent) return this.park(timer, again.error);
      return this.retry(timer, e);
    }
  }

  private async retry(timer: TimerEntry, error: CairnError): Promise<void> {
    const attempts = timer.attempts + 1;
    const delay = backoffMs(attempts);
    this.options.logger.warn(
      {
        timer: timer.name,
        owner: timer.owner,
        target: `${timer.service}/${timer.method}`,
        attempts,
        retryInMs: delay,
        err: error.message,
      },
      "timer call failed; retrying",
    );
    this.options.onFired?.("retry");
    await this.options.store.retryTimer(
      timer.owner,
      timer.name,
      timer.generation,
      this.clock.now() + delay,
    );
  }

  private async park(timer: TimerEntry, error: CairnError): Promise<void> {
    this.options.logger.error(
      { timer: timer.name, owner: timer.owner, target: `${timer.service}/${timer.method}` },
      `timer parked: its target no longer exists (${error.message}); it will not fire again until rescheduled`,
    );
    this.options.onFired?.("parked");
    await this.options.store.parkTimer(timer.owner, timer.name, timer.generation, error.message);
  }
}
