import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { parsePathTemplate } from "../../src/ingress/index.js";
import { startIngress } from "./harness.js";
import type { Running } from "./harness.js";
import { libraryCatalog } from "./library.js";

let running: Running | undefined;
afterEach(async () => {
  await running?.ingress.close();
  running = undefined;
});

describe("parsePathTemplate", () => {
  it("parses variables, sub-templates, ** and verbs", () => {
    const t = parsePathTemplate("/v1/{name=shelves/*/books/*}:archive");
    expect(t.error).toBeUndefined();
    expect(t.value?.verb).toBe("archive");
    expect(t.value?.variables).toEqual([{ fieldPath: ["name"], start: 1, end: 5 }]);
    expect(parsePathTemplate("/a/{x.y}").value?.variables[0]?.fieldPath).toEqual(["x", "y"]);
    expect(parsePathTemplate("/a/{x=**}").value?.open).toBe(true);
  });

  it("refuses malformed templates with a reason", () => {
    expect(parsePathTemplate("a/b").error?.message).toContain("must start with '/'");
    expect(parsePathTemplate("/a/**/b").error?.message).toContain("'**' must be the last segment");
    expect(parsePathTemplate("/a/{x").error?.message).toContain("unclosed variable");
  });
});

describe("google.api.http routes of a richer service", () => {
  async function call(
    method: string,
    path: string,
    body?: string,
  ): Promise<{ status: number; json: unknown; input?: Uint8Array; name?: string }> {
    running ??= await startIngress({}, libraryCatalog());
    const calls = running.dispatcher.calls.length;
    const res = await fetch(`${running.url}${path}`, {
      method,
      ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }),
    });
    const inv = running.dispatcher.calls.length > calls ? running.dispatcher.last() : undefined;
    return {
      status: res.status,
      json: await res.json(),
      input: inv?.input,
      name: inv?.method.name,
    };
  }
  const decode = (schema: DescMessage, bytes: Uint8Array | undefined): unknown =>
    bytes === undefined ? undefined : fromBinary(schema, bytes);
  const schema = (name: string): DescMessage => {
    const m = libraryCatalog().registry.getMessage(name);
    if (m === undefined) throw new Error(name);
    return m;
  };

  it("captures a multi-segment variable and reads repeated, bool, double and nested fields from the query", async () => {
    const r = await call(
      "GET",
      "/v1/shelves/s1/books/b2?tags=a&tags=b&hidden=true&min_price=2.5&author.name=Ann",
    );
    expect(r.status).toBe(200);
    expect(r.name).toBe("GetBook");
    expect(decode(schema("test.v1.GetBookRequest"), r.input)).toMatchObject({
      name: "shelves/s1/books/b2",
      tags: ["a", "b"],
      hidden: true,
      minPrice: 2.5,
      author: { name: "Ann" },
    });
  });

  it("serves additional bindings, with ** and a custom method", async () => {
    const all = await call("GET", "/v1/all/x/y/z");
    expect(all.name).toBe("GetBook");
    expect(decode(schema("test.v1.GetBookRequest"), all.input)).toMatchObject({ name: "x/y/z" });
    const lock = await call("LOCK", "/v1/locks/Ann");
    expect(lock.name).toBe("GetBook");
    expect(decode(schema("test.v1.GetBookRequest"), lock.input)).toMatchObject({
      author: { name: "Ann" },
    });
  });

  it("prefers literal segments over variables", async () => {
    const r = await call("GET", "/v1/shelves/special/books/top");
    expect(r.name).toBe("GetTop");
  });

  it("puts body: field into that field, a nested path variable beside it, and answers response_body", async () => {
    running = await startIngress({}, libraryCatalog());
    const book = schema("test.v1.Book");
    running.dispatcher.answers.set("UpdateTitle", () => ({
      output: toBinary(book, create(book, { title: "Dune" })),
      metadata: {},
    }));
    const r = await call(
      "PATCH",
      "/v1/shelves/s1/books/b2",
      JSON.stringify({ title: "Dune", tags: ["x"] }),
    );
    expect(r.status).toBe(200);
    expect(r.json).toBe("Dune");
    expect(decode(schema("test.v1.UpdateBookRequest"), r.input)).toMatchObject({
      book: { name: "shelves/s1/books/b2", title: "Dune", tags: ["x"] },
    });
  });

  it("matches a verb and takes body: *", async () => {
    const r = await call(
      "POST",
      "/v1/shelves/s1/books/b2:archive",
      JSON.stringify({ hidden: true }),
    );
    expect(r.name).toBe("Archive");
    expect(decode(schema("test.v1.GetBookRequest"), r.input)).toMatchObject({
      name: "shelves/s1/books/b2",
      hidden: true,
    });
  });

  it("skips a rule naming a missing field and 404s its path", async () => {
    const r = await call("GET", "/v1/bad/x");
    expect(r.status).toBe(404);
  });

  it("names the field of a bad query value", async () => {
    const r = await call("GET", "/v1/shelves/s1/books/b2?hidden=maybe");
    expect(r.status).toBe(400);
    expect((r.json as { message: string }).message).toContain("test.v1.GetBookRequest.hidden");
  });

  it("refuses a query parameter for a field of the body, a message field or a scalar given twice", async () => {
    const body = JSON.stringify({ title: "Dune" });
    const inBody = await call("PATCH", "/v1/shelves/s1/books/b2?book.title=X", body);
    expect(inBody.status).toBe(400);
    expect((inBody.json as { message: string }).message).toContain("takes from the body");
    const nested = await call(
      "PATCH",
      "/v1/shelves/s1/books/b2?book.name=shelves/s9/books/b9",
      body,
    );
    expect(nested.status).toBe(400);
    expect((nested.json as { message: string }).message).toContain("bound by the path");
    const message = await call("GET", "/v1/shelves/s1/books/b2?author=Ann");
    expect(message.status).toBe(400);
    expect((message.json as { message: string }).message).toContain("author.<field>");
    const twice = await call("GET", "/v1/shelves/s1/books/b2?hidden=true&hidden=false");
    expect(twice.status).toBe(400);
    expect((twice.json as { message: string }).message).toContain("not repeated");
    expect(running?.dispatcher.calls).toHaveLength(0);
  });

  it("lets the query fill a field beside the body field, and a nested body value that agrees with the path", async () => {
    const r = await call(
      "PATCH",
      "/v1/shelves/s1/books/b2?name=other",
      JSON.stringify({ name: "shelves/s1/books/b2", title: "Dune" }),
    );
    expect(r.status).toBe(200);
    expect(decode(schema("test.v1.UpdateBookRequest"), r.input)).toMatchObject({
      name: "other",
      book: { name: "shelves/s1/books/b2", title: "Dune" },
    });
    const clash = await call(
      "PATCH",
      "/v1/shelves/s1/books/b2",
      JSON.stringify({ name: "shelves/s9/books/b9" }),
    );
    expect(clash.status).toBe(400);
    expect((clash.json as { message: string }).message).toContain("the path decides");
  });
});
