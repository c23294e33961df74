/**
 * Printing text a client chose (entity ids, messages, payload strings) to
 * an operator: log lines, `cairn dev`, `cairn inspect`. An id is kept
 * byte-exact in storage, but printed raw it could drive the reader's
 * terminal (an ESC sequence that clears the screen or rewrites a line) or
 * disguise itself (a bidi override, a line separator). Everything that
 * prints such text goes through {@link escapeControlChars}.
 */

/** Options of {@link escapeControlChars}. */
export interface EscapeOptions {
  /** Keep `\n` as is (multi-line text such as a stack trace); default false. */
  readonly keepNewlines?: boolean;
}

/**
 * Replaces every control and direction-changing character with a `\uXXXX`
 * escape: C0 controls (including tab and newline), DEL, C1 controls, the
 * line and paragraph separators and the bidi marks, embeddings, overrides
 * and isolates. The escape is the JSON one, so applying it to JSON text
 * keeps the JSON valid and equal in meaning. Other text, including any
 * other Unicode, is returned unchanged (the same string when nothing needs
 * escaping).
 *
 * @example
 * ```ts
 * escapeControlChars("c1\u001b[2J"); // "c1\\u001b[2J"
 * ```
 */
export function escapeControlChars(text: string, options: EscapeOptions = {}): string {
  const keepNewlines = options.keepNewlines === true;
  let out: string | undefined;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!isUnsafe(c) || (keepNewlines && c === 0x0a)) continue;
    out = (out ?? "") + text.slice(from, i) + `\\u${c.toString(16).padStart(4, "0")}`;
    from = i + 1;
  }
  return out === undefined ? text : out + text.slice(from);
}

function isUnsafe(c: number): boolean {
  if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  if (c < 0x061c) return false;
  return (
    c === 0x061c || // Arabic letter mark
    c === 0x200e || // left-to-right mark
    c === 0x200f || // right-to-left mark
    (c >= 0x2028 && c <= 0x202e) || // line/paragraph separator, bidi embeddings and overrides
    (c >= 0x2066 && c <= 0x2069) // bidi isolates
  );
}
