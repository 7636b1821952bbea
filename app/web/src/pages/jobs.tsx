// The job list with filters, and a job's page: its shards × replicas grid, commitments and roots,
// spot-check samples, events, escrow, and where to fetch its results.
import { useEffect, useState } from "preact/hooks";
import { PublicKey } from "@solana/web3.js";
import { type ChainEvent, EventLog, type JobAccount, history, readAddress, watchEvents } from "../chain";
import {
  type CellState,
  MAX_SLOTS_PER_SHARD,
  big,
  cellState,
  hex,
  jobRows,
  jobStatus,
  num,
  outcomes,
  resultUrl,
  shardStarted,
  variant,
} from "../model";
import { Address, Figure, Notice, Page, Signature, Source, Tokens, useSession, when } from "../ui";

/** A kernel and its size, in words. */
export function kernelLabel(kernel: JobAccount["kernel"]): string {
  if (kernel.gemmI8) return `gemm_i8 ${kernel.gemmI8.m}×${kernel.gemmI8.n}×${kernel.gemmI8.k}`;
  if (kernel.sha256Chain) return `sha256_chain ${kernel.sha256Chain.steps} steps, leaf every ${kernel.sha256Chain.leafEvery}`;
  if (kernel.monteCarlo) return `monte_carlo ${kernel.monteCarlo.blocks} × ${kernel.monteCarlo.samplesPerBlock}`;
  if (kernel.embedding) {
    const model = hex(kernel.embedding.model).slice(0, 8);
    return `embedding ${kernel.embedding.sequences} texts, ${kernel.embedding.tokens} tokens, model ${model}…`;
  }
  return variant(kernel);
}

/** A verification mode in words. */
export const modeLabel = (mode: JobAccount["mode"]): string =>
  mode.quorum ? `quorum ${mode.quorum.q}` : `spot-check, ${mode.spotCheck?.samples} samples`;

const STATUSES = ["all", "open", "running", "settled", "cancelled", "expired", "closed"];
const KERNELS = ["all", "gemmI8", "sha256Chain", "monteCarlo", "embedding"];

export function JobsPage() {
  const { view } = useSession();
  const [status, setStatus] = useState("all");
  const [kernel, setKernel] = useState("all");
  const [client, setClient] = useState("");
  const jobs = jobRows(view)
    .filter((j) => status === "all" || j.status === status)
    .filter((j) => kernel === "all" || variant(j.kernel) === kernel)
    .filter((j) => !client.trim() || j.client.toBase58() === client.trim());
  return (
    <Page title="Jobs">
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          status{" "}
          <select name="status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            {STATUSES.map((s) => <option value={s}>{s}</option>)}
          </select>
        </label>
        <label>
          kernel{" "}
          <select name="kernel" value={kernel} onChange={(e) => setKernel(e.currentTarget.value)}>
            {KERNELS.map((k) => <option value={k}>{k}</option>)}
          </select>
        </label>
        <label>
          client <input name="client" size={48} placeholder="client address" value={client} onInput={(e) => setClient(e.currentTarget.value)} />
        </label>
      </form>
      {jobs.length === 0 ? (
        <Notice kind="empty">No job matches.</Notice>
      ) : (
        <table data-table="jobs">
          <thead>
            <tr><th>job</th><th>client</th><th>kernel</th><th>verification</th><th>shards settled</th><th>replicas</th><th>price / replica</th><th>status</th><th>created</th></tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr data-job={job.address} data-status={job.status}>
                <td><Address value={job.address} to={`/jobs/${job.address}`} /></td>
                <td><Address value={job.client} /></td>
                <td>{kernelLabel(job.kernel)}</td>
                <td>{modeLabel(job.mode)}</td>
                <td>{job.shards}</td>
                <td>{job.replicas}</td>
                <td><Tokens amount={job.price} /></td>
                <td class={`status ${job.status}`}>{job.status}</td>
                <td>{when(job.created)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}

/** The events of one job, history and live ones, and why its history could not be read. */
function useJobEvents(address: string | null): { events: ChainEvent[]; problem: string | null } {
  const { view } = useSession();
  const [state, setState] = useState<{ events: ChainEvent[]; problem: string | null }>({ events: [], problem: null });
  useEffect(() => {
    setState({ events: [], problem: null });
    if (!address) return;
    const key = new PublicKey(address);
    const log = new EventLog();
    let problem: string | null = null;
    let open = true;
    const add = (events: ChainEvent[]) => {
      if (open && log.add(events.filter((e) => e.data.job?.toBase58() === address))) {
        setState({ events: [...log.events], problem });
      }
    };
    const stop = watchEvents(view.connection, key, () => view.now, add);
    history(view.connection, key).then(add, (error) => {
      problem = `This job's history could not be read: ${(error as Error).message}`;
      if (open) setState({ events: [...log.events], problem });
    });
    return () => {
      open = false;
      stop();
    };
  }, [address, view]);
  return state;
}

/** A short account of an event's own fields. */
function eventDetail(e: ChainEvent): string {
  const d = e.data;
  const parts: string[] = [];
  if (d.shardIndex !== undefined) parts.push(`shard ${d.shardIndex}`);
  if (d.replica !== undefined) parts.push(`replica ${d.replica}`);
  if (d.sample !== undefined) parts.push(`sample ${d.sample}`);
  if (d.amount !== undefined) parts.push(`amount ${d.amount.toString()}`);
  if (d.fraud !== undefined) parts.push(d.fraud ? "fraud" : "miss");
  if (d.outcome !== undefined) parts.push(variant(d.outcome));
  return parts.join(", ");
}

export function JobPage({ address }: { address: string }) {
  const { view } = useSession();
  const { key, error } = readAddress(address);
  const { events, problem } = useJobEvents(key);
  if (error !== null) return <Page title="Job"><Notice kind="error">{error}</Notice></Page>;
  const job = view.jobs.get(key);
  return (
    <Page title="Job">
      {problem && <Notice kind="error">{problem}</Notice>}
      {job ? (
        <JobDetail address={key} job={job} events={events} />
      ) : (
        <Notice kind="error">
          No open job account at {key} on this network: it was closed, belongs to another network, or never existed.
          {events.length > 0 ? " Its recorded events follow." : ""}
        </Notice>
      )}
      <Timeline events={events} />
    </Page>
  );
}

function JobDetail({ address, job, events }: { address: string; job: JobAccount; events: ChainEvent[] }) {
  const { view } = useSession();
  const shards = [...view.shards.entries()].filter(([, s]) => s.job.toBase58() === address);
  const shardAt = (index: number) => shards.find(([, s]) => s.index === index);
  const assignments = [...view.assignments.entries()]
    .filter(([, a]) => a.job.toBase58() === address)
    .sort(([, a], [, b]) => a.shardIndex - b.shardIndex || a.replica - b.replica);
  const final = outcomes(events);
  const columns = Math.min(job.replicas, MAX_SLOTS_PER_SHARD);
  const escrow = (big(job.price) + big(job.feePerSlot)) * BigInt(job.replicas) * BigInt(job.shards);
  const samples = events.filter((e) => e.name === "sampleProven" || e.name === "spotCheckFailed");
  const paidBy = events.filter((e) => e.name === "replicaPaid");
  return (
    <>
      <Source account={address} />
      <div class="figures">
        <Figure name="status" label="status">{jobStatus(job, view.now)}</Figure>
        <Figure name="client" label="client"><Address value={job.client} /></Figure>
        <Figure name="kernel" label="kernel">{kernelLabel(job.kernel)}</Figure>
        <Figure name="mode" label="verification">{modeLabel(job.mode)}</Figure>
        <Figure name="input" label="input">
          {job.input.seed ? <code>seed {hex(job.input.seed[0])}</code> : <code>{job.input.data.uri} (sha256 {hex(job.input.data.sha256)})</code>}
        </Figure>
        <Figure name="escrow" label="escrow deposited"><Tokens amount={escrow} /></Figure>
        <Figure name="paid-out" label="paid to providers"><Tokens amount={job.paidOut} /></Figure>
        <Figure name="fees" label="protocol fees"><Tokens amount={job.feesAccrued} /></Figure>
        <Figure name="refunded" label="refunded"><Tokens amount={job.refunded} /></Figure>
        <Figure name="shards" label="shards settled / refunded (no quorum) / all">
          {job.shardsSettled} / {job.shardsRefunded} / {job.shards}
        </Figure>
        <Figure name="slashes-held" label="slashed stake held (burned at close)"><Tokens amount={job.slashesHeld} /></Figure>
        <Figure name="created" label="created / expires">{when(num(job.createdAt))} / {when(num(job.expiresAt))}</Figure>
      </div>
      <h2>Shards × replicas</h2>
      <table class="grid" data-table="grid">
        <thead>
          <tr><th>shard</th>{Array.from({ length: columns }, (_, r) => <th>replica {r}</th>)}<th>phase</th></tr>
        </thead>
        <tbody>
          {Array.from({ length: job.shards }, (_, index) => {
            const found = shardAt(index);
            const shard = found?.[1];
            return (
              <tr data-shard={index}>
                <th>{found ? <Address value={found[0]} /> : index}</th>
                {Array.from({ length: columns }, (_, r) => {
                  const state: CellState = cellState(shard, r, final.get(`${index}/${r}`));
                  const holder = shard && shard.heldMask & (1 << r) ? shard.holders[r]?.toBase58() : "";
                  return (
                    <td class={`cell ${state}`} data-cell={`${index}/${r}`} data-state={state} title={holder}>
                      {state}
                    </td>
                  );
                })}
                <td>{shard ? variant(shard.phase) : shardStarted(job.started, index) ? "closed" : "not started"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <h2>Commitments and roots</h2>
      {assignments.length === 0 ? (
        <Notice kind="empty">No open assignments.</Notice>
      ) : (
        <table data-table="assignments">
          <thead><tr><th>slot</th><th>assignment</th><th>provider</th><th>commitment</th><th>revealed root</th><th>proven samples</th></tr></thead>
          <tbody>
            {assignments.map(([at, a]) => (
              <tr data-assignment={at}>
                <td>{a.shardIndex}/{a.replica}</td>
                <td><Address value={at} /></td>
                <td><Address value={a.provider} to={`/providers/${a.provider.toBase58()}`} /></td>
                <td><code>{a.commitment ? hex(a.commitment) : "—"}</code></td>
                <td><code>{a.root ? hex(a.root) : "—"}</code></td>
                <td>{num(a.proven)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shards.some(([, s]) => s.distinctRoots > 0) && (
        <table data-table="votes">
          <thead><tr><th>shard</th><th>root</th><th>votes</th></tr></thead>
          <tbody>
            {shards.flatMap(([, s]) =>
              Array.from({ length: Math.min(s.distinctRoots, MAX_SLOTS_PER_SHARD) }, (_, i) => (
                <tr><td>{s.index}</td><td><code>{hex(s.roots[i])}</code></td><td>{s.votes[i]}</td></tr>
              )),
            )}
          </tbody>
        </table>
      )}
      {job.mode.spotCheck && (
        <>
          <h2>Spot-check samples</h2>
          {samples.length === 0 ? (
            <Notice kind="empty">No sample proven yet.</Notice>
          ) : (
            <table data-table="samples">
              <thead><tr><th>slot</th><th>sample</th><th>result</th><th>transaction</th></tr></thead>
              <tbody>
                {samples.map((e) => (
                  <tr><td>{e.data.shardIndex}/{e.data.replica}</td><td>{e.data.sample}</td><td>{e.name === "sampleProven" ? "proven" : "failed"}</td><td><Signature value={e.signature} /></td></tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      <h2>Results</h2>
      <Results job={address} paid={paidBy} />
    </>
  );
}

/** Where each paid shard's bytes can be fetched: the endpoints of the providers paid for it. */
function Results({ job, paid }: { job: string; paid: ChainEvent[] }) {
  const { view } = useSession();
  const links = paid.flatMap((e) => {
    const provider = view.providers.get(e.data.provider.toBase58());
    const url = provider && resultUrl(provider.endpoint, job, e.data.shardIndex);
    return url ? [{ shard: e.data.shardIndex, url }] : [];
  });
  if (links.length === 0) return <Notice kind="empty">No paid provider publishes a results endpoint for this job yet.</Notice>;
  return (
    <ul data-list="results">
      {links.map((l) => <li>shard {l.shard}: <a href={l.url}>{l.url}</a></li>)}
    </ul>
  );
}

/** A job's events, newest first, each with its transaction. */
function Timeline({ events }: { events: ChainEvent[] }) {
  if (events.length === 0) return null;
  return (
    <>
      <h2>Events</h2>
      <table data-table="timeline">
        <thead><tr><th>time</th><th>slot</th><th>event</th><th>detail</th><th>provider</th><th>transaction</th></tr></thead>
        <tbody>
          {[...events].reverse().map((e) => (
            <tr data-event={e.name}>
              <td>{when(e.time)}</td>
              <td>{e.slot}</td>
              <td>{e.name}</td>
              <td>{eventDetail(e)}</td>
              <td>{e.data.provider ? <Address value={e.data.provider} to={`/providers/${e.data.provider.toBase58()}`} /> : ""}</td>
              <td><Signature value={e.signature} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
