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

/// The lottery that gives out an extra replica. The slot opens after the shard's roots were
/// revealed, so whoever holds it could vote with either side: it is drawn, never first come.
/// Providers registered before the draw opened enter until `closes_at`; an entry's ticket is
/// `sha256("gpushare:draw" ‖ seed ‖ provider)`, the seed coming from the hashes of the slots after
/// `after_slot` (unknown when the draw opened); the lowest ticket may claim the slot and must commit
/// by `commit_by`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub struct Draw {
    /// The slot the draw opened in.
    pub after_slot: u64,
    pub opened_at: i64,
    pub closes_at: i64,
    pub commit_by: i64,
    /// Fixed by the first entry, from the slot hashes after `after_slot`.
    pub seed: Option<[u8; 32]>,
    pub best_ticket: [u8; 32],
    /// The provider account holding the best ticket (default key while nobody entered).
    pub winner: Pubkey,
}

impl Draw {
    /// A draw opened at `now` in slot `slot`, entries open for `entry_seconds`, the winner committing
    /// within `commit_seconds` after that.
    pub fn open(now: i64, slot: u64, entry_seconds: i64, commit_seconds: i64) -> Self {
        let closes_at = now.saturating_add(entry_seconds);
        Self {
            after_slot: slot,
            opened_at: now,
            closes_at,
            commit_by: closes_at.saturating_add(commit_seconds),
            seed: None,
            best_ticket: [u8::MAX; 32],
            winner: Pubkey::default(),
        }
    }

    /// The ticket of `provider` under `seed`.
    pub fn ticket(seed: &[u8; 32], provider: &Pubkey) -> [u8; 32] {
        gpushare_core::sha256(&[b"gpushare:draw", seed, provider.as_ref()])
    }
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
    /// Which of `roots` each replica revealed (meaningful where `revealed_mask` has the replica).
    pub root_of: [u8; MAX_SLOTS_PER_SHARD],
    pub bump: u8,
    /// The lottery for the newest extra replica, once one opened.
    pub draw: Option<Draw>,
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

    /// Whether `replica` is an extra replica, opened on no quorum after roots were revealed.
    pub fn is_extra(&self, replica: u8) -> bool {
        replica >= self.replicas_open - self.extras_opened
    }

    /// The draw that gives out `replica`, if it is the extra replica now being drawn for.
    pub fn draw_for(&self, replica: u8) -> Option<&Draw> {
        self.draw
            .as_ref()
            .filter(|_| self.extras_opened > 0 && replica == self.replicas_open - 1)
    }

    /// Whether `provider` ever held a replica of this shard that is still open.
    pub fn ever_held_by(&self, provider: &Pubkey) -> bool {
        self.holders[..usize::from(self.replicas_open)].contains(provider)
    }

    /// Refuses an entry of `provider` (staked since `active_since`) into the draw for the newest
    /// extra replica unless the draw is open at `now`, the provider was staked when it opened, and it
    /// holds no replica here.
    pub fn check_can_enter_draw(
        &self,
        provider: &Pubkey,
        active_since: i64,
        now: i64,
    ) -> Result<&Draw> {
        require!(self.phase == ShardPhase::Committing, GpuShareError::NoDraw);
        let draw = self
            .draw_for(self.replicas_open.saturating_sub(1))
            .ok_or(GpuShareError::NoDraw)?;
        require!(now < draw.closes_at, GpuShareError::DrawClosed);
        require!(
            active_since <= draw.opened_at && !self.ever_held_by(provider),
            GpuShareError::NotEligibleForDraw
        );
        Ok(draw)
    }

    /// The commit deadline of a claim of `replica` at `now`: `claim_timeout` from now, or the draw's
    /// deadline for a drawn extra replica.
    pub fn commit_deadline(&self, replica: u8, now: i64, claim_timeout: i64) -> i64 {
        self.draw_for(replica)
            .map_or(now.saturating_add(claim_timeout), |draw| draw.commit_by)
    }

    /// Refuses a claim of `replica` by `provider` at `now` unless the slot is open, free and the
    /// provider holds no other replica of this shard; a drawn extra replica only by the draw's
    /// winner, between the draw's close and its commit deadline.
    pub fn check_claimable(&self, replica: u8, provider: &Pubkey, now: i64) -> Result<()> {
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
        if self.is_extra(replica) {
            let draw = self.draw_for(replica).ok_or(GpuShareError::DrawClosed)?;
            require!(now >= draw.closes_at, GpuShareError::DrawOpen);
            require!(draw.winner == *provider, GpuShareError::NotDrawWinner);
            require!(now <= draw.commit_by, GpuShareError::DrawClosed);
        }
        Ok(())
    }

    pub fn hold(&mut self, replica: u8, provider: Pubkey) {
        self.held_mask |= bit(replica);
        self.holders[usize::from(replica)] = provider;
    }

    /// The assignment account of `replica` is gone; a slot that never committed reopens. A drawn
    /// extra replica keeps its holder on record, so a winner that let it lapse cannot enter its
    /// next draw.
    pub fn release(&mut self, replica: u8) {
        self.held_mask &= !bit(replica);
        if self.committed_mask & bit(replica) == 0 && !self.is_extra(replica) {
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
        // At most MAX_SLOTS_PER_SHARD (16) distinct roots: the index fits a u8.
        self.root_of[usize::from(replica)] = index as u8;
    }

    /// Whether every open replica is decided (revealed or missed; spot-checked: passed or failed),
    /// or the window closed, or a drawn extra replica was not committed by its deadline.
    pub fn check_ready_to_settle(&self, now: i64, spot_check: bool) -> Result<()> {
        match self.phase {
            ShardPhase::Settled { .. } => err!(GpuShareError::ShardAlreadySettled),
            ShardPhase::Committing => {
                // The drawn replica's deadline passed with nothing committed or still held (an
                // uncommitted claim is expired first).
                let replica = self.replicas_open.saturating_sub(1);
                let draw_missed = self
                    .draw_for(replica)
                    .is_some_and(|draw| now > draw.commit_by)
                    && (self.held_mask | self.committed_mask) & bit(replica) == 0;
                require!(draw_missed, GpuShareError::SettleTooEarly);
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
    /// replica opens, given out by `next_draw`, while `extra_cap` allows and a draw fits before the
    /// job expires (`next_draw` is `None` when it does not); else the shard ends without quorum. A
    /// drawn replica that was never committed is drawn again (same slot), within the same bounds.
    pub fn resolve(&mut self, quorum: u8, extra_cap: u8, next_draw: Option<Draw>) -> Resolution {
        let redraw = self.phase == ShardPhase::Committing;
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
        if let Some(draw) = next_draw.filter(|_| redraw || self.extras_opened < extra_cap) {
            if redraw {
                // A winner that lapsed, claimed or not, sits out the draws for this slot.
                if let Some(lapsed) = self.draw.map(|draw| draw.winner)
                    && lapsed != Pubkey::default()
                {
                    self.holders[usize::from(self.replicas_open - 1)] = lapsed;
                }
            } else {
                self.extras_opened += 1;
                self.replicas_open += 1;
            }
            self.draw = Some(draw);
            self.phase = ShardPhase::Committing;
            return Resolution::ExtraReplica {
                replica: self.replicas_open - 1,
            };
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
                    reopens: !job_expired && !self.is_extra(replica),
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
                } else if self.extras_opened > 0 {
                    // An extra replica saw the revealed roots: it may decide who is paid, never
                    // who is convicted.
                    Verdict::Release
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
