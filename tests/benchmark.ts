// A benchmark end to end over JSON-RPC: a provider proves its throughput, then a third
// party challenges that proven figure for the fee; the seed and the samples come from the validator's
// SlotHashes; the provider computes the seeded work (here, from the protocol's reference
// definitions), commits, proves every sample, and the verdict records its proven throughput and pays
// it the fee. A job then admits only proven providers.
import * as assert from "assert";
import { BN } from "@anchor-lang/core";
import { PublicKey, SYSVAR_SLOT_HASHES_PUBKEY } from "@solana/web3.js";
import { MerkleTree, gemmLeaves, sampleIndex, unitSeed } from "./reference";
import {
  Network,
  PARAMS,
  Provider,
  Wallet,
  benchmarkAddress,
  connection,
  expectRefusal,
  program,
} from "./support";

const STAKE = 2_000_000;
const SAMPLES = 16;


async function waitPastSlot(slot: number) {
  while ((await connection.getSlot("confirmed")) <= slot) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function draw(p: Provider) {
  await program.methods
    .drawBenchmark()
    .accounts({ benchmark: benchmarkAddress(p.account), slotHashes: SYSVAR_SLOT_HASHES_PUBKEY } as any)
    .rpc();
}

function requestBenchmark(net: Network, p: Provider, requester: Wallet) {
  return program.methods
    .requestBenchmark()
    .accounts({ requester: requester.key.publicKey, network: net.address, provider: p.account } as any)
    .signers([requester.key])
    .rpc();
}

/**
 * `requester` challenges `p` (the provider itself, for no fee, or a third party): `p` computes the
 * work, commits, proves every sample, and the verdict is settled. Returns the challenge as proven.
 */
async function passBenchmark(net: Network, p: Provider, requester: Wallet) {
  const key = benchmarkAddress(p.account);
  await requestBenchmark(net, p, requester);
  let benchmark = await program.account.benchmark.fetch(key);
  assert.deepStrictEqual([benchmark.units, benchmark.unitRows, benchmark.devices], [2, 8, 2]);
  await waitPastSlot(benchmark.requestedSlot.toNumber() + 5);
  await draw(p);
  benchmark = await program.account.benchmark.fetch(key);
  const benchmarkSeed = Buffer.from(benchmark.seed as number[]);
  const units = [...Array(benchmark.units).keys()].map((unit) => {
    const leaves = gemmLeaves(unitSeed(benchmarkSeed, unit), benchmark.unitRows, 1024, 1024);
    return { leaves, tree: new MerkleTree(leaves) };
  });
  const commitment = new MerkleTree(units.map((u) => u.tree.root), true);
  await program.methods
    .commitBenchmark([...commitment.root])
    .accounts({ authority: p.key.publicKey, provider: p.account } as any)
    .signers([p.key])
    .rpc();
  benchmark = await program.account.benchmark.fetch(key);
  await waitPastSlot(benchmark.committedSlot.toNumber() + 5);
  await draw(p);
  benchmark = await program.account.benchmark.fetch(key);
  const challenge = Buffer.from(benchmark.challenge as number[]);
  const unitLeaves = units[0].leaves.length;
  for (let sample = 0; sample < SAMPLES; sample++) {
    const index = sampleIndex(challenge, sample, unitLeaves * units.length);
    const [unit, leaf] = [Math.floor(index / unitLeaves), index % unitLeaves];
    const { leaves, tree } = units[unit];
    const proofs = [
      { unit: { sample, root: [...tree.root], path: commitment.auditPath(unit).map((h) => [...h]) } },
      { leaf: { sample, witness: { leaf: leaves[leaf], path: tree.auditPath(leaf).map((h) => [...h]) } } },
    ];
    await program.methods
      .proveBenchmark(proofs as any)
      .accounts({ authority: p.key.publicKey, provider: p.account } as any)
      .signers([p.key])
      .rpc();
  }
  await program.methods
    .settleBenchmark()
    .accounts({
      requester: requester.key.publicKey,
      network: net.address,
      mint: net.mint,
      provider: p.account,
      incinerator: INCINERATOR,
      providerAuthority: p.key.publicKey,
      tokenProgram: net.tokenProgram,
    } as any)
    .rpc();
  assert.strictEqual(await connection.getAccountInfo(key, "confirmed"), null, "the challenge closed");
  return benchmark;
}

/** Where a failed challenge's fee is burned. */
const INCINERATOR = new PublicKey("1nc1nerator11111111111111111111111111111111");

describe("benchmark", function () {
  this.timeout(300_000);

  it("proves a provider's throughput, for a challenger's fee once proven, and a job admits only proven providers", async () => {
    const net = await Network.create();
    const p = await net.provider(STAKE);
    const unproven = await net.provider(STAKE);
    await program.methods
      .updateHardware({ gpuModel: Array(32).fill(0), memoryMib: 1024, throughputGops: new BN(1), devices: 2 })
      .accounts({ authority: p.key.publicKey, provider: p.account } as any)
      .signers([p.key])
      .rpc();
    const challenger: Wallet = await net.wallet(0n);
    // A third party may only challenge a proven figure: the provider proves one first, for no fee.
    await expectRefusal(requestBenchmark(net, p, challenger), "NothingToChallenge");
    await passBenchmark(net, p, p);
    assert.ok((await program.account.provider.fetch(p.account)).proven.mops.toNumber() > 0);

    const lamports = (key: PublicKey) => connection.getBalance(key, "confirmed");
    const [challengerBefore, providerBefore] = [await lamports(challenger.key.publicKey), await lamports(p.key.publicKey)];
    const benchmark = await passBenchmark(net, p, challenger);
    const proven = (await program.account.provider.fetch(p.account)).proven;
    assert.ok(proven.mops.toNumber() > 0, "a throughput is proven");
    assert.strictEqual(proven.devices, 2);
    assert.strictEqual(proven.slot.toNumber(), benchmark.committedSlot.toNumber());
    const fee = PARAMS.benchmarkFee.toNumber();
    assert.strictEqual(challengerBefore - (await lamports(challenger.key.publicKey)), fee);
    assert.strictEqual((await lamports(p.key.publicKey)) - providerBefore, fee);

    const client = await net.wallet();
    const job = await net.jobWith(client, { gemmI8: { m: 64, n: 64, k: 64 } }, Buffer.alloc(32, 7), 2, 2, { quorum: { q: 2 } }, 1_000, 600, proven.mops.toNumber());
    await expectRefusal(net.claim(unproven, job, 0, 0), "HardwareNotProven");
    await net.claim(p, job, 0, 0);
  });
});
