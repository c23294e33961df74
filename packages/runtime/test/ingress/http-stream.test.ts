import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { startIngress } from "./harness.js";
import { libraryCatalog } from "./library.js";
import { settled, startStreamIngress, until } from "./stream-harness.js";
import type { StreamRunning } from "./stream-harness.js";

let running: StreamRunning | undefined;
afterEach(async () => {
  await running?.ingress.close();
  running = undefined;
});

async function start(overrides = {}): Promise<StreamRunning> {
  running = await startStreamIngress(overrides);
  return running;
}

/** The events of a finished SSE body: each block's `event` (if any) and parsed `data`. */
function events(body: string): { event?: string; data?: unknown; comment?: string }[] {
  return body
    .split("\n\n")
    .filter((block) => block !== "")
    .map((block) => {
      const out: { event?: string; data?: unknown; comment?: string } = {};
      for (const line of block.split("\n")) {
        if (line.startsWith(": ")) out.comment = line.slice(2);
        else if (line.startsWith("event: ")) out.event = line.slice(7);
        else if (line.startsWith("data: ")) out.data = JSON.parse(line.slice(6));
      }
      return out;
    });
}

const json = { "content-type": "application/json" };

describe("HTTP/JSON server-streaming as server-sent events", () => {
  it("streams each output as a data event on POST /<Service>/<Method>", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/test.v1.Library/Watch`, {
      method: "POST",
      headers: { ...json, "x-trace": "t1" },
      body: JSON.stringify({ name: "n", tags: ["a", "b"] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(res.headers.get("x-stream")).toBe("Watch");
    expect(events(await res.text())).toEqual([
      { data: { name: "n", title: "a", tags: [] } },
      { data: { name: "n", title: "b", tags: [] } },
    ]);
    expect(r.dispatcher.streams[0]?.metadata["x-trace"]).toBe("t1");
    expect(r.dispatcher.streams[0]?.deadline).toBeUndefined();
  });

  it("serves a server-streaming google.api.http route", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/v1/shelves/s1:watch?tags=x`);
    expect(res.status).toBe(200);
    expect(events(await res.text())).toEqual([
      { data: { name: "shelves/s1", title: "x", tags: [] } },
    ]);
  });

  it("answers an error before the first message as the JSON error with its status", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/test.v1.Library/Watch`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ name: "fail-before" }),
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      code: 5,
      status: "NOT_FOUND",
      message: "no shelf 'fail-before'",
    });
    // Failing on the first read of the outputs is still before the first message.
    const late = await fetch(`${r.url}/test.v1.Library/Watch`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ name: "fail-after" }),
    });
    expect(late.status).toBe(400);
    expect(await late.json()).toMatchObject({ status: "FAILED_PRECONDITION" });
  });

  it("sends an error after the start as an error event, then ends", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/test.v1.Library/Watch`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ name: "fail-after", tags: ["a"] }),
    });
    expect(res.status).toBe(200);
    expect(events(await res.text())).toEqual([
      { data: { name: "fail-after", title: "a", tags: [] } },
      { event: "error", data: { code: 9, status: "FAILED_PRECONDITION", message: "broke" } },
    ]);
  });

  it("refuses a malformed request with 400 before dispatching", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/test.v1.Library/Watch`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ nope: 1 }),
    });
    expect(res.status).toBe(400);
    expect(r.dispatcher.streams).toHaveLength(0);
  });

  it("sends keep-alive comments while the stream is quiet", async () => {
    const r = await start({ sseHeartbeatMs: 20 });
    const ac = new AbortController();
    const res = await fetch(`${r.url}/test.v1.Library/Watch`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ name: "hang", tags: ["a"] }),
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let seen = "";
    while (!seen.includes(": keep-alive\n\n")) {
      const { value } = await reader.read();
      seen += new TextDecoder().decode(value);
    }
    expect(events(seen)[0]).toEqual({ data: { name: "hang", title: "a", tags: [] } });
    ac.abort();
    await until(() => r.dispatcher.returned === 1);
  });

  it("aborts the signal and stops the outputs when the client disconnects", async () => {
    const r = await start();
    const req = request(`${r.url}/test.v1.Library/Watch`, { method: "POST", headers: json });
    req.on("error", () => {});
    const first = new Promise<void>((resolve) =>
      req.on("response", (res) => res.once("data", () => resolve())),
    );
    req.end(JSON.stringify({ name: "hang", tags: ["a"] }));
    await first;
    await r.dispatcher.hanging;
    req.destroy();
    await until(() => r.dispatcher.streams[0]?.signal?.aborted === true);
    await until(() => r.dispatcher.returned === 1);
  });

  it("stops pulling outputs while the client does not read", async () => {
    const r = await start();
    const req = request(`${r.url}/test.v1.Library/Watch`, { method: "POST", headers: json });
    req.on("error", () => {});
    req.on("response", (res) => res.once("data", () => res.pause()));
    req.end(JSON.stringify({ name: "endless" }));
    const produced = await settled(() => r.dispatcher.produced);
    expect(produced).toBeGreaterThan(0);
    expect(produced).toBeLessThan(5000);
    req.destroy();
    await until(() => r.dispatcher.returned === 1);
  });

  it("ends open event streams when the ingress closes", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/test.v1.Library/Watch`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ name: "hang", tags: ["a"] }),
    });
    await r.dispatcher.hanging;
    await r.ingress.close();
    running = undefined;
    await expect(res.text()).rejects.toThrow();
    expect(r.dispatcher.streams[0]?.signal?.aborted).toBe(true);
  });

  it("ends the stream at the client's timeout header with DEADLINE_EXCEEDED", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/test.v1.Library/Watch`, {
      method: "POST",
      headers: { ...json, "grpc-timeout": "100m" },
      body: JSON.stringify({ name: "hang", tags: ["a"] }),
    });
    const all = events(await res.text());
    expect(all[1]).toMatchObject({ event: "error", data: { status: "DEADLINE_EXCEEDED" } });
    expect(r.dispatcher.streams[0]?.signal?.aborted).toBe(true);
  });
});

describe("HTTP/JSON client-streaming and bidi", () => {
  it("takes a JSON array body, one request message per element", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/test.v1.Library/Collect`, {
      method: "POST",
      headers: json,
      body: JSON.stringify([{ name: "a" }, { name: "b" }]),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ title: "2", tags: ["a", "b"] });
  });

  it("takes an NDJSON body, read as it arrives", async () => {
    const r = await start({ streamInputBuffer: 2 });
    const lines = Array.from({ length: 200 }, (_, i) => JSON.stringify({ name: `n${i}` }));
    const res = await fetch(`${r.url}/test.v1.Library/Collect`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: lines.join("\n") + "\n",
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { title: string; tags: string[] };
    expect(body.title).toBe("200");
    expect(body.tags[199]).toBe("n199");
  });

  it("ends an NDJSON call with 400 naming a bad line", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/test.v1.Library/Collect`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: `{"name":"a"}\n{"nope":1}\n`,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toContain("line 2");
  });

  it("refuses a body that is not an array", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/test.v1.Library/Collect`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ name: "a" }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toContain("JSON array");
  });

  it("serves bidi half-duplex: a JSON array in, an event per reply out", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/test.v1.Library/Chat`, {
      method: "POST",
      headers: json,
      body: JSON.stringify([{ name: "a" }, { name: "b" }]),
    });
    expect(res.status).toBe(200);
    expect(events(await res.text())).toEqual([
      { data: { name: "a", title: "", tags: [] } },
      { data: { name: "b", title: "", tags: [] } },
    ]);
  });

  it("serves bidi full-duplex over NDJSON: each reply before the next request", async () => {
    const r = await start();
    const req = request(`${r.url}/test.v1.Library/Chat`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
    });
    const seen: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      req.on("error", reject);
      req.on("response", (res) => {
        let buffered = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffered += chunk;
          for (const e of events(buffered.slice(0, buffered.lastIndexOf("\n\n") + 2))) {
            const name = (e.data as { name: string }).name;
            if (!seen.includes(name)) seen.push(name);
          }
          // The second request is only written once the first reply came back.
          if (seen.length === 1 && seen[0] === "one") req.end(`{"name":"two"}\n`);
        });
        res.on("end", resolve);
      });
    });
    req.write(`{"name":"one"}\n`);
    await done;
    expect(seen).toEqual(["one", "two"]);
  });

  it("answers bidi over gRPC-Web with UNIMPLEMENTED: server-streaming only", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/test.v1.Library/Chat`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: new Uint8Array([0, 0, 0, 0, 0]),
    });
    const text = Buffer.from(await res.arrayBuffer()).toString("latin1");
    expect(text).toContain("grpc-status:12");
    expect(decodeURIComponent(text)).toContain("server-streaming only");
  });

  it("answers 501 for streaming methods when the dispatcher cannot stream", async () => {
    const plain = await startIngress({}, libraryCatalog());
    try {
      const res = await fetch(`${plain.url}/test.v1.Library/Watch`, {
        method: "POST",
        headers: json,
        body: "{}",
      });
      expect(res.status).toBe(501);
      expect(((await res.json()) as { message: string }).message).toContain("dispatchStream");
    } finally {
      await plain.ingress.close();
    }
  });
});
