/**
 * Ingress throughput against a trivial in-process dispatcher. Not a test
 * (never part of `npm test`): run with
 *   npx tsx packages/runtime/test/ingress/bench.ts [seconds per round] [rounds]
 * The server runs in this process, the load generator in a child process,
 * so each gets one of the two cores. Prints req/s and p50/p99 per scenario.
 */
import { fork } from "node:child_process";
import { createServer, request, Agent } from "node:http";
import type { Server } from "node:http";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  AddLineItemSchema,
  ShoppingCart,
} from "../../../../examples/shopping-cart/src/gen/shoppingcart/v1/shopping_cart_pb.js";
import { createCatalogViews } from "../../src/ingress/catalog-view.js";
import { createHttpHandler } from "../../src/ingress/http.js";
import { resolveOptions } from "../../src/ingress/options.js";
import { startIngress } from "./harness.js";

const CONCURRENCY = 64;
const seconds = Number(process.argv[2] ?? 2);
const ROUNDS = Number(process.argv[3] ?? 5);
const addItem = Buffer.from(
  toBinary(
    AddLineItemSchema,
    create(AddLineItemSchema, { cartId: "c1", productId: "apple", name: "Apple", quantity: 3 }),
  ),
);
const json = JSON.stringify({ productId: "apple", name: "Apple", quantity: 3 });

interface Scenario {
  name: string;
  kind: "http" | "grpc";
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string; // base64 for binary bodies
}

type Result = { name: string; rps: number; p50: number; p99: number; errors: number };

// ---- load generator (child) ----
async function runScenario(s: Scenario, port: number): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0;
  const body =
    s.body === undefined
      ? undefined
      : s.headers?.["content-type"]?.includes("json")
        ? s.body
        : Buffer.from(s.body, "base64");
  let one: () => Promise<void>;
  let cleanup = (): void => {};
  if (s.kind === "http") {
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    cleanup = () => agent.destroy();
    one = () =>
      new Promise<void>((resolve) => {
        const req = request(
          {
            host: "127.0.0.1",
            port,
            path: s.path,
            method: s.method ?? "POST",
            agent,
            headers: s.headers,
          },
          (res) => {
            if (res.statusCode !== 200) errors++;
            res.resume();
            res.on("end", resolve);
          },
        );
        req.on("error", () => {
          errors++;
          resolve();
        });
        req.end(body);
      });
  } else {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    cleanup = () => client.close();
    const id = (b: Buffer): Buffer => b;
    one = () =>
      new Promise<void>((resolve) => {
        client.makeUnaryRequest(s.path, id, id, body as Buffer, (err) => {
          if (err) errors++;
          resolve();
        });
      });
  }
  const run = async (until: number, record: boolean): Promise<void> => {
    const worker = async (): Promise<void> => {
      while (performance.now() < until) {
        const t = performance.now();
        await one();
        if (record) latencies.push(performance.now() - t);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };
  await run(performance.now() + 1000, false); // warm-up
  const start = performance.now();
  await run(start + seconds * 1000, true);
  const elapsed = (performance.now() - start) / 1000;
  cleanup();
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number =>
    Number((latencies[Math.floor(latencies.length * p)] ?? 0).toFixed(2));
  return {
    name: s.name,
    rps: Math.round(latencies.length / elapsed),
    p50: pct(0.5),
    p99: pct(0.99),
    errors,
  };
}

if (process.env.INGRESS_BENCH_CHILD === "1") {
  process.on("message", (msg: { scenario: Scenario; port: number }) => {
    runScenario(msg.scenario, msg.port).then(
      (r) => process.send?.(r),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
} else {
  await main();
}

// ---- server (parent) ----
/**
 * The machine is shared (other builds and tests run beside), so one long
 * run per scenario measures the neighbours as much as us. Instead every
 * scenario runs ROUNDS (argv[3]) short times, interleaved, and we print the best
 * round (closest to an idle machine) and the median.
 */

async function main(): Promise<void> {
  const r = await startIngress();
  const grpcDirect = await plainGrpcServer();
  const connect = await connectNodeServer();
  const direct = await directHttpServer(r);
  const plain = await plainHttpServer();
  const child = fork(new URL(import.meta.url).pathname, [String(seconds)], {
    env: { ...process.env, INGRESS_BENCH_CHILD: "1" },
    execArgv: process.execArgv,
  });
  const ask = (scenario: Scenario, port: number): Promise<Result> =>
    new Promise((resolve) => {
      child.once("message", (m) => resolve(m as Result));
      child.send({ scenario, port });
    });
  const b64 = addItem.toString("base64");
  const grpcWebBody = Buffer.concat([Buffer.from([0, 0, 0, 0, addItem.length]), addItem]).toString(
    "base64",
  );
  const transcoded: Scenario = {
    name: "HTTP/JSON transcoded POST /carts/c1/items",
    kind: "http",
    path: "/carts/c1/items",
    headers: { "content-type": "application/json" },
    body: json,
  };
  const connectProto = { "content-type": "application/proto", "connect-protocol-version": "1" };
  const scenarios: [Scenario, number][] = [
    [transcoded, r.port],
    [{ name: "HTTP/JSON GET /carts/c1", kind: "http", method: "GET", path: "/carts/c1" }, r.port],
    [
      {
        name: "HTTP/JSON POST /shoppingcart.v1.ShoppingCart/AddItem",
        kind: "http",
        path: "/shoppingcart.v1.ShoppingCart/AddItem",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ cartId: "c1", ...JSON.parse(json) }),
      },
      r.port,
    ],
    [
      {
        name: "Connect unary proto (hand-written)",
        kind: "http",
        path: "/shoppingcart.v1.ShoppingCart/AddItem",
        headers: connectProto,
        body: b64,
      },
      r.port,
    ],
    [
      {
        name: "gRPC-Web proto (hand-written)",
        kind: "http",
        path: "/shoppingcart.v1.ShoppingCart/AddItem",
        headers: { "content-type": "application/grpc-web+proto" },
        body: grpcWebBody,
      },
      r.port,
    ],
    [
      {
        name: "gRPC unary, one port (sniffer + injector)",
        kind: "grpc",
        path: "/shoppingcart.v1.ShoppingCart/AddItem",
        body: b64,
      },
      r.port,
    ],
    [
      {
        name: "baseline: plain grpc-js server, own port, echo",
        kind: "grpc",
        path: "/shoppingcart.v1.ShoppingCart/AddItem",
        body: b64,
      },
      grpcDirect.port,
    ],
    [
      { ...transcoded, name: "baseline: our HTTP handler on its own port (no sniffer)" },
      direct.port,
    ],
    [
      {
        name: "baseline: bare node:http answering '{}'",
        kind: "http",
        path: "/x",
        headers: { "content-type": "application/json" },
        body: json,
      },
      plain.port,
    ],
    [
      {
        name: "alternative: connect-node, Connect unary proto",
        kind: "http",
        path: "/shoppingcart.v1.ShoppingCart/AddItem",
        headers: connectProto,
        body: b64,
      },
      connect.port,
    ],
    [
      {
        name: "alternative: connect-node, gRPC-Web proto",
        kind: "http",
        path: "/shoppingcart.v1.ShoppingCart/AddItem",
        headers: { "content-type": "application/grpc-web+proto" },
        body: grpcWebBody,
      },
      connect.port,
    ],
  ];
  const rounds = new Map<string, Result[]>();
  for (let i = 0; i < ROUNDS; i++) {
    for (const [s, port] of scenarios) {
      const res = await ask(s, port);
      rounds.set(s.name, [...(rounds.get(s.name) ?? []), res]);
    }
  }
  const table = [...rounds].map(([name, rs]: [string, Result[]]) => {
    const byRps = [...rs].sort((a, b) => b.rps - a.rps);
    const best = byRps.at(0);
    const median = byRps.at(Math.floor(byRps.length / 2));
    return {
      name,
      "best rps": best?.rps,
      "best p50 ms": best?.p50,
      "best p99 ms": best?.p99,
      "median rps": median?.rps,
      errors: sumErrors(rs),
    };
  });
  child.kill();
  grpcDirect.server.forceShutdown();
  for (const s of [connect.server, direct.server, plain.server])
    await new Promise((res) => s.close(res));
  await r.ingress.close();
  console.log(
    `node ${process.version}, ${CONCURRENCY} in flight, ${ROUNDS} interleaved rounds of ${seconds}s (+1s warm-up) per scenario, client in a child process`,
  );
  console.table(table);
}

function sumErrors(rs: readonly Result[]): number {
  let n = 0;
  for (const r of rs) n += r.errors;
  return n;
}

async function plainGrpcServer(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  const id = (b: Buffer): Buffer => b;
  server.register(
    "/shoppingcart.v1.ShoppingCart/AddItem",
    (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.alloc(0)),
    id,
    id,
    "unary",
  );
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? rej(e) : res(p),
    ),
  );
  return { server, port };
}

async function connectNodeServer(): Promise<{ server: Server; port: number }> {
  const handler = connectNodeAdapter({
    routes: (router) => router.service(ShoppingCart, { addItem: () => ({}) }),
  });
  return listen(createServer(handler));
}

async function directHttpServer(
  r: Awaited<ReturnType<typeof startIngress>>,
): Promise<{ server: Server; port: number }> {
  const options = resolveOptions({
    catalog: () => r.catalog.current,
    dispatcher: r.dispatcher,
    logger: { info() {}, warn() {}, error() {}, debug() {} },
  });
  return listen(
    createServer(createHttpHandler(options, createCatalogViews(options.catalog, options.logger))),
  );
}

async function plainHttpServer(): Promise<{ server: Server; port: number }> {
  return listen(
    createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json", "content-length": 2 });
        res.end("{}");
      });
    }),
  );
}

function listen(server: Server): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ server, port: (server.address() as { port: number }).port }),
    ),
  );
}
