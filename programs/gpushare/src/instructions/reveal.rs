//! `reveal`: once its shard's reveal window is open, the provider reveals root and salt; they
//! must hash to its commitment under its own key. On a spot-checked job this also fixes the
//! challenge, from the hashes of the first slots after the commitment's.
use anchor_lang::prelude::*;
use gpushare_core::spot_check::challenge_seed;

use crate::commitment::work_commitment;
use crate::constants::SLOT_HASHES_SYSVAR;
use crate::errors::GpuShareError;
use crate::events::{WorkRevealed, emit_event};
use crate::seeds;
use crate::state::{Assignment, Job, Shard};
use gpushare_core::spot_check::CHALLENGE_SLOTS;

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

/// The hashes of the first [`CHALLENGE_SLOTS`] slots after `after` in the SlotHashes sysvar's data
/// (entries newest first: a u64 count, then (slot u64, hash [u8; 32]) pairs), oldest first. None of
/// them existed when a commitment landed in slot `after`, and they span more than one leader's
/// four-slot turn, so no single leader can grind them all. Refused while fewer later slots are
/// recorded, and once the entries no longer reach back to `after` (an early one may have been dropped).
pub fn slot_hashes_after(data: &[u8], after: u64) -> Result<[[u8; 32]; CHALLENGE_SLOTS]> {
    const ENTRY: usize = 40;
    let count =
        data.get(..8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default())) as usize;
    let entries: Vec<&[u8]> = data
        .get(8..)
        .unwrap_or_default()
        .chunks_exact(ENTRY)
        .take(count)
        .collect();
    let slot = |entry: &[u8]| u64::from_le_bytes(entry[..8].try_into().unwrap_or_default());
    let later = entries
        .iter()
        .take_while(|entry| slot(entry) > after)
        .count();
    require!(later >= CHALLENGE_SLOTS, GpuShareError::ChallengeNotReady);
    require!(later < entries.len(), GpuShareError::ChallengeUnavailable);
    let mut hashes = [[0u8; 32]; CHALLENGE_SLOTS];
    for (hash, entry) in hashes
        .iter_mut()
        .zip(entries[later - CHALLENGE_SLOTS..later].iter().rev())
    {
        hash.copy_from_slice(&entry[8..]);
    }
    Ok(hashes)
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
            let hashes = slot_hashes_after(
                &accounts.slot_hashes.try_borrow_data()?,
                accounts.assignment.commit_slot,
            )?;
            let key = accounts.assignment.key().to_bytes();
            accounts.assignment.challenge = Some(challenge_seed(&hashes, &key));
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
