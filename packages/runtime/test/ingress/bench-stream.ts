/**
 * Streaming throughput of the ingress against an in-process dispatcher that
 * answers at once. Not a test (never part of `npm test`): run with
 *   npx tsx packages/runtime/test/ingress/bench-stream.ts [messages] [rounds]
 * The ingress runs in this process, the clients in a child process, so each
 * gets one of the two cores. Prints messages/s per scenario (best and
 * median of the rounds).
 */
import { fork } from "node:child_process";
import { request } from "node:http";
import { fromJson, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import type { StreamInvocation, StreamResult } from "../../src/core/types.js";
import { createIngress } from "../../src/ingress/index.js";
import { TestDispatcher, testLogger } from "./harness.js";
import { libraryCatalog } from "./library.js";

const MESSAGES = Number(process.argv[2] ?? 50_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const IN_FLIGHT = 64;
const catalog = libraryCatalog();
const bookDesc = catalog.registry.getMessage("test.v1.Book");
const requestDesc = catalog.registry.getMessage("test.v1.GetBookRequest");
if (bookDesc === undefined || requestDesc === undefined) throw new Error("library types missing");
const book = toBinary(bookDesc, fromJson(bookDesc, { name: "shelves/1/books/2", title: "Dune" }));
const watchRequest = Buffer.from(toBinary(requestDesc, fromJson(requestDesc, { name: "bench" })));
const identity = (b: Buffer): Buffer => b;

type Scenario = "grpc-server" | "grpc-client" | "grpc-bidi" | "sse" | "connect-proto" | "grpc-web";
const SCENARIOS: Scenario[] = (process.env.BENCH_ONLY?.split(",") as Scenario[] | undefined) ?? [
  "grpc-server",
  "grpc-client",
  "grpc-bidi",
  "sse",
  "connect-proto",
  "grpc-web",
];

// ---- server (parent) ----
class BenchDispatcher extends TestDispatcher {
  dispatchStream(inv: StreamInvocation): Promise<StreamResult> {
    const kind = inv.method.methodKind;
    async function* outputs(): AsyncGenerator<Uint8Array> {
      if (kind === "server_streaming") {
        for (let i = 0; i < MESSAGES; i++) yield book;
      } else if (kind === "client_streaming") {
        for await (const _ of inv.inputs) {
          // counted by the client
        }
        yield book;
      } else {
        for await (const _ of inv.inputs) yield book;
      }
    }
    return Promise.resolve({ metadata: {}, outputs: outputs() });
  }
}

async function main(): Promise<void> {
  const ingress = createIngress({
    catalog: () => catalog,
    dispatcher: new BenchDispatcher(),
    logger: testLogger(),
    streamInputBuffer: Number(process.env.BENCH_INPUT_BUFFER ?? 16),
  });
  const port = await ingress.listen(0, "127.0.0.1");
  const child = fork(new URL(import.meta.url).pathname, [String(MESSAGES)], {
    env: { ...process.env, BENCH_CHILD_PORT: String(port) },
    execArgv: process.execArgv,
  });
  const results = new Map<Scenario, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of SCENARIOS) {
      const rate = await new Promise<number>((resolve) => {
        child.once("message", (m) => resolve(m as number));
        child.send(s);
      });
      results.set(s, [...(results.get(s) ?? []), rate]);
    }
  }
  child.kill();
  await ingress.close();
  console.log(`node ${process.version}, ${MESSAGES} messages per stream, ${ROUNDS} rounds`);
  console.log("| scenario | best msg/s | median msg/s |\n|---|---:|---:|");
  for (const [s, rates] of results) {
    const sorted = [...rates].sort((a, b) => a - b);
    const best = Math.round(sorted[sorted.length - 1] ?? 0);
    const median = Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0);
    console.log(`| ${s} | ${best.toLocaleString("en")} | ${median.toLocaleString("en")} |`);
  }
}

// ---- clients (child) ----
function grpcServer(c: grpc.Client): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const s = c.makeServerStreamRequest("/test.v1.Library/Watch", identity, identity, watchRequest);
    s.on("data", () => n++);
    s.on("error", reject);
    s.on("end", () => resolve(n));
  });
}

function grpcClient(c: grpc.Client): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = c.makeClientStreamRequest("/test.v1.Library/Collect", identity, identity, (err) =>
      err === null ? resolve(MESSAGES) : reject(err),
    );
    let sent = 0;
    const pump = (): void => {
      while (sent < MESSAGES) {
        sent++;
        if (!s.write(watchRequest)) return void s.once("drain", pump);
      }
      s.end();
    };
    pump();
  });
}

function grpcBidi(c: grpc.Client): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = c.makeBidiStreamRequest("/test.v1.Library/Chat", identity, identity);
    let sent = 0;
    let received = 0;
    s.on("data", () => {
      received++;
      if (sent < MESSAGES) {
        sent++;
        s.write(watchRequest);
      } else if (received === MESSAGES) s.end();
    });
    s.on("error", reject);
    s.on("end", () => resolve(received));
    for (; sent < IN_FLIGHT; sent++) s.write(watchRequest);
  });
}

/** One HTTP/1.1 stream read to its end; counts occurrences of `marker` in the body. */
function httpStream(
  port: number,
  headers: Record<string, string>,
  body: Buffer | string,
  count: (chunk: Buffer) => number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/test.v1.Library/Watch", method: "POST", headers },
      (res) => {
        let n = 0;
        res.on("data", (chunk: Buffer) => (n += count(chunk)));
        res.on("end", () => resolve(n));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function envelope(payload: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** Counts SSE events by their blank-line ends (a `\n\n` may straddle chunks: off by a few at most). */
function countEvents(chunk: Buffer): number {
  let n = 0;
  for (let i = chunk.indexOf("\n\n"); i >= 0; i = chunk.indexOf("\n\n", i + 2)) n++;
  return n;
}

function client(port: number): void {
  const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  // Frames are counted by bytes: every frame of a data message has the same size.
  const frameSize = 5 + book.length;
  let bytes = 0;
  const byFrames = (chunk: Buffer): number => {
    bytes += chunk.length;
    return 0;
  };
  const run: Record<Scenario, () => Promise<number>> = {
    "grpc-server": () => grpcServer(c),
    "grpc-client": () => grpcClient(c),
    "grpc-bidi": () => grpcBidi(c),
    sse: () =>
      httpStream(port, { "content-type": "application/json" }, '{"name":"b"}', countEvents),
    "connect-proto": async () => {
      bytes = 0;
      await httpStream(
        port,
        { "content-type": "application/connect+proto" },
        envelope(watchRequest),
        byFrames,
      );
      return Math.floor(bytes / frameSize);
    },
    "grpc-web": async () => {
      bytes = 0;
      await httpStream(
        port,
        { "content-type": "application/grpc-web+proto" },
        envelope(watchRequest),
        byFrames,
      );
      return Math.floor(bytes / frameSize);
    },
  };
  process.on("message", (s: Scenario) => {
    const t0 = performance.now();
    run[s]().then(
      (n) => process.send?.((n / (performance.now() - t0)) * 1000),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}

const childPort = process.env.BENCH_CHILD_PORT;
if (childPort !== undefined) client(Number(childPort));
else await main();
