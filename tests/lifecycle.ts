// The job lifecycle over JSON-RPC: several providers, quorum, slashing, expiry, cancel, close,
// refusals by name, and events received through a websocket subscription.
import * as assert from "assert";
import { TOKEN_2022_PROGRAM_ID } from "@solana/spl-token";
import {
  Network,
  PARAMS,
  Provider,
  WALLET_TOKENS,
  assignmentAddress,
  delegationAddress,
  eventually,
  expectRefusal,
  forgedRoot,
  honestRoot,
  listen,
  program,
  rewardVaultAddress,
  shardAddress,
  waitForChainTime,
} from "./support";

const PRICE = 1_000_000;
const FEE = BigInt((PRICE * 250) / 10_000);
const STAKE = 2_000_000;
/** The stake one claim puts at risk: a slash takes its fraud or miss share of this, not of all the stake. */
const PER_CLAIM = PARAMS.stakePerClaim.toNumber();

describe("gpushare job lifecycle", function () {
  this.timeout(300_000);

  it("pays a quorum, slashes the dissenter, and closes with exact balances (events over websocket)", async () => {
    const net = await Network.create();
    const client = await net.wallet();
    const providers: Provider[] = [];
    for (let i = 0; i < 3; i++) providers.push(await net.provider(STAKE));
    const paid = listen<{ provider: any; amount: any }>("replicaPaid");
    const slashed = listen<{ provider: any; amount: any; fraud: boolean }>("providerSlashed");
    try {
      const job = await net.job(client, 2, 3, 2, PRICE);
      for (let shard = 0; shard < 2; shard++) {
        const roots = [honestRoot(job, shard), honestRoot(job, shard), shard === 1 ? forgedRoot(job, shard) : honestRoot(job, shard)];
        for (let r = 0; r < 3; r++) await net.claim(providers[r], job, shard, r);
        for (let r = 0; r < 3; r++) await net.commit(providers[r], job, shard, r, roots[r]);
        for (let r = 0; r < 3; r++) await net.reveal(providers[r], job, shard, r, roots[r]);
        await net.settleShard(job, shard);
        for (let r = 0; r < 3; r++) await net.settleAssignment(providers[r], job, shard, r);
        await net.closeShard(client, job, shard);
      }
      await net.closeJob(client, job);

      // Half of one claim's stake, burned when the job closed: the treasury gets the fees alone.
      const slash = BigInt(PER_CLAIM / 2);
      assert.strictEqual(await net.balance(net.treasury), 5n * FEE);
      assert.strictEqual(await net.supply(), 4n * WALLET_TOKENS - slash);
      assert.strictEqual(await net.balance(client.token), WALLET_TOKENS - 5n * (BigInt(PRICE) + FEE));
      assert.strictEqual(await net.balance(providers[0].token), WALLET_TOKENS - BigInt(STAKE) + 2n * BigInt(PRICE));
      assert.strictEqual(await net.balance(providers[2].token), WALLET_TOKENS - BigInt(STAKE) + BigInt(PRICE));
      const cheater = await program.account.provider.fetch(providers[2].account);
      assert.strictEqual(cheater.failed.toNumber(), 1);
      assert.strictEqual(cheater.slashed.toString(), slash.toString());
      assert.strictEqual(await program.account.job.fetchNullable(job.address), null);

      await eventually(() => paid.events.length === 5 && slashed.events.length === 1);
      assert.ok(slashed.events[0].fraud);
      assert.ok(slashed.events[0].provider.equals(providers[2].account));
    } finally {
      await paid.stop();
      await slashed.stop();
    }
  });

  it("expires a missed claim, slashes it, and lets another provider finish the slot", async () => {
    const net = await Network.create();
    const client = await net.wallet();
    const providers: Provider[] = [];
    for (let i = 0; i < 3; i++) providers.push(await net.provider(STAKE));
    const job = await net.job(client, 1, 2, 2, PRICE, 10);
    const root = honestRoot(job, 0);
    await net.claim(providers[0], job, 0, 0);
    await net.claim(providers[1], job, 0, 1);
    await net.commit(providers[1], job, 0, 1, root);
    await expectRefusal(net.expireClaim(providers[0], job, 0, 0), "NotMissed");
    const assignment = await program.account.assignment.fetch(assignmentAddress(shardAddress(job.address, 0), 0));
    await waitForChainTime(assignment.commitDeadline.toNumber());
    await net.expireClaim(providers[0], job, 0, 0);
    const absent = await program.account.provider.fetch(providers[0].account);
    assert.strictEqual(absent.missed.toNumber(), 1);
    assert.strictEqual(absent.slashed.toNumber(), PER_CLAIM / 20);

    await net.claim(providers[2], job, 0, 0);
    await net.commit(providers[2], job, 0, 0, root);
    await net.reveal(providers[1], job, 0, 1, root);
    await net.reveal(providers[2], job, 0, 0, root);
    await net.settleShard(job, 0);
    await net.settleAssignment(providers[1], job, 0, 1);
    await net.settleAssignment(providers[2], job, 0, 0);
    await net.closeShard(client, job, 0);
    await net.closeJob(client, job);
    assert.strictEqual(await net.balance(providers[2].token), WALLET_TOKENS - BigInt(STAKE) + BigInt(PRICE));
    assert.strictEqual(await net.balance(net.treasury), 2n * FEE);
  });

  it("cancels: unstarted shards are refunded at once, the job closes when started ones finish", async () => {
    const net = await Network.create();
    const client = await net.wallet();
    const providers = [await net.provider(STAKE), await net.provider(STAKE)];
    const job = await net.job(client, 3, 2, 2, PRICE);
    await net.claim(providers[0], job, 0, 0);
    await net.cancelJob(client, job);
    assert.strictEqual(await net.balance(client.token), WALLET_TOKENS - 2n * (BigInt(PRICE) + FEE));
    await expectRefusal(net.claim(providers[1], job, 1, 0), "JobCancelled");
    await expectRefusal(net.closeJob(client, job), "JobStillOpen");
    const root = honestRoot(job, 0);
    await net.claim(providers[1], job, 0, 1);
    await net.commit(providers[0], job, 0, 0, root);
    await net.commit(providers[1], job, 0, 1, root);
    await net.reveal(providers[0], job, 0, 0, root);
    await net.reveal(providers[1], job, 0, 1, root);
    await net.settleShard(job, 0);
    await net.settleAssignment(providers[0], job, 0, 0);
    await net.settleAssignment(providers[1], job, 0, 1);
    await net.closeShard(client, job, 0);
    await net.closeJob(client, job);
    assert.strictEqual(await net.balance(client.token), WALLET_TOKENS - 2n * (BigInt(PRICE) + FEE));
  });

  it("refuses bad inputs by name", async () => {
    const net = await Network.create();
    const client = await net.wallet();
    const [honest, copier, other] = [await net.provider(STAKE), await net.provider(STAKE), await net.provider(STAKE)];
    const job = await net.job(client, 1, 2, 2, PRICE);
    const root = honestRoot(job, 0);
    await net.claim(honest, job, 0, 0);
    await expectRefusal(net.claim(other, job, 0, 0), "SlotTaken");
    await expectRefusal(net.claim(honest, job, 0, 1), "AlreadyHoldsReplica");
    await expectRefusal(net.claim(other, job, 3, 0), "InvalidShardIndex");
    await net.claim(copier, job, 0, 1);
    await net.commit(honest, job, 0, 0, root);
    await net.commit(copier, job, 0, 1, root, honest.salt, honest);
    await expectRefusal(net.reveal(copier, job, 0, 1, root, honest.salt), "CommitmentMismatch");
    await expectRefusal(net.reveal(honest, job, 0, 0, forgedRoot(job, 0)), "CommitmentMismatch");
    await expectRefusal(net.settleShard(job, 0), "SettleTooEarly");
    await expectRefusal(net.cancelJob(other, job), "NotJobClient");
    await expectRefusal(net.closeJob(client, job), "JobStillOpen");
  });

  it("runs the same lifecycle on a Token-2022 mint", async () => {
    const net = await Network.create(TOKEN_2022_PROGRAM_ID);
    const client = await net.wallet();
    const providers = [await net.provider(STAKE), await net.provider(STAKE)];
    const job = await net.job(client, 1, 2, 2, PRICE);
    const root = honestRoot(job, 0);
    for (let r = 0; r < 2; r++) await net.claim(providers[r], job, 0, r);
    for (let r = 0; r < 2; r++) await net.commit(providers[r], job, 0, r, root);
    for (let r = 0; r < 2; r++) await net.reveal(providers[r], job, 0, r, root);
    await net.settleShard(job, 0);
    for (let r = 0; r < 2; r++) await net.settleAssignment(providers[r], job, 0, r);
    await net.closeShard(client, job, 0);
    await net.closeJob(client, job);
    assert.strictEqual(await net.balance(net.treasury), 2n * FEE);
    assert.strictEqual(await net.balance(client.token), WALLET_TOKENS - 2n * (BigInt(PRICE) + FEE));
  });

  it("delegates, earns, is slashed with the provider, claims, undelegates and withdraws, to the token unit", async () => {
    const net = await Network.create();
    const client = await net.wallet();
    const p = await net.provider(STAKE);
    const delegator = await net.wallet();
    const DELEGATED = 6_000_000;
    await net.setCommission(p, 1_000);
    await net.delegate(delegator, p, DELEGATED);
    await expectRefusal(net.delegate(delegator, p, 99_999), "DelegationBelowMinimum");
    await expectRefusal(net.claimRewards(delegator, p), "NothingToClaim");

    // Paid 1,000,000: 10 % commission; of the rest, 2/8 for the provider's own stake, 6/8 for the delegator.
    const helper = await net.provider(STAKE);
    const job = await net.job(client, 1, 2, 2, PRICE);
    const root = honestRoot(job, 0);
    for (const [r, who] of [p, helper].entries()) await net.claim(who, job, 0, r);
    for (const [r, who] of [p, helper].entries()) await net.commit(who, job, 0, r, root);
    for (const [r, who] of [p, helper].entries()) await net.reveal(who, job, 0, r, root);
    await net.settleShard(job, 0);
    await net.settleAssignment(p, job, 0, 0);
    assert.strictEqual(await net.balance(p.token), WALLET_TOKENS - BigInt(STAKE) + 325_000n);
    assert.strictEqual(await net.balance(rewardVaultAddress(p.account)), 675_000n);

    // A missed claim slashes 5 % of one claim's stake (12,500), pro rata from all the stake behind
    // the provider, the delegation's included.
    const missed = await net.job(client, 1, 2, 2, PRICE, 10);
    await net.claim(p, missed, 0, 0);
    const assignment = await program.account.assignment.fetch(assignmentAddress(shardAddress(missed.address, 0), 0));
    await waitForChainTime(assignment.commitDeadline.toNumber());
    await net.expireClaim(p, missed, 0, 0);
    const provider = await program.account.provider.fetch(p.account);
    assert.strictEqual(provider.stake.toNumber(), 7_987_500);

    await net.claimRewards(delegator, p);
    assert.strictEqual(await net.balance(delegator.token), WALLET_TOKENS - BigInt(DELEGATED) + 675_000n);

    const delegation = await program.account.delegation.fetch(delegationAddress(p.account, delegator.key.publicKey));
    const worth = delegation.shares.mul(provider.stake.addn(1)).div(provider.pool.shares.addn(1));
    assert.strictEqual(worth.toNumber(), 5_990_625);
    await net.undelegate(delegator, p, worth);
    await expectRefusal(net.withdrawDelegation(delegator, p), "UnbondingNotOver");
    const unbonding = await program.account.delegation.fetch(delegationAddress(p.account, delegator.key.publicKey));
    await waitForChainTime(unbonding.unbondingEndsAt.toNumber());
    await net.withdrawDelegation(delegator, p);
    assert.strictEqual(
      await net.balance(delegator.token),
      WALLET_TOKENS - BigInt(DELEGATED) + 675_000n + 5_990_625n,
    );
    assert.strictEqual(await program.account.delegation.fetchNullable(delegationAddress(p.account, delegator.key.publicKey)), null);
  });
});
