/**
 * Latency samples and error counts of one measured scenario.
 *
 * Every request's latency is kept (a few hundred thousand doubles at most)
 * and percentiles come from the sorted samples: exact, and cheaper to trust
 * than a histogram's bucket rounding at the sub-millisecond latencies we
 * care about.
 */

/** Collects per-request latencies (milliseconds) and errors by kind. */
export class Recorder {
  private samples = new Float64Array(1 << 16);
  private n = 0;
  readonly errors = new Map<string, number>();

  /** Records one successful request. */
  ok(ms: number): void {
    if (this.n === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.n++] = ms;
  }

  /** Records one failed request under a short kind such as `http 503` or `grpc UNAVAILABLE`. */
  error(kind: string): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
  }

  get count(): number {
    return this.n;
  }

  /** Sorted copy of the successful requests' latencies. */
  sorted(): Float64Array {
    return this.samples.slice(0, this.n).sort();
  }
}

/** What a scenario reports: throughput, latency percentiles, errors. */
export interface Summary {
  /** Successful requests. */
  ok: number;
  /** Failed requests, all kinds. */
  errors: number;
  /** Failed requests by kind (`http 503`, `grpc RESOURCE_EXHAUSTED`, `ECONNRESET`). */
  errorsByKind: Record<string, number>;
  /** Measured wall time, seconds. */
  seconds: number;
  /** Successful requests per second. */
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** The value below which `q` (0..1) of the sorted samples fall (nearest rank). */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

/** Summarises a recorder over a measured window of `seconds`. */
export function summarize(rec: Recorder, seconds: number): Summary {
  const s = rec.sorted();
  let sum = 0;
  for (const v of s) sum += v;
  const errorsByKind = Object.fromEntries(rec.errors);
  const errors = Object.values(errorsByKind).reduce((a, b) => a + b, 0);
  return {
    ok: s.length,
    errors,
    errorsByKind,
    seconds,
    rps: seconds > 0 ? s.length / seconds : 0,
    p50: percentile(s, 0.5),
    p90: percentile(s, 0.9),
    p99: percentile(s, 0.99),
    p999: percentile(s, 0.999),
    max: s.length > 0 ? s[s.length - 1]! : NaN,
    mean: s.length > 0 ? sum / s.length : NaN,
  };
}
