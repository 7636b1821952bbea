// Deploy-time initialization of the gpushare network, for `anchor migrate` (which calls the exported
// function with the workspace's provider) or directly:
//   ANCHOR_PROVIDER_URL=https://api.devnet.solana.com ANCHOR_WALLET=~/.config/solana/id.json \
//     npx ts-node migrations/deploy.ts migrations/devnet.json
import * as anchor from "@anchor-lang/core";
import * as fs from "fs";
import * as path from "path";
import { BudgetedProvider } from "./compute-budget";
import { MigrationConfig, migrate } from "./network";

const root = path.join(__dirname, "..");

function loadIdl(): anchor.Idl {
  return JSON.parse(fs.readFileSync(path.join(root, "target", "idl", "gpushare.json"), "utf8"));
}

async function deploy(workspace: anchor.AnchorProvider, configPath?: string): Promise<void> {
  // Every transaction requests the compute units its instructions may consume (docs/compute-units.md).
  const programId = new anchor.web3.PublicKey(loadIdl().address);
  const provider = new BudgetedProvider(workspace.connection, workspace.wallet, workspace.opts, programId);
  anchor.setProvider(provider);
  const file = configPath ?? process.env.GPUSHARE_MIGRATION_CONFIG ?? path.join(root, "migrations", "devnet.json");
  const config: MigrationConfig = JSON.parse(fs.readFileSync(file, "utf8"));
  console.log(`gpushare migration on ${provider.connection.rpcEndpoint} with ${file}`);
  const report = await migrate(provider, loadIdl(), config);
  for (const action of report.actions) console.log(`  ${action}`);
}

if (require.main === module) {
  const fromEnv = anchor.AnchorProvider.env();
  const connection = new anchor.web3.Connection(fromEnv.connection.rpcEndpoint, "confirmed");
  const provider = new anchor.AnchorProvider(connection, fromEnv.wallet, { commitment: "confirmed", preflightCommitment: "confirmed" });
  deploy(provider, process.argv[2]).catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

module.exports = deploy;
