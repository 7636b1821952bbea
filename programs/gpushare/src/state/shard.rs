//! One shard of a job: who holds which replica slot, commit and reveal progress, the vote tally and
//! the outcome.
use anchor_lang::prelude::*;

use crate::constants::MAX_SLOTS_PER_SHARD;
use crate::errors::GpuShareError;

/// A shard's final outcome.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum ShardOutcome {
    /// This root reached quorum: its replicas are paid, the others are fraudulent.
    Quorum { root: [u8; 32] },
    /// No root reached quorum and no extra replica is left: the shard's escrow is refunded.
    NoQuorum,
    /// Spot-checked: replicas that proved every sample are paid, proven fraud is slashed, the rest missed.
    SpotChecked,
}

/// Where a shard stands.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum ShardPhase {
    /// Waiting until every open replica is claimed and committed.
    Committing,
    /// Every open replica committed; reveals are accepted until `deadline`.
    Revealing { deadline: i64 },
    /// The outcome is final.
    Settled { outcome: ShardOutcome },
}

/// What `settle_shard` decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    Final(ShardOutcome),
    /// No quorum yet: one more replica slot is open.
    ExtraReplica {
        replica: u8,
    },
}

/// What happens to one assignment, given its shard's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Revealed the winning root.
    Pay,
    /// Revealed a root other than the winning one.
    SlashFraud,
    /// Missed its commit (`reopens`: the slot can be claimed again) or its reveal.
    SlashMissed { reopens: bool },
    /// Neither paid nor slashed: no quorum, or the job expired around honest work.
    Release,
    /// Nothing can be decided yet.
    Pending,
}

/// A shard: PDA `[SHARD, job, index]`, created by its first claim.
#[account]
#[derive(InitSpace)]
pub struct Shard {
    pub job: Pubkey,
    pub index: u16,
    /// Paid this account's rent; gets it back at close.
    pub payer: Pubkey,
    /// Replica slots open: the job's replicas plus extra ones opened on no quorum.
    pub replicas_open: u8,
    pub extras_opened: u8,
    pub phase: ShardPhase,
    /// Provider account holding each replica slot (default key when free).
    pub holders: [Pubkey; MAX_SLOTS_PER_SHARD],
    /// Replica slots with a live assignment account.
    pub held_mask: u16,
    pub committed_mask: u16,
    pub revealed_mask: u16,
    /// Replicas that committed but missed their reveal (or, spot-checked, their proofs).
    pub missed_mask: u16,
    /// Spot-check: replicas that proved every sample.
    pub passed_mask: u16,
    /// Spot-check: replicas whose proof revealed a leaf that differs from the reference.
    pub failed_mask: u16,
    /// Distinct revealed roots and their votes.
    pub roots: [[u8; 32]; MAX_SLOTS_PER_SHARD],
    pub votes: [u8; MAX_SLOTS_PER_SHARD],
    pub distinct_roots: u8,
    pub bump: u8,
}

fn bit(replica: u8) -> u16 {
    1u16 << replica
}

impl Shard {
    /// Whether `init_if_needed` has just created this account.
    pub fn is_new(&self) -> bool {
        self.job == Pubkey::default()
    }

    /// Mask of the open replica slots.
    pub fn open_mask(&self) -> u16 {
        ((1u32 << self.replicas_open) - 1) as u16
    }

    pub fn is_settled(&self) -> bool {
        matches!(self.phase, ShardPhase::Settled { .. })
    }

    /// Refuses a claim of `replica` by `provider` unless the slot is open, free and the provider
    /// holds no other replica of this shard.
    pub fn check_claimable(&self, replica: u8, provider: &Pubkey) -> Result<()> {
        require!(
            self.phase == ShardPhase::Committing,
            GpuShareError::ShardNotClaimable
        );
        require!(
            replica < self.replicas_open,
            GpuShareError::InvalidReplicaIndex
        );
        let taken = self.held_mask | self.committed_mask;
        require!(taken & bit(replica) == 0, GpuShareError::SlotTaken);
        let holds_another = (0..self.replicas_open)
            .any(|r| self.held_mask & bit(r) != 0 && self.holders[usize::from(r)] == *provider);
        require!(!holds_another, GpuShareError::AlreadyHoldsReplica);
        Ok(())
    }

    pub fn hold(&mut self, replica: u8, provider: Pubkey) {
        self.held_mask |= bit(replica);
        self.holders[usize::from(replica)] = provider;
    }

    /// The assignment account of `replica` is gone; a slot that never committed reopens.
    pub fn release(&mut self, replica: u8) {
        self.held_mask &= !bit(replica);
        if self.committed_mask & bit(replica) == 0 {
            self.holders[usize::from(replica)] = Pubkey::default();
        }
    }

    /// Records a commit; the last one of the open slots starts the reveal window.
    pub fn record_commit(&mut self, replica: u8, now: i64, reveal_window: i64) {
        self.committed_mask |= bit(replica);
        if self.committed_mask == self.open_mask() {
            self.phase = ShardPhase::Revealing {
                deadline: now.saturating_add(reveal_window),
            };
        }
    }

    /// Refuses a reveal outside the reveal window.
    pub fn check_reveal_open(&self, now: i64) -> Result<()> {
        match self.phase {
            ShardPhase::Revealing { deadline } => {
                require!(now <= deadline, GpuShareError::RevealTooLate);
                Ok(())
            }
            _ => err!(GpuShareError::RevealNotOpen),
        }
    }

    /// Records a reveal and counts its vote.
    pub fn record_reveal(&mut self, replica: u8, root: [u8; 32]) {
        self.revealed_mask |= bit(replica);
        let known = usize::from(self.distinct_roots);
        match self.roots[..known].iter().position(|r| *r == root) {
            Some(i) => self.votes[i] += 1,
            None => {
                self.roots[known] = root;
                self.votes[known] = 1;
                self.distinct_roots += 1;
            }
        }
    }

    /// Whether every open replica is decided (revealed or missed; spot-checked: passed or failed),
    /// or the window closed.
    pub fn check_ready_to_settle(&self, now: i64, spot_check: bool) -> Result<()> {
        match self.phase {
            ShardPhase::Settled { .. } => err!(GpuShareError::ShardAlreadySettled),
            ShardPhase::Committing => err!(GpuShareError::SettleTooEarly),
            ShardPhase::Revealing { deadline } => {
                let decided = if spot_check {
                    self.passed_mask | self.failed_mask
                } else {
                    self.revealed_mask | self.missed_mask
                };
                require!(
                    decided == self.open_mask() || now > deadline,
                    GpuShareError::SettleTooEarly
                );
                Ok(())
            }
        }
    }

    /// Refuses a proof outside the shard's window (reveal and proofs share it).
    pub fn check_proof_open(&self, now: i64) -> Result<()> {
        match self.phase {
            ShardPhase::Revealing { deadline } if now <= deadline => Ok(()),
            ShardPhase::Revealing { .. } => err!(GpuShareError::ProofTooLate),
            _ => err!(GpuShareError::RevealNotOpen),
        }
    }

    /// Records that `replica` proved every sample.
    pub fn record_passed(&mut self, replica: u8) {
        self.passed_mask |= bit(replica);
    }

    /// Records that `replica` revealed a leaf that differs from the reference.
    pub fn record_failed(&mut self, replica: u8) {
        self.failed_mask |= bit(replica);
    }

    /// Ends a spot-checked shard: replicas neither passed nor failed missed their proofs.
    pub fn resolve_spot_check(&mut self) -> ShardOutcome {
        self.missed_mask |= self.open_mask() & !(self.passed_mask | self.failed_mask);
        let outcome = ShardOutcome::SpotChecked;
        self.phase = ShardPhase::Settled { outcome };
        outcome
    }

    /// Tallies the votes: a unique top root with at least `quorum` votes wins; otherwise one more
    /// replica opens while `extra_cap` allows, else the shard ends without quorum.
    pub fn resolve(&mut self, quorum: u8, extra_cap: u8) -> Resolution {
        self.missed_mask |= self.committed_mask & !self.revealed_mask;
        let (mut top, mut winner, mut tied) = (0u8, 0usize, false);
        for (i, &votes) in self.votes[..usize::from(self.distinct_roots)]
            .iter()
            .enumerate()
        {
            if votes > top {
                (top, winner, tied) = (votes, i, false);
            } else if votes == top {
                tied = true;
            }
        }
        if top >= quorum && !tied {
            let outcome = ShardOutcome::Quorum {
                root: self.roots[winner],
            };
            self.phase = ShardPhase::Settled { outcome };
            return Resolution::Final(outcome);
        }
        if self.extras_opened < extra_cap {
            let replica = self.replicas_open;
            self.extras_opened += 1;
            self.replicas_open += 1;
            self.phase = ShardPhase::Committing;
            return Resolution::ExtraReplica { replica };
        }
        let outcome = ShardOutcome::NoQuorum;
        self.phase = ShardPhase::Settled { outcome };
        Resolution::Final(outcome)
    }

    /// Decides what happens to the assignment of `replica` (commit deadline `commit_deadline`,
    /// revealed root `root` if any) at time `now`.
    pub fn verdict(
        &self,
        replica: u8,
        commit_deadline: i64,
        root: Option<[u8; 32]>,
        now: i64,
        job_expired: bool,
    ) -> Verdict {
        let committed = self.committed_mask & bit(replica) != 0;
        if !committed {
            return if now > commit_deadline {
                Verdict::SlashMissed {
                    reopens: !job_expired,
                }
            } else if job_expired {
                Verdict::Release
            } else {
                Verdict::Pending
            };
        }
        match (root, self.phase) {
            (
                _,
                ShardPhase::Settled {
                    outcome: ShardOutcome::SpotChecked,
                },
            ) => {
                if self.passed_mask & bit(replica) != 0 {
                    Verdict::Pay
                } else if self.failed_mask & bit(replica) != 0 {
                    Verdict::SlashFraud
                } else {
                    Verdict::SlashMissed { reopens: false }
                }
            }
            (
                Some(root),
                ShardPhase::Settled {
                    outcome: ShardOutcome::Quorum { root: winner },
                },
            ) => {
                if root == winner {
                    Verdict::Pay
                } else {
                    Verdict::SlashFraud
                }
            }
            (
                Some(_),
                ShardPhase::Settled {
                    outcome: ShardOutcome::NoQuorum,
                },
            ) => Verdict::Release,
            (Some(_), _) if job_expired => Verdict::Release,
            (Some(_), _) => Verdict::Pending,
            (None, phase) => {
                let window_closed = match phase {
                    ShardPhase::Revealing { deadline } => now > deadline,
                    ShardPhase::Settled { .. } => true,
                    ShardPhase::Committing => false,
                };
                if window_closed || self.missed_mask & bit(replica) != 0 {
                    Verdict::SlashMissed { reopens: false }
                } else if job_expired {
                    Verdict::Release
                } else {
                    Verdict::Pending
                }
            }
        }
    }
}
