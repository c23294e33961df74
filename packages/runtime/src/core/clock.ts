/**
 * Time as a dependency. The entity engine, the entity host (passivation),
 * the timer scheduler and the outbox read the time and arm timeouts only
 * through a {@link Clock}, so that tests of timeouts and expiry run
 * instantly and exactly with a {@link ManualClock} instead of sleeping.
 */

/** Cancels a timeout armed with {@link Clock.timeout}; calling it again is harmless. */
export type CancelTimeout = () => void;

/** Reads the time and arms timeouts. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /**
   * Calls `fn` once, `ms` milliseconds from now (at once for 0 or less).
   * A pending timeout never keeps the process alive on its own: servers do.
   */
  timeout(ms: number, fn: () => void): CancelTimeout;
}

/** The real clock: `Date.now` and unref'd `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  timeout(ms, fn) {
    const handle = setTimeout(fn, Math.max(0, ms));
    handle.unref();
    return () => clearTimeout(handle);
  },
};

/** Calls `fn` every `ms` on `clock` until the returned function is called. */
export function every(clock: Clock, ms: number, fn: () => void): CancelTimeout {
  let cancel: CancelTimeout = () => {};
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    cancel = clock.timeout(ms, () => {
      // Re-armed first, so a throwing `fn` does not end the interval.
      tick();
      fn();
    });
  };
  tick();
  return () => {
    stopped = true;
    cancel();
  };
}

interface Armed {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/**
 * A clock that moves only when told to (tests). {@link ManualClock.advance}
 * fires every timeout that falls due, in due order, including timeouts armed
 * by the callbacks it fires.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * clock.timeout(100, () => console.log("fired"));
 * clock.advance(100); // prints "fired"
 * ```
 */
export class ManualClock implements Clock {
  private time: number;
  private seq = 0;
  private armed: Armed[] = [];

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  timeout(ms: number, fn: () => void): CancelTimeout {
    const entry: Armed = { at: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.armed.push(entry);
    return () => {
      this.armed = this.armed.filter((a) => a !== entry);
    };
  }

  /** Timeouts not fired or cancelled yet. */
  get pending(): number {
    return this.armed.length;
  }

  /** Moves the time forward by `ms`, firing what falls due on the way. */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      const next = this.nextDue(target);
      if (next === undefined) break;
      this.armed = this.armed.filter((a) => a !== next);
      this.time = next.at;
      next.fn();
    }
    this.time = target;
  }

  private nextDue(limit: number): Armed | undefined {
    let best: Armed | undefined;
    for (const a of this.armed) {
      if (a.at > limit) continue;
      if (best === undefined || a.at < best.at || (a.at === best.at && a.seq < best.seq)) best = a;
    }
    return best;
  }
}
