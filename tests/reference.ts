// An outside verifier's view of gpushare results, written from the protocol's definitions (not from
// the worker's code): the sha256_chain and seeded gemm_i8 kernels' leaves, a benchmark's
// unit seeds, the RFC 6962 Merkle Tree Hash with audit paths, and the spot-check sample indices.
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

const MASK64 = (1n << 64n) - 1n;

/** Output `index` of the SplitMix64 stream seeded with `seed`. */
function splitmix64At(seed: bigint, index: bigint): bigint {
  let z = (seed + (index + 1n) * 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** `count` i8 elements of a seeded gemm_i8 operand stream: byte `i % 8` of SplitMix64 output `i / 8`. */
function operand(kernelSeed: Buffer, name: "A" | "B", count: number): Int8Array {
  const stream = sha256(Buffer.from(`gpushare:gemm_i8:${name}`), kernelSeed).readBigUInt64LE(0);
  const bytes = Buffer.alloc(Math.ceil(count / 8) * 8);
  for (let word = 0; word < bytes.length / 8; word++) {
    bytes.writeBigUInt64LE(splitmix64At(stream, BigInt(word)), word * 8);
  }
  return new Int8Array(bytes.buffer, bytes.byteOffset, count);
}

/** The leaves of a one-shard seeded gemm_i8 (C = A·B, m×n of i32 LE, 8 elements a leaf). */
export function gemmLeaves(kernelSeed: Buffer, m: number, n: number, k: number): Buffer[] {
  const a = operand(kernelSeed, "A", m * k);
  const b = operand(kernelSeed, "B", k * n);
  const c = Buffer.alloc(m * n * 4);
  const row = new Int32Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p];
      for (let j = 0; j < n; j++) row[j] += x * b[p * n + j];
    }
    for (let j = 0; j < n; j++) c.writeInt32LE(row[j], (i * n + j) * 4);
  }
  const leaves: Buffer[] = [];
  for (let at = 0; at < c.length; at += 32) leaves.push(c.subarray(at, at + 32));
  return leaves;
}

/** The seed of unit `unit` of a benchmark seeded by `seed`. */
export function unitSeed(seed: Buffer, unit: number): Buffer {
  const index = Buffer.alloc(4);
  index.writeUInt32LE(unit);
  return sha256(Buffer.from("gpushare:benchmark-unit"), seed, index);
}

/** RFC 6962 Merkle tree, kept by levels (an unpaired node is carried up). */
export class MerkleTree {
  private readonly levels: Buffer[][];

  /** The tree over `leaves`, or (`hashed`) over nodes that are already the leaves' hashes. */
  constructor(leaves: Buffer[], hashed = false) {
    this.levels = [hashed ? leaves : leaves.map((leaf) => sha256(Buffer.from([0]), leaf))];
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
