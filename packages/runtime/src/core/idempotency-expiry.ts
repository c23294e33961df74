/**
 * Background cleanup of idempotency records: every sweep removes the records
 * older than the retention, in bounded batches, so a store never keeps a key
 * much longer than promised and one sweep never holds the write path for long
 * (each batch is one group-committed write among the commands' writes).
 */
import type { Logger } from "pino";
import type { IdempotencyStore } from "../store/idempotency.js";
import { every, systemClock } from "./clock.js";
import type { CancelTimeout, Clock } from "./clock.js";

/** Options of {@link IdempotencyExpiry}. */
export interface IdempotencyExpiryOptions {
  readonly store: IdempotencyStore;
  /** How long a record is kept after its commit, milliseconds (runtime option idempotencyRetentionMs). */
  readonly retentionMs: number;
  readonly logger: Logger;
  /** Time between sweeps, milliseconds: default a tenth of the retention, at most one minute. */
  readonly sweepIntervalMs?: number;
  /** Records removed per write (default 1000). */
  readonly batch?: number;
  /** Default: the system clock. */
  readonly clock?: Clock;
}

/** Sweeps expired idempotency records until stopped. */
export class IdempotencyExpiry {
  private readonly clock: Clock;
  private readonly stopSweeping: CancelTimeout;
  private sweeping: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: IdempotencyExpiryOptions) {
    this.clock = options.clock ?? systemClock;
    const interval =
      options.sweepIntervalMs ?? Math.max(10, Math.min(60_000, options.retentionMs / 10));
    // sweep() logs its own errors and never rejects; the catch only satisfies the type.
    this.stopSweeping = every(this.clock, interval, () => {
      this.sweep().catch(() => undefined);
    });
  }

  /** Starts a sweep unless one is running; resolves when it ends (errors are logged). */
  sweep(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.sweeping ??= this.expire()
      .catch((err: unknown) =>
        this.options.logger.warn({ err }, "idempotency record cleanup failed; retried next sweep"),
      )
      .finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  /** Stops sweeping; resolves once a running sweep has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSweeping();
    await this.sweeping;
  }

  private async expire(): Promise<void> {
    const batch = this.options.batch ?? 1000;
    const before = this.clock.now() - this.options.retentionMs;
    let removed = 0;
    for (;;) {
      const n = await this.options.store.expireIdempotency(before, batch);
      removed += n;
      if (n < batch || this.stopped) break;
    }
    if (removed > 0) this.options.logger.debug({ removed }, "expired idempotency records");
  }
}
