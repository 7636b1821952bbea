// The dashboard's view of the chain: gpushare accounts of one network read over JSON-RPC
// (`getProgramAccounts`, filtered), kept live by websocket subscriptions (program accounts, the
// network's logs, the Clock sysvar), and the network's events read from transaction history. Every
// figure keeps where it came from: an account address or a transaction signature.
import { BorshCoder, EventParser, type Idl, type IdlAccounts, convertIdlToCamelCase, utils } from "@anchor-lang/core";
import { Connection, PublicKey, SYSVAR_CLOCK_PUBKEY, type GetProgramAccountsFilter } from "@solana/web3.js";
import { Buffer } from "buffer";
import idlJson from "../../../idl/gpushare.json";
import type { Gpushare } from "../../../target/types/gpushare";

/** The program's accounts as Anchor decodes them, typed from the IDL (`scripts/idl.py` generates the type). */
export type Accounts = IdlAccounts<Gpushare>;
export type NetworkAccount = Accounts["network"];
export type ProviderAccount = Accounts["provider"];
export type JobAccount = Accounts["job"];
export type ShardAccount = Accounts["shard"];
export type AssignmentAccount = Accounts["assignment"];
export type DelegationAccount = Accounts["delegation"];

/** The IDL with camelCase names, as Anchor's `Program` decodes accounts and events. */
const idl = convertIdlToCamelCase(idlJson as Idl);
/** The gpushare program id, from the IDL. */
export const PROGRAM_ID = new PublicKey(idl.address);
const coder = new BorshCoder(idl);
const parser = new EventParser(PROGRAM_ID, coder);

/** Account kinds of the program, as the camelCase IDL names them. */
export type Kind = "network" | "provider" | "job" | "shard" | "assignment" | "delegation" | "benchmark";
const KINDS: Kind[] = ["network", "provider", "job", "shard", "assignment", "delegation", "benchmark"];
const discriminator = (kind: Kind) => coder.accounts.accountDiscriminator(kind);
/** Offset of the `network` field in Provider and Job accounts (after the discriminator and one key). */
const NETWORK_FIELD = 8 + 32;
/** How many signatures of an address the history reads (the newest). */
export const HISTORY_LIMIT = 1000;
/** Delay after a transaction of the network before the accounts are listed again. */
const RELIST_AFTER_MS = 750;
/** Shortest time between two listings (each reads every shard and assignment of the program). */
const RELIST_MIN_GAP_MS = 5_000;
/** Longest time without a listing: closed accounts announce nothing to a subscription. */
const RELIST_EVERY_MS = 30_000;
/** Slots a closed account's marker is kept, so that a late notification cannot bring it back. */
const CLOSED_MARKER_SLOTS = 1_000;
/** Most events a log keeps; the oldest go first. */
const EVENTS_KEPT = 20_000;

/** A decoded account and its address. */
export interface Entry<T> {
  address: string;
  account: T;
}

/** An event the program logged, with the transaction it came from. */
export interface ChainEvent {
  name: string;
  data: any;
  signature: string;
  slot: number;
  /** Unix time of its block (history), or the chain's clock when it arrived (live); 0 if unknown. */
  time: number;
}

/** Decodes gpushare account data into its kind and fields, or null for anything else. */
export function decodeAccount(data: Uint8Array): { kind: Kind; account: any } | null {
  const bytes = Buffer.from(data);
  for (const kind of KINDS) {
    if (bytes.subarray(0, 8).equals(discriminator(kind))) {
      return { kind, account: coder.accounts.decode(kind, bytes) };
    }
  }
  return null;
}

/** The events in a transaction's log messages. */
export function eventsOf(logs: string[], signature: string, slot: number, time: number): ChainEvent[] {
  return Array.from(parser.parseLogs(logs), (e) => ({ name: e.name, data: e.data, signature, slot, time }));
}

/** `text` as a base-58 address, or what is wrong with it. */
export function readAddress(text: string): { key: string; error: null } | { key: null; error: string } {
  try {
    return { key: new PublicKey(text.trim()).toBase58(), error: null };
  } catch {
    return { key: null, error: `Not a valid Solana address: "${text}"` };
  }
}

/** Why the RPC node could not be used, in words for the page. */
export class RpcUnreachable extends Error {}

/** A connection to `rpcUrl` (websocket on `wsUrl`, by default the next port), or RpcUnreachable. */
export function connect(rpcUrl: string, wsUrl?: string): Connection {
  try {
    return new Connection(rpcUrl, { commitment: "confirmed", wsEndpoint: wsUrl || undefined });
  } catch (error) {
    throw new RpcUnreachable(`Not an RPC URL: "${rpcUrl}" (${(error as Error).message})`);
  }
}

/** Reads the events of the newest `HISTORY_LIMIT` transactions that mention `address`, oldest first. */
export async function history(connection: Connection, address: PublicKey): Promise<ChainEvent[]> {
  const signatures = await connection.getSignaturesForAddress(address, { limit: HISTORY_LIMIT }, "confirmed");
  const landed = signatures.filter((s) => !s.err).reverse();
  const events: ChainEvent[] = [];
  const CHUNK = 100;
  for (let i = 0; i < landed.length; i += CHUNK) {
    const part = landed.slice(i, i + CHUNK);
    const transactions = await connection.getTransactions(
      part.map((s) => s.signature),
      { commitment: "confirmed", maxSupportedTransactionVersion: 0 },
    );
    transactions.forEach((tx, j) => {
      const logs = tx?.meta?.logMessages;
      if (!tx || !logs) return;
      events.push(...eventsOf(logs, part[j].signature, tx.slot, tx.blockTime ?? part[j].blockTime ?? 0));
    });
  }
  return events;
}

/**
 * Subscribes to the events of transactions that mention `address`, stamped with chain time `now()`;
 * returns the unsubscribe.
 */
export function watchEvents(
  connection: Connection,
  address: PublicKey,
  now: () => number,
  onEvents: (events: ChainEvent[]) => void,
): () => void {
  const id = connection.onLogs(
    address,
    (logs, context) => {
      if (logs.err) return;
      onEvents(eventsOf(logs.logs, logs.signature, context.slot, now()));
    },
    "confirmed",
  );
  return () => void connection.removeOnLogsListener(id);
}

/** Events in slot order, each transaction once however often it is reported, at most `EVENTS_KEPT`. */
export class EventLog {
  readonly events: ChainEvent[] = [];
  private seen = new Set<string>();

  /** Adds the events of transactions not seen yet; true if any was added. */
  add(events: ChainEvent[]): boolean {
    const fresh = events.filter((e) => !this.seen.has(e.signature));
    if (fresh.length === 0) return false;
    const last = this.events.at(-1)?.slot ?? 0;
    this.events.push(...fresh);
    fresh.forEach((e) => this.seen.add(e.signature));
    if (fresh.some((e) => e.slot < last)) this.events.sort((a, b) => a.slot - b.slot);
    const over = this.events.length - EVENTS_KEPT;
    if (over > 0) this.events.splice(0, over).forEach((e) => this.seen.delete(e.signature));
    return true;
  }
}

/**
 * The open accounts of one kind, each with the slot it was read at. An update older than what is
 * held is ignored; a closed account keeps a marker for a while, so that a late notification about it
 * does not bring it back.
 */
export class Table<T> {
  readonly live = new Map<string, T>();
  private slots = new Map<string, number>();

  /** Holds `account` as read at `slot`, unless a newer read (or closing) is held; true if held. */
  put(address: string, account: T, slot: number): boolean {
    if (slot < (this.slots.get(address) ?? -1)) return false;
    this.live.set(address, account);
    this.slots.set(address, slot);
    return true;
  }

  /** Applies a complete listing read at `slot`: its accounts, and the closing of held ones it lacks that were read before it. */
  replace(entries: Entry<T>[], slot: number): void {
    const listed = new Set<string>();
    for (const { address, account } of entries) {
      listed.add(address);
      this.put(address, account, slot);
    }
    for (const [address, held] of this.slots) {
      if (this.live.has(address) && !listed.has(address) && held < slot) {
        this.live.delete(address);
        this.slots.set(address, slot);
      } else if (!this.live.has(address) && held < slot - CLOSED_MARKER_SLOTS) {
        this.slots.delete(address);
      }
    }
  }
}

/** The figures of one network, live. */
export class NetworkView {
  readonly network: Entry<NetworkAccount>;
  decimals = 0;
  private tables = {
    provider: new Table<ProviderAccount>(),
    job: new Table<JobAccount>(),
    shard: new Table<ShardAccount>(),
    assignment: new Table<AssignmentAccount>(),
    delegation: new Table<DelegationAccount>(),
  };
  private log = new EventLog();
  private networkSlot = 0;
  /** Chain time (the Clock sysvar's unix timestamp) and slot. */
  now = 0;
  slot = 0;
  private historyProblem: string | null = null;
  private listingProblem: string | null = null;
  private listeners = new Set<() => void>();
  private stops: (() => void)[] = [];
  private relist: ReturnType<typeof setTimeout> | undefined;
  private listing = false;
  private listAgain = false;
  private listedAt = 0;

  private constructor(
    readonly connection: Connection,
    network: Entry<NetworkAccount>,
  ) {
    this.network = network;
  }

  get providers(): Map<string, ProviderAccount> {
    return this.tables.provider.live;
  }
  get jobs(): Map<string, JobAccount> {
    return this.tables.job.live;
  }
  get shards(): Map<string, ShardAccount> {
    return this.tables.shard.live;
  }
  get assignments(): Map<string, AssignmentAccount> {
    return this.tables.assignment.live;
  }
  get delegations(): Map<string, DelegationAccount> {
    return this.tables.delegation.live;
  }
  /** The network's events (the newest `HISTORY_LIMIT` transactions, then live ones), oldest first. */
  get events(): ChainEvent[] {
    return this.log.events;
  }

  /** Lists the networks the program hosts on the node, or RpcUnreachable. */
  static async networks(connection: Connection): Promise<Entry<NetworkAccount>[]> {
    let accounts;
    try {
      accounts = await connection.getProgramAccounts(PROGRAM_ID, { filters: [kindFilter("network")] });
    } catch (error) {
      throw new RpcUnreachable(`Cannot reach the RPC node at ${connection.rpcEndpoint}: ${(error as Error).message}`);
    }
    return accounts.map((a) => ({ address: a.pubkey.toBase58(), account: coder.accounts.decode("network", a.account.data) }));
  }

  /**
   * Follows `network`: subscribes first, so that nothing landing meanwhile is missed, then lists its
   * accounts and reads its history (best effort: a node that refuses it leaves the charts empty).
   */
  static async open(connection: Connection, network: Entry<NetworkAccount>): Promise<NetworkView> {
    const view = new NetworkView(connection, network);
    view.follow();
    const mint = await connection.getParsedAccountInfo(network.account.mint);
    const parsed = mint.value?.data;
    view.decimals = parsed && "parsed" in parsed ? parsed.parsed.info.decimals : 0;
    await view.list();
    try {
      view.log.add(await history(connection, new PublicKey(network.address)));
    } catch (error) {
      view.historyProblem = `The network's history could not be read (charts and closed jobs are missing): ${(error as Error).message}`;
    }
    return view;
  }

  /** Calls `listener` after every change; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops every subscription and timer. */
  close(): void {
    clearTimeout(this.relist);
    this.stops.forEach((stop) => stop());
    this.listeners.clear();
  }

  /** What could not be read: the history, or the last listing (until the next one succeeds). */
  get problem(): string | null {
    return [this.historyProblem, this.listingProblem].filter(Boolean).join(" ") || null;
  }

  /** The network's parameters. */
  get params(): NetworkAccount["params"] {
    return this.network.account.params;
  }

  private changed(): void {
    this.listeners.forEach((listener) => listener());
  }

  private async list(): Promise<void> {
    const network = new PublicKey(this.network.address);
    const byNetwork = { memcmp: { offset: NETWORK_FIELD, bytes: network.toBase58() } };
    const [own, providers, jobs, shards, assignments, delegations, clock] = await Promise.all([
      this.connection.getAccountInfoAndContext(network, "confirmed"),
      this.read<ProviderAccount>("provider", byNetwork),
      this.read<JobAccount>("job", byNetwork),
      this.read<ShardAccount>("shard"),
      this.read<AssignmentAccount>("assignment"),
      this.read<DelegationAccount>("delegation"),
      this.connection.getAccountInfoAndContext(SYSVAR_CLOCK_PUBKEY),
    ]);
    const decoded = own.value && decodeAccount(own.value.data);
    if (decoded?.kind === "network") this.putNetwork(decoded.account, own.context.slot);
    this.tables.provider.replace(providers.entries, providers.slot);
    this.tables.job.replace(jobs.entries, jobs.slot);
    const ofJob = <T extends { job: PublicKey }>(e: Entry<T>) => this.jobs.has(e.account.job.toBase58());
    this.tables.shard.replace(shards.entries.filter(ofJob), shards.slot);
    this.tables.assignment.replace(assignments.entries.filter(ofJob), assignments.slot);
    this.tables.delegation.replace(
      delegations.entries.filter((e) => this.providers.has(e.account.provider.toBase58())),
      delegations.slot,
    );
    if (clock.value) this.tick(clock.value.data, clock.context.slot);
  }

  private async read<T>(kind: Kind, filter?: GetProgramAccountsFilter): Promise<{ entries: Entry<T>[]; slot: number }> {
    const filters = filter ? [kindFilter(kind), filter] : [kindFilter(kind)];
    const { context, value } = await this.connection.getProgramAccounts(PROGRAM_ID, {
      filters,
      commitment: "confirmed",
      withContext: true,
    });
    const entries = value.map((a) => ({ address: a.pubkey.toBase58(), account: coder.accounts.decode(kind, a.account.data) }));
    return { entries, slot: context.slot };
  }

  private putNetwork(account: NetworkAccount, slot: number): void {
    if (slot < this.networkSlot) return;
    this.network.account = account;
    this.networkSlot = slot;
  }

  private tick(clock: Uint8Array, slot: number): void {
    const second = Number(Buffer.from(clock).readBigInt64LE(32));
    this.slot = Math.max(this.slot, slot);
    if (second > this.now) {
      this.now = second;
      this.changed();
    }
  }

  private follow(): void {
    const network = new PublicKey(this.network.address);
    const clock = this.connection.onAccountChange(
      SYSVAR_CLOCK_PUBKEY,
      (info, context) => this.tick(info.data, context.slot),
      "confirmed",
    );
    const accounts = this.connection.onProgramAccountChange(
      PROGRAM_ID,
      (keyed, context) => this.apply(keyed.accountId.toBase58(), keyed.accountInfo.data, context.slot),
      "confirmed",
    );
    const every = setInterval(() => this.requestListing(0), RELIST_EVERY_MS);
    this.stops.push(
      () => void this.connection.removeAccountChangeListener(clock),
      () => void this.connection.removeProgramAccountChangeListener(accounts),
      () => clearInterval(every),
      watchEvents(this.connection, network, () => this.now, (events) => {
        if (this.log.add(events)) this.changed();
        this.requestListing(RELIST_AFTER_MS);
      }),
    );
  }

  private apply(address: string, data: Uint8Array, slot: number): void {
    const decoded = decodeAccount(data);
    if (!decoded) return;
    const { kind, account } = decoded;
    const held =
      (kind === "network" && address === this.network.address && (this.putNetwork(account, slot), true)) ||
      ((kind === "provider" || kind === "job") &&
        account.network.toBase58() === this.network.address &&
        this.tables[kind].put(address, account, slot)) ||
      ((kind === "shard" || kind === "assignment") &&
        this.jobs.has(account.job.toBase58()) &&
        this.tables[kind].put(address, account, slot)) ||
      (kind === "delegation" &&
        this.providers.has(account.provider.toBase58()) &&
        this.tables.delegation.put(address, account, slot));
    if (held) this.changed();
  }

  /**
   * Lists the accounts again after `delayMs`, unless a listing is already due: one listing at a time,
   * at least `RELIST_MIN_GAP_MS` apart, so that a busy network is not listed on every transaction.
   */
  private requestListing(delayMs: number): void {
    if (this.relist !== undefined) return;
    const wait = Math.max(delayMs, this.listedAt + RELIST_MIN_GAP_MS - Date.now());
    this.relist = setTimeout(() => {
      this.relist = undefined;
      if (this.listing) {
        this.listAgain = true;
        return;
      }
      this.listing = true;
      this.list()
        .then(
          () => (this.listingProblem = null),
          (error) => (this.listingProblem = `Listing the network's accounts failed: ${(error as Error).message}`),
        )
        .finally(() => {
          this.listing = false;
          this.listedAt = Date.now();
          this.changed();
          if (this.listAgain) {
            this.listAgain = false;
            this.requestListing(RELIST_AFTER_MS);
          }
        });
    }, wait);
  }
}

function kindFilter(kind: Kind): GetProgramAccountsFilter {
  return { memcmp: { offset: 0, bytes: utils.bytes.bs58.encode(discriminator(kind)) } };
}
