//! A benchmark on one provider: the seeded gemm_i8 work it must commit to before a
//! deadline, the samples it must prove, and the verdict that records its proven throughput or
//! slashes it.
use anchor_lang::prelude::*;
use gpushare_core::benchmark::{BenchmarkSize, PROOF_SLOTS, SAMPLES, proven_mops};

use crate::errors::GpuShareError;
use crate::slot_hashes::seed_and_slot_after;

/// A benchmark: PDA `[BENCHMARK, provider]`, one at a time per provider.
#[account]
#[derive(InitSpace)]
pub struct Benchmark {
    /// The provider being measured.
    pub provider: Pubkey,
    /// Who asked for it: paid the rent (returned at the verdict) and the fee.
    pub requester: Pubkey,
    /// Lamports held above rent: the provider's when it passes, back to the requester otherwise.
    pub fee: u64,
    /// The work: `units` seeded gemm_i8 units of `unit_rows` rows.
    pub units: u32,
    pub unit_rows: u32,
    /// Devices the provider claimed, and the throughput the size and deadline follow from.
    pub devices: u8,
    pub claimed_gops: u64,
    /// Share of `slash_obligation` slashed if the challenge fails, and the stake it is a share of:
    /// the network's miss share and stake per claim when it opened.
    pub slash_bps: u16,
    pub slash_obligation: u64,
    /// The provider's `unbonded_total` at the request (see `Provider::slash`).
    pub unbonded_at_request: u64,
    /// Slot of the request; the seed comes from the hashes of the slots after it.
    pub requested_slot: u64,
    pub seed: Option<[u8; 32]>,
    /// The first slot in which the seed could be known: the measured window starts here.
    pub seed_slot: u64,
    /// Last slot a commitment is accepted in.
    pub commit_deadline: u64,
    /// Merkle root of the whole output, and the slot it was committed in.
    pub root: Option<[u8; 32]>,
    pub committed_slot: u64,
    /// Which leaves to prove, from the hashes of the slots after the commitment.
    pub challenge: Option<[u8; 32]>,
    /// The root of the unit holding each sample's leaf, once proven among the units' roots.
    pub unit_roots: [[u8; 32]; 16],
    /// Bit `i` set once sample `i`'s unit root is proven.
    pub units_proven: u32,
    /// Bit `i` set once sample `i`'s leaf is proven.
    pub proven: u32,
    /// A proven leaf differed from the reference.
    pub failed: bool,
    pub bump: u8,
}

const _: () = assert!(SAMPLES == 16, "unit_roots holds one root per sample");

/// How a benchmark ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchmarkVerdict {
    /// Every sample proven: the work took the provider the slots between the seed and its
    /// commitment, at `mops` mega-operations per second.
    Passed { mops: u64 },
    /// A wrong leaf, or a deadline missed.
    Failed,
}

impl Benchmark {
    /// Whether `init_if_needed` has just created this account.
    pub fn is_new(&self) -> bool {
        self.provider == Pubkey::default()
    }

    /// The work asked for.
    pub fn size(&self) -> BenchmarkSize {
        BenchmarkSize {
            units: self.units,
            unit_rows: self.unit_rows,
        }
    }

    /// Last slot a sample may be proven in.
    pub fn proof_deadline(&self) -> u64 {
        self.commit_deadline.saturating_add(PROOF_SLOTS)
    }

    /// Draws the next value nobody could know in advance from the SlotHashes data: the seed after
    /// the request, then (once committed) the challenge after the commitment.
    pub fn draw(&mut self, key: &Pubkey, slot_hashes: &[u8]) -> Result<()> {
        match (self.seed, self.root, self.challenge) {
            (None, _, _) => {
                let (seed, slot) = seed_and_slot_after(slot_hashes, self.requested_slot, key)?;
                self.seed = Some(seed);
                self.seed_slot = slot;
            }
            (Some(_), Some(_), None) => {
                self.challenge =
                    Some(seed_and_slot_after(slot_hashes, self.committed_slot, key)?.0);
            }
            _ => return err!(GpuShareError::NothingToDraw),
        }
        Ok(())
    }

    /// The verdict at `slot`, if there is one yet.
    pub fn verdict(&self, slot: u64) -> Option<BenchmarkVerdict> {
        let all = (1u32 << SAMPLES) - 1;
        if self.proven == all {
            let window = self.committed_slot.saturating_sub(self.seed_slot);
            return Some(BenchmarkVerdict::Passed {
                mops: proven_mops(self.size().ops(), window),
            });
        }
        let missed_commit = self.root.is_none() && slot > self.commit_deadline;
        (self.failed || missed_commit || slot > self.proof_deadline())
            .then_some(BenchmarkVerdict::Failed)
    }
}
