import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { bookJson, bookRequest, settled, startStreamIngress, until } from "./stream-harness.js";
import type { StreamRunning } from "./stream-harness.js";

let running: StreamRunning | undefined;
let client: grpc.Client | undefined;
afterEach(async () => {
  client?.close();
  client = undefined;
  await running?.ingress.close();
  running = undefined;
});

const identity = (b: Buffer): Buffer => b;
const WATCH = "/test.v1.Library/Watch";
const COLLECT = "/test.v1.Library/Collect";
const CHAT = "/test.v1.Library/Chat";

async function start(): Promise<{ r: StreamRunning; c: grpc.Client }> {
  running = await startStreamIngress();
  client = new grpc.Client(`127.0.0.1:${running.port}`, grpc.credentials.createInsecure());
  return { r: running, c: client };
}

interface Collected {
  messages: Buffer[];
  error: grpc.ServiceError | null;
  headers?: grpc.Metadata;
}

/** Reads a server or bidi stream to its end. */
function collect(
  stream: grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>,
) {
  return new Promise<Collected>((resolve) => {
    const out: Collected = { messages: [], error: null };
    stream.on("metadata", (md: grpc.Metadata) => (out.headers = md));
    stream.on("data", (m: Buffer) => out.messages.push(m));
    stream.on("error", (e: grpc.ServiceError) => resolve({ ...out, error: e }));
    stream.on("status", (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) resolve(out);
    });
  });
}

function watch(c: grpc.Client, r: StreamRunning, json: object, md = new grpc.Metadata()) {
  const req = Buffer.from(bookRequest(r.dispatcher, json as never));
  return c.makeServerStreamRequest(WATCH, identity, identity, req, md);
}

describe("gRPC streaming ingress", () => {
  it("serves server-streaming: every output in order, response metadata as headers", async () => {
    const { r, c } = await start();
    const md = new grpc.Metadata();
    md.set("x-trace", "t1");
    const out = await collect(watch(c, r, { name: "n", tags: ["a", "b", "c"] }, md));
    expect(out.error).toBeNull();
    expect(out.messages.map((m) => bookJson(r.dispatcher, m).title)).toEqual(["a", "b", "c"]);
    expect(out.headers?.get("x-stream")).toEqual(["Watch"]);
    const inv = r.dispatcher.streams[0];
    expect(inv?.metadata["x-trace"]).toBe("t1");
    // No grpc-timeout: a stream gets no default deadline.
    expect(inv?.deadline).toBeUndefined();
  });

  it("passes the client's deadline to a stream", async () => {
    const { r, c } = await start();
    const deadline = Date.now() + 5000;
    const req = Buffer.from(bookRequest(r.dispatcher, { name: "n", tags: ["a"] }));
    const s = c.makeServerStreamRequest(WATCH, identity, identity, req, new grpc.Metadata(), {
      deadline,
    });
    expect((await collect(s)).error).toBeNull();
    expect(Math.abs((r.dispatcher.streams[0]?.deadline ?? 0) - deadline)).toBeLessThan(1000);
  });

  it("ends a stream at the client's deadline with DEADLINE_EXCEEDED and aborts the signal", async () => {
    const { r, c } = await start();
    const req = Buffer.from(bookRequest(r.dispatcher, { name: "hang", tags: ["a"] }));
    const s = c.makeServerStreamRequest(WATCH, identity, identity, req, new grpc.Metadata(), {
      deadline: Date.now() + 200,
    });
    const out = await collect(s);
    expect(out.messages).toHaveLength(1);
    expect(out.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await until(() => r.dispatcher.streams[0]?.signal?.aborted === true);
  });

  it("ends open streams when the ingress closes", async () => {
    const { r, c } = await start();
    const s = watch(c, r, { name: "hang", tags: ["a"] });
    const out = collect(s);
    await r.dispatcher.hanging;
    await r.ingress.close();
    running = undefined;
    expect((await out).error).not.toBeNull();
    expect(r.dispatcher.streams[0]?.signal?.aborted).toBe(true);
  });

  it("serves client-streaming: all inputs in, one reply out", async () => {
    const { r, c } = await start();
    const reply = await new Promise<{ err: grpc.ServiceError | null; value?: Buffer }>(
      (resolve) => {
        const s = c.makeClientStreamRequest(COLLECT, identity, identity, (err, value) =>
          resolve({ err, value }),
        );
        for (const name of ["x", "y", "z"])
          s.write(Buffer.from(bookRequest(r.dispatcher, { name })));
        s.end();
      },
    );
    expect(reply.err).toBeNull();
    expect(bookJson(r.dispatcher, reply.value ?? Buffer.alloc(0))).toMatchObject({
      title: "3",
      tags: ["x", "y", "z"],
    });
  });

  it("serves bidi: each input echoed as it arrives", async () => {
    const { r, c } = await start();
    const s = c.makeBidiStreamRequest(CHAT, identity, identity);
    const names: string[] = [];
    const got = new Promise<void>((resolve) =>
      s.on("data", (m: Buffer) => {
        names.push(bookJson(r.dispatcher, m).name as string);
        if (names.length === 1) {
          // The second input only goes out after the first echo: truly interleaved.
          s.write(Buffer.from(bookRequest(r.dispatcher, { name: "two" })));
          s.end();
        }
        if (names.length === 2) resolve();
      }),
    );
    const done = collect(s);
    s.write(Buffer.from(bookRequest(r.dispatcher, { name: "one" })));
    await got;
    expect((await done).error).toBeNull();
    expect(names).toEqual(["one", "two"]);
  });

  it("keeps every message of a client writing through a small input buffer", async () => {
    running = await startStreamIngress({ streamInputBuffer: 2 });
    const r = running;
    const c = (client = new grpc.Client(`127.0.0.1:${r.port}`, grpc.credentials.createInsecure()));
    const msg = Buffer.from(bookRequest(r.dispatcher, { name: "x".repeat(1000) }));
    // The queue pauses the call at 2 waiting messages and resumes it as the
    // component reads; nothing may be lost or reordered on the way.
    const value = await new Promise<Buffer | undefined>((resolve) => {
      const s = c.makeClientStreamRequest(COLLECT, identity, identity, (_e, v) => resolve(v));
      for (let i = 0; i < 500; i++) s.write(msg);
      s.end();
    });
    expect(bookJson(r.dispatcher, value ?? Buffer.alloc(0)).title).toBe("500");
  });

  it("stops pulling outputs while the client does not read", async () => {
    const { r, c } = await start();
    const s = watch(c, r, { name: "endless" });
    s.on("error", () => {});
    await new Promise((resolve) => s.once("data", resolve));
    s.pause();
    // HTTP/2 flow control and the socket buffers hold some megabytes; the
    // rest must wait for drain, so production stops at a bound.
    const produced = await settled(() => r.dispatcher.produced);
    expect(produced).toBeLessThan(5000);
    s.cancel();
    await until(() => r.dispatcher.returned === 1);
  });

  it("answers a dispatchStream rejection with its status", async () => {
    const { r, c } = await start();
    const out = await collect(watch(c, r, { name: "fail-before" }));
    expect(out.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(out.error?.details).toBe("no shelf 'fail-before'");
  });

  it("ends with the outputs' CairnError after messages were sent", async () => {
    const { r, c } = await start();
    const out = await collect(watch(c, r, { name: "fail-after", tags: ["a", "b"] }));
    expect(out.messages).toHaveLength(2);
    expect(out.error?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(out.error?.details).toBe("broke");
  });

  it("maps any other failure of the outputs to INTERNAL without its text", async () => {
    const { r, c } = await start();
    const out = await collect(watch(c, r, { name: "boom", tags: ["a"] }));
    expect(out.error?.code).toBe(grpc.status.INTERNAL);
    expect(out.error?.details).not.toContain("secret");
  });

  it("on client cancel aborts the signal and stops the outputs", async () => {
    const { r, c } = await start();
    const s = watch(c, r, { name: "hang", tags: ["a"] });
    s.on("error", () => {});
    const first = new Promise((resolve) => s.once("data", resolve));
    await first;
    await r.dispatcher.hanging;
    s.cancel();
    await until(() => r.dispatcher.streams[0]?.signal?.aborted === true);
    await until(() => r.dispatcher.returned === 1);
  });

  it("cancels a bidi stream too", async () => {
    const { r, c } = await start();
    const s = c.makeBidiStreamRequest(CHAT, identity, identity);
    s.on("error", () => {});
    s.write(Buffer.from(bookRequest(r.dispatcher, { name: "hang" })));
    await r.dispatcher.hanging;
    s.cancel();
    await until(() => r.dispatcher.streams[0]?.signal?.aborted === true);
    await until(() => r.dispatcher.returned === 1);
  });

  it("ends a stream with INVALID_ARGUMENT on a malformed message mid-stream", async () => {
    const { r, c } = await start();
    const s = c.makeBidiStreamRequest(CHAT, identity, identity);
    const done = collect(s);
    s.write(Buffer.from(bookRequest(r.dispatcher, { name: "ok" })));
    s.write(Buffer.from([0x0a, 0x50, 0x01]));
    const out = await done;
    expect(out.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(out.error?.details).toContain("test.v1.GetBookRequest");
    expect(r.dispatcher.streams[0]?.signal?.aborted).toBe(true);
  });

  it("refuses a malformed server-streaming request before dispatching", async () => {
    const { r, c } = await start();
    const s = c.makeServerStreamRequest(WATCH, identity, identity, Buffer.from([0x0a, 0x50]));
    const out = await collect(s);
    expect(out.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.dispatcher.streams).toHaveLength(0);
  });

  it("maps a client-streaming failure to its status", async () => {
    const { r, c } = await start();
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      const s = c.makeClientStreamRequest(COLLECT, identity, identity, (e) => resolve(e));
      s.write(Buffer.from(bookRequest(r.dispatcher, { name: "fail-after" })));
      s.end();
    });
    expect(err?.code).toBe(grpc.status.ABORTED);
  });
});
