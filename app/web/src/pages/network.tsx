// The network page: parameters, providers and stake, jobs by status, verified replicas per minute,
// and payouts and slashes over time.
import { Address, BUCKET_SECONDS, CumulativeTokens, Figure, Page, Source, TimeChart, Tokens, useSession } from "../ui";
import { big, bucketed, delegatedStake, formatBps, isActive, jobRows, num, points } from "../model";

/** Window the verified-replica rate is measured over. */
const RATE_WINDOW_SECONDS = 600;

export function NetworkPage() {
  const { view } = useSession();
  const params = view.params;
  const providers = [...view.providers.values()];
  const active = providers.filter((p) => isActive(p, params.minStake));
  const totalStake = providers.reduce((sum, p) => sum + big(p.stake), 0n);
  const delegated = providers.reduce((sum, p) => sum + delegatedStake(p.stake, p.pool), 0n);
  const byStatus: Record<string, number> = { open: 0, running: 0, settled: 0, cancelled: 0, expired: 0, closed: 0 };
  for (const job of jobRows(view)) byStatus[job.status] += 1;
  const paid = points(view.events, "replicaPaid", "amount");
  const slashed = points(view.events, "providerSlashed", "amount");
  const recent = paid.filter((p) => p.time > view.now - RATE_WINDOW_SECONDS).length;
  const rate = bucketed([points(view.events, "replicaPaid")], BUCKET_SECONDS);
  const perMinute = rate.values[0].map((count) => count / (rate.bucketSeconds / 60));
  return (
    <Page title="Network">
      <Source account={view.network.address} />
      <div class="figures">
        <Figure name="providers" label="providers (active)">
          {providers.length} ({active.length})
        </Figure>
        <Figure name="total-stake" label="total stake">
          <Tokens amount={totalStake} />
        </Figure>
        <Figure name="delegated-stake" label="delegated stake">
          <Tokens amount={delegated} />
        </Figure>
        {Object.keys(byStatus).map((status) => (
          <Figure name={`jobs-${status}`} label={`${status} jobs`}>
            {byStatus[status]}
          </Figure>
        ))}
        <Figure name="replicas-per-minute" label={`verified replicas / minute (last ${RATE_WINDOW_SECONDS / 60} min)`}>
          {(recent / (RATE_WINDOW_SECONDS / 60)).toFixed(1)}
        </Figure>
        <Figure name="paid-total" label="ever paid to providers registered now">
          <Tokens amount={providers.reduce((sum, p) => sum + big(p.earned), 0n)} />
        </Figure>
        <Figure name="slashed-total" label="ever slashed from providers registered now">
          <Tokens amount={providers.reduce((sum, p) => sum + big(p.slashed), 0n)} />
        </Figure>
      </div>
      <div class="charts">
        <TimeChart
          name="verified"
          title="verified replicas per minute"
          times={rate.times}
          series={[{ label: "verified replicas", values: perMinute, color: "#2a7" }]}
        />
        <CumulativeTokens
          name="payouts"
          title="paid and slashed over the history read (cumulative tokens)"
          series={[
            { label: "paid", points: paid, color: "#27c" },
            { label: "slashed", points: slashed, color: "#c33" },
          ]}
        />
      </div>
      <h2>Parameters</h2>
      <table class="params" data-table="params">
        <tbody>
          <tr><th>authority</th><td><Address value={view.network.account.authority} /></td></tr>
          <tr><th>mint</th><td><Address value={view.network.account.mint} /></td></tr>
          <tr><th>treasury</th><td><Address value={view.network.account.treasury} /></td></tr>
          <tr><th>protocol fee</th><td data-param="fee">{formatBps(params.feeBps)}</td></tr>
          <tr><th>minimum stake</th><td data-param="min-stake"><Tokens amount={params.minStake} /></td></tr>
          <tr><th>stake per claim</th><td data-param="stake-per-claim"><Tokens amount={params.stakePerClaim} /></td></tr>
          <tr><th>unbonding period</th><td>{num(params.unbondingPeriod)} s</td></tr>
          <tr><th>reveal window</th><td>{num(params.revealWindow)} s</td></tr>
          <tr><th>longest claim timeout</th><td>{num(params.maxClaimTimeout)} s</td></tr>
          <tr><th>fraud slash (of stake per claim)</th><td data-param="fraud-slash">{formatBps(params.fraudSlashBps)}</td></tr>
          <tr><th>miss slash (of stake per claim)</th><td data-param="miss-slash">{formatBps(params.missSlashBps)}</td></tr>
          <tr><th>shards / replicas (max)</th><td>{params.maxShards} / {params.maxReplicas}</td></tr>
          <tr><th>largest commission</th><td>{formatBps(params.maxCommissionBps)}</td></tr>
          <tr><th>minimum delegation</th><td><Tokens amount={params.minDelegation} /></td></tr>
          <tr><th>reward vesting</th><td>{num(params.rewardVesting)} s</td></tr>
          <tr><th>stake warm-up</th><td>{num(params.stakeWarmup)} s</td></tr>
          <tr><th>benchmark fee</th><td><Tokens amount={params.benchmarkFee} /></td></tr>
          <tr><th>parameter update delay</th><td>{num(params.updateDelay)} s</td></tr>
        </tbody>
      </table>
    </Page>
  );
}
