// Shared set-up for the TypeScript suite: the Anchor client for gpushare, a fresh network per test
// (its own mint), funded wallets, PDA helpers, and error and event helpers. Works against any
// validator that hosts the program: our native localnet or `anchor test`'s solana-test-validator.
import * as anchor from "@anchor-lang/core";
import { BN, Program } from "@anchor-lang/core";
import {
  createAccount,
  createMint,
  getAccount,
  getMint,
  mintTo,
  TOKEN_PROGRAM_ID,
} from "@solana/spl-token";
import {
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  PublicKey,
  SystemProgram,
  Transaction,
  sendAndConfirmTransaction,
} from "@solana/web3.js";
import { createHash, randomBytes } from "crypto";
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import type { Gpushare } from "../target/types/gpushare";
import { BudgetedProvider } from "../migrations/compute-budget";

const idl = JSON.parse(
  fs.readFileSync(path.join(__dirname, "..", "target", "idl", "gpushare.json"), "utf8"),
);

const fromEnv = anchor.AnchorProvider.env();
/** The workspace provider, reading and confirming at `confirmed` so reads see every landed write, and
 * requesting each transaction's compute units as the Rust client does. */
export const provider = new BudgetedProvider(
  new Connection(fromEnv.connection.rpcEndpoint, "confirmed"),
  fromEnv.wallet,
  { commitment: "confirmed", preflightCommitment: "confirmed" },
  new PublicKey(idl.address),
);
anchor.setProvider(provider);
export const program = new Program<Gpushare>(idl, provider);
export const connection = provider.connection;
const payer = (provider.wallet as anchor.Wallet).payer;

/** Parameters for test networks: windows as short as the program allows. */
export const PARAMS = {
  feeBps: 250,
  minStake: new BN(1_000_000),
  stakePerClaim: new BN(250_000),
  unbondingPeriod: new BN(2),
  maxClaimTimeout: new BN(3_600),
  revealWindow: new BN(10),
  fraudSlashBps: 5_000,
  missSlashBps: 500,
  maxShards: 64,
  maxReplicas: 5,
  updateDelay: new BN(0),
  maxCommissionBps: 5_000,
  commissionDelay: new BN(0),
  minDelegation: new BN(100_000),
  rewardVesting: new BN(0),
  stakeWarmup: new BN(0),
  benchmarkMillis: 5,
  benchmarkFee: new BN(10_000_000),
  proofValiditySlots: new BN(216_000),
};
export const WALLET_TOKENS = 1_000_000_000n;
export const COMMIT_DOMAIN = Buffer.from("gpushare:commit:v1");

const seed = (text: string) => Buffer.from(text);
const u16 = (n: number) => new BN(n).toArrayLike(Buffer, "le", 2);
const pda = (seeds: Buffer[]) => PublicKey.findProgramAddressSync(seeds, program.programId)[0];

export const networkAddress = (mint: PublicKey) => pda([seed("network"), mint.toBuffer()]);
export const feeVaultAddress = (network: PublicKey) => pda([seed("fees"), network.toBuffer()]);
export const providerAddress = (network: PublicKey, authority: PublicKey) =>
  pda([seed("provider"), network.toBuffer(), authority.toBuffer()]);
export const stakeVaultAddress = (providerAccount: PublicKey) => pda([seed("stake"), providerAccount.toBuffer()]);
export const rewardVaultAddress = (providerAccount: PublicKey) => pda([seed("rewards"), providerAccount.toBuffer()]);
export const benchmarkAddress = (providerAccount: PublicKey) => pda([seed("benchmark"), providerAccount.toBuffer()]);
export const delegationAddress = (providerAccount: PublicKey, delegator: PublicKey) =>
  pda([seed("delegation"), providerAccount.toBuffer(), delegator.toBuffer()]);
export const jobAddress = (network: PublicKey, client: PublicKey, jobId: BN) =>
  pda([seed("job"), network.toBuffer(), client.toBuffer(), jobId.toArrayLike(Buffer, "le", 8)]);
export const escrowVaultAddress = (job: PublicKey) => pda([seed("escrow"), job.toBuffer()]);
export const shardAddress = (job: PublicKey, index: number) => pda([seed("shard"), job.toBuffer(), u16(index)]);
export const assignmentAddress = (shard: PublicKey, replica: number) =>
  pda([seed("assignment"), shard.toBuffer(), Buffer.from([replica])]);

/** `sha256(domain ‖ root ‖ provider ‖ salt)`, as the program checks it. */
export function commitment(root: Buffer, providerWallet: PublicKey, salt: Buffer): number[] {
  return [...createHash("sha256").update(COMMIT_DOMAIN).update(root).update(providerWallet.toBuffer()).update(salt).digest()];
}

export interface Wallet {
  key: Keypair;
  token: PublicKey;
}

export interface Provider extends Wallet {
  account: PublicKey;
  vault: PublicKey;
  salt: Buffer;
}

export interface Job {
  address: PublicKey;
  vault: PublicKey;
  id: BN;
}

/** A network of its own: fresh mint, treasury and `initialize_network`. */
export class Network {
  readonly address: PublicKey;
  private constructor(
    readonly mint: PublicKey,
    readonly treasury: PublicKey,
    readonly tokenProgram: PublicKey,
  ) {
    this.address = networkAddress(mint);
  }

  static async create(tokenProgram: PublicKey = TOKEN_PROGRAM_ID): Promise<Network> {
    const mint = await createMint(connection, payer, payer.publicKey, null, 6, Keypair.generate(), undefined, tokenProgram);
    const treasury = await createAccount(connection, payer, mint, payer.publicKey, Keypair.generate(), undefined, tokenProgram);
    const network = new Network(mint, treasury, tokenProgram);
    await program.methods
      .initializeNetwork(PARAMS)
      .accounts({
        authority: payer.publicKey,
        mint,
        treasury,
        feeVault: feeVaultAddress(networkAddress(mint)),
        tokenProgram,
      } as any)
      .rpc();
    return network;
  }

  /** A wallet with SOL for fees and rent, and a token account holding `tokens`. */
  async wallet(tokens: bigint = WALLET_TOKENS): Promise<Wallet> {
    const key = Keypair.generate();
    const fund = new Transaction().add(
      SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: key.publicKey, lamports: LAMPORTS_PER_SOL }),
    );
    await sendAndConfirmTransaction(connection, fund, [payer], { commitment: "confirmed" });
    const token = await createAccount(connection, payer, this.mint, key.publicKey, Keypair.generate(), undefined, this.tokenProgram);
    if (tokens > 0n) {
      await mintTo(connection, payer, this.mint, token, payer, tokens, [], undefined, this.tokenProgram);
    }
    return { key, token };
  }

  async provider(stake: number): Promise<Provider> {
    const wallet = await this.wallet();
    const account = providerAddress(this.address, wallet.key.publicKey);
    await program.methods
      .registerProvider(new BN(stake), { gpuModel: Array(32).fill(0), memoryMib: 0, throughputGops: new BN(0), devices: 0 })
      .accounts({
        authority: wallet.key.publicKey,
        network: this.address,
        mint: this.mint,
        authorityToken: wallet.token,
        tokenProgram: this.tokenProgram,
      } as any)
      .signers([wallet.key])
      .rpc();
    return { ...wallet, account, vault: stakeVaultAddress(account), salt: randomBytes(32) };
  }

  /** A seeded gemm_i8 quorum job. */
  job(client: Wallet, shards: number, replicas: number, q: number, price: number, claimTimeout = 600): Promise<Job> {
    const kernel = { gemmI8: { m: 64, n: 64, k: 64 } };
    return this.jobWith(client, kernel, randomBytes(32), shards, replicas, { quorum: { q } }, price, claimTimeout);
  }

  /** A seeded job of any kernel and verification mode, expiring `lifetime` seconds from now. */
  async jobWith(
    client: Wallet,
    kernel: object,
    seed: Buffer,
    shards: number,
    replicas: number,
    mode: object,
    price: number,
    claimTimeout = 600,
    minProvenMops = 0,
    lifetime = 86_400,
  ): Promise<Job> {
    const id = new BN(randomBytes(6).readUIntLE(0, 6));
    const now = await chainTime();
    await program.methods
      .createJob({
        jobId: id,
        kernel,
        input: { seed: [[...seed]] },
        private: null,
        shards,
        replicas,
        mode,
        price: new BN(price),
        claimTimeout: new BN(claimTimeout),
        expiresAt: new BN(now + lifetime),
        hardware: { minProvenMops: new BN(minProvenMops), maxProofAgeSlots: new BN(0) },
      } as any)
      .accounts({
        client: client.key.publicKey,
        network: this.address,
        mint: this.mint,
        clientToken: client.token,
        tokenProgram: this.tokenProgram,
      } as any)
      .signers([client.key])
      .rpc();
    const address = jobAddress(this.address, client.key.publicKey, id);
    return { address, vault: escrowVaultAddress(address), id };
  }

  /** The accounts a provider's steps on one slot name (Anchor ignores the ones an instruction lacks). */
  private slotAccounts(p: Provider, job: Job, shard: number, replica: number) {
    const shardKey = shardAddress(job.address, shard);
    return {
      authority: p.key.publicKey,
      network: this.address,
      job: job.address,
      shard: shardKey,
      assignment: assignmentAddress(shardKey, replica),
    };
  }

  claim(p: Provider, job: Job, shard: number, replica: number) {
    return program.methods
      .claim(shard, replica)
      .accounts(this.slotAccounts(p, job, shard, replica) as any)
      .signers([p.key])
      .rpc();
  }

  commit(p: Provider, job: Job, shard: number, replica: number, root: Buffer, salt: Buffer = p.salt, as: Provider = p) {
    return program.methods
      .commit(commitment(root, as.key.publicKey, salt))
      .accounts(this.slotAccounts(p, job, shard, replica) as any)
      .signers([p.key])
      .rpc();
  }

  reveal(p: Provider, job: Job, shard: number, replica: number, root: Buffer, salt: Buffer = p.salt) {
    return program.methods
      .reveal([...root], [...salt])
      .accounts(this.slotAccounts(p, job, shard, replica) as any)
      .signers([p.key])
      .rpc();
  }

  /** Proves spot-check samples: each `{ sample, witness: { leaf, path }, previous }`. */
  prove(p: Provider, job: Job, shard: number, replica: number, proofs: unknown[]) {
    return program.methods
      .prove(proofs as any)
      .accounts(this.slotAccounts(p, job, shard, replica) as any)
      .signers([p.key])
      .rpc();
  }

  settleShard(job: Job, shard: number) {
    return program.methods.settleShard().accounts({ job: job.address, shard: shardAddress(job.address, shard) } as any).rpc();
  }

  private outcomeAccounts(p: Provider, job: Job, shard: number, replica: number) {
    const shardKey = shardAddress(job.address, shard);
    return {
      network: this.address,
      mint: this.mint,
      job: job.address,
      shard: shardKey,
      assignment: assignmentAddress(shardKey, replica),
      provider: p.account,
      stakeVault: p.vault,
      escrowVault: job.vault,
      rewardVault: rewardVaultAddress(p.account),
      providerToken: p.token,
      rentReceiver: p.key.publicKey,
      tokenProgram: this.tokenProgram,
    };
  }

  /** `delegator` delegates `amount` to `p`. */
  delegate(delegator: Wallet, p: Provider, amount: number) {
    return program.methods
      .delegate(new BN(amount))
      .accounts({
        delegator: delegator.key.publicKey,
        network: this.address,
        mint: this.mint,
        provider: p.account,
        delegatorToken: delegator.token,
        tokenProgram: this.tokenProgram,
      } as any)
      .signers([delegator.key])
      .rpc();
  }

  undelegate(delegator: Wallet, p: Provider, amount: number | BN) {
    return program.methods
      .undelegate(new BN(amount.toString()))
      .accounts({
        delegator: delegator.key.publicKey,
        network: this.address,
        provider: p.account,
        delegation: delegationAddress(p.account, delegator.key.publicKey),
      } as any)
      .signers([delegator.key])
      .rpc();
  }

  private delegationPayout(delegator: Wallet, p: Provider) {
    return {
      delegator: delegator.key.publicKey,
      network: this.address,
      mint: this.mint,
      provider: p.account,
      delegation: delegationAddress(p.account, delegator.key.publicKey),
      rewardVault: rewardVaultAddress(p.account),
      delegatorToken: delegator.token,
      tokenProgram: this.tokenProgram,
    };
  }

  withdrawDelegation(delegator: Wallet, p: Provider) {
    return program.methods
      .withdrawDelegation()
      .accounts({ ...this.delegationPayout(delegator, p), stakeVault: p.vault } as any)
      .signers([delegator.key])
      .rpc();
  }

  claimRewards(delegator: Wallet, p: Provider) {
    return program.methods
      .claimRewards()
      .accounts(this.delegationPayout(delegator, p) as any)
      .signers([delegator.key])
      .rpc();
  }

  setCommission(p: Provider, commissionBps: number) {
    return program.methods
      .setCommission(commissionBps)
      .accounts({ authority: p.key.publicKey, network: this.address, provider: p.account } as any)
      .signers([p.key])
      .rpc();
  }

  settleAssignment(p: Provider, job: Job, shard: number, replica: number) {
    return program.methods.settleAssignment().accounts(this.outcomeAccounts(p, job, shard, replica) as any).rpc();
  }

  expireClaim(p: Provider, job: Job, shard: number, replica: number) {
    return program.methods.expireClaim().accounts(this.outcomeAccounts(p, job, shard, replica) as any).rpc();
  }

  /** Closes a shard, signed by the job's client (anyone may once the job expired). */
  async closeShard(client: Wallet, job: Job, shard: number) {
    const shardKey = shardAddress(job.address, shard);
    const state = await program.account.shard.fetch(shardKey);
    return program.methods
      .closeShard()
      .accounts({ job: job.address, shard: shardKey, rentReceiver: state.payer, closer: client.key.publicKey } as any)
      .signers([client.key])
      .rpc();
  }

  /** Closes the job (fees to the fee vault, the slashes it held burned), then collects the fee vault to the treasury. */
  async closeJob(client: Wallet, job: Job) {
    await program.methods
      .closeJob()
      .accounts({
        network: this.address,
        mint: this.mint,
        job: job.address,
        escrowVault: job.vault,
        client: client.key.publicKey,
        clientToken: client.token,
        feeVault: feeVaultAddress(this.address),
        tokenProgram: this.tokenProgram,
      } as any)
      .rpc();
    return program.methods
      .collectFees()
      .accounts({
        network: this.address,
        mint: this.mint,
        feeVault: feeVaultAddress(this.address),
        treasury: this.treasury,
        tokenProgram: this.tokenProgram,
      } as any)
      .rpc();
  }

  cancelJob(client: Wallet, job: Job) {
    return program.methods
      .cancelJob()
      .accounts({
        client: client.key.publicKey,
        network: this.address,
        mint: this.mint,
        job: job.address,
        escrowVault: job.vault,
        clientToken: client.token,
        tokenProgram: this.tokenProgram,
      } as any)
      .signers([client.key])
      .rpc();
  }

  async balance(tokenAccount: PublicKey): Promise<bigint> {
    return (await getAccount(connection, tokenAccount, "confirmed", this.tokenProgram)).amount;
  }

  /** The mint's supply: every wallet's tokens, less what slashes burned. */
  async supply(): Promise<bigint> {
    return (await getMint(connection, this.mint, "confirmed", this.tokenProgram)).supply;
  }
}

/** A root standing in for an honest Merkle root of (job, shard). */
export function honestRoot(job: Job, shard: number): Buffer {
  return createHash("sha256").update(job.address.toBuffer()).update(u16(shard)).digest();
}

/** A root that differs from the honest one. */
export function forgedRoot(job: Job, shard: number, variant = 0): Buffer {
  const root = honestRoot(job, shard);
  root[31] ^= variant + 1;
  return root;
}

/** The cluster's clock (unix seconds), from the latest confirmed slot. */
export async function chainTime(): Promise<number> {
  const slot = await connection.getSlot("confirmed");
  return (await connection.getBlockTime(slot)) ?? Math.floor(Date.now() / 1000);
}

/** Waits until the cluster's clock has passed `unixTime`. */
export async function waitForChainTime(unixTime: number): Promise<void> {
  while ((await chainTime()) <= unixTime) {
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The IDL code of the program error `name`. */
export function errorCode(name: string): number {
  const entry = idl.errors.find((e: { name: string }) => e.name === name);
  assert.ok(entry, `no program error named ${name}`);
  return entry.code;
}

/**
 * Expects `action` to be refused with the program error `name`. On the SBF build Anchor surfaces an
 * AnchorError carrying the name; on the native localnet a ProgramError carrying the IDL code and message.
 */
export async function expectRefusal(action: Promise<unknown>, name: string): Promise<void> {
  const code = errorCode(name);
  try {
    await action;
  } catch (error: any) {
    const anchorName = error?.error?.errorCode?.code;
    const programCode = error?.code ?? error?.error?.errorCode?.number;
    const logs: string[] = error?.logs ?? error?.transactionLogs ?? [];
    const inLogs = logs.some((line) => line.includes(`custom program error: 0x${code.toString(16)}`));
    assert.ok(
      anchorName === name || programCode === code || inLogs,
      `expected ${name} (${code}), got ${error}`,
    );
    return;
  }
  assert.fail(`expected ${name}, but the transaction succeeded`);
}

/** Collects events of `name` received over the websocket subscription until `stop()`. */
export function listen<T = any>(name: string): { events: T[]; stop: () => Promise<void> } {
  const events: T[] = [];
  const id = program.addEventListener(name as any, (event: any) => events.push(event as T));
  return { events, stop: () => program.removeEventListener(id) };
}

/** Waits until `predicate` holds or `timeoutMs` passes. */
export async function eventually(predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    assert.ok(Date.now() < deadline, "timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
