//! `reveal`: once its shard's reveal window is open, the provider reveals root and salt; they
//! must hash to its commitment under its own key. On a spot-checked job this also fixes the
//! challenge, from the hash of the first slot after the commitment's.
use anchor_lang::prelude::*;
use gpushare_core::spot_check::challenge_seed;

use crate::commitment::work_commitment;
use crate::constants::SLOT_HASHES_SYSVAR;
use crate::errors::GpuShareError;
use crate::events::{WorkRevealed, emit_event};
use crate::seeds;
use crate::state::{Assignment, Job, Shard};

#[derive(Accounts)]
pub struct Reveal<'info> {
    pub authority: Signer<'info>,
    #[account(
        seeds = [seeds::JOB, job.network.as_ref(), job.client.as_ref(), &job.job_id.to_le_bytes()],
        bump = job.bump,
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(
        mut,
        seeds = [seeds::SHARD, job.key().as_ref(), &shard.index.to_le_bytes()],
        bump = shard.bump,
        has_one = job @ GpuShareError::WrongJob,
    )]
    pub shard: Box<Account<'info, Shard>>,
    #[account(
        mut,
        seeds = [seeds::ASSIGNMENT, shard.key().as_ref(), &[assignment.replica]],
        bump = assignment.bump,
        has_one = authority @ GpuShareError::NotProviderAuthority,
        has_one = shard @ GpuShareError::WrongJob,
    )]
    pub assignment: Box<Account<'info, Assignment>>,
    /// CHECK: the SlotHashes sysvar (address checked); read only on spot-checked jobs.
    #[account(address = SLOT_HASHES_SYSVAR @ GpuShareError::WrongSlotHashes)]
    pub slot_hashes: UncheckedAccount<'info>,
}

/// The hash of the first slot after `after` in the SlotHashes sysvar's data (entries newest first:
/// a u64 count, then (slot u64, hash [u8; 32]) pairs). That slot's hash did not exist when a
/// commitment landed in slot `after`. Refused while no later slot is recorded, and once the entries
/// no longer reach back to `after` (the first later slot may have been dropped).
pub fn first_slot_hash_after(data: &[u8], after: u64) -> Result<[u8; 32]> {
    const ENTRY: usize = 40;
    let count =
        data.get(..8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default())) as usize;
    let entries = data
        .get(8..)
        .unwrap_or_default()
        .chunks_exact(ENTRY)
        .take(count);
    let mut first_after = None;
    let mut reaches_back = false;
    for entry in entries {
        let slot = u64::from_le_bytes(entry[..8].try_into().unwrap_or_default());
        if slot <= after {
            reaches_back = true;
            break;
        }
        first_after = entry[8..].try_into().ok();
    }
    match (first_after, reaches_back) {
        (None, _) => err!(GpuShareError::ChallengeNotReady),
        (Some(_), false) => err!(GpuShareError::ChallengeUnavailable),
        (Some(hash), true) => Ok(hash),
    }
}

impl Reveal<'_> {
    fn validate(&self, root: &[u8; 32], salt: &[u8; 32]) -> Result<()> {
        let assignment = &self.assignment;
        let commitment = assignment.commitment.ok_or(GpuShareError::NotCommitted)?;
        require!(assignment.root.is_none(), GpuShareError::AlreadyRevealed);
        self.shard.check_reveal_open(Clock::get()?.unix_timestamp)?;
        require!(
            work_commitment(root, &assignment.authority, salt) == commitment,
            GpuShareError::CommitmentMismatch
        );
        Ok(())
    }

    #[access_control(ctx.accounts.validate(&root, &salt))]
    pub fn handler(ctx: Context<Self>, root: [u8; 32], salt: [u8; 32]) -> Result<()> {
        let accounts = &mut *ctx.accounts;
        if accounts.job.mode.is_spot_check() {
            let slot_hash = first_slot_hash_after(
                &accounts.slot_hashes.try_borrow_data()?,
                accounts.assignment.commit_slot,
            )?;
            let key = accounts.assignment.key().to_bytes();
            accounts.assignment.challenge = Some(challenge_seed(&slot_hash, &key));
        }
        let assignment = &mut accounts.assignment;
        let shard = &mut accounts.shard;
        assignment.root = Some(root);
        shard.record_reveal(assignment.replica, root);
        emit_event(WorkRevealed {
            job: shard.job,
            shard_index: shard.index,
            replica: assignment.replica,
            provider: assignment.provider,
            root,
        });
        Ok(())
    }
}
