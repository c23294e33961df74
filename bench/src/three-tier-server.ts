/**
 * The stateless three-tier baseline of issue 14, run as a child process:
 * a plain `node:http` service that keeps nothing between requests and asks
 * the database for everything (three-tier-db.ts). Its routes and JSON bodies
 * are the ones the Cairn side serves, so the same load generator drives both:
 *
 *   POST /tallies/{id}/increment {"by":1}  -> {"counterId","value"}   one UPSERT ... RETURNING
 *   GET  /tallies/{id}                     -> {"counterId","value"}   one SELECT
 *   POST /carts/{id}/items {"productId","name","quantity"} -> {}     one transaction
 *   GET  /carts/{id}                       -> {"items":[...],"checkedOut"}
 *
 * Usage: `three-tier-server.js postgres <url> <schema> <poolSize>` or
 * `three-tier-server.js sqlite <file>`. Prints one JSON line
 * `{"msg":"three-tier listening","port":...}`; stops on SIGTERM or when its
 * parent goes away (stdin closes).
 */
import * as http from "node:http";
import { openPostgresTier, openSqliteTier } from "./three-tier-db.js";
import type { CartDoc, CartLine, TierDb } from "./three-tier-db.js";

/** Largest request body accepted (the bench's are under 100 bytes). */
const MAX_BODY = 64 * 1024;

type Answer = { status: number; body: unknown };

function send(res: http.ServerResponse, a: Answer): void {
  const out = JSON.stringify(a.body);
  res.writeHead(a.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(out),
  });
  res.end(out);
}

function parseLine(body: unknown): { value: CartLine } | { error: string } {
  const b = body as Partial<CartLine> | null;
  if (typeof b?.productId !== "string" || b.productId === "")
    return { error: "productId must be a non-empty string" };
  if (typeof b.quantity !== "number" || !Number.isInteger(b.quantity) || b.quantity <= 0)
    return { error: `quantity must be a positive integer, got ${String(b.quantity)}` };
  return { value: { productId: b.productId, name: String(b.name ?? ""), quantity: b.quantity } };
}

function cartAnswer(doc: CartDoc): unknown {
  return {
    items: Object.entries(doc.items)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([productId, item]) => ({ productId, name: item.name, quantity: item.quantity })),
    checkedOut: doc.checkedOut,
  };
}

/** Routes one request; a thrown database error becomes a 500 in the caller. */
async function route(db: TierDb, method: string, path: string, body: unknown): Promise<Answer> {
  const m = /^\/(tallies|carts)\/([^/]+)(\/increment|\/items)?$/.exec(path);
  if (m === null) return { status: 404, body: { error: `no route for ${method} ${path}` } };
  const [, kind, rawId, tail] = m;
  const id = decodeURIComponent(rawId!);
  if (kind === "tallies" && tail === "/increment" && method === "POST") {
    const by = (body as { by?: unknown } | null)?.by;
    const n = typeof by === "number" && Number.isInteger(by) && by !== 0 ? by : 1;
    return { status: 200, body: { counterId: id, value: await db.increment(id, n) } };
  }
  if (kind === "tallies" && tail === undefined && method === "GET")
    return { status: 200, body: { counterId: id, value: await db.get(id) } };
  if (kind === "carts" && tail === "/items" && method === "POST") {
    const line = parseLine(body);
    if ("error" in line) return { status: 400, body: { error: line.error } };
    return (await db.addItem(id, line.value))
      ? { status: 200, body: {} }
      : { status: 409, body: { error: `cart '${id}' is checked out and cannot change` } };
  }
  if (kind === "carts" && tail === undefined && method === "GET")
    return { status: 200, body: cartAnswer(await db.getCart(id)) };
  return { status: 405, body: { error: `${method} is not allowed on ${path}` } };
}

function handle(db: TierDb, req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (c: Buffer) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on("end", () => {
    if (size > MAX_BODY) return send(res, { status: 413, body: { error: "body too large" } });
    let body: unknown = null;
    try {
      if (size > 0) body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return send(res, { status: 400, body: { error: "body is not JSON" } });
    }
    const path = (req.url ?? "/").split("?")[0]!;
    route(db, req.method ?? "GET", path, body).then(
      (a) => send(res, a),
      (err: unknown) => {
        process.stderr.write(`three-tier: ${req.method} ${path}: ${String(err)}\n`);
        send(res, { status: 500, body: { error: String(err) } });
      },
    );
  });
}

async function open(args: string[]): Promise<TierDb> {
  const [kind, a, b, c] = args;
  if (kind === "postgres" && a !== undefined && b !== undefined)
    return openPostgresTier(a, b, Number(c ?? 10));
  if (kind === "sqlite" && a !== undefined) return openSqliteTier(a);
  process.stderr.write(
    "usage: three-tier-server postgres <url> <schema> [poolSize] | sqlite <file>\n",
  );
  process.exit(2);
}

const db = await open(process.argv.slice(2));
const server = http.createServer((req, res) => handle(db, req, res));
server.keepAliveTimeout = 60_000;
const port = await new Promise<number>((resolve) =>
  server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
);
process.stdout.write(`${JSON.stringify({ msg: "three-tier listening", port })}\n`);
const shutdown = (): void => {
  server.closeAllConnections();
  server.close();
  db.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
// An orphaned service would hold a port, connections and a core; leave with the parent.
process.stdin.on("end", shutdown);
process.stdin.resume();
