/**
 * A closed-loop load generator: `concurrency` workers, each sending its next
 * request as soon as the previous one is answered. Closed loop is what "64
 * in flight" means, and it cannot overload the system under test beyond the
 * chosen concurrency, so the numbers are the system's capacity at that depth.
 *
 * Every run is bounded twice, by time and by request count, and stops by
 * itself: a hung server ends the run at its deadline (the caller's request
 * function must carry its own timeout), never with a bench that waits forever.
 */
import { Recorder, summarize } from "./stats.js";
import type { Summary } from "./stats.js";

/** One request. Resolves with `undefined` on success, or an error kind to count. */
export type RequestFn = (seq: number, worker: number) => Promise<string | undefined>;

/** Options of {@link runLoad}. */
export interface LoadOptions {
  /** Requests in flight at any time. */
  concurrency: number;
  /** Unmeasured warm-up before the measured window, milliseconds. */
  warmupMs: number;
  /** Measured window, milliseconds. */
  durationMs: number;
  /** Hard cap on requests started (warm-up included), so a run is bounded even if time misbehaves. */
  maxRequests: number;
  /** The request to send; `seq` numbers requests across all workers. */
  request: RequestFn;
  /** Told when the measured window starts and ends (the CPU probe). */
  probe?: WindowProbe | undefined;
}

/** Something to do at the edges of the measured window. */
export interface WindowProbe {
  start(): void;
  end(): void;
  /** CPU seconds of a process that ran only inside the window (wrk), told after `end`. */
  external?(name: string, cpuSeconds: number): void;
}

/** Runs the load and summarises the measured window only. */
export async function runLoad(options: LoadOptions): Promise<Summary> {
  const rec = new Recorder();
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const measureUntil = measureFrom + options.durationMs;
  let seq = 0;
  let lastEnd = measureFrom;

  const worker = async (w: number): Promise<void> => {
    while (seq < options.maxRequests) {
      const t0 = performance.now();
      if (t0 >= measureUntil) return;
      const s = seq++;
      let kind: string | undefined;
      try {
        kind = await options.request(s, w);
      } catch (err) {
        kind = errorKind(err);
      }
      const t1 = performance.now();
      // Only requests that started inside the window count; one that started
      // in the warm-up would carry warm-up effects (first connections,
      // entity activations) into the measured percentiles.
      if (t0 < measureFrom) continue;
      lastEnd = Math.max(lastEnd, t1);
      if (kind === undefined) rec.ok(t1 - t0);
      else rec.error(kind);
    }
  };

  const probeTimer = setTimeout(() => options.probe?.start(), options.warmupMs);
  await Promise.all(Array.from({ length: options.concurrency }, (_, w) => worker(w)));
  clearTimeout(probeTimer);
  options.probe?.end();
  // The window closes when the last request started inside it is answered;
  // dividing by the nominal duration would overstate throughput by the tail.
  const seconds = Math.max(lastEnd, measureUntil) - measureFrom;
  return summarize(rec, seconds / 1000);
}

/** A short, stable name for a thrown error (`ECONNRESET`, `timeout`, the class name). */
export function errorKind(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    if (typeof code === "string") return code;
    return err.name === "Error" ? err.message.slice(0, 40) : err.name;
  }
  return String(err).slice(0, 40);
}
