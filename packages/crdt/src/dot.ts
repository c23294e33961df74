/**
 * A dot names one write: the replica that made it and that replica's
 * sequence number for it (1, 2, 3, ...). Dots are what observed-remove
 * semantics observe: a remove covers exactly the dots its replica had seen.
 */
export interface Dot {
  readonly replica: string;
  readonly counter: number;
}

/** Orders dots by replica id, then counter; used for canonical encodings. */
export function compareDots(a: Dot, b: Dot): number {
  if (a.replica !== b.replica) return a.replica < b.replica ? -1 : 1;
  return a.counter - b.counter;
}

/** True when both name the same write. */
export function sameDot(a: Dot, b: Dot): boolean {
  return a.counter === b.counter && a.replica === b.replica;
}
