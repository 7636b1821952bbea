// The dashboard's derivations that the browser run cannot reach with the test network's settings:
// the program's share and reward arithmetic against the vectors the program's own methods computed
// (idl/pool-vectors.json, written by programs/gpushare/tests/program/pool_vectors.rs), rewards
// part-way through a vesting period and at the limits of u64, u128 and i64 among them; empty and
// gapped series, and grid precedence. (The browser run checks the rest against the chain.)
import * as assert from "assert";
import { readFileSync } from "fs";
import { join } from "path";
import {
  type Accrual,
  MAX_BUCKETS,
  MAX_SLOTS_PER_SHARD,
  type Pool,
  type PoolHolder,
  REWARD_SCALE,
  bucketed,
  cellState,
  claimable,
  commissionAt,
  delegatedStake,
  delegationUnbonding,
  delegationWorth,
  formatTokens,
  isActive,
  jobStatus,
  outcomes,
  releasedRewardPerShare,
  resultUrl,
  tokensFor,
} from "../app/web/src/model";

/** A number of the vectors: a decimal string. */
type Decimal = string;

/** A pool as the vectors write it: `Pool`'s fields, as decimal strings. */
type PoolVector = { [field in keyof Pool]: field extends "pendingCommissionBps" ? Decimal | null : Decimal };

/** A provider as the vectors write it. */
interface ProviderVector {
  stake: Decimal;
  unbonding: Decimal;
  pool: PoolVector;
}

/** One case of a section: what it is, its inputs, and the program's answer. */
type Case<Fields> = { name: string } & Fields;

/** idl/pool-vectors.json, section by section, each named after the `model.ts` function it checks. */
interface Vectors {
  about: string;
  constants: { rewardScale: Decimal; maxSlotsPerShard: Decimal };
  tokensFor: Case<{ part: Decimal; tokens: Decimal; shares: Decimal; worth: Decimal }>[];
  releasedRewardPerShare: Case<{ pool: PoolVector; now: Decimal; rewardPerShare: Decimal }>[];
  claimable: Case<{ pool: PoolVector; accrual: { [field in keyof Accrual]: Decimal }; shares: Decimal; now: Decimal; claimable: Decimal }>[];
  commissionAt: Case<{ pool: PoolVector; now: Decimal; commissionBps: Decimal }>[];
  isActive: Case<{ provider: ProviderVector; minStake: Decimal; active: boolean }>[];
  delegatedStake: Case<{ provider: ProviderVector; minStake: Decimal; delegatedStake: Decimal }>[];
  delegationWorth: Case<{ delegation: { shares: Decimal; unbondingShares: Decimal }; provider: ProviderVector; worth: Decimal }>[];
  delegationUnbonding: Case<{ delegation: { shares: Decimal; unbondingShares: Decimal }; provider: ProviderVector; unbonding: Decimal }>[];
}

const vectors: Vectors = JSON.parse(readFileSync(join(__dirname, "..", "idl", "pool-vectors.json"), "utf8"));

/** A pool of the vectors as the dashboard holds one: big numbers as bigints, basis points as numbers. */
function poolOf(p: PoolVector): Pool {
  return {
    shares: BigInt(p.shares),
    delegatedShares: BigInt(p.delegatedShares),
    unbondingShares: BigInt(p.unbondingShares),
    ownUnbondingShares: BigInt(p.ownUnbondingShares),
    commissionBps: Number(p.commissionBps),
    pendingCommissionBps: p.pendingCommissionBps === null ? null : Number(p.pendingCommissionBps),
    commissionEffectiveAt: BigInt(p.commissionEffectiveAt),
    rewardPerShare: BigInt(p.rewardPerShare),
    rewardRemainder: BigInt(p.rewardRemainder),
    vestingTotal: BigInt(p.vestingTotal),
    vestingReleased: BigInt(p.vestingReleased),
    vestingFrom: BigInt(p.vestingFrom),
    vestingUntil: BigInt(p.vestingUntil),
  };
}

/** A provider of the vectors as the dashboard holds one. */
const providerOf = (p: ProviderVector): PoolHolder => ({ stake: BigInt(p.stake), unbonding: BigInt(p.unbonding), pool: poolOf(p.pool) });

/** Checks that `derive` gives each case's answer, `expected`, naming the case that does not. */
function check<Fields, Answer>(cases: Case<Fields>[], derive: (c: Case<Fields>) => Answer, expected: (c: Case<Fields>) => Answer) {
  assert.ok(cases.length > 0, "no case");
  for (const c of cases) assert.strictEqual(derive(c), expected(c), c.name);
}

describe("dashboard arithmetic against the program's vectors", () => {
  it("checks every section the program writes", () => {
    assert.deepStrictEqual(Object.keys(vectors).sort(), [
      "about",
      "claimable",
      "commissionAt",
      "constants",
      "delegatedStake",
      "delegationUnbonding",
      "delegationWorth",
      "isActive",
      "releasedRewardPerShare",
      "tokensFor",
    ]);
  });

  it("uses the program's constants", () => {
    assert.strictEqual(REWARD_SCALE, BigInt(vectors.constants.rewardScale));
    assert.strictEqual(MAX_SLOTS_PER_SHARD, Number(vectors.constants.maxSlotsPerShard));
  });

  it("values shares as tokens_for does", () => {
    check(vectors.tokensFor, (c) => tokensFor(BigInt(c.part), BigInt(c.tokens), BigInt(c.shares)), (c) => BigInt(c.worth));
  });

  it("releases vesting rewards into the accumulator as released_at does", () => {
    check(vectors.releasedRewardPerShare, (c) => releasedRewardPerShare(poolOf(c.pool), BigInt(c.now)), (c) => BigInt(c.rewardPerShare));
  });

  it("gives the claimable rewards of a delegation and of the provider's own shares as the program pays them", () => {
    check(
      vectors.claimable,
      (c) => {
        const accrual = { paidPerShare: BigInt(c.accrual.paidPerShare), carry: BigInt(c.accrual.carry), owed: BigInt(c.accrual.owed) };
        return claimable(poolOf(c.pool), accrual, BigInt(c.shares), BigInt(c.now));
      },
      (c) => BigInt(c.claimable),
    );
  });

  it("applies a pending commission as commission_at does", () => {
    check(vectors.commissionAt, (c) => commissionAt(poolOf(c.pool), BigInt(c.now)), (c) => Number(c.commissionBps));
  });

  it("counts a provider active as check_active does: its own stake, none of it unbonding", () => {
    check(vectors.isActive, (c) => isActive(providerOf(c.provider), BigInt(c.minStake)), (c) => c.active);
  });

  it("values the delegations' part of a provider's stake", () => {
    check(vectors.delegatedStake, (c) => delegatedStake(BigInt(c.provider.stake), providerOf(c.provider).pool), (c) => BigInt(c.delegatedStake));
  });

  it("values a delegation's active and unbonding shares as undelegate and withdraw_delegation do", () => {
    const shares = (d: { shares: Decimal; unbondingShares: Decimal }) => ({ shares: BigInt(d.shares), unbondingShares: BigInt(d.unbondingShares) });
    check(vectors.delegationWorth, (c) => delegationWorth(shares(c.delegation), providerOf(c.provider)), (c) => BigInt(c.worth));
    check(vectors.delegationUnbonding, (c) => delegationUnbonding(shares(c.delegation), providerOf(c.provider)), (c) => BigInt(c.unbonding));
  });
});

describe("dashboard derivations", () => {
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
