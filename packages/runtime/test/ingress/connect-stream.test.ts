import type { DescService } from "@bufbuild/protobuf";
import { Code as ConnectCode, ConnectError, createClient } from "@connectrpc/connect";
import type { Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { bookRequest, startStreamIngress, until } from "./stream-harness.js";
import type { StreamRunning } from "./stream-harness.js";

let running: StreamRunning | undefined;
afterEach(async () => {
  await running?.ingress.close();
  running = undefined;
});

type Kind = "connect+json" | "connect+proto" | "grpc-web";
const kinds: Kind[] = ["connect+json", "connect+proto", "grpc-web"];

interface Book {
  name: string;
  title: string;
}
/** The dynamic client's server-streaming method, typed for the test. */
type Watch = (
  req: { name: string; tags?: string[] },
  opts?: { signal?: AbortSignal; onHeader?: (h: Headers) => void; timeoutMs?: number },
) => AsyncIterable<Book>;

function clientFor(r: StreamRunning, kind: Kind): { watch: Watch } {
  const baseUrl = r.url;
  const transport =
    kind === "grpc-web"
      ? createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })
      : createConnectTransport({
          baseUrl,
          httpVersion: "1.1",
          useBinaryFormat: kind === "connect+proto",
        });
  const desc = r.catalog.current?.services.get("test.v1.Library")?.desc as DescService;
  const client: Client<DescService> = createClient(desc, transport);
  return client as unknown as { watch: Watch };
}

async function drain(it: AsyncIterable<Book>): Promise<{ books: Book[]; error?: ConnectError }> {
  const books: Book[] = [];
  try {
    for await (const b of it) books.push(b);
    return { books };
  } catch (e) {
    return { books, error: ConnectError.from(e) };
  }
}

describe.each(kinds)("%s server-streaming", (kind) => {
  it("streams every output, with the response metadata as headers", async () => {
    running = await startStreamIngress();
    let headers: Headers | undefined;
    const out = await drain(
      clientFor(running, kind).watch(
        { name: "n", tags: ["a", "b", "c"] },
        { onHeader: (h) => (headers = h) },
      ),
    );
    expect(out.error).toBeUndefined();
    expect(out.books.map((b) => b.title)).toEqual(["a", "b", "c"]);
    expect(headers?.get("x-stream")).toBe("Watch");
  });

  it("reports a failure to start with its code", async () => {
    running = await startStreamIngress();
    const out = await drain(clientFor(running, kind).watch({ name: "fail-before" }));
    expect(out.error?.code).toBe(ConnectCode.NotFound);
    expect(out.error?.rawMessage).toBe("no shelf 'fail-before'");
  });

  it("reports a failure after messages with its code, after those messages", async () => {
    running = await startStreamIngress();
    const out = await drain(clientFor(running, kind).watch({ name: "fail-after", tags: ["a"] }));
    expect(out.books.map((b) => b.title)).toEqual(["a"]);
    expect(out.error?.code).toBe(ConnectCode.FailedPrecondition);
    expect(out.error?.rawMessage).toBe("broke");
  });

  it("on client abort aborts the signal and stops the outputs", async () => {
    running = await startStreamIngress();
    const r = running;
    const ac = new AbortController();
    const it = clientFor(r, kind).watch({ name: "hang", tags: ["a"] }, { signal: ac.signal });
    const books: Book[] = [];
    const done = (async () => {
      try {
        for await (const b of it) {
          books.push(b);
          await r.dispatcher.hanging;
          ac.abort();
        }
      } catch {
        // The abort.
      }
    })();
    await done;
    expect(books).toHaveLength(1);
    await until(() => r.dispatcher.streams[0]?.signal?.aborted === true);
    await until(() => r.dispatcher.returned === 1);
  });

  it("passes the client's timeout as the deadline and enforces it", async () => {
    running = await startStreamIngress();
    // Long enough for a loaded machine to get the request to the dispatcher
    // before the client's own timer gives up (200 ms did not always).
    const out = await drain(
      clientFor(running, kind).watch({ name: "hang", tags: ["a"] }, { timeoutMs: 1_500 }),
    );
    expect(out.error?.code).toBe(ConnectCode.DeadlineExceeded);
    expect(running.dispatcher.streams[0]?.deadline).toBeGreaterThan(Date.now() - 5000);
  });
});

describe("Connect client-streaming with connect-node", () => {
  it.each([false, true])("sends every message and gets one reply (binary: %s)", async (binary) => {
    running = await startStreamIngress();
    const transport = createConnectTransport({
      baseUrl: running.url,
      httpVersion: "1.1",
      useBinaryFormat: binary,
    });
    const desc = running.catalog.current?.services.get("test.v1.Library")?.desc as DescService;
    const client = createClient(desc, transport) as unknown as {
      collect: (reqs: AsyncIterable<{ name: string }>) => Promise<Book & { tags: string[] }>;
    };
    async function* requests() {
      for (const name of ["a", "b", "c"]) yield await Promise.resolve({ name });
    }
    const reply = await client.collect(requests());
    expect(reply.title).toBe("3");
    expect(reply.tags).toEqual(["a", "b", "c"]);
  });
});

describe("Connect bidi over HTTP/1.1 with connect-node", () => {
  it("echoes each request before the next one is sent (full-duplex)", async () => {
    running = await startStreamIngress();
    const transport = createConnectTransport({ baseUrl: running.url, httpVersion: "1.1" });
    const desc = running.catalog.current?.services.get("test.v1.Library")?.desc as DescService;
    const client = createClient(desc, transport) as unknown as {
      chat: (reqs: AsyncIterable<{ name: string }>) => AsyncIterable<Book>;
    };
    let replied!: () => void;
    const firstReply = new Promise<void>((r) => (replied = r));
    async function* requests() {
      yield { name: "one" };
      await firstReply;
      yield { name: "two" };
    }
    const names: string[] = [];
    for await (const b of client.chat(requests())) {
      names.push(b.name);
      replied();
    }
    expect(names).toEqual(["one", "two"]);
  });
});

describe("Connect streaming wire details", () => {
  const envelope = (flags: number, payload: Uint8Array): Buffer => {
    const head = Buffer.alloc(5);
    head[0] = flags;
    head.writeUInt32BE(payload.length, 1);
    return Buffer.concat([head, payload]);
  };
  /** Splits a Connect streaming body into its envelopes. */
  const envelopes = (body: Buffer): { flags: number; payload: Buffer }[] => {
    const out: { flags: number; payload: Buffer }[] = [];
    for (let at = 0; at < body.length;) {
      const length = body.readUInt32BE(at + 1);
      out.push({ flags: body[at] as number, payload: body.subarray(at + 5, at + 5 + length) });
      at += 5 + length;
    }
    return out;
  };

  it("serves client-streaming with every message enveloped in the request body", async () => {
    running = await startStreamIngress();
    const r = running;
    const body = Buffer.concat(
      ["a", "b"].map((name) => envelope(0, Buffer.from(JSON.stringify({ name })))),
    );
    const res = await fetch(`${r.url}/test.v1.Library/Collect`, {
      method: "POST",
      headers: { "content-type": "application/connect+json", "connect-protocol-version": "1" },
      body,
    });
    expect(res.status).toBe(200);
    const [reply, end] = envelopes(Buffer.from(await res.arrayBuffer()));
    expect(JSON.parse(reply?.payload.toString() ?? "")).toMatchObject({ title: "2" });
    expect(end?.flags).toBe(2);
    expect(JSON.parse(end?.payload.toString() ?? "")).toEqual({});
  });

  it("ends with INVALID_ARGUMENT in the end-stream envelope for a malformed message", async () => {
    running = await startStreamIngress();
    const r = running;
    const good = envelope(0, bookRequest(r.dispatcher, { name: "a" }));
    const res = await fetch(`${r.url}/test.v1.Library/Collect`, {
      method: "POST",
      headers: { "content-type": "application/connect+proto" },
      body: Buffer.concat([good, envelope(0, Buffer.from([0x0a, 0x50, 0x01]))]),
    });
    const all = envelopes(Buffer.from(await res.arrayBuffer()));
    expect(all).toHaveLength(1);
    const end = JSON.parse(all[0]?.payload.toString() ?? "") as {
      error: { code: string; message: string };
    };
    expect(end.error.code).toBe("invalid_argument");
    expect(end.error.message).toContain("test.v1.GetBookRequest");
    // Messages are read as they arrive: the call had started, and is stopped.
    expect(r.dispatcher.streams[0]?.signal?.aborted).toBe(true);
  });

  it("answers gRPC-Web client-streaming with UNIMPLEMENTED", async () => {
    running = await startStreamIngress();
    const res = await fetch(`${running.url}/test.v1.Library/Collect`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: envelope(0, new Uint8Array()),
    });
    const text = Buffer.from(await res.arrayBuffer()).toString("latin1");
    expect(text).toContain("grpc-status:12");
  });

  it("encodes gRPC-Web text streams frame by frame in base64", async () => {
    running = await startStreamIngress();
    const r = running;
    const res = await fetch(`${r.url}/test.v1.Library/Watch`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web-text", "x-grpc-web": "1" },
      body: envelope(0, bookRequest(r.dispatcher, { name: "n", tags: ["a", "b"] })).toString(
        "base64",
      ),
    });
    expect(res.headers.get("content-type")).toBe("application/grpc-web-text+proto");
    // Each frame is padded base64 on its own: decode chunk by chunk at the padding.
    const chunks = (await res.text()).match(/[^=]+=*/g) ?? [];
    const frames = chunks.map((c) => Buffer.from(c, "base64"));
    expect(frames.map((f) => f[0])).toEqual([0, 0, 0x80]);
    expect(frames[2]?.subarray(5).toString()).toContain("grpc-status:0");
  });
});
