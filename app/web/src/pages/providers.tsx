// The provider list, sortable by proven throughput, pay, commission, stake and completion rate, and
// a provider's page: stake, delegations and commission, hardware, counters, earnings and slashes.
import { useState } from "preact/hooks";
import { type ProviderAccount, readAddress } from "../chain";
import {
  big,
  commissionAt,
  completionRate,
  delegatedStake,
  delegationUnbonding,
  delegationWorth,
  formatBps,
  num,
  points,
  text,
} from "../model";
import { Address, CumulativeTokens, Figure, Notice, Page, Source, Tokens, useSession, when } from "../ui";

/** A provider's figures as the list shows and sorts them. */
function row(address: string, p: ProviderAccount, now: number) {
  const completed = num(p.completed);
  return {
    address,
    provider: p,
    mops: num(p.proven.mops),
    pay: completed === 0 ? 0 : num(p.earned) / completed,
    commission: commissionAt(p.pool, now),
    stake: num(p.stake),
    delegated: delegatedStake(p.stake, p.pool),
    completion: completionRate(p.completed, p.failed, p.missed) ?? -1,
  };
}

type Row = ReturnType<typeof row>;

export function ProvidersPage() {
  const { view } = useSession();
  const [sort, setSort] = useState<keyof Row>("mops");
  const [descending, setDescending] = useState(true);
  const rows = [...view.providers.entries()]
    .map(([address, p]) => row(address, p, view.now))
    .sort((a, b) => (descending ? -1 : 1) * ((a[sort] as number) - (b[sort] as number)));
  const header = (key: keyof Row, label: string) => (
    <th>
      <button
        type="button"
        data-sort={key}
        aria-sort={sort === key ? (descending ? "descending" : "ascending") : "none"}
        onClick={() => (sort === key ? setDescending(!descending) : (setSort(key), setDescending(true)))}
      >
        {label} {sort === key ? (descending ? "▼" : "▲") : ""}
      </button>
    </th>
  );
  return (
    <Page title="Providers">
      {rows.length === 0 ? (
        <Notice kind="empty">No provider is registered on this network.</Notice>
      ) : (
        <table data-table="providers">
          <thead>
            <tr>
              <th>provider</th>
              {header("mops", "proven Mop/s")}
              {header("pay", "pay / replica")}
              {header("commission", "commission")}
              {header("stake", "stake")}
              <th>delegated</th>
              {header("completion", "completion")}
              <th>completed / failed / missed</th>
              <th>results endpoint</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr data-provider={r.address}>
                <td><Address value={r.address} to={`/providers/${r.address}`} /></td>
                <td>{r.mops}</td>
                <td><Tokens amount={BigInt(Math.floor(r.pay))} /></td>
                <td>{formatBps(r.commission)}</td>
                <td data-column="stake"><Tokens amount={r.provider.stake} /></td>
                <td><Tokens amount={r.delegated} /></td>
                <td>{r.completion < 0 ? "—" : `${(r.completion * 100).toFixed(1)} %`}</td>
                <td>{num(r.provider.completed)} / {num(r.provider.failed)} / {num(r.provider.missed)}</td>
                <td>{r.provider.endpoint || "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}

export function ProviderPage({ address }: { address: string }) {
  const { view } = useSession();
  const { key, error } = readAddress(address);
  if (error !== null) return <Page title="Provider"><Notice kind="error">{error}</Notice></Page>;
  const p = view.providers.get(key);
  if (!p) {
    return (
      <Page title="Provider">
        <Notice kind="error">No provider account at {key} on this network.</Notice>
      </Page>
    );
  }
  const mine = view.events.filter((e) => e.data.provider?.toBase58() === key);
  const earned = points(mine, "replicaPaid", "amount");
  const slashed = points(mine, "providerSlashed", "amount");
  const delegations = [...view.delegations.entries()].filter(([, d]) => d.provider.toBase58() === key);
  const hardware = p.hardware;
  return (
    <Page title="Provider">
      <Source account={key} />
      <div class="figures">
        <Figure name="authority" label="authority"><Address value={p.authority} /></Figure>
        <Figure name="stake" label="active stake"><Tokens amount={p.stake} /></Figure>
        <Figure name="delegated" label="of which delegated"><Tokens amount={delegatedStake(p.stake, p.pool)} /></Figure>
        <Figure name="unbonding" label="unbonding (own and delegators')">
          <Tokens amount={p.unbonding} />
          {big(p.pool.ownUnbondingShares) > 0n ? `; its own until ${when(num(p.unbondingEndsAt))}` : ""}
        </Figure>
        <Figure name="commission" label="commission">
          {formatBps(commissionAt(p.pool, view.now))}
          {p.pool.pendingCommissionBps !== null && commissionAt(p.pool, view.now) !== p.pool.pendingCommissionBps
            ? ` (→ ${formatBps(p.pool.pendingCommissionBps)} from ${when(num(p.pool.commissionEffectiveAt))})`
            : ""}
        </Figure>
        <Figure name="counters" label="completed / failed / missed">
          {num(p.completed)} / {num(p.failed)} / {num(p.missed)}
        </Figure>
        <Figure name="earned" label="earned"><Tokens amount={p.earned} /></Figure>
        <Figure name="slashed" label="slashed"><Tokens amount={p.slashed} /></Figure>
        <Figure name="open-claims" label="open claims">{p.openClaims}</Figure>
        <Figure name="proven" label="proven throughput (benchmark)">
          {num(p.proven.mops)} Mop/s on {p.proven.devices} device(s){num(p.proven.slot) > 0 ? `, proven at slot ${num(p.proven.slot)}` : ", not proven"}
        </Figure>
        <Figure name="declared" label="declared hardware">
          {text(hardware.gpuModel) || "—"}, {hardware.memoryMib} MiB, {num(hardware.throughputGops)} Gop/s, {hardware.devices} device(s)
        </Figure>
        <Figure name="endpoint" label="results endpoint">{p.endpoint || "—"}</Figure>
        <Figure name="registered" label="registered">{when(num(p.registeredAt))}</Figure>
      </div>
      <CumulativeTokens
        name="provider-earnings"
        title="earned and slashed (cumulative tokens)"
        series={[
          { label: "earned", points: earned, color: "#27c" },
          { label: "slashed", points: slashed, color: "#c33" },
        ]}
      />
      <h2>Delegations</h2>
      {delegations.length === 0 ? (
        <Notice kind="empty">No delegation.</Notice>
      ) : (
        <table data-table="delegations">
          <thead><tr><th>delegator</th><th>worth</th><th>unbonding</th></tr></thead>
          <tbody>
            {delegations.map(([at, d]) => (
              <tr data-delegation={at}>
                <td><Address value={d.delegator} to={`/stakers/${d.delegator.toBase58()}`} /></td>
                <td><Tokens amount={delegationWorth(d, p)} /></td>
                <td><Tokens amount={delegationUnbonding(d, p)} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}
