/**
 * Delivers asynchronous effects from the store's outbox: at least once,
 * retried with exponential backoff while the target fails, logged and
 * counted, never silently dropped. Woken right after commits that add
 * entries, and polled periodically for retries and for entries left by a
 * previous run of the runtime (a crash between commit and delivery).
 */
import { CairnError } from "@cairn/protocol";
import type { Logger } from "pino";
import type { DurableWorkStore, OutboxEntry, StoredCall } from "../store/durable-work.js";
import type { Invocation } from "./types.js";

/** Turns a stored call into an invocation, or explains why it cannot be made now. */
export type CallResolver = (
  call: StoredCall,
) => { value: Invocation } | { error: CairnError; permanent: boolean };

/** Options of {@link OutboxDeliverer}. */
export interface OutboxOptions {
  readonly store: DurableWorkStore;
  readonly resolve: CallResolver;
  readonly dispatch: (invocation: Invocation) => Promise<unknown>;
  readonly logger: Logger;
  readonly onAttempt?: (outcome: "delivered" | "retry") => void;
  readonly pollIntervalMs?: number;
  readonly batch?: number;
}

/** Backoff after `attempts` failures: 200 ms doubling, capped at one minute. */
export function backoffMs(attempts: number): number {
  return Math.min(200 * 2 ** Math.max(0, attempts - 1), 60_000);
}

export class OutboxDeliverer {
  private running = false;
  private again = false;
  private stopped = false;
  private readonly poller: NodeJS.Timeout;
  private readonly inFlight = new Set<number>();

  constructor(private readonly options: OutboxOptions) {
    this.poller = setInterval(() => this.wake(), options.pollIntervalMs ?? 1_000);
    this.poller.unref();
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
    clearInterval(this.poller);
  }

  private async drain(): Promise<void> {
    try {
      const entries = await this.options.store.loadOutbox(Date.now(), this.options.batch ?? 200);
      await Promise.all(
        entries.filter((e) => !this.inFlight.has(e.id)).map((e) => this.deliver(e)),
      );
    } catch (err) {
      this.options.logger.error({ err }, "could not read the outbox; retrying");
    }
  }

  private async deliver(entry: OutboxEntry): Promise<void> {
    this.inFlight.add(entry.id);
    const target = `${entry.service}/${entry.method}`;
    try {
      const invocation = this.options.resolve(entry);
      if ("error" in invocation) throw invocation.error;
      await this.options.dispatch(invocation.value);
      await this.options.store.completeOutbox(entry.id);
      this.options.onAttempt?.("delivered");
    } catch (err) {
      const e = CairnError.from(err);
      const attempts = entry.attempts + 1;
      const delay = backoffMs(attempts);
      this.options.logger.warn(
        { effect: target, attempts, retryInMs: delay, code: e.code, err: e.message },
        "asynchronous effect failed; it stays in the outbox and will be retried",
      );
      this.options.onAttempt?.("retry");
      await this.options.store.retryOutbox(entry.id, Date.now() + delay).catch((err2: unknown) => {
        this.options.logger.error({ err: err2 }, "could not record an outbox retry");
      });
    } finally {
      this.inFlight.delete(entry.id);
    }
  }
}
