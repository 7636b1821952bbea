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
/** Quiet time after the network's last transaction before the accounts are listed again. */
const RELIST_DEBOUNCE_MS = 750;
/** Listing again even without transactions: closed accounts announce nothing to a subscription. */
const RELIST_EVERY_MS = 30_000;

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
  /** Unix time of its block, or when it arrived over the websocket. */
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

/** Subscribes to the events of transactions that mention `address`; returns the unsubscribe. */
export function watchEvents(
  connection: Connection,
  address: PublicKey,
  onEvents: (events: ChainEvent[]) => void,
): () => void {
  const id = connection.onLogs(
    address,
    (logs, context) => {
      if (logs.err) return;
      onEvents(eventsOf(logs.logs, logs.signature, context.slot, Date.now() / 1000));
    },
    "confirmed",
  );
  return () => void connection.removeOnLogsListener(id);
}

/** The figures of one network, live. */
export class NetworkView {
  readonly network: Entry<NetworkAccount>;
  decimals = 0;
  providers = new Map<string, ProviderAccount>();
  jobs = new Map<string, JobAccount>();
  shards = new Map<string, ShardAccount>();
  assignments = new Map<string, AssignmentAccount>();
  delegations = new Map<string, DelegationAccount>();
  /** The network's events, oldest first. */
  events: ChainEvent[] = [];
  /** Chain time (the Clock sysvar's unix timestamp) and slot. */
  now = 0;
  slot = 0;
  /** Set when a live update or a listing failed; cleared by the next success. */
  problem: string | null = null;
  private listeners = new Set<() => void>();
  private stops: (() => void)[] = [];
  private relist: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    readonly connection: Connection,
    network: Entry<NetworkAccount>,
  ) {
    this.network = network;
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

  /** Reads network `address` with its accounts and history, and starts following it. */
  static async open(connection: Connection, network: Entry<NetworkAccount>): Promise<NetworkView> {
    const view = new NetworkView(connection, network);
    const mint = await connection.getParsedAccountInfo(network.account.mint);
    const parsed = mint.value?.data;
    view.decimals = parsed && "parsed" in parsed ? parsed.parsed.info.decimals : 0;
    await view.list();
    view.events = await history(connection, new PublicKey(network.address));
    view.follow();
    return view;
  }

  /** Calls `listener` after every change; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops every subscription. */
  close(): void {
    clearTimeout(this.relist);
    this.stops.forEach((stop) => stop());
    this.listeners.clear();
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
    const [networks, providers, jobs, shards, assignments, delegations, clock] = await Promise.all([
      this.connection.getAccountInfo(network, "confirmed"),
      this.read<ProviderAccount>("provider", byNetwork),
      this.read<JobAccount>("job", byNetwork),
      this.read<ShardAccount>("shard"),
      this.read<AssignmentAccount>("assignment"),
      this.read<DelegationAccount>("delegation"),
      this.connection.getAccountInfoAndContext(SYSVAR_CLOCK_PUBKEY),
    ]);
    const own = networks && decodeAccount(networks.data);
    if (own?.kind === "network") this.network.account = own.account;
    this.providers = new Map(providers.map((e) => [e.address, e.account]));
    this.jobs = new Map(jobs.map((e) => [e.address, e.account]));
    this.shards = new Map(shards.filter((e) => this.jobs.has(e.account.job.toBase58())).map((e) => [e.address, e.account]));
    this.assignments = new Map(
      assignments.filter((e) => this.jobs.has(e.account.job.toBase58())).map((e) => [e.address, e.account]),
    );
    this.delegations = new Map(
      delegations.filter((e) => this.providers.has(e.account.provider.toBase58())).map((e) => [e.address, e.account]),
    );
    if (clock.value) this.tick(clock.value.data, clock.context.slot);
  }

  private async read<T>(kind: Kind, filter?: GetProgramAccountsFilter): Promise<Entry<T>[]> {
    const filters = filter ? [kindFilter(kind), filter] : [kindFilter(kind)];
    const accounts = await this.connection.getProgramAccounts(PROGRAM_ID, { filters, commitment: "confirmed" });
    return accounts.map((a) => ({ address: a.pubkey.toBase58(), account: coder.accounts.decode(kind, a.account.data) }));
  }

  private tick(clock: Uint8Array, slot: number): void {
    const second = Number(Buffer.from(clock).readBigInt64LE(32));
    this.slot = slot;
    if (second !== this.now) {
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
      (keyed) => this.apply(keyed.accountId.toBase58(), keyed.accountInfo.data),
      "confirmed",
    );
    const every = setInterval(() => this.scheduleRelist(), RELIST_EVERY_MS);
    this.stops.push(
      () => void this.connection.removeAccountChangeListener(clock),
      () => void this.connection.removeProgramAccountChangeListener(accounts),
      () => clearInterval(every),
      watchEvents(this.connection, network, (events) => {
        this.events.push(...events);
        this.changed();
        this.scheduleRelist();
      }),
    );
  }

  private apply(address: string, data: Uint8Array): void {
    const decoded = decodeAccount(data);
    if (!decoded) return;
    const { kind, account } = decoded;
    const mine =
      (kind === "network" && address === this.network.address) ||
      ((kind === "provider" || kind === "job") && account.network.toBase58() === this.network.address) ||
      ((kind === "shard" || kind === "assignment") && this.jobs.has(account.job.toBase58())) ||
      (kind === "delegation" && this.providers.has(account.provider.toBase58()));
    if (!mine) return;
    if (kind === "network") this.network.account = account;
    const maps: Partial<Record<Kind, Map<string, any>>> = {
      provider: this.providers,
      job: this.jobs,
      shard: this.shards,
      assignment: this.assignments,
      delegation: this.delegations,
    };
    maps[kind]?.set(address, account);
    this.changed();
  }

  private scheduleRelist(): void {
    clearTimeout(this.relist);
    this.relist = setTimeout(() => {
      this.list().then(
        () => {
          this.problem = null;
          this.changed();
        },
        (error) => {
          this.problem = `Listing the network's accounts failed: ${(error as Error).message}`;
          this.changed();
        },
      );
    }, RELIST_DEBOUNCE_MS);
  }
}

function kindFilter(kind: Kind): GetProgramAccountsFilter {
  return { memcmp: { offset: 0, bytes: utils.bytes.bs58.encode(discriminator(kind)) } };
}
