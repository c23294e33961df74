/**
 * The loaded scenarios: two baselines (bare gRPC and HTTP echo servers) and
 * the shopping cart's AddItem through a runtime, over HTTP/JSON and gRPC, on
 * many carts, on one hot cart, and one request at a time.
 */
import { createGrpcClient, createHttpClient, encodeAddLineItem, grpcErrorKind } from "./clients.js";
import type { HttpClient } from "./clients.js";
import { runLoad } from "./load.js";
import type { WindowProbe } from "./load.js";
import { startEcho } from "./procs.js";
import type { Summary } from "./stats.js";
import { runWrk } from "./wrk.js";

/** Timing shared by every loaded scenario. */
export interface LoadShape {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Told when the measured window starts and ends. */
  probe?: WindowProbe | undefined;
}

/** Which HTTP load generator runs the HTTP scenarios: the bench's own, or wrk (see wrk.ts). */
export type HttpGenerator = { kind: "node" } | { kind: "wrk"; wrk: string; dir: string };

/** Requests any one scenario may start: far above what 2 cores can do in a run, yet a bound. */
const MAX_REQUESTS = 5_000_000;
const ADD_ITEM_PATH = "/shoppingcart.v1.ShoppingCart/AddItem";
const PRODUCTS = 10;

/** A small deterministic PRNG (xorshift32), so two runs pick the same cart sequence. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/** The JSON body of AddItem for the n-th request; the product rotates so carts hold a few lines. */
function addItemBody(n: number): string {
  const p = n % PRODUCTS;
  return JSON.stringify({ productId: `p${p}`, name: `Product ${p}`, quantity: 1 });
}

const BODIES = Array.from({ length: PRODUCTS }, (_, n) => addItemBody(n));

/** One AddItem over HTTP/JSON; `undefined` on 200, else the error kind. */
export async function httpAddItem(
  client: HttpClient,
  cartId: string,
  n: number,
): Promise<string | undefined> {
  const res = await client.request(
    "POST",
    `/carts/${encodeURIComponent(cartId)}/items`,
    BODIES[n % PRODUCTS],
  );
  return res.status === 200 ? undefined : `http ${res.status}`;
}

/** Baseline: grpc-js client against a grpc-js unary echo server in another process. */
export async function grpcEcho(shape: LoadShape, channels: number): Promise<Summary> {
  const echo = await startEcho("grpc");
  const client = createGrpcClient(`127.0.0.1:${echo.port}`, channels);
  const payload = encodeAddLineItem("cart-1", "p1", "Product 1", 1);
  try {
    return await runLoad({
      ...shape,
      maxRequests: MAX_REQUESTS,
      request: (seq) =>
        client.unary("/bench.Echo/Echo", payload, 10_000, seq).then(
          () => undefined,
          (err: unknown) => grpcErrorKind(err),
        ),
    });
  } finally {
    client.close();
    await echo.proc.stop();
  }
}

/** Baseline: HTTP/1.1 keep-alive load against a node:http JSON echo server in another process. */
export async function httpEcho(shape: LoadShape, gen: HttpGenerator): Promise<Summary> {
  const echo = await startEcho("http");
  try {
    // Same paths and bodies as http-1000, so both rows cost the client the same.
    return await httpCarts(echo.port, shape, 1000, "cart", gen);
  } finally {
    await echo.proc.stop();
  }
}

/**
 * AddItem over HTTP/JSON on `carts` carts picked at random (seeded),
 * `cartPrefix-<i>`; with `carts` 0, every request goes to the cart `cartPrefix`.
 */
export async function httpCarts(
  port: number,
  shape: LoadShape,
  carts: number,
  cartPrefix: string,
  gen: HttpGenerator,
): Promise<Summary> {
  if (gen.kind === "wrk")
    return runWrk({ ...shape, wrk: gen.wrk, dir: gen.dir, port, carts, prefix: cartPrefix });
  const client = createHttpClient("127.0.0.1", port, shape.concurrency);
  const next = prng(carts * 7919 + shape.concurrency);
  const cart = carts > 0 ? () => `${cartPrefix}-${Math.floor(next() * carts)}` : () => cartPrefix;
  try {
    return await runLoad({
      ...shape,
      maxRequests: MAX_REQUESTS,
      request: (seq) => httpAddItem(client, cart(), seq),
    });
  } finally {
    client.close();
  }
}

/** AddItem over gRPC on `carts` carts picked at random (seeded); request bytes encoded up front. */
export async function grpcCarts(
  port: number,
  shape: LoadShape,
  carts: number,
  cartPrefix: string,
  channels: number,
): Promise<Summary> {
  const client = createGrpcClient(`127.0.0.1:${port}`, channels);
  const next = prng(carts * 104_729 + shape.concurrency);
  const requests = Array.from({ length: carts * PRODUCTS }, (_, i) =>
    encodeAddLineItem(
      `${cartPrefix}-${Math.floor(i / PRODUCTS)}`,
      `p${i % PRODUCTS}`,
      `Product ${i % PRODUCTS}`,
      1,
    ),
  );
  try {
    return await runLoad({
      ...shape,
      maxRequests: MAX_REQUESTS,
      request: (seq) =>
        client
          .unary(
            ADD_ITEM_PATH,
            requests[Math.floor(next() * carts) * PRODUCTS + (seq % PRODUCTS)]!,
            10_000,
            seq,
          )
          .then(
            () => undefined,
            (err: unknown) => grpcErrorKind(err),
          ),
    });
  } finally {
    client.close();
  }
}
