/**
 * Subscriptions (streamed commands) of a replicated entity against real
 * processes: a chat room's Watch pushes the room on every change to gRPC,
 * Connect and server-sent-event clients, and a client that goes away has its
 * presence withdrawn by the entity's cancellation handler.
 */
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { ChatRoom } from "../src/gen/chat/v1/chat_pb.js";
import type { RoomView } from "../src/gen/chat/v1/chat_pb.js";
import {
  http,
  startFunction,
  startRuntime,
  tempDir,
  waitUntil,
} from "../../shopping-cart/test/harness.js";
import type { Proc } from "../../shopping-cart/test/harness.js";

const SAMPLE = join(import.meta.dirname, "../src/main.ts");
const procs: Proc[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.kill9();
  for (const c of cleanups.splice(0)) c();
});

async function system() {
  const tmp = tempDir();
  cleanups.push(tmp.cleanup);
  const fn = await startFunction(0, SAMPLE, { CHAT_WEB_PORT: "0" });
  procs.push(fn.proc);
  const rt = await startRuntime({ functionPort: fn.port, store: `${tmp.dir}/cairn.db` });
  procs.push(rt.proc);
  return { url: rt.url };
}

/** Reads a stream in the background; `views` fills as messages arrive. */
function follow(stream: AsyncIterable<RoomView>) {
  const views: RoomView[] = [];
  const done = (async () => {
    for await (const v of stream) views.push(v);
  })();
  return { views, done };
}

/** Server-sent events of `url`, parsed as they arrive. */
function sse(url: string, signal: AbortSignal) {
  const events: Array<{ online: string[]; messages: Array<{ text: string }> }> = [];
  const done = (async () => {
    const res = await fetch(url, { headers: { accept: "text/event-stream" }, signal });
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of block.split("\n"))
          if (line.startsWith("data: ")) events.push(JSON.parse(line.slice(6)) as never);
      }
    }
  })().catch((err: unknown) => {
    if (!signal.aborted) throw err;
  });
  return { events, done };
}

const online = (v: { online?: string[] } | undefined) => v?.online ?? [];

describe("subscriptions of a replicated entity", () => {
  it("pushes every change to gRPC, Connect and SSE watchers, and withdraws presence when one goes away", async () => {
    const s = await system();
    const grpc = createClient(ChatRoom, createGrpcTransport({ baseUrl: s.url }));
    const connect = createClient(
      ChatRoom,
      createConnectTransport({ baseUrl: s.url, httpVersion: "1.1" }),
    );
    const adaGone = new AbortController();
    const ada = follow(grpc.watch({ roomId: "lobby", user: "ada" }, { signal: adaGone.signal }));
    await waitUntil(() => online(ada.views.at(-1)).includes("ada"), 15_000, "ada online");
    const bobGone = new AbortController();
    const bob = follow(connect.watch({ roomId: "lobby", user: "bob" }, { signal: bobGone.signal }));
    const eveGone = new AbortController();
    const eve = sse(`${s.url}/rooms/lobby/watch?user=eve`, eveGone.signal);
    await waitUntil(
      () => online(ada.views.at(-1)).join() === "ada,bob,eve",
      15_000,
      "ada to see bob and eve arrive",
    );
    await http("POST", `${s.url}/rooms/lobby/messages`, { user: "bob", text: "hi all" });
    const saw = (views: Array<{ messages?: Array<{ text: string }> }>) =>
      views.some((v) => v.messages?.some((m) => m.text === "hi all"));
    await waitUntil(
      () => saw(ada.views) && saw(bob.views) && saw(eve.events),
      15_000,
      "every watcher to get the message pushed",
    );
    // Bob's client goes away: his presence is withdrawn, the others see it.
    bobGone.abort();
    await bob.done.catch(() => undefined);
    await waitUntil(
      () =>
        online(ada.views.at(-1)).join() === "ada,eve" &&
        online(eve.events.at(-1)).join() === "ada,eve",
      15_000,
      "bob's presence withdrawn",
    );
    eveGone.abort();
    await eve.done;
    await waitUntil(
      () => online(ada.views.at(-1)).join() === "ada",
      15_000,
      "eve's presence withdrawn (SSE client gone)",
    );
    expect(
      ((await http("GET", `${s.url}/rooms/lobby`)).body as { online: string[] }).online,
    ).toEqual(["ada"]);
    adaGone.abort();
    await ada.done.catch(() => undefined);
    await waitUntil(
      async () =>
        ((await http("GET", `${s.url}/rooms/lobby`)).body as { online?: string[] }).online
          ?.length === 0,
      15_000,
      "nobody online",
    );
  });
});
