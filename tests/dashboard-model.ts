// The dashboard's derivations that the browser run cannot reach with the test network's settings:
// rewards part-way through a vesting period, share rounding, empty and gapped series, and grid
// precedence. (The browser run checks the rest against the chain.)
import * as assert from "assert";
import {
  REWARD_SCALE,
  bucketed,
  cellState,
  claimable,
  formatTokens,
  jobStatus,
  releasedRewardPerShare,
  resultUrl,
  tokensFor,
} from "../app/web/src/model";

const pool = {
  shares: 1_000n,
  delegatedShares: 400n,
  unbondingShares: 0n,
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
    assert.deepStrictEqual(bucketed([[], []], 60), { times: [], values: [[], []] });
    const series = bucketed(
      [
        [{ time: 61, value: 2 }, { time: 190, value: 1 }],
        [{ time: 125, value: 5 }],
      ],
      60,
    );
    assert.deepStrictEqual(series, { times: [0, 60, 120, 180], values: [[0, 2, 0, 1], [0, 0, 5, 0]] });
  });

  it("shows a slot's furthest state, and an outcome from events over the masks", () => {
    const shard = { heldMask: 0b11, committedMask: 0b11, revealedMask: 0b01, passedMask: 0, failedMask: 0, missedMask: 0b10 };
    assert.strictEqual(cellState(shard, 0), "revealed");
    assert.strictEqual(cellState(shard, 1), "missed");
    assert.strictEqual(cellState(shard, 2), "open");
    assert.strictEqual(cellState(shard, 0, "paid"), "paid");
    assert.strictEqual(cellState(undefined, 0), "open");
  });

  it("gives a job's status: cancelled, settled, expired, running or open", () => {
    const job = { cancelled: false, shards: 2, shardsStarted: 0, shardsSettled: 0, shardsRefunded: 0, expiresAt: 1_000 };
    assert.strictEqual(jobStatus(job, 10), "open");
    assert.strictEqual(jobStatus({ ...job, shardsStarted: 1 }, 10), "running");
    assert.strictEqual(jobStatus({ ...job, shardsStarted: 1 }, 1_000), "expired");
    assert.strictEqual(jobStatus({ ...job, shardsSettled: 1, shardsRefunded: 1 }, 1_000), "settled");
    assert.strictEqual(jobStatus({ ...job, cancelled: true }, 10), "cancelled");
  });

  it("links results only on http(s) endpoints, whatever the node returns", () => {
    assert.strictEqual(resultUrl("http://10.0.0.1:9464/", "JOB", 3), "http://10.0.0.1:9464/results/JOB/3");
    assert.strictEqual(resultUrl("https://gpu.example.org", "JOB", 0), "https://gpu.example.org/results/JOB/0");
    assert.strictEqual(resultUrl("javascript:alert(1)//", "JOB", 0), null);
    assert.strictEqual(resultUrl("data:text/html,<script>", "JOB", 0), null);
    assert.strictEqual(resultUrl("", "JOB", 0), null);
  });
});
