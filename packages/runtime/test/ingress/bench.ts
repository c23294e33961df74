/**
 * Ingress throughput against a trivial in-process dispatcher. Not a test
 * (never part of `npm test`): run with
 *   npx tsx packages/runtime/test/ingress/bench.ts [seconds]
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
import { startIngress } from "./harness.js";

const CONCURRENCY = 64;
const seconds = Number(process.argv[2] ?? 5);
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
    void runScenario(msg.scenario, msg.port).then((r) => process.send?.(r));
  });
} else {
  await main();
}

// ---- server (parent) ----
async function main(): Promise<void> {
  const r = await startIngress();
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
  const results: Result[] = [];
  const scenarios: Scenario[] = [
    {
      name: "HTTP/JSON transcoded POST /carts/c1/items",
      kind: "http",
      path: "/carts/c1/items",
      headers: { "content-type": "application/json" },
      body: json,
    },
    { name: "HTTP/JSON GET /carts/c1", kind: "http", method: "GET", path: "/carts/c1" },
    {
      name: "HTTP/JSON POST /shoppingcart.v1.ShoppingCart/AddItem",
      kind: "http",
      path: "/shoppingcart.v1.ShoppingCart/AddItem",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ cartId: "c1", ...JSON.parse(json) }),
    },
    {
      name: "Connect unary proto (hand-written)",
      kind: "http",
      path: "/shoppingcart.v1.ShoppingCart/AddItem",
      headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
      body: b64,
    },
    {
      name: "gRPC-Web proto (hand-written)",
      kind: "http",
      path: "/shoppingcart.v1.ShoppingCart/AddItem",
      headers: { "content-type": "application/grpc-web+proto" },
      body: Buffer.concat([Buffer.from([0, 0, 0, 0, addItem.length]), addItem]).toString("base64"),
    },
    {
      name: "gRPC unary (grpc-js client) through the one-port sniffer",
      kind: "grpc",
      path: "/shoppingcart.v1.ShoppingCart/AddItem",
      body: b64,
    },
  ];
  for (const s of scenarios) results.push(await ask(s, r.port));

  // Baselines: the same work without the sniffer, and connect-node for comparison.
  const grpcDirect = await plainGrpcServer();
  results.push(
    await ask(
      {
        name: "baseline: plain grpc-js server, own port, echo",
        kind: "grpc",
        path: "/shoppingcart.v1.ShoppingCart/AddItem",
        body: b64,
      },
      grpcDirect.port,
    ),
  );
  grpcDirect.server.forceShutdown();
  const connect = await connectNodeServer();
  results.push(
    await ask(
      {
        name: "alternative: connect-node adapter, Connect unary proto",
        kind: "http",
        path: "/shoppingcart.v1.ShoppingCart/AddItem",
        headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
        body: b64,
      },
      connect.port,
    ),
  );
  results.push(
    await ask(
      {
        name: "alternative: connect-node adapter, gRPC-Web proto",
        kind: "http",
        path: "/shoppingcart.v1.ShoppingCart/AddItem",
        headers: { "content-type": "application/grpc-web+proto" },
        body: Buffer.concat([Buffer.from([0, 0, 0, 0, addItem.length]), addItem]).toString(
          "base64",
        ),
      },
      connect.port,
    ),
  );
  const plain = await plainHttpServer();
  results.push(
    await ask(
      {
        name: "baseline: bare node:http 200 '{}', own port",
        kind: "http",
        path: "/x",
        headers: { "content-type": "application/json" },
        body: json,
      },
      plain.port,
    ),
  );
  await new Promise((res) => connect.server.close(res));
  await new Promise((res) => plain.server.close(res));

  child.kill();
  await r.ingress.close();
  console.log(
    `node ${process.version}, ${CONCURRENCY} in flight, ${seconds}s per scenario after 1s warm-up, client in a child process`,
  );
  console.table(results);
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
