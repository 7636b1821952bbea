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
    /// No root reached quorum: the shard's escrow is refunded, nobody who revealed is paid or
    /// slashed. No replica is opened to break the tie: it would see the revealed roots.
    NoQuorum,
    /// Spot-checked — a spot-check job, or a quorum job on a seeded input whose replicas reached no
    /// quorum and were settled by evidence: replicas that proved every sample are paid, proven fraud
    /// is slashed, the rest missed.
    SpotChecked,
}

/// Where a shard stands.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum ShardPhase {
    /// Waiting until every open replica is claimed and committed.
    Committing,
    /// Every open replica committed; reveals are accepted until `deadline`.
    Revealing { deadline: i64 },
    /// A seeded quorum job's replicas reached no quorum: each that revealed proves samples of its
    /// output, drawn from the hashes of the slots after `after_slot` (when the dispute opened), until
    /// `deadline`; the program's recomputation decides, never a later vote.
    Disputed { deadline: i64, after_slot: u64 },
    /// The outcome is final.
    Settled { outcome: ShardOutcome },
}

/// What `settle_shard` decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    Final(ShardOutcome),
    /// No quorum on a seeded input: the revealed replicas prove samples until `deadline`.
    Disputed {
        deadline: i64,
    },
    /// Slots nobody filled in time were closed: the replicas that committed reveal until
    /// `deadline`.
    Unfilled {
        closed_mask: u16,
        deadline: i64,
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
    /// Claimed a private slot whose client never delivered its key by the deadline: released
    /// without a slash (`reopens`: the slot can be claimed again).
    Unkeyed { reopens: bool },
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
    /// Replica slots: the job's replicas.
    pub replicas_open: u8,
    /// Slots closed because nobody filled them in time (`close_unfilled`): the shard goes on with the
    /// replicas that committed.
    pub closed_mask: u16,
    /// While committing: when a slot was last committed or freed. Free slots still unclaimed a
    /// claim timeout later may be closed.
    pub waiting_since: i64,
    pub phase: ShardPhase,
    /// Provider account holding each replica slot (default key when free).
    pub holders: [Pubkey; MAX_SLOTS_PER_SHARD],
    /// Replica slots with a live assignment account.
    pub held_mask: u16,
    pub committed_mask: u16,
    pub revealed_mask: u16,
    /// Replicas that committed but missed their reveal (or, spot-checked, their proofs).
    pub missed_mask: u16,
    /// Spot-check or dispute: replicas that proved every sample.
    pub passed_mask: u16,
    /// Spot-check or dispute: replicas whose proof revealed a leaf that differs from the reference.
    pub failed_mask: u16,
    /// Distinct revealed roots and their votes.
    pub roots: [[u8; 32]; MAX_SLOTS_PER_SHARD],
    pub votes: [u8; MAX_SLOTS_PER_SHARD],
    pub distinct_roots: u8,
    /// Which of `roots` each replica revealed (meaningful where `revealed_mask` has the replica).
    pub root_of: [u8; MAX_SLOTS_PER_SHARD],
    /// Free refusals of a private job's keys reserved by live claims or spent
    /// ([`Shard::reserve_free_refusal`]).
    pub free_refusals: u8,
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
        ((1u32 << self.replicas_open) - 1) as u16 & !self.closed_mask
    }

    pub fn is_settled(&self) -> bool {
        matches!(self.phase, ShardPhase::Settled { .. })
    }

    /// The roots the settled shard accepted as its verified result: the quorum's root, or the roots
    /// of the spot-checked replicas that passed (none otherwise).
    pub fn accepted_roots(&self) -> Vec<[u8; 32]> {
        match self.phase {
            ShardPhase::Settled {
                outcome: ShardOutcome::Quorum { root },
            } => vec![root],
            ShardPhase::Settled {
                outcome: ShardOutcome::SpotChecked,
            } => {
                let mut accepted: Vec<[u8; 32]> = Vec::new();
                let passed = (0..self.replicas_open).filter(|r| self.passed_mask & bit(*r) != 0);
                for replica in passed {
                    let index = self.root_of.get(usize::from(replica)).copied();
                    let root = index.and_then(|i| self.roots.get(usize::from(i)));
                    if let Some(root) = root.filter(|root| !accepted.contains(root)) {
                        accepted.push(*root);
                    }
                }
                accepted
            }
            _ => Vec::new(),
        }
    }

    /// Whether `provider` holds a replica of this shard, or committed to one.
    pub fn ever_held_by(&self, provider: &Pubkey) -> bool {
        self.holders[..usize::from(self.replicas_open)].contains(provider)
    }

    /// Refuses a claim of `replica` by `provider` unless the slot is open and free and the provider
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

    /// Replica slots nobody holds or committed to yet.
    pub fn unclaimed(&self) -> u32 {
        (self.open_mask() & !(self.held_mask | self.committed_mask)).count_ones()
    }

    /// Whether a new private claim would reserve a free refusal: the shard has reserved or spent
    /// fewer than its replicas. A claim made without one gives back at the give-back's price.
    pub fn has_free_refusal(&self) -> bool {
        self.free_refusals < self.replicas_open
    }

    /// Reserves one of the shard's free refusals for a new private claim; `false` when none is
    /// left. A refusal is free because the chain cannot tell a key that does not work from one that
    /// does. It is reserved at the claim, so a claim made while one is left keeps it whatever
    /// others refuse after; the budget bounds how long identities claiming and refusing in turn
    /// hold the shard's slots for free.
    pub fn reserve_free_refusal(&mut self) -> bool {
        let free = self.has_free_refusal();
        if free {
            self.free_refusals += 1;
        }
        free
    }

    pub fn hold(&mut self, replica: u8, provider: Pubkey) {
        self.held_mask |= bit(replica);
        self.holders[usize::from(replica)] = provider;
    }

    /// The assignment account of `replica` is gone at `now`; a slot that never committed reopens.
    pub fn release(&mut self, replica: u8, now: i64) {
        self.held_mask &= !bit(replica);
        if self.committed_mask & bit(replica) == 0 {
            self.holders[usize::from(replica)] = Pubkey::default();
            self.waiting_since = now;
        }
    }

    /// Refuses to close the free slots of a committing shard unless some replica committed, no
    /// claim is still running, and either the free slots stayed unclaimed for `claim_timeout` since
    /// the shard last changed or `claims_can_finish` is false (no new claim could settle before the
    /// job expires). Otherwise a sybil could leave an honest replica's shard unfilled, and the
    /// claim it backs open, until the job expires.
    pub fn check_can_close_unfilled(
        &self,
        now: i64,
        claim_timeout: i64,
        claims_can_finish: bool,
    ) -> Result<()> {
        require!(
            self.phase == ShardPhase::Committing,
            GpuShareError::SettleTooEarly
        );
        let running = self.held_mask & !self.committed_mask;
        let waited = now >= self.waiting_since.saturating_add(claim_timeout);
        require!(
            self.committed_mask != 0 && running == 0 && (waited || !claims_can_finish),
            GpuShareError::SettleTooEarly
        );
        Ok(())
    }

    /// Closes the free slots and opens the reveal window, until `now + reveal_window`, for the
    /// replicas that committed; returns what it closed and the window's deadline.
    pub fn close_unfilled(&mut self, now: i64, reveal_window: i64) -> Resolution {
        let closed_mask = self.open_mask() & !self.committed_mask;
        self.closed_mask |= closed_mask;
        let deadline = now.saturating_add(reveal_window);
        self.phase = ShardPhase::Revealing { deadline };
        Resolution::Unfilled {
            closed_mask,
            deadline,
        }
    }

    /// Records a commit; the last one of the open slots starts the reveal window.
    pub fn record_commit(&mut self, replica: u8, now: i64, reveal_window: i64) {
        self.waiting_since = now;
        self.committed_mask |= bit(replica);
        if self.committed_mask == self.open_mask() {
            self.phase = ShardPhase::Revealing {
                deadline: now.saturating_add(reveal_window),
            };
        }
    }

    /// Refuses a reveal of `replica` outside the reveal window, or by a replica that already missed
    /// an earlier reveal window of this shard.
    pub fn check_can_reveal(&self, replica: u8, now: i64) -> Result<()> {
        require!(
            self.missed_mask & bit(replica) == 0,
            GpuShareError::RevealTooLate
        );
        self.check_reveal_open(now)
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
        let index = match self.roots[..known].iter().position(|r| *r == root) {
            Some(i) => {
                self.votes[i] += 1;
                i
            }
            None => {
                self.roots[known] = root;
                self.votes[known] = 1;
                self.distinct_roots += 1;
                known
            }
        };
        // At most MAX_SLOTS_PER_SHARD (8) distinct roots: the index fits a u8.
        self.root_of[usize::from(replica)] = index as u8;
    }

    /// Whether every replica is decided (revealed or missed; spot-checked: passed or failed; in a
    /// dispute, every one that revealed passed or failed), or the window closed.
    pub fn check_ready_to_settle(&self, now: i64, spot_check: bool) -> Result<()> {
        match self.phase {
            ShardPhase::Settled { .. } => err!(GpuShareError::ShardAlreadySettled),
            ShardPhase::Committing => err!(GpuShareError::SettleTooEarly),
            ShardPhase::Disputed { deadline, .. } => {
                let decided = self.passed_mask | self.failed_mask;
                require!(
                    decided & self.revealed_mask == self.revealed_mask || now > deadline,
                    GpuShareError::SettleTooEarly
                );
                Ok(())
            }
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

    /// Refuses a proof outside the shard's window (a spot-check's reveal and proofs share it; a
    /// dispute has its own).
    pub fn check_proof_open(&self, now: i64) -> Result<()> {
        match self.phase {
            ShardPhase::Revealing { deadline } | ShardPhase::Disputed { deadline, .. }
                if now <= deadline =>
            {
                Ok(())
            }
            ShardPhase::Revealing { .. } | ShardPhase::Disputed { .. } => {
                err!(GpuShareError::ProofTooLate)
            }
            _ => err!(GpuShareError::RevealNotOpen),
        }
    }

    /// The slot after which a dispute's challenges are drawn, while one is open.
    pub fn dispute_slot(&self) -> Option<u64> {
        match self.phase {
            ShardPhase::Disputed { after_slot, .. } => Some(after_slot),
            _ => None,
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

    /// Ends a spot-checked or disputed shard: replicas neither passed nor failed missed their proofs.
    pub fn resolve_spot_check(&mut self) -> ShardOutcome {
        self.missed_mask |= self.open_mask() & !(self.passed_mask | self.failed_mask);
        let outcome = ShardOutcome::SpotChecked;
        self.phase = ShardPhase::Settled { outcome };
        outcome
    }

    /// Tallies the votes, every one cast blind (committed before any root was revealed): a unique
    /// top root with at least `quorum` votes wins. Otherwise, when `dispute` gives the deadline and
    /// slot of a dispute and some replica revealed, the revealed replicas prove samples until then;
    /// else the shard ends without quorum.
    pub fn resolve(&mut self, quorum: u8, dispute: Option<(i64, u64)>) -> Resolution {
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
        let outcome = if top >= quorum && !tied {
            ShardOutcome::Quorum {
                root: self.roots[winner],
            }
        } else if let Some((deadline, after_slot)) = dispute.filter(|_| self.revealed_mask != 0) {
            self.phase = ShardPhase::Disputed {
                deadline,
                after_slot,
            };
            return Resolution::Disputed { deadline };
        } else {
            ShardOutcome::NoQuorum
        };
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
            // The shard can always settle (its windows end before the job expires): a revealed
            // replica waits for that, whoever else is late.
            (Some(_), _) => Verdict::Pending,
            (None, phase) => {
                let window_closed = match phase {
                    ShardPhase::Revealing { deadline } => now > deadline,
                    ShardPhase::Settled { .. } | ShardPhase::Disputed { .. } => true,
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
