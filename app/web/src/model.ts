// What the dashboard derives from decoded accounts and events: job and cell states, the job list, a
// provider's record, a delegation's worth and claimable rewards (the program's share and reward
// arithmetic, read-only, held to the program by idl/pool-vectors.json), and time series. Pure
// functions over plain values, so they run in Node tests too; the pages share derivations through
// this module, never through each other.
/** The program's reward accumulator scale (`REWARD_SCALE`). */
export const REWARD_SCALE = 10n ** 18n;

/** A number the chain stores as a u64/i64/u128, as Anchor decodes it (a BN), or a plain number. */
export type Big = { toString(): string } | number | bigint;

/** `value` as a bigint. */
export const big = (value: Big): bigint =>
  typeof value === "number" || typeof value === "bigint" ? BigInt(value) : BigInt(value.toString());

/** `value` as a JavaScript number (for times, counts and chart values; exact below 2⁵³). */
export const num = (value: Big): number => Number(big(value));

/** A unix time as a bigint, exact over all of i64 (a fractional number of seconds rounded down). */
const seconds = (time: Big): bigint => (typeof time === "number" ? BigInt(Math.floor(time)) : big(time));

/** The name of an Anchor-decoded enum value (`{ quorum: { q: 2 } }` → `quorum`). */
export const variant = (value: object): string => Object.keys(value)[0] ?? "";

/** The pool fields the arithmetic reads (a subset of the program's `StakePool`). */
export interface Pool {
  shares: Big;
  delegatedShares: Big;
  unbondingShares: Big;
  ownUnbondingShares: Big;
  commissionBps: number;
  pendingCommissionBps: number | null;
  commissionEffectiveAt: Big;
  rewardPerShare: Big;
  rewardRemainder: Big;
  vestingTotal: Big;
  vestingReleased: Big;
  vestingFrom: Big;
  vestingUntil: Big;
}

/** One holder's accrual (the program's `Accrual`). */
export interface Accrual {
  paidPerShare: Big;
  carry: Big;
  owed: Big;
}

/** Tokens `part` of a class of `tokens` tokens and `shares` shares is worth (the program's `tokens_for`). */
export function tokensFor(part: Big, tokens: Big, shares: Big): bigint {
  const worth = (big(part) * (big(tokens) + 1n)) / (big(shares) + 1n);
  return worth < big(tokens) ? worth : big(tokens);
}

/** The pool's reward per share once what has vested by `now` is released (the program's `released_at`). */
export function releasedRewardPerShare(pool: Pool, now: Big): bigint {
  const shares = big(pool.shares);
  const total = big(pool.vestingTotal);
  const from = big(pool.vestingFrom);
  const until = big(pool.vestingUntil);
  const t = seconds(now);
  let due = total;
  if (t < until) {
    const elapsed = t > from ? t - from : 0n;
    const period = until > from ? until - from : 1n;
    due = (total * elapsed) / period;
  }
  const released = big(pool.vestingReleased);
  if (due <= released || shares === 0n) return big(pool.rewardPerShare);
  return big(pool.rewardPerShare) + ((due - released) * REWARD_SCALE + big(pool.rewardRemainder)) / shares;
}

/** Whole tokens a holder of `shares` with `accrual` can claim at `now` (the program's `accrue`). */
export function claimable(pool: Pool, accrual: Accrual, shares: Big, now: Big): bigint {
  const rise = releasedRewardPerShare(pool, now) - big(accrual.paidPerShare);
  return big(accrual.owed) + (rise * big(shares) + big(accrual.carry)) / REWARD_SCALE;
}

/** The commission in force at `now`: a raise applies once its delay is over (the program's `commission_at`). */
export const commissionAt = (pool: Pool, now: Big): number =>
  pool.pendingCommissionBps !== null && seconds(now) >= big(pool.commissionEffectiveAt) ? pool.pendingCommissionBps : pool.commissionBps;

/**
 * Whether a provider may take work (the program's `check_active`): its own stake, not its
 * delegators', is at least the minimum, and none of it is unbonding.
 */
export const isActive = (p: { stake: Big; pool: Pool }, minStake: Big): boolean =>
  big(p.pool.ownUnbondingShares) === 0n &&
  tokensFor(big(p.pool.shares) - big(p.pool.delegatedShares), p.stake, p.pool.shares) >= big(minStake);

/** Stake held by delegations, of a provider's active `stake`. */
export const delegatedStake = (stake: Big, pool: Pool): bigint =>
  tokensFor(pool.delegatedShares, stake, pool.shares);

/** The delegation fields the worth reads. */
export interface DelegationShares {
  shares: Big;
  unbondingShares: Big;
}

/** The provider fields the worth reads. */
export interface PoolHolder {
  stake: Big;
  unbonding: Big;
  pool: Pool;
}

/** What a delegation's active shares are worth. */
export const delegationWorth = (d: DelegationShares, p: PoolHolder): bigint =>
  tokensFor(d.shares, p.stake, p.pool.shares);

/** What a delegation's unbonding shares are worth. */
export const delegationUnbonding = (d: DelegationShares, p: PoolHolder): bigint =>
  tokensFor(d.unbondingShares, p.unbonding, p.pool.unbondingShares);

/** Where a job stands. */
export type JobStatus = "open" | "running" | "settled" | "cancelled" | "expired";

/** The job fields the status reads. */
export interface JobState {
  cancelled: boolean;
  shards: number;
  shardsStarted: number;
  /** Shards with a final outcome, refunded ones (no quorum) included. */
  shardsSettled: number;
  expiresAt: Big;
}

/** A job's status at chain time `now`. */
export function jobStatus(job: JobState, now: number): JobStatus {
  if (job.cancelled) return "cancelled";
  if (job.shardsSettled >= job.shards) return "settled";
  if (now >= num(job.expiresAt)) return "expired";
  return job.shardsStarted > 0 ? "running" : "open";
}

/** An address as decoded accounts and events carry it (a `PublicKey`). */
export interface AccountKey {
  toBase58(): string;
}

/** An event as the dashboard holds it: its name, its decoded fields, and its unix time (0 if unknown). */
export interface TimedEvent {
  name: string;
  data: any;
  time: number;
}

/** The job fields a row of the job list reads. */
export interface ListedJob extends JobState {
  client: AccountKey;
  kernel: object;
  mode: object;
  replicas: number;
  price: Big;
  createdAt: Big;
}

/** One row of the job list: an open job account, or a closed job known from its events. */
export interface JobRow<Job extends ListedJob> {
  address: string;
  client: Job["client"];
  kernel: Job["kernel"];
  mode: Job["mode"];
  /** Settled of all shards for an open job; the shard count for a closed one. */
  shards: string;
  replicas: number;
  price: Big;
  status: JobStatus | "closed";
  created: number;
}

/** The open job accounts, then the closed jobs whose creation and closing the history holds, newest first. */
export function jobRows<Job extends ListedJob>(view: { jobs: Map<string, Job>; events: TimedEvent[]; now: number }): JobRow<Job>[] {
  const rows: JobRow<Job>[] = [...view.jobs.entries()].map(([address, job]) => ({
    address,
    client: job.client,
    kernel: job.kernel,
    mode: job.mode,
    shards: `${job.shardsSettled} / ${job.shards}`,
    replicas: job.replicas,
    price: job.price,
    status: jobStatus(job, view.now),
    created: num(job.createdAt),
  }));
  const closed = new Set(view.events.filter((e) => e.name === "jobClosed").map((e) => e.data.job.toBase58()));
  for (const e of view.events) {
    const address = e.data.job?.toBase58();
    if (e.name !== "jobCreated" || !closed.has(address) || view.jobs.has(address)) continue;
    rows.push({
      address,
      client: e.data.client,
      kernel: e.data.kernel,
      mode: e.data.mode,
      shards: String(e.data.shards),
      replicas: e.data.replicas,
      price: e.data.price,
      status: "closed",
      created: e.time,
    });
  }
  return rows.sort((a, b) => b.created - a.created);
}

/** One replica slot of one shard, as the grid shows it. */
export type CellState =
  | "open"
  | "closed"
  | "claimed"
  | "committed"
  | "revealed"
  | "proven"
  | "paid"
  | "slashed"
  | "missed"
  | "released";

/** The shard fields the grid reads. */
export interface ShardMasks {
  heldMask: number;
  committedMask: number;
  revealedMask: number;
  passedMask: number;
  failedMask: number;
  missedMask: number;
  /** Slots closed because nobody filled them in time. */
  closedMask: number;
}

/** Outcomes of a slot known from events: paid, slashed for fraud, slashed for a miss, released unpaid and unslashed. */
export type SlotOutcome = "paid" | "slashed" | "missed" | "released";

/** Replica slots a shard has room for (the program's `MAX_SLOTS_PER_SHARD`): no index read from chain goes past it. */
export const MAX_SLOTS_PER_SHARD = 8;

/**
 * Final outcomes of slots from a job's events, in order: a slot reopened after a miss, or claimed
 * again, has no outcome any more (its shard's masks say where it stands).
 */
export function outcomes(events: { name: string; data: any }[]): Map<string, SlotOutcome> {
  const result = new Map<string, SlotOutcome>();
  for (const e of events) {
    const slot = `${e.data.shardIndex}/${e.data.replica}`;
    if (e.name === "slotClaimed" || (e.name === "claimExpired" && e.data.reopened)) result.delete(slot);
    if (e.name === "replicaPaid") result.set(slot, "paid");
    if (e.name === "replicaReleased") result.set(slot, "released");
    if (e.name === "providerSlashed") result.set(slot, e.data.fraud ? "slashed" : "missed");
  }
  return result;
}

/** Whether shard `index` has started (the job's `started` bitmap). */
export const shardStarted = (started: Uint8Array | number[], index: number): boolean =>
  ((started[index >> 3] ?? 0) & (1 << (index & 7))) !== 0;

/**
 * The state of replica `replica`: a final outcome from events wins, then the shard's masks, the
 * furthest step first.
 */
export function cellState(shard: ShardMasks | undefined, replica: number, outcome?: SlotOutcome): CellState {
  if (outcome) return outcome;
  if (!shard) return "open";
  const bit = 1 << replica;
  if (shard.failedMask & bit) return "slashed";
  if (shard.missedMask & bit) return "missed";
  if (shard.passedMask & bit) return "proven";
  if (shard.revealedMask & bit) return "revealed";
  if (shard.committedMask & bit) return "committed";
  if (shard.heldMask & bit) return "claimed";
  if (shard.closedMask & bit) return "closed";
  return "open";
}

/** A provider's share of decided replicas it completed, or null before it has any. */
export function completionRate(completed: Big, failed: Big, missed: Big): number | null {
  const decided = num(completed) + num(failed) + num(missed);
  return decided === 0 ? null : num(completed) / decided;
}

/** A point of a time series: `value` at unix time `time`. */
export interface Point {
  time: number;
  value: number;
}

/** Sums of an event field over time (or counts, without a field): a point for each event named `name`. */
export function points(events: TimedEvent[], name: string, field?: string): Point[] {
  return events.filter((e) => e.name === name).map((e) => ({ time: e.time, value: field ? num(e.data[field]) : 1 }));
}

/** Most buckets a series is cut into: a longer span gets wider buckets. */
export const MAX_BUCKETS = 2_000;

/**
 * Sums of each series' values per bucket, on one time axis from the bucket before the first point of
 * any series (all zeros, so that a single bucket still spans time) to the last, gaps filled with 0.
 * Buckets are `bucketSeconds` wide, doubled until at most `MAX_BUCKETS` cover the span; points
 * without a time (0) are left out.
 */
export function bucketed(
  series: Point[][],
  bucketSeconds: number,
): { times: number[]; values: number[][]; bucketSeconds: number } {
  let first = Infinity;
  let last = -Infinity;
  for (const points of series) {
    for (const p of points) {
      if (p.time <= 0) continue;
      first = Math.min(first, p.time);
      last = Math.max(last, p.time);
    }
  }
  if (first > last) return { times: [], values: series.map(() => []), bucketSeconds };
  let width = bucketSeconds;
  while ((last - first) / width >= MAX_BUCKETS) width *= 2;
  const start = (Math.floor(first / width) - 1) * width;
  const count = Math.floor(last / width) - Math.floor(first / width) + 2;
  const times = Array.from({ length: count }, (_, i) => start + i * width);
  const values = series.map((points) => {
    const sums = new Array<number>(count).fill(0);
    for (const p of points) if (p.time > 0) sums[Math.floor((p.time - start) / width)] += p.value;
    return sums;
  });
  return { times, values, bucketSeconds: width };
}

/** Running totals of `values`. */
export function cumulative(values: number[]): number[] {
  let sum = 0;
  return values.map((v) => (sum += v));
}

/** `amount` base units of a mint with `decimals` decimals, grouped (1234500 with 6 → "1.2345"). */
export function formatTokens(amount: Big, decimals: number): string {
  const value = big(amount);
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const scale = 10n ** BigInt(decimals);
  const whole = (abs / scale).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fraction = decimals > 0 ? (abs % scale).toString().padStart(decimals, "0").replace(/0+$/, "") : "";
  return `${negative ? "-" : ""}${whole}${fraction ? "." + fraction : ""}`;
}

/**
 * Where a provider serves shard `shard` of `job`, or null unless `endpoint` is an http(s) URL: the
 * program accepts nothing else, but the page may be reading a node it cannot trust.
 */
export function resultUrl(endpoint: string, job: string, shard: number): string | null {
  try {
    const { protocol } = new URL(endpoint);
    if (protocol !== "http:" && protocol !== "https:") return null;
  } catch {
    return null;
  }
  return `${endpoint.replace(/\/+$/, "")}/results/${job}/${shard}`;
}

/** Basis points as a percentage ("250" → "2.5 %"). */
export const formatBps = (bps: number): string => `${bps / 100} %`;

/** 32 bytes as lowercase hex. */
export const hex = (bytes: number[] | Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** A fixed-size byte string (a GPU model name) without its zero padding. */
export const text = (bytes: number[] | Uint8Array): string =>
  new TextDecoder().decode(Uint8Array.from(bytes)).replace(/\0+$/, "");
