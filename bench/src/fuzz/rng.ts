/**
 * The fuzzer's randomness: one seeded generator (mulberry32), so that a run
 * is replayed exactly by its seed. Each case draws from its own generator,
 * seeded from the run's, so the inputs of case N do not depend on how the
 * cases before it happened to interleave.
 */

/** A seeded pseudo-random generator and the draws the cases need. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T;
  }

  /** Picks by weight: `[[weight, value], ...]`. */
  weighted<T>(items: ReadonlyArray<readonly [number, T]>): T {
    const total = items.reduce((s, [w]) => s + w, 0);
    let at = this.next() * total;
    for (const [w, v] of items) {
      at -= w;
      if (at < 0) return v;
    }
    return (items[items.length - 1] as readonly [number, T])[1];
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.int(0, 255);
    return out;
  }

  /** A new generator for one case, seeded from this one. */
  fork(): Rng {
    return new Rng(this.int(0, 0xffffffff));
  }
}

/** Characters an entity id may be made of here; never the reference ids' prefix `ref-`. */
const ID_ALPHABETS = [
  "abcdefghijklmnopqrstuvwxyz0123456789",
  "\u0000\u0001\u0007\u0008\u001b\u007f\u0085\u009b\n\r\t",
  "é日本🎉\u202e\u2066\u200f\ufeff\ud800",
  "/?#%&=+ .:;\\\"'<>{}[]",
];

/**
 * An odd entity id: empty, long (up to twice the id limit), made of
 * control characters, unicode (with a lone surrogate), URL syntax, or plain.
 * Plain ids start with `f-` so they never meet the reference entities.
 */
export function oddId(rng: Rng, idLimit: number): string {
  const shape = rng.weighted([
    [3, "plain"],
    [1, "empty"],
    [2, "long"],
    [2, "control"],
    [2, "unicode"],
    [1, "url"],
  ] as const);
  switch (shape) {
    case "empty":
      return "";
    case "plain":
      return `f-${rng.int(0, 50)}`;
    case "long": {
      const n = rng.pick([idLimit - 1, idLimit, idLimit + 1, idLimit * 2]);
      return `f-${"x".repeat(Math.max(0, n - 2))}`;
    }
    default: {
      const alphabet =
        ID_ALPHABETS[shape === "control" ? 1 : shape === "unicode" ? 2 : 3] ?? ID_ALPHABETS[0]!;
      const chars = [...alphabet];
      let id = "f-";
      for (let i = rng.int(1, 12); i > 0; i--) id += rng.pick(chars);
      return id;
    }
  }
}
