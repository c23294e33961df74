/**
 * CPU used by each process during a measured window (Linux, from /proc).
 *
 * On a small shared machine throughput alone misleads: the client, the
 * runtime and the function compete for the same cores, and other work may
 * run beside the bench. CPU time per process, and per request, says where the
 * cycles went and stays comparable when the machine is noisy. Where /proc is
 * missing the probe reports nothing rather than guessing.
 */
import { readFileSync } from "node:fs";
import * as os from "node:os";

/** Seconds per clock tick of /proc/<pid>/stat; USER_HZ is 100 on every mainstream Linux. */
const TICK_S = 0.01;

/** A process to watch: a name for the report, and its pid (looked up at each snapshot). */
export interface Watched {
  name: string;
  pid: number | undefined;
}

interface Snapshot {
  at: number;
  procs: Map<string, number>;
  selfUs: number;
  machineBusyMs: number;
  machineTotalMs: number;
}

/** CPU use over a window: percent of one core per process, and of the whole machine. */
export interface CpuUsage {
  seconds: number;
  /** Percent of one core, by process name ("bench (client)" is the bench's own process). */
  byProcess: Record<string, number>;
  /** Busy share of all cores, percent (100 = every core busy all the time). */
  machineBusyPct: number;
  /**
   * Percent of one core used by everything not in `byProcess` (wrk when it is
   * the client, and whatever else runs on the machine): the noise indicator.
   */
  otherPct: number;
}

/** CPU seconds (user + system) a live process has used, or undefined if it is gone. */
export function procSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces; fields after its ')' are fixed.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_S;
  } catch {
    return undefined;
  }
}

function snapshot(watched: Watched[]): Snapshot {
  const procs = new Map<string, number>();
  for (const w of watched) {
    const s = w.pid === undefined ? undefined : procSeconds(w.pid);
    if (s !== undefined) procs.set(w.name, s);
  }
  let busy = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  const self = process.cpuUsage();
  return {
    at: performance.now(),
    procs,
    selfUs: self.user + self.system,
    machineBusyMs: busy,
    machineTotalMs: total,
  };
}

/** Takes a snapshot at `start()` and another at `end()`; `usage` is the difference. */
export class CpuProbe {
  private first: Snapshot | undefined;
  usage: CpuUsage | undefined;

  constructor(private readonly watched: () => Watched[]) {}

  start(): void {
    this.first = snapshot(this.watched());
  }

  end(): void {
    const a = this.first;
    if (a === undefined) return;
    const b = snapshot(this.watched());
    const seconds = (b.at - a.at) / 1000;
    if (seconds <= 0) return;
    const byProcess: Record<string, number> = {
      "bench (client)": ((b.selfUs - a.selfUs) / 1e6 / seconds) * 100,
    };
    for (const [name, s] of b.procs) {
      const before = a.procs.get(name);
      if (before !== undefined) byProcess[name] = ((s - before) / seconds) * 100;
    }
    const total = b.machineTotalMs - a.machineTotalMs;
    const machineBusyPct = total > 0 ? ((b.machineBusyMs - a.machineBusyMs) / total) * 100 : NaN;
    const ours = Object.values(byProcess).reduce((x, y) => x + y, 0);
    const otherPct = Math.max(0, (machineBusyPct / 100) * os.cpus().length * 100 - ours);
    this.usage = { seconds, byProcess, machineBusyPct, otherPct };
  }

  external(name: string, cpuSeconds: number): void {
    const u = this.usage;
    if (u === undefined) return;
    const pct = (cpuSeconds / u.seconds) * 100;
    u.byProcess[name] = pct;
    u.otherPct = Math.max(0, u.otherPct - pct);
  }
}
