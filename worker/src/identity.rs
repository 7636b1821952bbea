//! The provider's identity on the network: its wallet, the accounts it holds its tokens in, and the
//! network's keys.
use std::sync::Arc;

use anchor_lang::prelude::Pubkey;
use gpushare_client::ix::{Holder, NetworkKeys};
use gpushare_client::pda;
use solana_keypair::Keypair;
use solana_signer::Signer;

/// The provider's identity on the network.
#[derive(Clone)]
pub struct Identity {
    pub wallet: Arc<Keypair>,
    pub holder: Holder,
    pub net: NetworkKeys,
}

impl Identity {
    pub fn provider(&self) -> Pubkey {
        pda::provider(&self.net.network, &self.wallet.pubkey())
    }
}
