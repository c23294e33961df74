/**
 * Replicated entities on one runtime node, against real processes: every
 * ingress protocol, durability across a kill -9 on SQLite, memory-only state,
 * deletes, and a function that breaks the protocol (a delta of the wrong
 * CRDT type, a replica id clash): precise errors, nothing merged.
 */
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { ChatRoom, Likes } from "../src/gen/chat/v1/chat_pb.js";
import {
  http,
  startFunction,
  startRuntime,
  tempDir,
  waitUntil,
} from "../../shopping-cart/test/harness.js";
import type { Proc } from "../../shopping-cart/test/harness.js";

const SAMPLE = join(import.meta.dirname, "../src/main.ts");
const FAULTY = join(import.meta.dirname, "fixtures/faulty.ts");
const procs: Proc[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.kill9();
  for (const c of cleanups.splice(0)) c();
});

async function system(entry = SAMPLE, args: string[] = []) {
  const tmp = tempDir();
  cleanups.push(tmp.cleanup);
  const fn = await startFunction(0, entry, { CHAT_WEB_PORT: "0" });
  procs.push(fn.proc);
  const store = `${tmp.dir}/cairn.db`;
  const rt = await startRuntime({ functionPort: fn.port, store, args });
  procs.push(rt.proc);
  return { fn, rt, store, url: rt.url, admin: `http://127.0.0.1:${rt.adminPort}` };
}

describe("replicated entities on one node", () => {
  it("serves a counter over HTTP/JSON, gRPC, Connect and gRPC-Web, every write consistency met", async () => {
    const s = await system();
    const like = (body: object) => http("POST", `${s.url}/posts/p1/likes`, body);
    expect((await like({})).body).toEqual({ postId: "p1", likes: "1" });
    // majority and all are met by the one replica a single node has.
    expect((await like({ by: 2, consistency: "majority" })).body).toEqual({
      postId: "p1",
      likes: "3",
    });
    expect((await like({ consistency: "all" })).status).toBe(200);
    const grpc = createClient(Likes, createGrpcTransport({ baseUrl: s.url }));
    const connect = createClient(
      Likes,
      createConnectTransport({ baseUrl: s.url, httpVersion: "1.1" }),
    );
    const web = createClient(Likes, createGrpcWebTransport({ baseUrl: s.url, httpVersion: "1.1" }));
    expect((await grpc.like({ postId: "p1", consistency: "all" })).likes).toBe(5n);
    expect((await connect.unlike({ postId: "p1", by: 2 })).likes).toBe(3n);
    expect((await web.get({ postId: "p1" })).likes).toBe(3n);
    const bad = await like({ consistency: "quorum" });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("consistency 'quorum'");
    expect((await grpc.get({ postId: "p1" })).likes).toBe(3n);
  });

  it("keeps a durable entity across a kill -9 of the runtime; memory-only state starts over", async () => {
    const s = await system();
    for (let i = 0; i < 3; i++) await http("POST", `${s.url}/posts/d1/likes`, { by: 2 });
    await http("POST", `${s.url}/rooms/r1/messages`, { user: "ada", text: "hello" });
    expect(
      ((await http("GET", `${s.url}/rooms/r1`)).body as { messages: unknown[] }).messages,
    ).toHaveLength(1);
    await s.rt.proc.kill9();
    const rt2 = await startRuntime({ functionPort: s.fn.port, store: s.store });
    procs.push(rt2.proc);
    expect((await http("GET", `${rt2.url}/posts/d1/likes`)).body).toEqual({
      postId: "d1",
      likes: "6",
    });
    // Writes after the restart continue the stored replica.
    expect((await http("POST", `${rt2.url}/posts/d1/likes`, {})).body).toEqual({
      postId: "d1",
      likes: "7",
    });
    // The chat room is not durable: it lived in the old runtime's memory.
    expect((await http("GET", `${rt2.url}/rooms/r1`)).body).toMatchObject({
      roomId: "r1",
      messages: [],
    });
  });

  it("passivates idle replicas: a durable one comes back from the store, a memory-only one from memory", async () => {
    const s = await system(SAMPLE, ["--passivation-timeout-ms", "300"]);
    await http("POST", `${s.url}/posts/idle/likes`, { by: 3 });
    await http("POST", `${s.url}/rooms/idle/messages`, { user: "ada", text: "still here?" });
    const passivated = async (service: string) => {
      const text = await (await fetch(`${s.admin}/metrics`)).text();
      const line = text
        .split("\n")
        .find((l) => l.startsWith(`cairn_entity_passivations_total{service="${service}"}`));
      return Number(line?.split(" ").pop() ?? 0);
    };
    await waitUntil(
      async () =>
        (await passivated("chat.v1.Likes")) >= 1 && (await passivated("chat.v1.ChatRoom")) >= 1,
      15_000,
      "both entities to be passivated",
    );
    expect((await http("GET", `${s.url}/posts/idle/likes`)).body).toEqual({
      postId: "idle",
      likes: "3",
    });
    const room = (await http("GET", `${s.url}/rooms/idle`)).body as {
      messages: { text: string }[];
    };
    expect(room.messages.map((m) => m.text)).toEqual(["still here?"]);
  });

  it("deletes an entity, durable or not, and starts it over from empty", async () => {
    const s = await system();
    const rooms = createClient(ChatRoom, createGrpcTransport({ baseUrl: s.url }));
    await rooms.post({ roomId: "r2", user: "bob", text: "one" });
    expect((await rooms.get({ roomId: "r2" })).messages).toHaveLength(1);
    await rooms.clear({ roomId: "r2" });
    expect((await rooms.get({ roomId: "r2" })).messages).toHaveLength(0);
    await rooms.post({ roomId: "r2", user: "bob", text: "two" });
    expect((await rooms.get({ roomId: "r2" })).messages.map((m) => m.text)).toEqual(["two"]);
    await http("POST", `${s.url}/posts/x/likes`, { by: 4 });
    const likes = createClient(Likes, createGrpcTransport({ baseUrl: s.url }));
    expect((await likes.reset({ postId: "x" })).likes).toBe(0n);
    expect((await likes.like({ postId: "x" })).likes).toBe(1n);
    await s.rt.proc.kill9();
    const rt2 = await startRuntime({ functionPort: s.fn.port, store: s.store });
    procs.push(rt2.proc);
    expect((await http("GET", `${rt2.url}/posts/x/likes`)).body).toEqual({
      postId: "x",
      likes: "1",
    });
  });

  it("refuses a delta of the wrong CRDT type and a replica id clash, and merges nothing", async () => {
    const s = await system(FAULTY);
    const clash = await http("POST", `${s.url}/posts/c1/likes`, {});
    expect(clash.status).toBe(500);
    expect(JSON.stringify(clash.body)).toMatch(
      /replica id clash on replicated entity likes\/c1: a delta from the user function \(given replica id 'r-[^']+'\) carries new writes under replica id 'intruder'/,
    );
    expect((await http("GET", `${s.url}/posts/c1/likes`)).body).toEqual({
      postId: "c1",
      likes: "0",
    });
    const mistyped = await http("POST", `${s.url}/rooms/m1/messages`, { user: "a", text: "hi" });
    expect(mistyped.status).toBe(500);
    expect(JSON.stringify(mistyped.body)).toContain(
      "delta of the wrong CRDT type for replicated entity chat-room/m1: the entity's type is ORSet, the delta's bytes are a ORMap",
    );
    expect((await http("GET", `${s.url}/rooms/m1`)).body).toMatchObject({
      roomId: "m1",
      online: [],
    });
    // The runtime is still serving.
    expect((await http("GET", `${s.url}/posts/c2/likes`)).status).toBe(200);
  });
});
