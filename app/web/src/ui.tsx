// Small pieces every page uses: addresses and signatures with where they come from, token amounts,
// tables, figures and time charts (uPlot).
import { createContext, type ComponentChildren } from "preact";
import { useContext, useEffect, useErrorBoundary, useRef } from "preact/hooks";
import { Link } from "wouter-preact";
import uPlot from "uplot";
import type { NetworkView } from "./chain";
import { type Big, type Point, bucketed, cumulative, formatTokens } from "./model";

/** The network the pages show and the RPC URL it is read from. */
export interface Session {
  view: NetworkView;
  rpcUrl: string;
}
export const SessionContext = createContext<Session | null>(null);

/** The current session (only under a loaded network). */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("no network loaded");
  return session;
}

/**
 * The Solana explorer's page for `path` on the cluster `rpcUrl` serves. Only a local node's URL is
 * handed to the explorer (as a custom cluster): a remote URL may carry an API key.
 */
export function explorer(rpcUrl: string, path: string): string {
  let cluster = "";
  try {
    const { hostname } = new URL(rpcUrl);
    if (hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]") {
      cluster = `?cluster=custom&customUrl=${encodeURIComponent(rpcUrl)}`;
    } else if (hostname.includes("devnet")) {
      cluster = "?cluster=devnet";
    } else if (hostname.includes("testnet")) {
      cluster = "?cluster=testnet";
    }
  } catch {
    cluster = "";
  }
  return `https://explorer.solana.com/${path}${cluster}`;
}

/** Draws `children`, or says why the chain's data could not be drawn (a page, not the whole app, fails). */
export function Guard({ children }: { children: ComponentChildren }) {
  const [error] = useErrorBoundary();
  if (error) {
    return <Notice kind="error">This page could not be drawn from the chain's data: {String((error as Error).message ?? error)}</Notice>;
  }
  return <>{children}</>;
}

/** An address shortened for reading, whole in its title and data attribute, linking to `to` or the explorer. */
export function Address({ value, to }: { value: { toBase58(): string } | string; to?: string }) {
  const { rpcUrl } = useSession();
  const full = typeof value === "string" ? value : value.toBase58();
  const label = `${full.slice(0, 4)}…${full.slice(-4)}`;
  return to ? (
    <Link href={to} class="address" title={full} data-address={full}>
      {label}
    </Link>
  ) : (
    <a class="address" href={explorer(rpcUrl, `address/${full}`)} title={full} data-address={full} target="_blank" rel="noreferrer">
      {label}
    </a>
  );
}

/** A transaction signature, linking to the explorer. */
export function Signature({ value }: { value: string }) {
  const { rpcUrl } = useSession();
  return (
    <a class="signature" href={explorer(rpcUrl, `tx/${value}`)} title={value} data-signature={value} target="_blank" rel="noreferrer">
      {value.slice(0, 8)}…
    </a>
  );
}

/** Where a block's figures come from: the account they are read from. */
export function Source({ account }: { account: string }) {
  return (
    <p class="source">
      read from account <code data-source={account}>{account}</code>
    </p>
  );
}

/** A token amount in the network's mint units. */
export function Tokens({ amount }: { amount: Big }) {
  const { view } = useSession();
  return <span class="tokens">{formatTokens(amount, view.decimals)}</span>;
}

/** A labelled figure; `name` is its test and screenshot handle. */
export function Figure({ name, label, children }: { name: string; label: string; children: ComponentChildren }) {
  return (
    <div class="figure" data-figure={name}>
      <div class="label">{label}</div>
      <div class="value">{children}</div>
    </div>
  );
}

/** A page's heading and body. */
export function Page({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="page">
      <h1>{title}</h1>
      {children}
    </section>
  );
}

/** A message in place of content: nothing to show, or what went wrong. */
export function Notice({ kind, children }: { kind: "empty" | "error"; children: ComponentChildren }) {
  return (
    <p class={`notice ${kind}`} role={kind === "error" ? "alert" : undefined}>
      {children}
    </p>
  );
}

/** Unix seconds as local date and time. */
export const when = (seconds: number): string => (seconds > 0 ? new Date(seconds * 1000).toLocaleString() : "—");

/** A time chart of one or more series over `times` (unix seconds). */
export function TimeChart({
  name,
  title,
  times,
  series,
}: {
  name: string;
  title: string;
  times: number[];
  series: { label: string; values: number[]; color: string }[];
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!box.current || times.length === 0) return;
    const plot = new uPlot(
      {
        title,
        width: Math.max(320, box.current.clientWidth),
        height: 220,
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2 }))],
        scales: { x: { time: true } },
      },
      [times, ...series.map((s) => s.values)],
      box.current,
    );
    return () => plot.destroy();
  }, [title, JSON.stringify(times), JSON.stringify(series)]);
  return (
    <div class="chart" data-chart={name}>
      {times.length === 0 ? <Notice kind="empty">{title}: nothing yet</Notice> : <div ref={box} />}
    </div>
  );
}

/** Seconds per bucket of the time charts. */
export const BUCKET_SECONDS = 60;

/** Running totals over time of token amounts (base units), in whole tokens of the network's mint. */
export function CumulativeTokens({
  name,
  title,
  series,
}: {
  name: string;
  title: string;
  series: { label: string; points: Point[]; color: string }[];
}) {
  const { view } = useSession();
  const { times, values } = bucketed(
    series.map((s) => s.points),
    BUCKET_SECONDS,
  );
  const scale = 10 ** view.decimals;
  return (
    <TimeChart
      name={name}
      title={title}
      times={times}
      series={series.map((s, i) => ({ label: s.label, color: s.color, values: cumulative(values[i]).map((v) => v / scale) }))}
    />
  );
}

