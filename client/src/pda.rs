//! The program-derived addresses of every gpushare account.
use anchor_lang::prelude::Pubkey;
use gpushare::seeds;

fn derive(seeds: &[&[u8]]) -> Pubkey {
    Pubkey::find_program_address(seeds, &gpushare::ID).0
}

/// The network of `mint`.
pub fn network(mint: &Pubkey) -> Pubkey {
    derive(&[seeds::NETWORK, mint.as_ref()])
}

/// The fee vault of `network`: where closed jobs leave fees and slashes for the treasury.
pub fn fee_vault(network: &Pubkey) -> Pubkey {
    derive(&[seeds::FEE_VAULT, network.as_ref()])
}

/// The provider account of `authority` in `network`.
pub fn provider(network: &Pubkey, authority: &Pubkey) -> Pubkey {
    derive(&[seeds::PROVIDER, network.as_ref(), authority.as_ref()])
}

/// The stake vault of `provider`.
pub fn stake_vault(provider: &Pubkey) -> Pubkey {
    derive(&[seeds::STAKE_VAULT, provider.as_ref()])
}

/// The reward vault of `provider`, where its delegators' rewards wait to be claimed.
pub fn reward_vault(provider: &Pubkey) -> Pubkey {
    derive(&[seeds::REWARD_VAULT, provider.as_ref()])
}

/// The open benchmark on `provider`.
pub fn benchmark(provider: &Pubkey) -> Pubkey {
    derive(&[seeds::BENCHMARK, provider.as_ref()])
}

/// The delegation of `delegator` to `provider`.
pub fn delegation(provider: &Pubkey, delegator: &Pubkey) -> Pubkey {
    derive(&[seeds::DELEGATION, provider.as_ref(), delegator.as_ref()])
}

/// Job `job_id` of `client` in `network`.
pub fn job(network: &Pubkey, client: &Pubkey, job_id: u64) -> Pubkey {
    derive(&[
        seeds::JOB,
        network.as_ref(),
        client.as_ref(),
        &job_id.to_le_bytes(),
    ])
}

/// The escrow vault of `job`.
pub fn escrow_vault(job: &Pubkey) -> Pubkey {
    derive(&[seeds::ESCROW_VAULT, job.as_ref()])
}

/// Shard `index` of `job`.
pub fn shard(job: &Pubkey, index: u16) -> Pubkey {
    derive(&[seeds::SHARD, job.as_ref(), &index.to_le_bytes()])
}

/// The assignment of `replica` of `shard`.
pub fn assignment(shard: &Pubkey, replica: u8) -> Pubkey {
    derive(&[seeds::ASSIGNMENT, shard.as_ref(), &[replica]])
}

/// The buffer staging embedding sample `sample`'s witness for `assignment`.
pub fn proof_buffer(assignment: &Pubkey, sample: u8) -> Pubkey {
    derive(&[seeds::PROOF_BUFFER, assignment.as_ref(), &[sample]])
}
