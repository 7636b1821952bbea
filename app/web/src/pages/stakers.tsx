// Stakers: every delegator of the network, and one address's delegations with their worth,
// claimable rewards, unbonding and warming stake, and its rewards over time.
import { useState } from "preact/hooks";
import { useLocation } from "wouter-preact";
import { readAddress } from "../chain";
import { big, claimable, delegationUnbonding, delegationWorth, num } from "../model";
import { Address, CumulativeTokens, Figure, Notice, Page, Signature, Tokens, useSession, when } from "../ui";

/** The form that opens an address's page. */
function Lookup({ initial }: { initial: string }) {
  const [, navigate] = useLocation();
  const [address, setAddress] = useState(initial);
  return (
    <form
      class="lookup"
      onSubmit={(e) => {
        e.preventDefault();
        navigate(`/stakers/${address.trim()}`);
      }}
    >
      <input name="staker" size={48} placeholder="staker address" value={address} onInput={(e) => setAddress(e.currentTarget.value)} />
      <button type="submit">Show</button>
    </form>
  );
}

export function StakersPage() {
  const { view } = useSession();
  const totals = new Map<string, bigint>();
  for (const d of view.delegations.values()) {
    const p = view.providers.get(d.provider.toBase58());
    if (!p) continue;
    const key = d.delegator.toBase58();
    totals.set(key, (totals.get(key) ?? 0n) + delegationWorth(d, p));
  }
  return (
    <Page title="Stakers">
      <Lookup initial="" />
      {totals.size === 0 ? (
        <Notice kind="empty">No delegation on this network.</Notice>
      ) : (
        <table data-table="stakers">
          <thead><tr><th>staker</th><th>delegated, worth now</th></tr></thead>
          <tbody>
            {[...totals.entries()].map(([staker, worth]) => (
              <tr data-staker={staker}>
                <td><Address value={staker} to={`/stakers/${staker}`} /></td>
                <td><Tokens amount={worth} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}

export function StakerPage({ address }: { address: string }) {
  const { view } = useSession();
  const { key, error } = readAddress(address);
  if (error !== null) {
    return (
      <Page title="Staker">
        <Lookup initial={address} />
        <Notice kind="error">{error}</Notice>
      </Page>
    );
  }
  const delegations = [...view.delegations.entries()].filter(([, d]) => d.delegator.toBase58() === key);
  const events = view.events.filter((e) => e.data.delegator?.toBase58() === key || e.data.holder?.toBase58() === key);
  const claims = events.filter((e) => e.name === "rewardsClaimed").map((e) => ({ time: e.time, value: num(e.data.amount) }));
  const rows = delegations.flatMap(([at, d]) => {
    const p = view.providers.get(d.provider.toBase58());
    return p ? [{ at, d, p, worth: delegationWorth(d, p), rewards: claimable(p.pool, d.accrual, d.shares, view.now) }] : [];
  });
  return (
    <Page title="Staker">
      <Lookup initial={key} />
      {rows.length === 0 && events.length === 0 ? (
        <Notice kind="empty">No delegation from {key} on this network.</Notice>
      ) : (
        <>
          <div class="figures">
            <Figure name="delegated" label="delegations worth"><Tokens amount={rows.reduce((s, r) => s + r.worth, 0n)} /></Figure>
            <Figure name="claimable" label="claimable rewards"><Tokens amount={rows.reduce((s, r) => s + r.rewards, 0n)} /></Figure>
            <Figure name="claimed" label="rewards claimed"><Tokens amount={claims.reduce((s, c) => s + BigInt(c.value), 0n)} /></Figure>
          </div>
          <table data-table="delegations">
            <thead><tr><th>delegation</th><th>provider</th><th>worth</th><th>claimable</th><th>unbonding</th><th>unbonding ends</th><th>warming</th><th>active from</th></tr></thead>
            <tbody>
              {rows.map(({ at, d, p, worth, rewards }) => (
                <tr data-delegation={at}>
                  <td><Address value={at} /></td>
                  <td><Address value={d.provider} to={`/providers/${d.provider.toBase58()}`} /></td>
                  <td data-column="worth"><Tokens amount={worth} /></td>
                  <td data-column="claimable"><Tokens amount={rewards} /></td>
                  <td data-column="unbonding"><Tokens amount={delegationUnbonding(d, p)} /></td>
                  <td>{big(d.unbondingShares) > 0n ? when(num(d.unbondingEndsAt)) : "—"}</td>
                  <td data-column="warming"><Tokens amount={big(d.warming.amount)} /></td>
                  <td>{big(d.warming.amount) > 0n ? when(num(d.warming.until)) : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <CumulativeTokens
            name="staker-rewards"
            title="rewards claimed (cumulative tokens)"
            series={[{ label: "claimed", points: claims, color: "#2a7" }]}
          />
          <h2>Events</h2>
          <table data-table="staker-events">
            <thead><tr><th>time</th><th>event</th><th>amount</th><th>transaction</th></tr></thead>
            <tbody>
              {[...events].reverse().map((e) => (
                <tr data-event={e.name}>
                  <td>{when(e.time)}</td>
                  <td>{e.name}</td>
                  <td>{e.data.amount !== undefined ? <Tokens amount={e.data.amount} /> : ""}</td>
                  <td><Signature value={e.signature} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Page>
  );
}
