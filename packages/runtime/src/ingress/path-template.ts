import { CairnError, Code } from "@cairn/protocol";
import type { Parsed } from "./status.js";

/** One segment of a compiled path template. */
export type TemplateSegment =
  | { readonly kind: "literal"; readonly value: string }
  | { readonly kind: "one" } // `*`: exactly one segment
  | { readonly kind: "rest" }; // `**`: zero or more segments, last only

/** A `{field.path=...}` capture over segments [start, end) (end -1: to the last segment). */
export interface TemplateVariable {
  readonly fieldPath: readonly string[];
  readonly start: number;
  readonly end: number;
}

/** A parsed `google.api.http` path template. */
export interface PathTemplate {
  readonly segments: readonly TemplateSegment[];
  readonly variables: readonly TemplateVariable[];
  readonly verb: string | undefined;
  /** True when the template ends in `**`, so it matches any longer path. */
  readonly open: boolean;
}

/**
 * Parses a path template of google/api/http.proto's grammar:
 * `Template = "/" Segments [":" Verb]`, `Segment = "*" | "**" | LITERAL | Variable`,
 * `Variable = "{" FieldPath ["=" Segments] "}"`.
 */
export function parsePathTemplate(template: string): Parsed<PathTemplate> {
  const fail = (why: string): Parsed<PathTemplate> => ({
    error: new CairnError(Code.InvalidArgument, `invalid path template '${template}': ${why}`),
  });
  if (!template.startsWith("/")) return fail("must start with '/'");
  const { body, verb } = splitVerb(template.slice(1));
  const segments: TemplateSegment[] = [];
  const variables: TemplateVariable[] = [];
  for (const token of splitTopLevel(body)) {
    if (token.startsWith("{")) {
      if (!token.endsWith("}")) return fail(`unclosed variable '${token}'`);
      const inner = token.slice(1, -1);
      const eq = inner.indexOf("=");
      const fieldPath = (eq < 0 ? inner : inner.slice(0, eq)).split(".");
      if (fieldPath.some((p) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p)))
        return fail(`invalid field path in '${token}'`);
      const start = segments.length;
      const sub = eq < 0 ? ["*"] : inner.slice(eq + 1).split("/");
      for (const s of sub) segments.push(segmentOf(s));
      const end = sub.includes("**") ? -1 : segments.length;
      variables.push({ fieldPath, start, end });
    } else {
      segments.push(segmentOf(token));
    }
  }
  const restAt = segments.findIndex((s) => s.kind === "rest");
  if (restAt >= 0 && restAt !== segments.length - 1) return fail("'**' must be the last segment");
  if (segments.some((s) => s.kind === "literal" && s.value === "")) return fail("empty segment");
  return { value: { segments, variables, verb, open: restAt >= 0 } };
}

function segmentOf(token: string): TemplateSegment {
  if (token === "*") return { kind: "one" };
  if (token === "**") return { kind: "rest" };
  return { kind: "literal", value: token };
}

/** Splits `a/{b=c/*}/d:verb` into body and verb, ignoring ':' inside braces. */
function splitVerb(path: string): { body: string; verb: string | undefined } {
  const lastSlash = path.lastIndexOf("/");
  const lastClose = path.lastIndexOf("}");
  const colon = path.indexOf(":", Math.max(lastSlash, lastClose) + 1);
  if (colon < 0) return { body: path, verb: undefined };
  return { body: path.slice(0, colon), verb: path.slice(colon + 1) };
}

/** Splits on '/' outside braces, so a variable's sub-template stays one token. */
function splitTopLevel(body: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (c === "/" && depth === 0) {
      out.push(body.slice(start, i));
      start = i + 1;
    }
  }
  out.push(body.slice(start));
  return out;
}

/**
 * Matches already split path segments against a template; returns the raw
 * (still percent-encoded) value of each variable, or undefined.
 */
export function matchTemplate(
  template: PathTemplate,
  parts: readonly string[],
): string[] | undefined {
  const segs = template.segments;
  const fixed = template.open ? segs.length - 1 : segs.length;
  if (template.open ? parts.length < fixed : parts.length !== fixed) return undefined;
  for (let i = 0; i < fixed; i++) {
    const seg = segs[i] as TemplateSegment;
    const part = parts[i] as string;
    if (seg.kind === "literal" ? part !== seg.value : part === "") return undefined;
  }
  const values: string[] = [];
  for (const v of template.variables) {
    const end = v.end < 0 ? parts.length : v.end;
    values.push(
      end - v.start === 1 ? (parts[v.start] as string) : parts.slice(v.start, end).join("/"),
    );
  }
  return values;
}

/** Orders templates so literals win over `*`, and `*` over `**`, segment by segment. */
export function compareSpecificity(a: PathTemplate, b: PathTemplate): number {
  const rank = (s: TemplateSegment | undefined): number =>
    s === undefined ? 3 : s.kind === "literal" ? 0 : s.kind === "one" ? 1 : 2;
  const n = Math.max(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    const d = rank(a.segments[i]) - rank(b.segments[i]);
    if (d !== 0) return d;
  }
  return (a.verb === undefined ? 1 : 0) - (b.verb === undefined ? 1 : 0);
}
