// Deploy-time network initialization: makes a cluster's gpushare network match a config file.
// Idempotent: each step checks the chain first, and a second run reports that nothing changed.
import * as anchor from "@anchor-lang/core";
import { BN, Program } from "@anchor-lang/core";
import {
  TOKEN_2022_PROGRAM_ID,
  TOKEN_PROGRAM_ID,
  createMint,
  getOrCreateAssociatedTokenAccount,
} from "@solana/spl-token";
import { Keypair, PublicKey } from "@solana/web3.js";
import * as fs from "fs";
import * as path from "path";

/** The network parameters, as the program's `NetworkParams` (camelCase, plain numbers). */
export interface NetworkParamsConfig {
  feeBps: number;
  minStake: number;
  stakePerClaim: number;
  unbondingPeriod: number;
  maxClaimTimeout: number;
  revealWindow: number;
  fraudSlashBps: number;
  missSlashBps: number;
  maxShards: number;
  maxReplicas: number;
  updateDelay: number;
  maxCommissionBps: number;
  commissionDelay: number;
  minDelegation: number;
  rewardVesting: number;
  stakeWarmup: number;
  benchmarkMillis: number;
  benchmarkFee: number;
  proofValiditySlots: number;
}

/** A migration config file. */
export interface MigrationConfig {
  /** Use this existing mint; when absent, a mint is created from `mintKeypair`. */
  mint?: string;
  /** Keypair file (created on first use) whose address the created mint takes, so reruns find it. */
  mintKeypair?: string;
  /** "spl-token" (default) or "token-2022", for a mint created here. */
  tokenProgram?: "spl-token" | "token-2022";
  decimals?: number;
  /** Treasury token account; default: the authority's associated token account of the mint. */
  treasury?: string;
  params: NetworkParamsConfig;
}

const asParams = (p: NetworkParamsConfig) => ({
  feeBps: p.feeBps,
  minStake: new BN(p.minStake),
  stakePerClaim: new BN(p.stakePerClaim),
  unbondingPeriod: new BN(p.unbondingPeriod),
  maxClaimTimeout: new BN(p.maxClaimTimeout),
  revealWindow: new BN(p.revealWindow),
  fraudSlashBps: p.fraudSlashBps,
  missSlashBps: p.missSlashBps,
  maxShards: p.maxShards,
  maxReplicas: p.maxReplicas,
  updateDelay: new BN(p.updateDelay),
  maxCommissionBps: p.maxCommissionBps,
  commissionDelay: new BN(p.commissionDelay),
  minDelegation: new BN(p.minDelegation),
  rewardVesting: new BN(p.rewardVesting),
  stakeWarmup: new BN(p.stakeWarmup),
  benchmarkMillis: p.benchmarkMillis,
  benchmarkFee: new BN(p.benchmarkFee),
  proofValiditySlots: new BN(p.proofValiditySlots),
});

const sameParams = (onChain: any, wanted: NetworkParamsConfig) =>
  Object.entries(wanted).every(([key, value]) => new BN(onChain[key].toString()).eq(new BN(value)));

function loadOrCreateKeypair(file: string): Keypair {
  if (fs.existsSync(file)) {
    return Keypair.fromSecretKey(Uint8Array.from(JSON.parse(fs.readFileSync(file, "utf8"))));
  }
  const keypair = Keypair.generate();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify([...keypair.secretKey]), { mode: 0o600 });
  return keypair;
}

/** What the migration did, one line per step, and the network's addresses. */
export interface MigrationReport {
  actions: string[];
  changed: boolean;
  mint: PublicKey;
  treasury: PublicKey;
  network: PublicKey;
}

/** Brings the cluster behind `provider` in line with `config`. */
export async function migrate(
  provider: anchor.AnchorProvider,
  idl: anchor.Idl,
  config: MigrationConfig,
): Promise<MigrationReport> {
  const program = new Program(idl, provider);
  const connection = provider.connection;
  const payer = (provider.wallet as anchor.Wallet).payer;
  const actions: string[] = [];
  let changed = false;

  const tokenProgram = config.tokenProgram === "token-2022" ? TOKEN_2022_PROGRAM_ID : TOKEN_PROGRAM_ID;
  let mint: PublicKey;
  if (config.mint) {
    mint = new PublicKey(config.mint);
    actions.push(`mint ${mint} (given)`);
  } else {
    const keypair = loadOrCreateKeypair(config.mintKeypair ?? "migrations/keys/mint.json");
    mint = keypair.publicKey;
    if (await connection.getAccountInfo(mint, "confirmed")) {
      actions.push(`mint ${mint} exists`);
    } else {
      await createMint(connection, payer, payer.publicKey, null, config.decimals ?? 6, keypair, { commitment: "confirmed" }, tokenProgram);
      actions.push(`created mint ${mint}`);
      changed = true;
    }
  }
  const mintOwner = (await connection.getAccountInfo(mint, "confirmed"))?.owner;
  if (!mintOwner) throw new Error(`mint ${mint} does not exist`);

  let treasury: PublicKey;
  if (config.treasury) {
    treasury = new PublicKey(config.treasury);
    actions.push(`treasury ${treasury} (given)`);
  } else {
    const existed = await getOrCreateAssociatedTokenAccount(connection, payer, mint, payer.publicKey, false, "confirmed", { commitment: "confirmed" }, mintOwner)
      .then((account) => account.address);
    treasury = existed;
    actions.push(`treasury ${treasury} (authority's associated token account)`);
  }

  const [network] = PublicKey.findProgramAddressSync([Buffer.from("network"), mint.toBuffer()], program.programId);
  const state: any = await (program.account as any).network.fetchNullable(network, "confirmed");
  if (!state) {
    const [feeVault] = PublicKey.findProgramAddressSync([Buffer.from("fees"), network.toBuffer()], program.programId);
    await program.methods
      .initializeNetwork(asParams(config.params))
      .accounts({ authority: payer.publicKey, mint, treasury, feeVault, tokenProgram: mintOwner } as any)
      .rpc();
    actions.push(`initialized network ${network}`);
    changed = true;
  } else if (!sameParams(state.params, config.params)) {
    // Changes wait out the network's update delay: queue them, and apply them on a later run once due.
    if (!state.pending || !sameParams(state.pending, config.params)) {
      await program.methods
        .updateNetwork(asParams(config.params))
        .accounts({ authority: payer.publicKey, network } as any)
        .rpc();
      changed = true;
    }
    const after: any = await (program.account as any).network.fetch(network, "confirmed");
    if (after.pending && new Date().getTime() / 1000 >= after.pendingEffectiveAt.toNumber()) {
      await program.methods.applyNetworkUpdate().accounts({ network } as any).rpc();
      changed = true;
    }
    const applied: any = await (program.account as any).network.fetch(network, "confirmed");
    if (sameParams(applied.params, config.params)) {
      actions.push(`updated the parameters of network ${network}`);
    } else {
      const when = new Date(applied.pendingEffectiveAt.toNumber() * 1000).toISOString();
      actions.push(`queued new parameters for network ${network}, in force from ${when}: run again then`);
    }
  } else {
    actions.push(`network ${network} exists with these parameters`);
  }
  if (!changed) actions.push("nothing to do: the cluster already matches the config");
  return { actions, changed, mint, treasury, network };
}
