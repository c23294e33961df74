/**
 * The loaded scenarios: two baselines (bare gRPC and HTTP echo servers); the
 * shopping cart's AddItem through a runtime, over HTTP/JSON and gRPC, on many
 * carts, on one hot cart, and one request at a time; and the bench function's
 * value entity update and echo action (issue 3).
 */
import {
  createGrpcClient,
  createHttpClient,
  encodeAddLineItem,
  encodeEchoMessage,
  grpcErrorKind,
} from "./clients.js";
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

/** One kind of HTTP request of a scenario: `{id}` in the template is replaced by the entity id. */
export interface HttpRequestShape {
  method: "GET" | "POST";
  template: string;
  /** JSON body of a POST. */
  body?: string;
}

/**
 * What an HTTP scenario sends: the n-th request is `requests[n % length]`
 * on an entity picked at random. Both HTTP clients (node and wrk) take it, so
 * they send the same requests.
 */
export interface HttpRoute {
  requests: readonly HttpRequestShape[];
  /** When set, the n-th request carries `idempotency-key: <keyPrefix>-<n>` (a new key each). */
  keyPrefix?: string;
}

/** POSTs to one template, the n-th request carrying `bodies[n % length]`. */
export function posts(template: string, bodies: readonly string[]): HttpRoute {
  return { requests: bodies.map((body) => ({ method: "POST", template, body })) };
}

/** The JSON body of AddItem for the n-th request; the product rotates so carts hold a few lines. */
function addItemBody(n: number): string {
  const p = n % PRODUCTS;
  return JSON.stringify({ productId: `p${p}`, name: `Product ${p}`, quantity: 1 });
}

const ADD_ITEM_BODIES = Array.from({ length: PRODUCTS }, (_, n) => addItemBody(n));

/** The shopping cart's AddItem. */
export const CART_ROUTE: HttpRoute = posts("/carts/{id}/items", ADD_ITEM_BODIES);

/**
 * The cart-shaped mix: AddItem and GetCart in turn (half writes, half reads),
 * each on a cart picked at random.
 */
export const CART_MIX_ROUTE: HttpRoute = {
  requests: ADD_ITEM_BODIES.flatMap((body): HttpRequestShape[] => [
    { method: "POST", template: "/carts/{id}/items", body },
    { method: "GET", template: "/carts/{id}" },
  ]),
};

/** The bench function's Counter.Increment: a value entity state update. */
export const COUNTER_ROUTE: HttpRoute = posts("/counters/{id}/increment", [
  JSON.stringify({ by: 1 }),
]);

/** The bench function's Tally.Increment: one event appended (the three-tier service: one UPSERT). */
export const TALLY_INCREMENT_ROUTE: HttpRoute = posts("/tallies/{id}/increment", [
  JSON.stringify({ by: 1 }),
]);

/** The bench function's Tally.Get: a read of the state in memory (the three-tier service: one SELECT). */
export const TALLY_GET_ROUTE: HttpRoute = {
  requests: [{ method: "GET", template: "/tallies/{id}" }],
};

/**
 * The bench function's Echo.Echo action. The body is about the size of an
 * AddItem body, so the row compares with the http-echo baseline.
 */
export const ECHO_ROUTE: HttpRoute = posts("/echo", [
  JSON.stringify({ text: "Product 1 in cart-1, p1", n: 1 }),
]);

/** The gRPC path of the bench function's echo action. */
const ECHO_ACTION_PATH = "/cairnbench.v1.Echo/Echo";

/** The n-th request of `route` on entity `id` over HTTP/JSON; `undefined` on 200, else the error kind. */
export async function httpSend(
  client: HttpClient,
  route: HttpRoute,
  id: string,
  n: number,
): Promise<string | undefined> {
  const r = route.requests[n % route.requests.length]!;
  const res = await client.request(
    r.method,
    r.template.replace("{id}", encodeURIComponent(id)),
    r.body,
    undefined,
    route.keyPrefix === undefined ? undefined : { "idempotency-key": `${route.keyPrefix}-${n}` },
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
export function httpCarts(
  port: number,
  shape: LoadShape,
  carts: number,
  cartPrefix: string,
  gen: HttpGenerator,
): Promise<Summary> {
  return httpLoad(port, shape, CART_ROUTE, carts, cartPrefix, gen);
}

/**
 * POSTs of `route` over HTTP/JSON on `entities` ids picked at random (seeded),
 * `prefix-<i>`; with `entities` 0, every request goes to the id `prefix`.
 */
export async function httpLoad(
  port: number,
  shape: LoadShape,
  route: HttpRoute,
  entities: number,
  prefix: string,
  gen: HttpGenerator,
): Promise<Summary> {
  if (gen.kind === "wrk")
    return runWrk({ ...shape, wrk: gen.wrk, dir: gen.dir, port, carts: entities, prefix, route });
  const client = createHttpClient("127.0.0.1", port, shape.concurrency);
  const next = prng(entities * 7919 + shape.concurrency);
  const id = entities > 0 ? () => `${prefix}-${Math.floor(next() * entities)}` : () => prefix;
  try {
    return await runLoad({
      ...shape,
      maxRequests: MAX_REQUESTS,
      request: (seq) => httpSend(client, route, id(), seq),
    });
  } finally {
    client.close();
  }
}

/** The bench function's echo action over gRPC through the runtime (no store involved). */
export async function grpcEchoAction(
  port: number,
  shape: LoadShape,
  channels: number,
): Promise<Summary> {
  const client = createGrpcClient(`127.0.0.1:${port}`, channels);
  // About the size of the grpc-echo baseline's payload (an encoded AddLineItem).
  const payload = encodeEchoMessage("Product 1 in cart-1, p1", 1);
  try {
    return await runLoad({
      ...shape,
      maxRequests: MAX_REQUESTS,
      request: (seq) =>
        client.unary(ECHO_ACTION_PATH, payload, 10_000, seq).then(
          () => undefined,
          (err: unknown) => grpcErrorKind(err),
        ),
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
