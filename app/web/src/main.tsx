// The dashboard's shell: settings from the page's query (`rpc`, `ws`, `network`), the connection and
// the network it reads, navigation, and the pages behind hash routes.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { Link, Route, Router, Switch, useLocation } from "wouter-preact";
import { useHashLocation } from "wouter-preact/use-hash-location";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { connect, type Entry, type NetworkAccount, NetworkView, RpcUnreachable } from "./chain";
import { JobPage, JobsPage } from "./pages/jobs";
import { NetworkPage } from "./pages/network";
import { ProviderPage, ProvidersPage } from "./pages/providers";
import { StakerPage, StakersPage } from "./pages/stakers";
import { Guard, Notice, SessionContext, when } from "./ui";

/** The RPC a dashboard opened without settings reads: the local validator. */
const DEFAULT_RPC = "http://127.0.0.1:8899";

/** What the page's query asks for. */
interface Settings {
  rpc: string;
  ws: string;
  network: string;
}

function readSettings(): Settings {
  const query = new URLSearchParams(location.search);
  return { rpc: query.get("rpc") || DEFAULT_RPC, ws: query.get("ws") || "", network: query.get("network") || "" };
}

/** Opens the page again with `changes` in its query, keeping the route. */
function reopen(changes: Partial<Settings>): void {
  const query = new URLSearchParams(location.search);
  for (const [name, value] of Object.entries(changes)) {
    if (value) query.set(name, value);
    else query.delete(name);
  }
  location.search = query.toString();
}

type State =
  | { kind: "loading" }
  | { kind: "failed"; message: string }
  | { kind: "choose"; networks: Entry<NetworkAccount>[] }
  | { kind: "ready"; view: NetworkView; networks: Entry<NetworkAccount>[] };

/** Connects, picks the network (the query's, or the only one), and opens it. */
function useNetwork(settings: Settings): State {
  const [state, setState] = useState<State>({ kind: "loading" });
  const [, setVersion] = useState(0);
  useEffect(() => {
    let view: NetworkView | undefined;
    let cancelled = false;
    (async () => {
      const connection = connect(settings.rpc, settings.ws);
      const networks = await NetworkView.networks(connection);
      if (networks.length === 0) throw new Error(`No gpushare network on the RPC node at ${settings.rpc}.`);
      const chosen = settings.network
        ? networks.find((n) => n.address === settings.network)
        : networks.length === 1
          ? networks[0]
          : undefined;
      if (settings.network && !chosen) {
        throw new Error(`No gpushare network at ${settings.network} on the RPC node at ${settings.rpc}.`);
      }
      if (!chosen) return setState({ kind: "choose", networks });
      view = await NetworkView.open(connection, chosen);
      if (cancelled) return view.close();
      view.onChange(() => setVersion((v) => v + 1));
      setState({ kind: "ready", view, networks });
    })().catch((error) =>
      setState({
        kind: "failed",
        message: error instanceof RpcUnreachable ? error.message : `Reading the chain failed: ${(error as Error).message}`,
      }),
    );
    return () => {
      cancelled = true;
      view?.close();
    };
  }, [settings.rpc, settings.ws, settings.network]);
  return state;
}

function SettingsBar({ settings, networks }: { settings: Settings; networks: Entry<NetworkAccount>[] }) {
  const [rpc, setRpc] = useState(settings.rpc);
  return (
    <form
      class="settings"
      onSubmit={(e) => {
        e.preventDefault();
        reopen({ rpc: rpc.trim(), ws: "", network: "" });
      }}
    >
      <label>
        RPC <input name="rpc" size={36} value={rpc} onInput={(e) => setRpc(e.currentTarget.value)} />
      </label>
      <button type="submit">Connect</button>
      {networks.length > 1 && (
        <label>
          network{" "}
          <select name="network" value={settings.network} onChange={(e) => reopen({ network: e.currentTarget.value })}>
            <option value="">choose…</option>
            {networks.map((n) => <option value={n.address}>{n.address}</option>)}
          </select>
        </label>
      )}
    </form>
  );
}

function App() {
  const [settings] = useState(readSettings);
  const [location] = useLocation();
  const state = useNetwork(settings);
  const networks = state.kind === "ready" || state.kind === "choose" ? state.networks : [];
  return (
    <>
      <header>
        <strong>gpushare</strong>
        <nav>
          <Link href="/">Network</Link>
          <Link href="/jobs">Jobs</Link>
          <Link href="/providers">Providers</Link>
          <Link href="/stakers">Stakers</Link>
        </nav>
        <SettingsBar settings={settings} networks={networks} />
      </header>
      <main>
        {state.kind === "loading" && <Notice kind="empty">Reading the chain at {settings.rpc}…</Notice>}
        {state.kind === "failed" && <Notice kind="error">{state.message}</Notice>}
        {state.kind === "choose" && (
          <Notice kind="empty">This RPC node hosts {state.networks.length} gpushare networks: choose one above.</Notice>
        )}
        {state.kind === "ready" && (
          <SessionContext.Provider value={{ view: state.view, rpcUrl: settings.rpc }}>
            {state.view.problem && <Notice kind="error">{state.view.problem}</Notice>}
            <Guard key={location}>
            <Switch>
              <Route path="/" component={NetworkPage} />
              <Route path="/jobs" component={JobsPage} />
              <Route path="/jobs/:address">{(params) => <JobPage address={params.address} />}</Route>
              <Route path="/providers" component={ProvidersPage} />
              <Route path="/providers/:address">{(params) => <ProviderPage address={params.address} />}</Route>
              <Route path="/stakers" component={StakersPage} />
              <Route path="/stakers/:address">{(params) => <StakerPage address={params.address} />}</Route>
              <Route><Notice kind="error">No such page.</Notice></Route>
            </Switch>
            </Guard>
            <footer data-slot={state.view.slot}>
              network <code>{state.view.network.address}</code> at {settings.rpc}, slot {state.view.slot}, chain time {when(state.view.now)}
            </footer>
          </SessionContext.Provider>
        )}
      </main>
    </>
  );
}

const root = document.getElementById("app");
if (root) {
  render(
    <Router hook={useHashLocation}>
      <App />
    </Router>,
    root,
  );
}
