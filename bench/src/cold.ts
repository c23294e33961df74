/**
 * cold-activation: how long the first command on a long-lived entity takes
 * when nothing about it is in memory.
 *
 * 1. Write about `events` AddItem commands to each of `carts` carts through
 *    the public API (the store's schema is the store's business), 64 in
 *    flight spread over the carts. Cart i gets `events` plus 0..99 more
 *    events, spread evenly over the carts: with a snapshot every 100 events
 *    a round count would leave nothing to replay (the best case); the spread
 *    measures from "snapshot only" to "snapshot + 99 events".
 * 2. Restart the runtime process: its entity host, caches and function
 *    channels are gone; only the store remains.
 * 3. Warm the path that is not activation (the client's TCP connection, the
 *    runtime's connection to the function) with a GetCart on a cart that was
 *    never written, then time the first GetCart on each written cart, one at
 *    a time. That time is snapshot load + replay of the events after it +
 *    the function's init, plus one HTTP round trip.
 * Steps 2-3 repeat `restarts` times, so each cart is measured once per restart.
 */
import { createHttpClient } from "./clients.js";
import { CART_ROUTE, httpSend } from "./scenarios.js";
import { errorKind } from "./load.js";
import { percentile } from "./stats.js";

/** What cold-activation reports. */
export interface ColdSummary {
  carts: number;
  /** Events written per cart (successful AddItem calls). */
  eventsPerCart: number[];
  /** Every cart got all its events; if not, the activations measured smaller carts. */
  complete: boolean;
  /** Write phase throughput, AddItem/s over all the carts. */
  writeRps: number;
  writeErrors: Record<string, number>;
  /** Every first-GetCart time, milliseconds. */
  samples: number[];
  /** Each cart's activation times, one per restart: replay cost shows per cart. */
  perCart: number[][];
  /**
   * Sequence of each cart's stored snapshot (admin API, read after the last
   * measurement so it cannot warm anything measured); events - snapshot is
   * what an activation replays. Undefined when the admin API did not say.
   */
  snapshotAt: Array<number | undefined>;
  p50: number;
  max: number;
  min: number;
  /** Carts whose total quantity after activation differed from what was written. */
  mismatches: number;
  readErrors: Record<string, number>;
}

/** Restarts the runtime on the same store and returns its new ports. */
export type Restart = () => Promise<{ port: number; adminPort: number }>;

/**
 * Bound of the write phase: 3 × 10,000 events at 150/s, the worst seen on a
 * busy 2-core machine. If it is reached, the carts are measured with what
 * they hold and the notes say how many events that was.
 */
const WRITE_LIMIT_MS = 200_000;
const MAX_WRITE_FAILURES = 1_000;
const STALL_MS = 30_000;
const SERVICE = "shoppingcart.v1.ShoppingCart";

function bump(m: Record<string, number>, k: string): void {
  m[k] = (m[k] ?? 0) + 1;
}

/** Writes the carts, then measures their cold activations after each restart. */
export async function coldActivation(
  port: number,
  restart: Restart,
  opts: {
    carts: number;
    events: number;
    restarts: number;
    concurrency: number;
    runId: string;
    log: (s: string) => void;
  },
): Promise<ColdSummary> {
  const ids = Array.from({ length: opts.carts }, (_, i) => `cold-${opts.runId}-${i}`);
  const target = ids.map(
    (_, i) => opts.events + (ids.length > 1 ? Math.round((i * 99) / (ids.length - 1)) : 50),
  );
  const written = ids.map(() => 0);
  const started = ids.map(() => 0);
  const writeErrors: Record<string, number> = {};

  const writer = createHttpClient("127.0.0.1", port, opts.concurrency);
  const t0 = performance.now();
  const deadline = t0 + WRITE_LIMIT_MS;
  let lastReport = t0;
  let failures = 0;
  // Nothing written after this long means the runtime cannot append at all;
  // waiting for the write limit would only delay the report.
  const stalled = (): boolean => performance.now() - t0 > STALL_MS && written.every((w) => w === 0);
  const worker = async (w: number): Promise<void> => {
    const c = w % ids.length;
    // Failed writes are retried, so they are capped too: a broken runtime
    // must not keep the bench spinning until the deadline.
    while (
      started[c]! < target[c]! &&
      performance.now() < deadline &&
      failures < MAX_WRITE_FAILURES &&
      !stalled()
    ) {
      const n = started[c]!++;
      try {
        const kind = await httpSend(writer, CART_ROUTE, ids[c]!, n);
        if (kind === undefined) written[c]!++;
        else {
          bump(writeErrors, kind);
          failures++;
          started[c]!--; // try that event again: the cart must reach its count
        }
      } catch (err) {
        bump(writeErrors, errorKind(err));
        failures++;
        started[c]!--;
      }
      const now = performance.now();
      if (now - lastReport > 5_000) {
        lastReport = now;
        opts.log(
          `  writing: ${written.reduce((a, b) => a + b, 0)} / ${target.reduce((a, b) => a + b, 0)} events`,
        );
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(opts.concurrency, ids.length) }, (_, w) => worker(w)),
  );
  writer.close();
  const writeSeconds = (performance.now() - t0) / 1000;
  const totalWritten = written.reduce((a, b) => a + b, 0);
  opts.log(
    `  wrote ${totalWritten} events in ${writeSeconds.toFixed(1)} s (${Math.round(totalWritten / writeSeconds)}/s)`,
  );

  const samples: number[] = [];
  const perCart: number[][] = ids.map(() => []);
  let adminPort: number | undefined;
  const readErrors: Record<string, number> = {};
  let mismatches = 0;
  for (let r = 0; r < opts.restarts; r++) {
    const ports = await restart();
    adminPort = ports.adminPort;
    const reader = createHttpClient("127.0.0.1", ports.port, 1);
    try {
      await reader.request("GET", `/carts/warm-${opts.runId}-${r}`);
      for (let c = 0; c < ids.length; c++) {
        const s = performance.now();
        let res;
        try {
          res = await reader.request("GET", `/carts/${ids[c]}`, undefined, 30_000);
        } catch (err) {
          bump(readErrors, errorKind(err));
          continue;
        }
        const ms = performance.now() - s;
        if (res.status !== 200) {
          bump(readErrors, `http ${res.status}`);
          continue;
        }
        samples.push(ms);
        perCart[c]!.push(ms);
        if (totalQuantity(res.body) !== written[c]) mismatches++;
      }
    } finally {
      reader.close();
    }
    opts.log(
      `  restart ${r + 1}/${opts.restarts}: ${samples
        .slice(-ids.length)
        .map((x) => x.toFixed(1))
        .join(", ")} ms`,
    );
  }

  const snapshotAt =
    adminPort === undefined ? ids.map(() => undefined) : await snapshots(adminPort, ids);
  const sorted = Float64Array.from(samples).sort();
  return {
    carts: ids.length,
    eventsPerCart: written,
    complete: written.every((w, i) => w >= target[i]!),
    writeRps: totalWritten / writeSeconds,
    writeErrors,
    samples,
    p50: percentile(sorted, 0.5),
    max: sorted.length > 0 ? sorted[sorted.length - 1]! : NaN,
    min: sorted.length > 0 ? sorted[0]! : NaN,
    mismatches,
    readErrors,
    perCart,
    snapshotAt,
  };
}

/** Sum of line quantities in a GetCart JSON answer, or -1 if it cannot be read. */
function totalQuantity(body: string): number {
  try {
    const cart = JSON.parse(body) as { items?: Array<{ quantity?: number | string }> };
    return (cart.items ?? []).reduce((sum, item) => sum + Number(item.quantity ?? 0), 0);
  } catch {
    return -1;
  }
}

/** Each cart's snapshot sequence from the admin API (`/v1/entities/<service>/<id>`). */
async function snapshots(adminPort: number, ids: string[]): Promise<Array<number | undefined>> {
  const admin = createHttpClient("127.0.0.1", adminPort, 1);
  try {
    const out: Array<number | undefined> = [];
    for (const id of ids) {
      try {
        const res = await admin.request(
          "GET",
          `/v1/entities/${SERVICE}/${encodeURIComponent(id)}?limit=1`,
        );
        const body = JSON.parse(res.body) as { snapshot?: { sequence?: number } };
        out.push(res.status === 200 ? (body.snapshot?.sequence ?? 0) : undefined);
      } catch {
        out.push(undefined);
      }
    }
    return out;
  } finally {
    admin.close();
  }
}
