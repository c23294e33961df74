/**
 * The ingress's table of open client connections: the connection limit,
 * and which connection gives way when it is reached. Slow clients must not
 * starve the others, so a new connection at the limit first evicts the
 * oldest connection that serves nobody: one whose protocol is still
 * undecided, else an HTTP/1.1 connection between requests or still sending
 * its headers (a slowloris). Connections serving a request, and HTTP/2
 * connections (whose calls only grpc-js sees), are never evicted; when only
 * those are left the newcomer is refused.
 *
 * The table also cuts connections whose client stopped reading: a socket
 * with bytes waiting to go out that made no progress for `idleTimeoutMs`
 * (a slow reader would otherwise hold its reply, and its memory, forever).
 * One sweep checks every socket, so no write pays for a timer.
 */
import type { Socket } from "node:net";
import type { ResolvedOptions } from "./options.js";

/** Open connections, the limit and eviction. */
export interface ConnectionTable {
  /** Admits a new socket, evicting an idle one at the limit; false when it was refused (and destroyed). */
  admit(socket: Socket): boolean;
  /** The socket was handed to node:http; it is evictable while no request is in flight. */
  http1(socket: Socket): void;
  /** The socket was handed to grpc-js; never evicted. */
  http2(socket: Socket): void;
  /** `wrapper` (a TLS socket over `socket`) stands for it from now on. */
  rekey(socket: Socket, wrapper: Socket): void;
  /** An HTTP/1.1 request on the socket began (+1) or its reply ended (-1). */
  busy(socket: Socket, delta: 1 | -1): void;
  /** Open connections now. */
  readonly size: number;
  /** Destroys every open connection and stops the sweep (shutdown). */
  destroyAll(): void;
}

interface Entry {
  phase: "undecided" | "http1" | "http2";
  inFlight: number;
  /** Bytes the socket had handed to the OS at the last sweep that saw it stuck. */
  sent: number;
  /** Since when its output is stuck; undefined while it drains. */
  stuckSince: number | undefined;
}

/** Refusals are logged at most this often, with a count, so a flood cannot flood the log. */
const LOG_EVERY_MS = 10_000;

/** Creates the table of a listening ingress. */
export function createConnectionTable(
  options: Pick<ResolvedOptions, "maxConnections" | "idleTimeoutMs" | "logger" | "metrics">,
): ConnectionTable {
  const { maxConnections: max, logger, metrics } = options;
  const all = new Map<Socket, Entry>();
  // Evictable sockets, oldest first (a Set keeps insertion order; re-adding moves to the end).
  const undecided = new Set<Socket>();
  const idle = new Set<Socket>();
  let shed = { refused: 0, evicted: 0, since: 0 };

  const report = (outcome: "refused" | "evicted"): void => {
    metrics.connectionShed(outcome);
    shed[outcome]++;
    const now = Date.now();
    if (now - shed.since < LOG_EVERY_MS) return;
    logger.warn(
      { maxConnections: max, refused: shed.refused, evicted: shed.evicted },
      `connection limit of ${max} reached: idle connections were evicted and new ones refused; raise maxConnections if this is real load`,
    );
    shed = { refused: 0, evicted: 0, since: now };
  };
  const forget = (socket: Socket): void => {
    if (!all.delete(socket)) return;
    undecided.delete(socket);
    idle.delete(socket);
    metrics.connections(-1);
  };
  const evictOne = (): boolean => {
    const victim = first(undecided) ?? first(idle);
    if (victim === undefined) return false;
    forget(victim);
    victim.destroy();
    report("evicted");
    return true;
  };

  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const [socket, entry] of all) {
        if (stalled(socket, entry, now, options.idleTimeoutMs)) {
          metrics.timedOut("stall");
          socket.destroy();
        }
      }
    },
    Math.max(10, Math.min(1_000, options.idleTimeoutMs / 4)),
  );
  sweep.unref();

  return {
    admit(socket) {
      if (all.size >= max && !evictOne()) {
        socket.destroy();
        report("refused");
        return false;
      }
      all.set(socket, { phase: "undecided", inFlight: 0, sent: 0, stuckSince: undefined });
      undecided.add(socket);
      metrics.connections(1);
      socket.once("close", () => forget(socket));
      return true;
    },
    http1(socket) {
      const entry = all.get(socket);
      if (entry === undefined) return;
      entry.phase = "http1";
      undecided.delete(socket);
      idle.add(socket);
    },
    http2(socket) {
      const entry = all.get(socket);
      if (entry === undefined) return;
      entry.phase = "http2";
      undecided.delete(socket);
    },
    busy(socket, delta) {
      const entry = all.get(socket);
      if (entry === undefined || entry.phase !== "http1") return;
      entry.inFlight = Math.max(0, entry.inFlight + delta);
      idle.delete(socket);
      // Back at the end of the line: the most recently active is evicted last.
      if (entry.inFlight === 0) idle.add(socket);
    },
    rekey(socket, wrapper) {
      const entry = all.get(socket);
      if (entry === undefined) return;
      all.delete(socket);
      undecided.delete(socket);
      all.set(wrapper, entry);
      undecided.add(wrapper);
      wrapper.once("close", () => forget(wrapper));
    },
    get size() {
      return all.size;
    },
    destroyAll() {
      clearInterval(sweep);
      for (const socket of [...all.keys()]) socket.destroy();
    },
  };
}

/**
 * True when the socket has output waiting and none of it left for `ms`.
 * `bytesWritten` counts queued bytes too, so progress is what it counts
 * beyond what is still queued.
 */
function stalled(socket: Socket, entry: Entry, now: number, ms: number): boolean {
  if (socket.writableLength === 0) {
    entry.stuckSince = undefined;
    return false;
  }
  const sent = socket.bytesWritten - socket.writableLength;
  if (entry.stuckSince === undefined || sent !== entry.sent) {
    entry.sent = sent;
    entry.stuckSince = now;
    return false;
  }
  return now - entry.stuckSince >= ms;
}

function first(set: Set<Socket>): Socket | undefined {
  for (const socket of set) return socket;
  return undefined;
}
