//! Creates a gpushare network on a fresh localnet: a mint, a treasury, the payer's token account
//! holding a supply, and `initialize_network` with parameters suited to local runs (short windows).
use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_spl::token_2022::spl_token_2022;
use gpushare::state::NetworkParams;
use gpushare_client::compute_budget;
use solana_keypair::Keypair;
use solana_program_pack::Pack;
use solana_rpc_client::rpc_client::RpcClient;
use solana_signer::Signer;
use solana_transaction::Transaction;

/// Decimals of the local mint.
pub const DECIMALS: u8 = 6;
/// Tokens (base units) minted to the payer: one million whole tokens.
pub const PAYER_SUPPLY: u64 = 1_000_000 * 10u64.pow(DECIMALS as u32);

/// Network parameters for local runs: production-like economics, windows short enough for tests.
pub const LOCAL_PARAMS: NetworkParams = NetworkParams {
    fee_bps: 250,
    min_stake: 1_000_000,
    stake_per_claim: 250_000,
    unbonding_period: 10,
    max_claim_timeout: 3_600,
    reveal_window: 30,
    fraud_slash_bps: 5_000,
    miss_slash_bps: 500,
    max_shards: 256,
    max_replicas: 5,
    update_delay: 0,
    max_commission_bps: 5_000,
    commission_delay: 10,
    min_delegation: 100_000,
    reward_vesting: 5,
    stake_warmup: 0,
    benchmark_millis: 500,
    benchmark_fee: 10_000_000,
    proof_validity_slots: 216_000,
};

/// Addresses of the created network.
pub struct CreatedNetwork {
    pub mint: Pubkey,
    pub treasury: Pubkey,
    pub network: Pubkey,
    pub token_program: Pubkey,
    /// The payer's token account holding [`PAYER_SUPPLY`].
    pub payer_token: Pubkey,
}

/// Why the network could not be created.
#[derive(Debug, thiserror::Error)]
pub enum NetworkSetupError {
    #[error("rpc: {0}")]
    Rpc(#[from] solana_rpc_client::api::client_error::Error),
    #[error("token instruction: {0}")]
    Token(#[from] anchor_lang::prelude::ProgramError),
}

/// Creates the mint (SPL Token, or Token-2022 with `token_2022`), the treasury and the payer's
/// supply, then initializes the network with [`LOCAL_PARAMS`].
pub fn initialize(
    rpc: &RpcClient,
    payer: &Keypair,
    token_2022: bool,
) -> Result<CreatedNetwork, NetworkSetupError> {
    let token_program = if token_2022 {
        spl_token_2022::ID
    } else {
        anchor_spl::token::ID
    };
    let mint = Keypair::new();
    let treasury = Keypair::new();
    let supply = Keypair::new();
    let owner = payer.pubkey();
    let mint_rent = rpc.get_minimum_balance_for_rent_exemption(spl_token_2022::state::Mint::LEN)?;
    let account_rent =
        rpc.get_minimum_balance_for_rent_exemption(spl_token_2022::state::Account::LEN)?;
    let create = |account: &Keypair, rent: u64, len: usize| {
        solana_system_interface::instruction::create_account(
            &owner,
            &account.pubkey(),
            rent,
            len as u64,
            &token_program,
        )
    };
    let account_len = spl_token_2022::state::Account::LEN;
    let setup = [
        create(&mint, mint_rent, spl_token_2022::state::Mint::LEN),
        spl_token_2022::instruction::initialize_mint2(
            &token_program,
            &mint.pubkey(),
            &owner,
            None,
            DECIMALS,
        )?,
        create(&treasury, account_rent, account_len),
        spl_token_2022::instruction::initialize_account3(
            &token_program,
            &treasury.pubkey(),
            &mint.pubkey(),
            &owner,
        )?,
        create(&supply, account_rent, account_len),
        spl_token_2022::instruction::initialize_account3(
            &token_program,
            &supply.pubkey(),
            &mint.pubkey(),
            &owner,
        )?,
        spl_token_2022::instruction::mint_to(
            &token_program,
            &mint.pubkey(),
            &supply.pubkey(),
            &owner,
            &[],
            PAYER_SUPPLY,
        )?,
    ];
    send(rpc, payer, &setup, &[&mint, &treasury, &supply])?;

    let keys =
        gpushare_client::ix::NetworkKeys::new(mint.pubkey(), treasury.pubkey(), token_program);
    let network = keys.network;
    let initialize = gpushare_client::ix::initialize_network(&owner, &keys, LOCAL_PARAMS);
    send(rpc, payer, &[initialize], &[])?;
    Ok(CreatedNetwork {
        mint: mint.pubkey(),
        treasury: treasury.pubkey(),
        network,
        token_program,
        payer_token: supply.pubkey(),
    })
}

/// Gives `wallet` `lamports` of SOL and `tokens` of the network's mint in its associated token
/// account (created if missing), from the payer; returns that token account.
pub fn fund_wallet(
    rpc: &RpcClient,
    payer: &Keypair,
    created: &CreatedNetwork,
    wallet: &Pubkey,
    lamports: u64,
    tokens: u64,
) -> Result<Pubkey, NetworkSetupError> {
    use spl_associated_token_account_interface::instruction;
    let keys = gpushare_client::ix::NetworkKeys::new(
        created.mint,
        created.treasury,
        created.token_program,
    );
    let token = keys.associated_token(wallet);
    let ixs = [
        solana_system_interface::instruction::transfer(&payer.pubkey(), wallet, lamports),
        instruction::create_associated_token_account_idempotent(
            &payer.pubkey(),
            wallet,
            &created.mint,
            &created.token_program,
        ),
        spl_token_2022::instruction::transfer_checked(
            &created.token_program,
            &created.payer_token,
            &created.mint,
            &token,
            &payer.pubkey(),
            &[],
            tokens,
            DECIMALS,
        )?,
    ];
    send(rpc, payer, &ixs, &[])?;
    Ok(token)
}

/// Sends `ixs` signed by the payer and `extra`, with the compute-unit limit the client requests for them.
fn send(
    rpc: &RpcClient,
    payer: &Keypair,
    ixs: &[Instruction],
    extra: &[&Keypair],
) -> Result<(), NetworkSetupError> {
    let mut signers = vec![payer];
    signers.extend_from_slice(extra);
    let all = compute_budget::with_limit(ixs);
    let blockhash = rpc.get_latest_blockhash()?;
    let tx = Transaction::new_signed_with_payer(&all, Some(&payer.pubkey()), &signers, blockhash);
    rpc.send_and_confirm_transaction(&tx)?;
    Ok(())
}
