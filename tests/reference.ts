// An outside verifier's view of gpushare results, written from the protocol's definitions (not from
// the worker's code): the sha256_chain kernel's leaves and the RFC 6962 Merkle Tree Hash with audit
// paths, and the spot-check sample indices.
import { PublicKey } from "@solana/web3.js";
import { createHash } from "crypto";

const sha256 = (...parts: Buffer[]) => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest();
};

/** The seed a job's kernel runs on: the client's seed bound to the job's address. */
export const jobSeed = (seed: Buffer, job: PublicKey) => sha256(Buffer.from("gpushare:job"), seed, job.toBuffer());

/**
 * The leaves of shard `shard` of a seeded sha256_chain job (`kernelSeed` from `jobSeed`): every
 * `leafEvery`-th state, each step hashing the state and the shard's 16-byte key.
 */
export function sha256ChainLeaves(kernelSeed: Buffer, shard: number, steps: number, leafEvery: number): Buffer[] {
  const index = Buffer.alloc(4);
  index.writeUInt32LE(shard);
  let state = sha256(Buffer.from("gpushare:sha256_chain"), kernelSeed, index);
  const key = sha256(Buffer.from("gpushare:sha256_chain:key"), kernelSeed, index).subarray(0, 16);
  const leaves: Buffer[] = [];
  for (let leaf = 0; leaf < steps / leafEvery; leaf++) {
    for (let t = 0; t < leafEvery; t++) state = sha256(state, key);
    leaves.push(state);
  }
  return leaves;
}

/** RFC 6962 Merkle tree, kept by levels (an unpaired node is carried up). */
export class MerkleTree {
  private readonly levels: Buffer[][];

  constructor(leaves: Buffer[]) {
    this.levels = [leaves.map((leaf) => sha256(Buffer.from([0]), leaf))];
    while (this.levels[this.levels.length - 1].length > 1) {
      const below = this.levels[this.levels.length - 1];
      const above: Buffer[] = [];
      for (let i = 0; i < below.length; i += 2) {
        above.push(i + 1 < below.length ? sha256(Buffer.from([1]), below[i], below[i + 1]) : below[i]);
      }
      this.levels.push(above);
    }
  }

  get size(): number {
    return this.levels[0].length;
  }

  get root(): Buffer {
    return this.levels[this.levels.length - 1][0];
  }

  auditPath(index: number): Buffer[] {
    const path: Buffer[] = [];
    let position = index;
    for (const level of this.levels.slice(0, -1)) {
      const sibling = position ^ 1;
      if (sibling < level.length) path.push(level[sibling]);
      position = Math.floor(position / 2);
    }
    return path;
  }
}

/** The leaf index of spot-check sample `sample` under `challenge`. */
export function sampleIndex(challenge: Buffer, sample: number, leaves: number): number {
  const digest = sha256(challenge, Buffer.from([sample]));
  return Number(digest.readBigUInt64LE(0) % BigInt(leaves));
}
