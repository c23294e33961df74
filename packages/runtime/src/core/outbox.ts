/**
 * Delivers asynchronous effects from the store's outbox: at least once,
 * retried with exponential backoff while the target fails, logged and
 * counted, never silently dropped. Woken right after commits that add
 * entries, and polled periodically for retries and for entries left by a
 * previous run of the runtime (a crash between commit and delivery).
 */
import { CairnError } from "@cairn/protocol";
import type { Logger } from "pino";
import type { DurableWorkStore, OutboxEntry } from "../store/durable-work.js";
import { every, systemClock } from "./clock.js";
import type { CancelTimeout, Clock } from "./clock.js";
import { EFFECT_ORIGIN_KEY } from "./reply-work.js";
import type { CallResolver } from "./stored-calls.js";
import type { Invocation } from "./types.js";

/** Options of {@link OutboxDeliverer}. */
export interface OutboxOptions {
  readonly store: DurableWorkStore;
  readonly resolve: CallResolver;
  readonly dispatch: (invocation: Invocation) => Promise<unknown>;
  readonly logger: Logger;
  readonly onAttempt?: (outcome: "delivered" | "retry") => void;
  readonly pollIntervalMs?: number;
  readonly batch?: number;
  /** Default: the system clock. */
  readonly clock?: Clock;
}

/** Backoff after `attempts` failures: 200 ms doubling, capped at one minute. */
export function backoffMs(attempts: number): number {
  return Math.min(200 * 2 ** Math.max(0, attempts - 1), 60_000);
}

export class OutboxDeliverer {
  private running = false;
  private again = false;
  private stopped = false;
  private readonly stopPolling: CancelTimeout;
  private readonly inFlight = new Set<number>();
  private readonly clock: Clock;

  constructor(private readonly options: OutboxOptions) {
    this.clock = options.clock ?? systemClock;
    this.stopPolling = every(this.clock, options.pollIntervalMs ?? 1_000, () => this.wake());
  }

  /** Delivers what is due now (called after commits that add entries). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.drain()
      .catch((err: unknown) => this.options.logger.error({ err }, "outbox delivery failed"))
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  stop(): void {
    this.stopped = true;
    this.stopPolling();
  }

  /**
   * Delivers the outbox: the effects of one command one after the other, in
   * the order it recorded them (one waiting for a retry holds back the later
   * ones, which is why entries not due yet are loaded too); different
   * commands' effects in parallel.
   */
  private async drain(): Promise<void> {
    try {
      const now = this.clock.now();
      const entries = await this.options.store.loadOutbox(
        Number.MAX_SAFE_INTEGER,
        this.options.batch ?? 1000,
      );
      const byOrigin = new Map<string, OutboxEntry[]>();
      for (const e of entries) {
        // A command's only effect, or an entry stored before origins were recorded, stands alone.
        const origin = e.metadata[EFFECT_ORIGIN_KEY] ?? `#${e.id}`;
        byOrigin.set(origin, [...(byOrigin.get(origin) ?? []), e]);
      }
      await Promise.all([...byOrigin.values()].map((group) => this.deliverInOrder(group, now)));
    } catch (err) {
      this.options.logger.error({ err }, "could not read the outbox; retrying");
    }
  }

  private async deliverInOrder(group: readonly OutboxEntry[], now: number): Promise<void> {
    for (const entry of group) {
      if (entry.notBefore > now || this.inFlight.has(entry.id)) return;
      if (!(await this.deliver(entry))) return;
    }
  }

  /** One attempt; true when delivered. */
  private async deliver(entry: OutboxEntry): Promise<boolean> {
    this.inFlight.add(entry.id);
    const target = `${entry.service}/${entry.method}`;
    try {
      const invocation = this.options.resolve(entry);
      if ("error" in invocation) throw invocation.error;
      await this.options.dispatch(invocation.value);
      await this.options.store.completeOutbox(entry.id);
      this.options.onAttempt?.("delivered");
      return true;
    } catch (err) {
      const e = CairnError.from(err);
      const attempts = entry.attempts + 1;
      const delay = backoffMs(attempts);
      this.options.logger.warn(
        { effect: target, attempts, retryInMs: delay, code: e.code, err: e.message },
        "asynchronous effect failed; it stays in the outbox and will be retried",
      );
      this.options.onAttempt?.("retry");
      await this.options.store
        .retryOutbox(entry.id, this.clock.now() + delay)
        .catch((err2: unknown) => {
          this.options.logger.error({ err: err2 }, "could not record an outbox retry");
        });
      return false;
    } finally {
      this.inFlight.delete(entry.id);
    }
  }
}
