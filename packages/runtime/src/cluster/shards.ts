/**
 * Where entities live in a cluster (docs/decisions/0009): an entity's shard
 * is a stable hash of its persistence type and id, and a shard's preferred
 * owner is chosen by rendezvous hashing over the live members. Both are pure
 * functions every node computes alike; changing either moves entities, so
 * they are part of the stored format.
 */
import type { EntityRef } from "../store/types.js";

const encoder = new TextEncoder();

/**
 * 32-bit FNV-1a of the UTF-8 bytes, then murmur3's finaliser: FNV alone
 * leaves the low bits (the ones a modulo keeps) poorly mixed for short,
 * similar keys such as "cart-1", "cart-2".
 */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of encoder.encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The shard of an entity among `shardCount`; the NUL separator cannot occur in a type name. */
export function shardOf(ref: EntityRef, shardCount: number): number {
  return hash32(`${ref.entityType}\u0000${ref.entityId}`) % shardCount;
}

/**
 * The preferred owner of each shard among `members` (node ids): the member
 * with the highest hash of (member, shard). When a member joins it takes only
 * the shards it now wins; when one leaves only its shards move, each to its
 * runner-up. Resolves ties by node id, so every node agrees. Empty members:
 * an empty map.
 */
export function rendezvousOwners(
  members: readonly string[],
  shardCount: number,
): Map<number, string> {
  const owners = new Map<number, string>();
  if (members.length === 0) return owners;
  for (let shard = 0; shard < shardCount; shard++) {
    let best: string | undefined;
    let bestScore = -1;
    for (const m of members) {
      const score = hash32(`${m}\u0000${shard}`);
      if (score > bestScore || (score === bestScore && best !== undefined && m < best)) {
        best = m;
        bestScore = score;
      }
    }
    owners.set(shard, best!);
  }
  return owners;
}
