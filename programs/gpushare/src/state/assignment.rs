//! One (shard, replica) slot held by one provider: its deadline, commitment and revealed root.
use anchor_lang::prelude::*;

use super::{Job, KeyExchange, Shard, Verdict};
use crate::errors::GpuShareError;

/// An assignment: PDA `[ASSIGNMENT, shard, replica]`, created on claim, closed on settle or expire.
#[account]
#[derive(InitSpace)]
pub struct Assignment {
    pub job: Pubkey,
    pub shard: Pubkey,
    pub shard_index: u16,
    pub replica: u8,
    /// The provider account holding the slot.
    pub provider: Pubkey,
    /// The provider's wallet: signs commit and reveal, paid this account's rent.
    pub authority: Pubkey,
    pub claimed_at: i64,
    /// The provider's commission in force at the claim: the pay for this replica is split at it,
    /// so a raise never reaches work its delegators already stood behind.
    pub commission_bps: u16,
    /// The provider's `unbonded_total` at the claim: a slash of this claim reaches the unbonding
    /// stake that left after it.
    pub unbonded_at_claim: u64,
    /// Commit before this time or miss the claim.
    pub commit_deadline: i64,
    /// `sha256(COMMIT_DOMAIN ‖ root ‖ authority ‖ salt)`, once committed.
    pub commitment: Option<[u8; 32]>,
    /// The slot the commitment landed in; a spot-check challenge comes from a later slot's hash.
    pub commit_slot: u64,
    /// Challenge seed of its samples, fixed by `fix_challenge` (anyone) once the slots after the
    /// commitment exist (a spot-check, also at reveal) or after its shard's dispute opened.
    pub challenge: Option<[u8; 32]>,
    /// Spot-check samples proven so far (bit i = sample i).
    pub proven: u64,
    /// Merkle root of the output, once revealed.
    pub root: Option<[u8; 32]>,
    /// A private job's key exchange (empty for a public job's claim).
    pub key_exchange: KeyExchange,
    pub bump: u8,
}

impl Assignment {
    /// Refuses a claim already committed, or past its commit deadline at `now`: what may still be
    /// given back, or keyed.
    pub fn check_uncommitted_in_time(&self, now: i64) -> Result<()> {
        require!(self.commitment.is_none(), GpuShareError::AlreadyCommitted);
        require!(now <= self.commit_deadline, GpuShareError::CommitTooLate);
        Ok(())
    }

    /// Whether `init_if_needed` has just created this account.
    pub fn is_new(&self) -> bool {
        self.job == Pubkey::default()
    }

    /// The verdict on this assignment of `job` at `now`, given its shard: the shard's
    /// ([`Shard::verdict`]), except that a private claim still waiting on its key when it lapses
    /// ends `Unkeyed`, not missed ([`Assignment::awaits_key`]). The program applies it; the worker
    /// and the client read it to send the instruction that ends the assignment.
    pub fn verdict(&self, shard: &Shard, job: &Job, now: i64) -> Verdict {
        let verdict = shard.verdict(
            self.replica,
            self.commit_deadline,
            self.root,
            now,
            job.is_expired(now),
        );
        match verdict {
            Verdict::SlashMissed { reopens } if self.awaits_key(job) => {
                Verdict::Unkeyed { reopens }
            }
            verdict => verdict,
        }
    }

    /// The revealed root and the challenge its samples are drawn from, once both exist.
    pub fn challenged_root(&self) -> Result<([u8; 32], [u8; 32])> {
        match (self.root, self.challenge) {
            (Some(root), Some(challenge)) => Ok((root, challenge)),
            _ => err!(crate::errors::GpuShareError::NotChallenged),
        }
    }

    /// Fixes the challenge of this assignment (address `key`) from the SlotHashes data: the hashes
    /// of the slots after `after` (see `Job::challenge_after`), the same whoever sends it and
    /// whenever.
    pub fn fix_challenge(&mut self, key: &Pubkey, slot_hashes: &[u8], after: u64) -> Result<()> {
        self.challenge = Some(crate::slot_hashes::seed_after(slot_hashes, after, key)?);
        Ok(())
    }
}
