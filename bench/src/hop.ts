/**
 * The hop micro-benchmark (issue 14, item 2): what carrying a command from
 * the entity engine to the user's handler and its reply back costs, for each
 * way a co-located TypeScript function could be reached:
 *
 * - in-process, objects: the handler is called with the message objects, no
 *   encoding (what a co-located mode in the runtime's own thread would do);
 * - in-process, encoded: the same, but the frames are protobuf-encoded and
 *   decoded on both sides (the encoding cost alone, no transport);
 * - worker thread: encoded frames posted on a MessagePort, buffers
 *   transferred; or the message objects themselves (structured clone);
 * - Unix domain socket: length-prefixed encoded frames to a child process;
 * - gRPC over TCP: today's protocol path, one grpc-js bidi stream to a child
 *   process, encoded frames as its messages.
 *
 * Every candidate batches per event-loop turn on both sides and runs the same
 * handler (hop/frames.ts). Closed loop over 1,000 channels, 1 and 64 commands
 * in flight; throughput, p50/p99, and the CPU of both sides per command.
 *
 *   npm run build && node bench/dist/hop.js [--duration 3] [--warmup 1]
 */
import { spawn } from "node:child_process";
import * as net from "node:net";
import * as os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import * as grpc from "@grpc/grpc-js";
import type { EventSourcedIn, EventSourcedOut } from "@cairn/protocol";
import { procSeconds } from "./cpu.js";
import {
  FrameReader,
  HOP_METHOD,
  TurnBatcher,
  command,
  decodeOut,
  encodeIn,
  handle,
  lengthPrefixed,
} from "./hop/frames.js";
import { frameSide } from "./hop/side.js";
import { Proc, jsonLine, ownModule, tempDir } from "./procs.js";
import { Recorder, summarize } from "./stats.js";
import type { Summary } from "./stats.js";

/** How the engine side hands over a batch and hears back. */
interface Carrier {
  send(messages: EventSourcedIn[]): void;
  /** Set by the engine: called with each batch of replies. */
  onReplies: (replies: EventSourcedOut[]) => void;
  /** Handler-side process to charge CPU to, when it is another process. */
  pid?: number;
  close(): Promise<void>;
}

type Start = () => Promise<Carrier>;

function inProcessObjects(): Promise<Carrier> {
  const c: Carrier = {
    onReplies: () => undefined,
    send: (messages) => messages.forEach((m) => out.push(handle(m))),
    close: () => Promise.resolve(),
  };
  const out = new TurnBatcher<EventSourcedOut>((replies) => c.onReplies(replies));
  return Promise.resolve(c);
}

function inProcessEncoded(): Promise<Carrier> {
  const c: Carrier = {
    onReplies: () => undefined,
    send: (messages) => side(encodeIn(messages)),
    close: () => Promise.resolve(),
  };
  const side = frameSide((frame) => c.onReplies(decodeOut(frame)));
  return Promise.resolve(c);
}

async function workerThread(encoded: boolean): Promise<Carrier> {
  const worker = new Worker(ownModule("hop/hop-worker"));
  await new Promise((resolve, reject) => worker.once("online", resolve).once("error", reject));
  const c: Carrier = {
    onReplies: () => undefined,
    send: (messages) => {
      if (!encoded) return worker.postMessage(messages);
      const frame = encodeIn(messages);
      worker.postMessage(frame, [frame.buffer as ArrayBuffer]);
    },
    close: async () => void (await worker.terminate()),
  };
  worker.on("message", (m: Uint8Array | EventSourcedOut[]) =>
    c.onReplies(m instanceof Uint8Array ? decodeOut(m) : m),
  );
  return c;
}

/** Starts hop-child.js in `mode`; its start-up line says where it listens. */
async function child(args: string[]): Promise<{ proc: Proc; line: Record<string, unknown> }> {
  const p = spawn(process.execPath, [ownModule("hop/hop-child"), ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const proc = new Proc(`hop-${args[0]}`, p);
  const line = await proc.waitForLine((l) => jsonLine(l)?.msg === "hop listening");
  return { proc, line: jsonLine(line)! };
}

async function unixSocket(): Promise<Carrier> {
  const tmp = tempDir();
  const path = join(tmp.dir, "hop.sock");
  const { proc } = await child(["uds", path]);
  const socket = net.connect(path);
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.setNoDelay(true);
  const c: Carrier = {
    onReplies: () => undefined,
    send: (messages) => socket.write(lengthPrefixed(encodeIn(messages))),
    pid: proc.child.pid!,
    close: async () => {
      socket.destroy();
      await proc.stop();
      tmp.cleanup();
    },
  };
  const reader = new FrameReader((frame) => c.onReplies(decodeOut(frame)));
  socket.on("data", (chunk: Buffer) => reader.push(chunk));
  return c;
}

const identity = (b: Buffer): Buffer => b;

async function grpcTcp(): Promise<Carrier> {
  const { proc, line } = await child(["grpc"]);
  const client = new grpc.Client(
    `127.0.0.1:${String(line.port)}`,
    grpc.credentials.createInsecure(),
  );
  const stream = client.makeBidiStreamRequest(HOP_METHOD, identity, identity);
  const c: Carrier = {
    onReplies: () => undefined,
    send: (messages) => {
      const f = encodeIn(messages);
      stream.write(Buffer.from(f.buffer, f.byteOffset, f.length));
    },
    pid: proc.child.pid!,
    close: async () => {
      stream.end();
      client.close();
      await proc.stop();
    },
  };
  stream.on("data", (b: Buffer) => c.onReplies(decodeOut(b)));
  stream.on("error", () => undefined);
  return c;
}

const CANDIDATES: ReadonlyArray<[string, Start]> = [
  ["in-process, objects", inProcessObjects],
  ["in-process, encoded frames", inProcessEncoded],
  ["worker thread, MessagePort, encoded frames", () => workerThread(true)],
  ["worker thread, MessagePort, structured clone", () => workerThread(false)],
  ["Unix domain socket", unixSocket],
  ["gRPC over TCP (today)", grpcTcp],
];

const CHANNELS = 1000;

interface HopResult {
  name: string;
  inFlight: number;
  summary: Summary;
  /** CPU ms per command: engine process (worker threads included), handler process. */
  engineMs: number;
  handlerMs: number;
}

/** Closed loop over one carrier: `inFlight` workers, each awaiting its reply before the next. */
async function load(c: Carrier, inFlight: number, warmupMs: number, durationMs: number) {
  let nextId = 1;
  const pending = new Map<bigint, () => void>();
  const out = new TurnBatcher<EventSourcedIn>((messages) => c.send(messages));
  c.onReplies = (replies) => {
    for (const r of replies) {
      if (r.body.case !== "reply") throw new Error(`unexpected ${r.body.case}`);
      const done = pending.get(r.body.value.commandId);
      pending.delete(r.body.value.commandId);
      done?.();
    }
  };
  const call = (channel: number): Promise<void> =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(BigInt(id), resolve);
      out.push(command(channel, id));
    });
  const rec = new Recorder();
  const start = performance.now();
  const from = start + warmupMs;
  const until = from + durationMs;
  let cpu0 = { engine: 0, handler: 0 };
  const cpuNow = () => {
    const u = process.cpuUsage();
    return {
      engine: (u.user + u.system) / 1000,
      handler: c.pid ? (procSeconds(c.pid) ?? 0) * 1000 : 0,
    };
  };
  const timer = setTimeout(() => (cpu0 = cpuNow()), warmupMs);
  let seed = 12345;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (;;) {
        const t0 = performance.now();
        if (t0 >= until) return;
        seed = (seed * 1103515245 + 12345) >>> 0;
        await call(seed % CHANNELS);
        if (t0 >= from) rec.ok(performance.now() - t0);
      }
    }),
  );
  clearTimeout(timer);
  const cpu1 = cpuNow();
  const summary = summarize(rec, (performance.now() - from) / 1000);
  return {
    summary,
    engineMs: (cpu1.engine - cpu0.engine) / summary.ok,
    handlerMs: (cpu1.handler - cpu0.handler) / summary.ok,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { duration: { type: "string" }, warmup: { type: "string" } },
  });
  const durationMs = Number(values.duration ?? 3) * 1000;
  const warmupMs = Number(values.warmup ?? 1) * 1000;
  const cpus = os.cpus();
  console.log(
    `hop micro-benchmark: engine ⇄ handler, ${new Date().toISOString()}, ${cpus[0]?.model} (${cpus.length} cores), node ${process.version}, load avg ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  console.log(
    `${CHANNELS} channels, one Increment per command, ${warmupMs / 1000} s warm-up + ${durationMs / 1000} s per row`,
  );
  const results: HopResult[] = [];
  for (const [name, start] of CANDIDATES) {
    for (const inFlight of [1, 64]) {
      const carrier = await start();
      try {
        const r = await load(carrier, inFlight, warmupMs, durationMs);
        results.push({ name, inFlight, ...r });
        process.stderr.write(`${name}, ${inFlight} in flight: ${Math.round(r.summary.rps)}/s\n`);
      } finally {
        await carrier.close();
      }
    }
  }
  console.log("");
  console.log(
    "| candidate | in flight | commands/s | p50 µs | p99 µs | CPU µs/command: engine side | handler side | total |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    const us = (ms: number): string => (ms * 1000).toFixed(ms < 0.01 ? 1 : 0);
    console.log(
      `| ${r.name} | ${r.inFlight} | ${Math.round(r.summary.rps).toLocaleString("en-US")} | ${us(r.summary.p50)} | ${us(r.summary.p99)} | ` +
        `${us(r.engineMs)} | ${r.handlerMs > 0 ? us(r.handlerMs) : "(same process)"} | ${us(r.engineMs + r.handlerMs)} |`,
    );
  }
  console.log("");
  console.log(
    "CPU: the bench process (engine side; the worker thread's handler is counted here too) and the handler's child process, over the measured window, per command.",
  );
}

await main();
