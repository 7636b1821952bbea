// The dashboard's derivations that the browser run cannot reach with the test network's settings:
// rewards part-way through a vesting period, share rounding, empty and gapped series, and grid
// precedence. (The browser run checks the rest against the chain.)
import * as assert from "assert";
import {
  MAX_BUCKETS,
  REWARD_SCALE,
  bucketed,
  cellState,
  claimable,
  commissionAt,
  formatTokens,
  isActive,
  jobStatus,
  outcomes,
  releasedRewardPerShare,
  resultUrl,
  tokensFor,
} from "../app/web/src/model";

const pool = {
  shares: 1_000n,
  delegatedShares: 400n,
  unbondingShares: 0n,
  ownUnbondingShares: 0n,
  commissionBps: 500,
  pendingCommissionBps: null as number | null,
  commissionEffectiveAt: 0n,
  rewardPerShare: 0n,
  rewardRemainder: 0n,
  vestingTotal: 1_000n,
  vestingReleased: 0n,
  vestingFrom: 100n,
  vestingUntil: 200n,
};

describe("dashboard derivations", () => {
  it("releases vesting rewards in proportion to the time passed, all of them at the end", () => {
    assert.strictEqual(releasedRewardPerShare(pool, 100), 0n);
    assert.strictEqual(releasedRewardPerShare(pool, 150), (500n * REWARD_SCALE) / 1_000n);
    assert.strictEqual(releasedRewardPerShare(pool, 10_000), REWARD_SCALE);
    const accrual = { paidPerShare: 0n, carry: 0n, owed: 7n };
    // 400 of 1,000 shares, half the period gone: 200 tokens, plus the 7 already owed.
    assert.strictEqual(claimable(pool, accrual, 400n, 150), 207n);
    // Nothing more once the holder has been paid up to the released accumulator.
    assert.strictEqual(claimable(pool, { paidPerShare: REWARD_SCALE, carry: 0n, owed: 0n }, 400n, 500), 0n);
  });

  it("values shares as the program does: rounded down, never more than the class holds", () => {
    // One virtual share and token on each side, as `tokens_for` counts them: 3 × 11 / 4.
    assert.strictEqual(tokensFor(3n, 10n, 3n), 8n);
    assert.strictEqual(tokensFor(5n, 10n, 3n), 10n);
    assert.strictEqual(tokensFor(0n, 0n, 0n), 0n);
  });

  it("formats base units with the mint's decimals", () => {
    assert.strictEqual(formatTokens(1_234_500n, 6), "1.2345");
    assert.strictEqual(formatTokens(12_345_678_000_000n, 6), "12,345,678");
    assert.strictEqual(formatTokens(-5n, 2), "-0.05");
    assert.strictEqual(formatTokens(42n, 0), "42");
  });

  it("buckets series on one axis from an empty bucket before the first, gaps as zeros", () => {
    assert.deepStrictEqual(bucketed([[], []], 60), { times: [], values: [[], []], bucketSeconds: 60 });
    const series = bucketed(
      [
        [{ time: 61, value: 2 }, { time: 190, value: 1 }],
        [{ time: 125, value: 5 }],
      ],
      60,
    );
    assert.deepStrictEqual(series, { times: [0, 60, 120, 180], values: [[0, 2, 0, 1], [0, 0, 5, 0]], bucketSeconds: 60 });
  });

  it("widens buckets over a long span and leaves out points without a time", () => {
    // A year of events (or a node's hostile timestamps) stays within MAX_BUCKETS buckets.
    const year = 365 * 86_400;
    const series = bucketed([[{ time: 1_000, value: 1 }, { time: 1_000 + year, value: 1 }, { time: 0, value: 99 }]], 60);
    assert.ok(series.times.length <= MAX_BUCKETS + 1, String(series.times.length));
    assert.ok(series.bucketSeconds > 60 && series.bucketSeconds % 60 === 0);
    assert.strictEqual(series.values[0].reduce((a, b) => a + b, 0), 2);
  });

  it("shows a slot's furthest state, and an outcome from events over the masks", () => {
    const shard = { heldMask: 0b11, committedMask: 0b11, revealedMask: 0b01, passedMask: 0, failedMask: 0, missedMask: 0b10, closedMask: 0b1000 };
    assert.strictEqual(cellState(shard, 0), "revealed");
    assert.strictEqual(cellState(shard, 1), "missed");
    assert.strictEqual(cellState(shard, 2), "open");
    assert.strictEqual(cellState(shard, 3), "closed", "nobody filled it in time");
    assert.strictEqual(cellState(shard, 0, "paid"), "paid");
    assert.strictEqual(cellState(undefined, 0), "open");
  });

  it("gives a job's status: cancelled, settled, expired, running or open", () => {
    const job = { cancelled: false, shards: 2, shardsStarted: 0, shardsSettled: 0, expiresAt: 1_000 };
    assert.strictEqual(jobStatus(job, 10), "open");
    assert.strictEqual(jobStatus({ ...job, shardsStarted: 1 }, 10), "running");
    assert.strictEqual(jobStatus({ ...job, shardsStarted: 1 }, 1_000), "expired");
    // `shards_settled` counts refunded (no-quorum) shards already: one of two is not settled.
    assert.strictEqual(jobStatus({ ...job, shardsStarted: 2, shardsSettled: 1 }, 10), "running");
    assert.strictEqual(jobStatus({ ...job, shardsStarted: 2, shardsSettled: 2 }, 1_000), "settled");
    assert.strictEqual(jobStatus({ ...job, cancelled: true }, 10), "cancelled");
  });

  it("counts a provider active only on its own stake, none of it unbonding", () => {
    const provider = { stake: 1_000n, pool };
    // Its own 600 of 1,000 shares are worth 600 tokens.
    assert.ok(isActive(provider, 600n));
    assert.ok(!isActive(provider, 601n), "delegations do not count toward the minimum");
    assert.ok(!isActive({ stake: 1_000n, pool: { ...pool, ownUnbondingShares: 1n } }, 1n), "leaving");
  });

  it("applies a raised commission once its delay is over", () => {
    const raised = { ...pool, pendingCommissionBps: 1_000, commissionEffectiveAt: 500n };
    assert.strictEqual(commissionAt(raised, 499), 500);
    assert.strictEqual(commissionAt(raised, 500), 1_000);
  });

  it("follows a slot through its events: a reopened miss and a new claim clear the outcome", () => {
    const slot = { shardIndex: 0, replica: 1 };
    const event = (name: string, extra: object = {}) => ({ name, data: { ...slot, ...extra } });
    assert.strictEqual(outcomes([event("providerSlashed", { fraud: false })]).get("0/1"), "missed");
    assert.strictEqual(outcomes([event("providerSlashed", { fraud: false }), event("claimExpired", { reopened: true })]).get("0/1"), undefined);
    assert.strictEqual(outcomes([event("providerSlashed", { fraud: false }), event("claimExpired", { reopened: false })]).get("0/1"), "missed");
    assert.strictEqual(outcomes([event("providerSlashed", { fraud: true })]).get("0/1"), "slashed");
    assert.strictEqual(outcomes([event("replicaReleased")]).get("0/1"), "released");
    assert.strictEqual(outcomes([event("replicaPaid"), event("slotClaimed")]).get("0/1"), undefined);
  });

  it("links results only on http(s) endpoints, whatever the node returns", () => {
    assert.strictEqual(resultUrl("http://10.0.0.1:9464/", "JOB", 3), "http://10.0.0.1:9464/results/JOB/3");
    assert.strictEqual(resultUrl("https://gpu.example.org", "JOB", 0), "https://gpu.example.org/results/JOB/0");
    assert.strictEqual(resultUrl("javascript:alert(1)//", "JOB", 0), null);
    assert.strictEqual(resultUrl("data:text/html,<script>", "JOB", 0), null);
    assert.strictEqual(resultUrl("", "JOB", 0), null);
  });
});
