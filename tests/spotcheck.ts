// A spot-checked job end to end over JSON-RPC: the challenge comes from the validator's SlotHashes,
// the provider proves its samples, is paid, and the job closes.
import * as assert from "assert";
import { randomBytes } from "crypto";
import { MerkleTree, jobSeed, sampleIndex, sha256ChainLeaves } from "./reference";
import {
  Network,
  WALLET_TOKENS,
  assignmentAddress,
  eventually,
  listen,
  program,
  shardAddress,
} from "./support";

const PRICE = 1_000_000;
const STAKE = 2_000_000;

describe("spot-checked job", function () {
  this.timeout(120_000);

  it("proves sampled leaves of a sha256_chain shard against the chain and is paid", async () => {
    const net = await Network.create();
    const client = await net.wallet();
    const provider = await net.provider(STAKE);
    const seed = randomBytes(32);
    const [steps, leafEvery, samples] = [256, 16, 5];
    const kernel = { sha256Chain: { steps, leafEvery } };
    const job = await net.jobWith(client, kernel, seed, 2, 1, { spotCheck: { samples } }, PRICE);
    const proven = listen("replicaProven");
    try {
      const leaves = sha256ChainLeaves(jobSeed(seed, job.address), 1, steps, leafEvery);
      const tree = new MerkleTree(leaves);
      await net.claim(provider, job, 1, 0);
      await net.commit(provider, job, 1, 0, tree.root);
      const assignmentKey = assignmentAddress(shardAddress(job.address, 1), 0);
      const committed = (await program.account.assignment.fetch(assignmentKey)).commitSlot.toNumber();
      // The challenge mixes the hashes of the five slots after the commitment's.
      while ((await program.provider.connection.getSlot("confirmed")) <= committed + 6) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await net.reveal(provider, job, 1, 0, tree.root);

      const challenge = Buffer.from((await program.account.assignment.fetch(assignmentKey)).challenge as number[]);
      const witness = (index: number) => ({ leaf: leaves[index], path: tree.auditPath(index).map((h) => [...h]) });
      const proofs = [...Array(samples).keys()].map((sample) => {
        const index = sampleIndex(challenge, sample, tree.size);
        return { sample, witness: witness(index), previous: index > 0 ? witness(index - 1) : null };
      });
      // A transaction carries 1,232 bytes: two of these proofs (a leaf, its previous leaf and their
      // paths, about 340 bytes each) fit in one, so proving spans three transactions.
      for (let first = 0; first < proofs.length; first += 2) {
        await net.prove(provider, job, 1, 0, proofs.slice(first, first + 2));
      }
      await net.settleShard(job, 1);
      await net.settleAssignment(provider, job, 1, 0);
      assert.strictEqual(await net.balance(provider.token), WALLET_TOKENS - BigInt(STAKE) + BigInt(PRICE));
      await eventually(() => proven.events.length === 1);
    } finally {
      await proven.stop();
    }
  });
});
