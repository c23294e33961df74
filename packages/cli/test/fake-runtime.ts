/**
 * A small HTTP server imitating the runtime's ingress (POST /<Service>/<Method>)
 * and admin API (/v1/services, /v1/entities/...), recording what it receives.
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A request the fake received. */
export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

/** The fake's services, as the admin API lists them. */
export const SERVICES = [
  {
    name: "shop.v1.ShoppingCart",
    kind: "event_sourced_entity",
    entityType: "cart",
    methods: [
      {
        name: "AddItem",
        inputType: "shop.v1.AddItemRequest",
        outputType: "google.protobuf.Empty",
        http: "POST /carts/{cart_id}/items",
      },
      {
        name: "GetCart",
        inputType: "shop.v1.GetCartRequest",
        outputType: "shop.v1.Cart",
        http: "GET /carts/{cart_id}",
      },
    ],
  },
  { name: "shop.v1.Inventory", kind: "value_entity", entityType: "stock", methods: [] },
  { name: "legacy.Inventory", kind: "action", entityType: "legacy.Inventory", methods: [] },
];

/** An entity inspection as the admin API answers it. */
export const CART = {
  service: "shop.v1.ShoppingCart",
  entityId: "c1",
  entityType: "cart",
  sequence: 3,
  snapshot: { sequence: 1, state: { items: { apple: 1 } } },
  events: [
    {
      sequence: 2,
      offset: 40,
      timestamp: "2026-01-01T00:00:00.000Z",
      type: "shop.v1.ItemAdded",
      payload: { productId: "pear", quantity: 2 },
    },
    {
      sequence: 3,
      offset: 41,
      timestamp: "2026-01-01T00:00:01.000Z",
      type: "shop.v1.ItemRemoved",
      payload: { productId: "x".repeat(120) },
    },
  ],
  active: true,
};

/** A running fake with its base URL and the requests it saw. */
export interface FakeRuntime {
  readonly url: string;
  readonly received: Received[];
  close(): Promise<void>;
}

/** Starts the fake on 127.0.0.1 and a free port. */
export async function startFakeRuntime(): Promise<FakeRuntime> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      answer(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => close(server),
  };
}

function answer(req: IncomingMessage, body: string, res: ServerResponse): void {
  const json = (status: number, value: unknown): void => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(value));
  };
  const url = req.url ?? "";
  if (url === "/v1/services") return json(200, SERVICES);
  if (url.startsWith("/v1/entities/shop.v1.ShoppingCart/c1")) return json(200, CART);
  if (url.startsWith("/v1/entities/"))
    return json(404, {
      code: "NOT_FOUND",
      status: 404,
      message: "no entity nope of shop.v1.ShoppingCart",
    });
  if (url === "/shop.v1.ShoppingCart/GetCart")
    return json(200, { cartId: (JSON.parse(body) as { cartId?: string }).cartId, items: [] });
  if (url === "/shop.v1.ShoppingCart/AddItem") {
    return json(400, { code: 3, status: "INVALID_ARGUMENT", message: "quantity must be positive" });
  }
  return json(404, {
    code: 5,
    status: "NOT_FOUND",
    message: `no route matches ${req.method} ${url}`,
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
