import { fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import type { DescMessage, JsonObject } from "@bufbuild/protobuf";
import { CairnError, Code } from "@cairn/protocol";
import type {
  Catalog,
  StreamingDispatcher,
  StreamInvocation,
  StreamResult,
} from "../../src/core/types.js";
import { createIngress } from "../../src/ingress/index.js";
import type { IngressOptions } from "../../src/ingress/index.js";
import { TestDispatcher, testLogger } from "./harness.js";
import type { Running } from "./harness.js";
import { libraryCatalog } from "./library.js";

/**
 * The streaming test contract, `test.v1.Library`:
 * - `Watch` / `WatchShelf` (server-streaming) yield one Book per request tag,
 *   `{ name: <request name>, title: <tag> }`;
 * - `Collect` (client-streaming) answers one Book whose tags are the names of
 *   all requests, in order, and whose title is their count;
 * - `Chat` (bidi) answers each request with `{ name: <its name> }`.
 * The request `name` picks a misbehaviour: `fail-before` (dispatchStream
 * rejects NOT_FOUND), `fail-after` (FAILED_PRECONDITION after the tags),
 * `boom` (a TypeError after the tags), `hang` (the tags, then nothing until
 * the call is aborted), `endless` (10 KB books for as long as they are read).
 */
export class StreamTestDispatcher extends TestDispatcher implements StreamingDispatcher {
  readonly streams: StreamInvocation[] = [];
  /** How many outputs iterators had `return()` called (stopped early by the ingress). */
  returned = 0;
  /** Messages the `endless` stream produced, to watch backpressure. */
  produced = 0;
  /** Resolved when a stream starts hanging. */
  hanging: Promise<void>;
  private hung!: () => void;

  constructor(private readonly catalog: Catalog) {
    super();
    this.hanging = new Promise((r) => (this.hung = r));
  }

  message(name: string): DescMessage {
    const m = this.catalog.registry.getMessage(name);
    if (m === undefined) throw new Error(`no message ${name}`);
    return m;
  }

  dispatchStream(inv: StreamInvocation): Promise<StreamResult> {
    this.streams.push(inv);
    const request = this.message("test.v1.GetBookRequest");
    const book = this.message("test.v1.Book");
    const encode = (json: JsonObject): Uint8Array => toBinary(book, fromJson(book, json));
    const decode = (bytes: Uint8Array) =>
      toJson(request, fromBinary(request, bytes)) as { name?: string; tags?: string[] };
    const signal = inv.signal;
    const hang = async (): Promise<void> => {
      this.hung();
      await new Promise<void>((r) => signal?.addEventListener("abort", () => r()));
    };
    const produced = (): void => void this.produced++;
    const kind = inv.method.methodKind;
    let outputs: AsyncGenerator<Uint8Array>;
    if (kind === "server_streaming") {
      outputs = (async function* () {
        for await (const bytes of inv.inputs) {
          const req = decode(bytes);
          if (req.name === "endless") {
            const big = encode({ name: "endless", title: "x".repeat(10_000) });
            for (;;) {
              produced();
              yield big;
            }
          }
          if (req.name === "fail-before")
            throw new CairnError(Code.NotFound, "no shelf 'fail-before'");
          for (const tag of req.tags ?? []) yield encode({ name: req.name ?? "", title: tag });
          if (req.name === "fail-after") throw new CairnError(Code.FailedPrecondition, "broke");
          if (req.name === "boom") throw new TypeError("secret internals");
          if (req.name === "hang") await hang();
        }
      })();
    } else if (kind === "client_streaming") {
      outputs = (async function* () {
        const names: string[] = [];
        for await (const bytes of inv.inputs) names.push(decode(bytes).name ?? "");
        if (names.includes("fail-after")) throw new CairnError(Code.Aborted, "collect broke");
        yield encode({ name: "sum", title: String(names.length), tags: names });
      })();
    } else {
      outputs = (async function* () {
        for await (const bytes of inv.inputs) {
          const req = decode(bytes);
          if (req.name === "hang") await hang();
          if (req.name === "fail-after") throw new CairnError(Code.OutOfRange, "chat broke");
          yield encode({ name: req.name ?? "" });
        }
      })();
    }
    return this.start(inv, outputs);
  }

  /** Mimics a router: a failure to start rejects, later ones throw from the outputs. */
  private async start(inv: StreamInvocation, gen: AsyncGenerator<Uint8Array>) {
    // Only server-streaming reads ahead: a bidi or client stream's first
    // output waits for inputs, and the call must start before they come.
    if (inv.method.methodKind !== "server_streaming") return this.wrap(inv, gen, undefined);
    const first = await gen.next().catch((err: unknown) => {
      if (err instanceof CairnError && err.code === Code.NotFound) throw err;
      return { error: err as Error };
    });
    return this.wrap(inv, gen, first);
  }

  private wrap(
    inv: StreamInvocation,
    gen: AsyncGenerator<Uint8Array>,
    first: IteratorResult<Uint8Array> | { error: Error } | undefined,
  ): StreamResult {
    let pending = first;
    const outputs: AsyncIterator<Uint8Array> = {
      next: () => {
        const p = pending;
        pending = undefined;
        if (p === undefined) return gen.next();
        if ("error" in p) return Promise.reject(p.error);
        return Promise.resolve(p);
      },
      return: () => {
        this.returned++;
        return gen.return(undefined);
      },
    };
    return {
      metadata: { "x-stream": inv.method.name },
      outputs: { [Symbol.asyncIterator]: () => outputs },
    };
  }
}

/** A running ingress over the library catalog with a {@link StreamTestDispatcher}. */
export interface StreamRunning extends Omit<Running, "dispatcher"> {
  dispatcher: StreamTestDispatcher;
}

/** Starts an ingress serving the library's streaming methods; the caller closes it. */
export async function startStreamIngress(
  overrides: Partial<IngressOptions> = {},
): Promise<StreamRunning> {
  const catalog = libraryCatalog();
  const dispatcher = new StreamTestDispatcher(catalog);
  const holder = { current: catalog as Catalog | undefined };
  const ingress = createIngress({
    catalog: () => holder.current,
    dispatcher,
    logger: testLogger(),
    ...overrides,
  });
  const port = await ingress.listen(0, "127.0.0.1");
  return { ingress, port, url: `http://127.0.0.1:${port}`, dispatcher, catalog: holder };
}

/** Encodes a `test.v1.GetBookRequest` from its JSON. */
export function bookRequest(d: StreamTestDispatcher, json: JsonObject): Uint8Array {
  const m = d.message("test.v1.GetBookRequest");
  return toBinary(m, fromJson(m, json));
}

/** Decodes a `test.v1.Book` to its JSON. */
export function bookJson(d: StreamTestDispatcher, bytes: Uint8Array): JsonObject {
  const m = d.message("test.v1.Book");
  return toJson(m, fromBinary(m, bytes)) as JsonObject;
}

/** Waits until `read()` stops changing (same value over `checks` polls 20 ms apart). */
export async function settled(read: () => number, checks = 5, ms = 10_000): Promise<number> {
  const deadline = Date.now() + ms;
  let last = read();
  let same = 0;
  while (same < checks) {
    if (Date.now() > deadline) throw new Error(`still changing after ${ms} ms: ${read()}`);
    await new Promise((r) => setTimeout(r, 20));
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

/** Polls `cond` until it holds or `ms` pass. */
export async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
