/**
 * Entity lifecycle and operations against real processes: passivation and
 * re-activation, snapshots across a runtime restart, metrics, the
 * PostgreSQL store, Connect and gRPC-Web clients, the CLI, and refusal of a
 * user function that speaks another protocol version.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import {
  Discovery,
  PROTOCOL_MAJOR_VERSION,
  PROTOCOL_MINOR_VERSION,
  SpecSchema,
  grpcServiceDefinition,
} from "@cairn/protocol";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { ShoppingCart } from "../src/gen/shoppingcart/v1/shopping_cart_pb.js";
import {
  PG_TEST_URL,
  ROOT,
  http,
  startFunction,
  startRuntime,
  tempDir,
  waitUntil,
} from "./harness.js";
import type { Proc } from "./harness.js";

const run = promisify(execFile);
const CLI = join(ROOT, "packages/cli/dist/bin.js");
const procs: Proc[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.stop();
  for (const c of cleanups.splice(0)) await c();
});

async function system(args: string[] = [], store?: string) {
  const tmp = tempDir();
  cleanups.push(tmp.cleanup);
  const f = await startFunction();
  procs.push(f.proc);
  const s = store ?? `${tmp.dir}/cairn.db`;
  const r = await startRuntime({ functionPort: f.port, store: s, args });
  procs.push(r.proc);
  return { fn: f, rt: r, store: s, url: r.url, admin: `http://127.0.0.1:${r.adminPort}` };
}

async function metric(admin: string, name: string, labels: string): Promise<number | undefined> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const line = text
    .split("\n")
    .find((l) => l.startsWith(name + "{") && labels.split(",").every((x) => l.includes(x)));
  return line === undefined ? undefined : Number(line.split(" ").pop());
}

const add = (url: string, cart: string, productId: string, quantity = 1) =>
  http("POST", `${url}/carts/${cart}/items`, { productId, name: productId, quantity });

describe("entity lifecycle", () => {
  it("passivates an idle entity and re-activates it with its state", async () => {
    const s = await system(["--passivation-timeout-ms", "300"]);
    await add(s.url, "l1", "apple", 2);
    const active = () =>
      fetch(`${s.admin}/v1/entities/shoppingcart.v1.ShoppingCart/l1`).then(
        (r) => r.json() as Promise<{ active: boolean }>,
      );
    await waitUntil(async () => !(await active()).active, 10_000, "passivation");
    expect(
      await metric(
        s.admin,
        "cairn_entity_passivations_total",
        'service="shoppingcart.v1.ShoppingCart"',
      ),
    ).toBeGreaterThanOrEqual(1);
    expect((await http("GET", `${s.url}/carts/l1`)).body).toEqual({
      items: [{ productId: "apple", name: "apple", quantity: 2 }],
      checkedOut: false,
    });
    expect((await active()).active).toBe(true);
  });

  it("snapshots every 100 events; after a runtime restart the state is the same", async () => {
    const s = await system();
    for (let i = 0; i < 130; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => add(s.url, "l2", `p${(i + j) % 13}`)));
    }
    const before = (await http("GET", `${s.url}/carts/l2`)).body;
    const inspected = (await (
      await fetch(`${s.admin}/v1/entities/shoppingcart.v1.ShoppingCart/l2`)
    ).json()) as { sequence: number; snapshot?: { sequence: number } };
    expect(inspected.sequence).toBe(130);
    expect(inspected.snapshot?.sequence).toBe(100);
    await s.rt.proc.stop();
    const rt2 = await startRuntime({ functionPort: s.fn.port, store: s.store });
    procs.push(rt2.proc);
    expect((await http("GET", `${rt2.url}/carts/l2`)).body).toEqual(before);
  });

  it("keeps snapshots when many commands of one entity are committed together", async () => {
    const s = await system();
    // 250 concurrent adds on one cart: replies group into shared appends, and
    // the ones crossing 100 and 200 carry snapshots that must not be lost.
    const results = await Promise.all(
      Array.from({ length: 250 }, (_, i) => add(s.url, "l5", `p${i}`)),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    const inspected = (await (
      await fetch(`${s.admin}/v1/entities/shoppingcart.v1.ShoppingCart/l5`)
    ).json()) as {
      sequence: number;
      snapshot?: { sequence: number };
    };
    expect(inspected.sequence).toBe(250);
    expect(inspected.snapshot?.sequence).toBe(200);
  });

  it("counts commands per method and code in /metrics", async () => {
    const s = await system();
    await add(s.url, "l3", "apple");
    await add(s.url, "l3", "apple", -1);
    expect(await metric(s.admin, "cairn_commands_total", 'method="AddItem",code="OK"')).toBe(1);
    expect(
      await metric(s.admin, "cairn_commands_total", 'method="AddItem",code="INVALID_ARGUMENT"'),
    ).toBe(1);
    expect(
      await metric(s.admin, "cairn_active_entities", 'service="shoppingcart.v1.ShoppingCart"'),
    ).toBe(1);
    const text = await (await fetch(`${s.admin}/metrics`)).text();
    expect(text).toMatch(/cairn_command_duration_seconds_bucket\{.*method="AddItem"/);
  });
});

describe("other clients and stores", () => {
  it("serves Connect and gRPC-Web clients", async () => {
    const s = await system();
    const connect = createClient(
      ShoppingCart,
      createConnectTransport({ baseUrl: s.url, httpVersion: "1.1" }),
    );
    const web = createClient(
      ShoppingCart,
      createGrpcWebTransport({ baseUrl: s.url, httpVersion: "1.1" }),
    );
    await connect.addItem({ cartId: "w1", productId: "apple", name: "Apple", quantity: 1 });
    await web.addItem({ cartId: "w1", productId: "apple", name: "Apple", quantity: 1 });
    expect((await web.getCart({ cartId: "w1" })).items[0]?.quantity).toBe(2);
    await connect.checkout({ cartId: "w1" });
    await expect(
      connect.addItem({ cartId: "w1", productId: "x", name: "X", quantity: 1 }),
    ).rejects.toThrow(/checked out/);
  });

  it("runs on PostgreSQL", async () => {
    const schema = `cairn_e2e_${process.pid}_${Date.now()}`;
    const base = PG_TEST_URL;
    cleanups.push(async () => {
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    });
    const s = await system([], `${base}${base.includes("?") ? "&" : "?"}schema=${schema}`);
    await add(s.url, "pg1", "apple", 2);
    await add(s.url, "pg1", "pear", 1);
    await s.rt.proc.stop();
    const rt2 = await startRuntime({ functionPort: s.fn.port, store: s.store });
    procs.push(rt2.proc);
    expect((await http("GET", `${rt2.url}/carts/pg1`)).body).toEqual({
      items: [
        { productId: "apple", name: "apple", quantity: 2 },
        { productId: "pear", name: "pear", quantity: 1 },
      ],
      checkedOut: false,
    });
  });

  it("cairn call and cairn inspect work against a running runtime", async () => {
    const s = await system();
    const args = ["--address", s.url, "--admin", s.admin];
    await run(process.execPath, [
      CLI,
      "call",
      "ShoppingCart/AddItem",
      '{"cartId":"cli1","productId":"apple","name":"Apple","quantity":4}',
      ...args,
    ]);
    const got = await run(process.execPath, [
      CLI,
      "call",
      "shoppingcart.v1.ShoppingCart/GetCart",
      '{"cartId":"cli1"}',
      ...args,
    ]);
    expect(JSON.parse(got.stdout)).toEqual({
      items: [{ productId: "apple", name: "Apple", quantity: 4 }],
      checkedOut: false,
    });
    const inspected = await run(process.execPath, [
      CLI,
      "inspect",
      "ShoppingCart",
      "cli1",
      "--json",
      "--admin",
      s.admin,
    ]);
    expect(JSON.parse(inspected.stdout)).toMatchObject({
      entityId: "cli1",
      sequence: 1,
      events: [{ sequence: 1, payload: { productId: "apple", quantity: 4 } }],
    });
    const failed = await run(process.execPath, [
      CLI,
      "call",
      "ShoppingCart/Nope",
      "{}",
      ...args,
    ]).catch((e: { code: number; stderr: string }) => e);
    expect((failed as { code: number }).code).toBeGreaterThan(0);
    expect((failed as { stderr: string }).stderr).toMatch(/Nope/);
  });
});

describe("protocol versions", () => {
  it("refuses a user function that speaks another major version, and says so in /readyz", async () => {
    const server = new grpc.Server();
    server.addService(grpcServiceDefinition(Discovery), {
      discover: (_call: unknown, cb: grpc.sendUnaryData<unknown>) =>
        cb(
          null,
          create(SpecSchema, {
            serviceInfo: {
              supportLibraryName: "old-sdk",
              supportLibraryVersion: "0.9",
              protocolMajorVersion: PROTOCOL_MAJOR_VERSION + 1,
            },
          }),
        ),
      reportError: (_call: unknown, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, { $typeName: "google.protobuf.Empty" }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    cleanups.push(() => new Promise<void>((r) => server.tryShutdown(() => r())));
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const r = await startRuntime({
      functionPort: port,
      store: `${tmp.dir}/c.db`,
      waitReady: false,
    });
    procs.push(r.proc);
    let body = "";
    await waitUntil(
      async () => {
        const res = await fetch(`http://127.0.0.1:${r.adminPort}/readyz`);
        body = await res.text();
        return res.status === 503 && body.includes("protocol version mismatch");
      },
      10_000,
      "a refusal in /readyz",
    );
    expect(body).toMatch(
      new RegExp(
        `protocol ${PROTOCOL_MAJOR_VERSION + 1}\\.0.*${PROTOCOL_MAJOR_VERSION}\\.${PROTOCOL_MINOR_VERSION}`,
      ),
    );
    const res = await http("GET", `${r.url}/carts/x`);
    expect(res.status).toBe(503);
  });
});
