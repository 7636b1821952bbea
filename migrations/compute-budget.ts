// Compute-unit limits for TypeScript clients: every legacy transaction a `BudgetedProvider` sends starts
// with a `SetComputeUnitLimit` of its instructions' measured worst cases plus the margin, as the Rust
// client's `gpushare_client::compute_budget::transaction_limit` computes it. The figures are not restated
// here: they are read from idl/compute-units.json, which a Rust test keeps equal to the Rust table
// (docs/compute-units.md).
import * as anchor from "@anchor-lang/core";
import { ComputeBudgetProgram, PublicKey, Transaction, TransactionInstruction } from "@solana/web3.js";
import * as table from "../idl/compute-units.json";

/** The compute-unit limit a transaction carrying `instructions` for gpushare at `programId` requests. */
export function transactionLimit(instructions: TransactionInstruction[], programId: PublicKey): number {
  const figures = Object.values(table.instructions);
  let worst = 0;
  for (const instruction of instructions) {
    if (!instruction.programId.equals(programId)) {
      worst += table.otherProgramUnits;
      continue;
    }
    const figure = figures.find((entry) => entry.discriminator.every((byte, i) => instruction.data[i] === byte));
    worst += figure ? figure.units : table.maxTransactionUnits;
  }
  const withMargin = Math.floor((worst * (100 + table.marginPercent)) / 100);
  return Math.min(withMargin, table.maxTransactionUnits);
}

/**
 * An AnchorProvider whose `sendAndConfirm` prepends the compute-unit limit to a legacy transaction that
 * has none, so that every `.rpc()` requests what its gpushare instructions may consume.
 */
export class BudgetedProvider extends anchor.AnchorProvider {
  constructor(
    connection: anchor.web3.Connection,
    wallet: anchor.AnchorProvider["wallet"],
    opts: anchor.web3.ConfirmOptions,
    private readonly programId: PublicKey,
  ) {
    super(connection, wallet, opts);
  }

  async sendAndConfirm(
    tx: Transaction | anchor.web3.VersionedTransaction,
    signers?: anchor.web3.Signer[],
    opts?: anchor.web3.ConfirmOptions,
  ): Promise<string> {
    if (tx instanceof Transaction && !tx.instructions.some((i) => i.programId.equals(ComputeBudgetProgram.programId))) {
      const units = transactionLimit(tx.instructions, this.programId);
      tx.instructions.unshift(ComputeBudgetProgram.setComputeUnitLimit({ units }));
    }
    return super.sendAndConfirm(tx, signers, opts);
  }
}
