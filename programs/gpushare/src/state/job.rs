//! A client's job: what to compute, how it is verified, what it pays, and its escrow bookkeeping.
use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::GpuShareError;
use crate::seeds;
use crate::state::{Assignment, NetworkParams, PrivateTerms, Resolution, Shard, ShardPhase};

/// The kernel and its size parameters; the worker's reference implementation defines the output.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum KernelSpec {
    /// C = A·B with A m×k, B k×n in i8 and C in i32; shards split the rows of C.
    GemmI8 { m: u32, n: u32, k: u32 },
    /// One chain of `steps` SHA-256 iterations per shard; a leaf is every `leaf_every`-th state.
    Sha256Chain { steps: u32, leaf_every: u32 },
    /// `blocks` Philox4x32-10 blocks of `samples_per_block` samples; shards split the blocks.
    MonteCarlo { blocks: u32, samples_per_block: u32 },
    /// Sentence embeddings of a data batch of `sequences` token-id sequences (`tokens` ids in all)
    /// by the integer model whose weights file has Merkle root `model`, `dims` wide; shards split
    /// the sequences (docs/verification.md).
    Embedding {
        model: [u8; 32],
        batch: [u8; 32],
        dims: u32,
        sequences: u32,
        tokens: u32,
    },
}

impl KernelSpec {
    /// Refuses zero, oversized or inconsistent sizes.
    pub fn validate(&self) -> Result<()> {
        let valid = match *self {
            KernelSpec::GemmI8 { m, n, k } => {
                [m, n, k].iter().all(|d| (1..=MAX_GEMM_DIM).contains(d))
            }
            KernelSpec::Sha256Chain { steps, leaf_every } => {
                (1..=MAX_SHA256_CHAIN_STEPS).contains(&steps)
                    && leaf_every >= 1
                    && steps % leaf_every == 0
            }
            KernelSpec::MonteCarlo {
                blocks,
                samples_per_block,
            } => {
                blocks >= 1 && (1..=MAX_MONTE_CARLO_SAMPLES_PER_BLOCK).contains(&samples_per_block)
            }
            KernelSpec::Embedding { .. } => self.to_core().validate(1).is_ok(),
        };
        require!(valid, GpuShareError::InvalidKernelSpec);
        Ok(())
    }

    /// The same kernel in the core crate's terms (its layouts and reference leaves).
    pub fn to_core(&self) -> gpushare_core::kernels::Kernel {
        use gpushare_core::kernels::Kernel;
        match *self {
            KernelSpec::GemmI8 { m, n, k } => Kernel::GemmI8 { m, n, k },
            KernelSpec::Sha256Chain { steps, leaf_every } => {
                Kernel::Sha256Chain { steps, leaf_every }
            }
            KernelSpec::MonteCarlo {
                blocks,
                samples_per_block,
            } => Kernel::MonteCarlo {
                blocks,
                samples_per_block,
            },
            KernelSpec::Embedding {
                model,
                batch,
                dims,
                sequences,
                tokens,
            } => Kernel::Embedding {
                model,
                batch,
                dims,
                sequences,
                tokens,
            },
        }
    }

    /// The kernel spec of a core kernel (the inverse of [`KernelSpec::to_core`]).
    pub fn from_core(kernel: gpushare_core::kernels::Kernel) -> Self {
        use gpushare_core::kernels::Kernel;
        match kernel {
            Kernel::GemmI8 { m, n, k } => KernelSpec::GemmI8 { m, n, k },
            Kernel::Sha256Chain { steps, leaf_every } => {
                KernelSpec::Sha256Chain { steps, leaf_every }
            }
            Kernel::MonteCarlo {
                blocks,
                samples_per_block,
            } => KernelSpec::MonteCarlo {
                blocks,
                samples_per_block,
            },
            Kernel::Embedding {
                model,
                batch,
                dims,
                sequences,
                tokens,
            } => KernelSpec::Embedding {
                model,
                batch,
                dims,
                sequences,
                tokens,
            },
        }
    }

    /// How many shards the output can be split into.
    pub fn max_shards(&self) -> u64 {
        match *self {
            KernelSpec::GemmI8 { m, .. } => u64::from(m),
            KernelSpec::Sha256Chain { .. } => u64::MAX,
            KernelSpec::MonteCarlo { blocks, .. } => u64::from(blocks),
            KernelSpec::Embedding { sequences, .. } => u64::from(sequences),
        }
    }
}

/// Where a job's input comes from.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq, InitSpace)]
pub enum JobInput {
    /// Generated from a 32-byte seed by the kernel's standard generator.
    Seed([u8; 32]),
    /// Downloaded from `uri`; its bytes must hash to `sha256`.
    Data {
        #[max_len(MAX_DATA_URI_LEN)]
        uri: String,
        sha256: [u8; 32],
    },
}

impl JobInput {
    /// The seed of a seeded input.
    pub fn seed(&self) -> Option<&[u8; 32]> {
        match self {
            JobInput::Seed(seed) => Some(seed),
            JobInput::Data { .. } => None,
        }
    }

    /// Refuses data inputs for kernels that only take seeds, seeds for kernels that only take
    /// data, and empty or oversized URIs.
    pub fn validate(&self, kernel: &KernelSpec) -> Result<()> {
        let kernel = kernel.to_core();
        let valid = match self {
            JobInput::Seed(_) => kernel.takes_seed(),
            JobInput::Data { uri, .. } => {
                kernel.data_input_bytes().is_ok()
                    && !uri.is_empty()
                    && uri.len() <= MAX_DATA_URI_LEN
            }
        };
        require!(valid, GpuShareError::InvalidInput);
        Ok(())
    }
}

/// How a shard's results are verified.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum VerificationMode {
    /// The root revealed by at least `q` replicas (and by more than any other root) wins.
    Quorum { q: u8 },
    /// Each replica proves `samples` leaves chosen by a slot-hash challenge after its commitment;
    /// the program recomputes them from the seed (seeded inputs only).
    SpotCheck { samples: u8 },
}

impl VerificationMode {
    /// Refuses a quorum that is below 2, not a strict majority, or above the replica count.
    pub fn validate(&self, replicas: u8) -> Result<()> {
        match *self {
            VerificationMode::Quorum { q } => require!(
                q >= 2 && q <= replicas && u16::from(q) * 2 > u16::from(replicas),
                GpuShareError::InvalidQuorum
            ),
            VerificationMode::SpotCheck { samples } => require!(
                (1..=gpushare_core::spot_check::MAX_SAMPLES).contains(&samples),
                GpuShareError::InvalidSampleCount
            ),
        }
        Ok(())
    }

    pub fn is_spot_check(&self) -> bool {
        matches!(self, VerificationMode::SpotCheck { .. })
    }
}

/// Samples each replica of a seeded quorum job proves when its shard reaches no quorum.
pub const DISPUTE_SAMPLES: u8 = 16;

/// What an embedding job names that the check of one of its shard's samples reads
/// ([`Job::embedding_check`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddingCheckJob {
    pub address: [u8; 32],
    pub model: [u8; 32],
    pub batch: [u8; 32],
    pub sequences: u32,
    pub tokens: u32,
    pub dims: u32,
    pub shard_sequences: core::ops::Range<u32>,
}

impl EmbeddingCheckJob {
    /// The check's context for a provider whose revealed root is `shard_root`, challenged with
    /// `challenge`.
    pub fn context<'a>(
        &'a self,
        shard_root: &'a [u8; 32],
        challenge: &'a [u8; 32],
    ) -> gpushare_core::embedding::check::CheckContext<'a> {
        gpushare_core::embedding::check::CheckContext {
            job: &self.address,
            model: &self.model,
            batch: &self.batch,
            batch_sequences: self.sequences,
            batch_tokens: self.tokens,
            dims: self.dims,
            shard_sequences: self.shard_sequences.clone(),
            shard_root,
            challenge,
        }
    }
}

/// Seconds a shard needs once its replicas committed (see [`Job::settling_seconds`]).
pub fn settling_seconds(reveal_window: i64, disputes: bool) -> i64 {
    let windows = if disputes { 2 } else { 1 };
    reveal_window.saturating_mul(windows)
}

/// The longest a claim may run from its claim to its commit deadline (see [`Job::claim_window`]).
pub fn claim_window(claim_timeout: i64, private: bool) -> i64 {
    let windows = if private { 2 } else { 1 };
    claim_timeout.saturating_mul(windows)
}

impl CreateJobArgs {
    /// Whether the job will settle ties by evidence: a quorum job on a seeded input whose leaves
    /// the program can recompute, prove in a transaction and not be guessed at [`DISPUTE_SAMPLES`]
    /// samples. Other quorum jobs refund a shard without quorum. `create_job` records it in the job.
    pub fn settles_ties_by_evidence(&self) -> bool {
        let kernel = self.kernel.to_core();
        matches!(self.mode, VerificationMode::Quorum { .. })
            && self.input.seed().is_some()
            && gpushare_core::spot_check::leaf_fits_budget(&kernel)
            && gpushare_core::spot_check::check_spot_check(
                &kernel,
                u32::from(self.shards),
                DISPUTE_SAMPLES,
            )
            .is_ok()
    }

    /// The shortest lifetime the job may have: a claim, and when other replicas must follow it a
    /// claim timeout for the last of them (each twice for a private job: the wait for its key, then
    /// the commit), then the time its shards need to settle.
    pub fn min_lifetime(&self, reveal_window: i64) -> i64 {
        let claims = if self.replicas > 1 { 2 } else { 1 };
        claim_window(self.claim_timeout, self.private.is_some())
            .saturating_mul(claims)
            .saturating_add(settling_seconds(
                reveal_window,
                self.settles_ties_by_evidence(),
            ))
    }
}

/// Arguments of `create_job`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct CreateJobArgs {
    /// Client-chosen id, unique per client and network.
    pub job_id: u64,
    pub kernel: KernelSpec,
    pub input: JobInput,
    /// A private job's terms: its data input is ciphertext, its key reaches each slot holder sealed.
    pub private: Option<PrivateTerms>,
    pub shards: u16,
    pub replicas: u8,
    pub mode: VerificationMode,
    /// Paid to each verified shard-replica.
    pub price: u64,
    /// Seconds from claim to the commit deadline.
    pub claim_timeout: i64,
    /// Unix time after which nothing new starts and the job can be closed.
    pub expires_at: i64,
    /// The proven throughput a provider needs to claim its shards.
    pub hardware: HardwareRequirement,
}

/// A job's demand on its providers' proven hardware.
#[derive(
    AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, Default, PartialEq, Eq, InitSpace,
)]
pub struct HardwareRequirement {
    /// Least proven throughput, mega-operations per second; 0 asks for no proof.
    pub min_proven_mops: u64,
    /// Most slots since the proof; 0 means the network's `proof_validity_slots`.
    pub max_proof_age_slots: u64,
}

/// A job: PDA `[JOB, network, client, job_id]`.
#[account]
#[derive(InitSpace)]
pub struct Job {
    pub client: Pubkey,
    pub network: Pubkey,
    pub job_id: u64,
    pub kernel: KernelSpec,
    pub input: JobInput,
    /// A private job's terms (docs/privacy.md).
    pub private: Option<PrivateTerms>,
    pub shards: u16,
    pub replicas: u8,
    pub mode: VerificationMode,
    pub price: u64,
    /// Protocol fee per paid shard-replica, fixed at creation.
    pub fee_per_slot: u64,
    /// Whether a shard without quorum is disputed and settled by recomputing sampled leaves
    /// (`CreateJobArgs::settles_ties_by_evidence`, fixed at creation), or refunded.
    pub ties_by_evidence: bool,
    /// Stake that backs one claim, copied from the network at creation: a slash takes its share of
    /// this much from everyone staked behind the provider, never of everything staked.
    pub stake_per_claim: u64,
    /// Share of stake slashed for a fraudulent result, copied from the network at creation.
    pub fraud_slash_bps: u16,
    /// Share of stake slashed for a missed commit, reveal or proof, copied at creation.
    pub miss_slash_bps: u16,
    /// Seconds a shard's replicas have to reveal (and prove) once all committed, copied at creation.
    pub reveal_window: i64,
    pub claim_timeout: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub hardware: HardwareRequirement,
    pub cancelled: bool,
    /// Shard accounts ever created (a shard starts at its first claim).
    pub shards_started: u16,
    /// Bitmap of started shards, `ceil(shards / 8)` bytes: a closed shard can never start again.
    #[max_len(0)]
    pub started: Vec<u8>,
    /// Shard accounts not yet closed.
    pub shards_live: u16,
    /// Shards whose outcome is final.
    pub shards_settled: u16,
    /// Shards settled without quorum; their escrow returns to the client.
    pub shards_refunded: u16,
    /// Assignment accounts not yet closed.
    pub assignments_live: u32,
    /// Paid to providers.
    pub paid_out: u64,
    /// Fees owed to the treasury for paid work.
    pub fees_accrued: u64,
    /// Slashed stake held in the escrow vault until `close_job` burns it.
    pub slashes_held: u64,
    /// Returned to the client so far (cancel).
    pub refunded: u64,
    pub bump: u8,
    pub vault_bump: u8,
}

impl Job {
    /// Account size of a job with `shards` shards.
    pub fn space(shards: u16) -> usize {
        8 + Job::INIT_SPACE + usize::from(shards).div_ceil(8)
    }

    /// The seed the kernel runs on, for a seeded job at `address`: the client's seed bound to the
    /// job's address ([`gpushare_core::kernels::job_seed`]), so no output serves two jobs.
    pub fn kernel_seed(&self, address: &Pubkey) -> Option<[u8; 32]> {
        self.input
            .seed()
            .map(|seed| gpushare_core::kernels::job_seed(seed, &address.to_bytes()))
    }

    /// What the check of a spot-checked embedding sample reads of this job at `address`, for shard
    /// `shard_index`; `None` for another kernel.
    pub fn embedding_check(&self, address: &Pubkey, shard_index: u16) -> Option<EmbeddingCheckJob> {
        let KernelSpec::Embedding {
            model,
            batch,
            dims,
            sequences,
            tokens,
        } = self.kernel
        else {
            return None;
        };
        let range = gpushare_core::embedding::layout::shard_sequences(
            sequences,
            u32::from(self.shards),
            u32::from(shard_index),
        );
        Some(EmbeddingCheckJob {
            address: address.to_bytes(),
            model,
            batch,
            sequences,
            tokens,
            dims,
            shard_sequences: range.start as u32..range.end as u32,
        })
    }

    /// Whether shard `index` ever started.
    pub fn was_started(&self, index: u16) -> bool {
        self.started[usize::from(index / 8)] & (1 << (index % 8)) != 0
    }

    /// Records that shard `index` started.
    pub fn mark_started(&mut self, index: u16) {
        self.started[usize::from(index / 8)] |= 1 << (index % 8);
        self.shards_started += 1;
        self.shards_live += 1;
    }

    /// Escrow one shard needs: every replica paid plus its fee.
    pub fn escrow_per_shard(&self) -> Result<u64> {
        self.price
            .checked_add(self.fee_per_slot)
            .and_then(|slot| slot.checked_mul(u64::from(self.replicas)))
            .ok_or_else(|| error!(GpuShareError::MathOverflow))
    }

    /// Whole escrow the client deposits at creation.
    pub fn escrow_total(&self) -> Result<u64> {
        self.escrow_per_shard()?
            .checked_mul(u64::from(self.shards))
            .ok_or_else(|| error!(GpuShareError::MathOverflow))
    }

    /// The protocol fee on one shard-replica at `price`.
    pub fn fee_for(price: u64, params: &NetworkParams) -> u64 {
        NetworkParams::share(price, params.fee_bps)
    }

    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    /// Seconds a shard needs once all its replicas committed: the reveal window, and a dispute as
    /// long again where ties are settled by evidence.
    pub fn settling_seconds(&self) -> i64 {
        settling_seconds(self.reveal_window, self.ties_by_evidence)
    }

    /// The longest a claim may run from its claim to its commit deadline: the claim timeout, and
    /// for a private job the wait for its key before it (`deliver_key` restarts the deadline).
    pub fn claim_window(&self) -> i64 {
        claim_window(self.claim_timeout, self.private.is_some())
    }

    /// Refuses a slot whose commit deadline leaves no time to settle its shard before the job
    /// expires, or, while `unclaimed` other replicas of its shard are still to be claimed, no full
    /// claim window for them after it: such a claim could never finish, or its shard never settle,
    /// and its holder would compute for nothing or be slashed for it.
    pub fn check_can_finish(&self, commit_deadline: i64, unclaimed: u32) -> Result<()> {
        let others = if unclaimed > 0 {
            self.claim_window()
        } else {
            0
        };
        require!(
            commit_deadline
                .saturating_add(others)
                .saturating_add(self.settling_seconds())
                <= self.expires_at,
            GpuShareError::ClaimCannotFinish
        );
        Ok(())
    }

    /// The rule for a claim at `now` that starts new shard `shard_index` as `replica`: the job not
    /// cancelled, the shard never started, the replica one of the job's, and the job able to finish
    /// with the shard's other replicas still to be claimed ([`Job::check_can_finish`]). `claim`
    /// applies it, and the worker to choose the shards it starts.
    pub fn check_can_start_shard(&self, shard_index: u16, replica: u8, now: i64) -> Result<()> {
        require!(!self.cancelled, GpuShareError::JobCancelled);
        require!(!self.was_started(shard_index), GpuShareError::ShardClosed);
        require!(replica < self.replicas, GpuShareError::InvalidReplicaIndex);
        let others = u32::from(self.replicas).saturating_sub(1);
        self.check_can_finish(now.saturating_add(self.claim_window()), others)
    }

    /// The rule for a claim at `now` by `provider` of `replica` of started shard `shard`: the slot
    /// open to it ([`Shard::check_claimable`]), and the job able to finish with the shard's other
    /// replicas still to be claimed. `claim` applies it, and the worker to choose the slots it joins.
    pub fn check_can_join(
        &self,
        shard: &Shard,
        replica: u8,
        provider: &Pubkey,
        now: i64,
    ) -> Result<()> {
        shard.check_claimable(replica, provider)?;
        let others = shard.unclaimed().saturating_sub(1);
        self.check_can_finish(now.saturating_add(self.claim_window()), others)
    }

    /// Whether a claim made at `now` with no other replica to follow it could still settle before
    /// the job expires.
    pub fn claims_can_finish(&self, now: i64) -> bool {
        self.check_can_finish(now.saturating_add(self.claim_window()), 0)
            .is_ok()
    }

    /// Refuses to settle `shard` at `now` unless its outcome can be decided, or (committing) its
    /// free slots can be closed (`Shard::check_can_close_unfilled`).
    pub fn check_ready_to_settle(&self, shard: &Shard, now: i64) -> Result<()> {
        if shard.phase == ShardPhase::Committing {
            shard.check_can_close_unfilled(now, self.claim_timeout, self.claims_can_finish(now))
        } else {
            shard.check_ready_to_settle(now, self.mode.is_spot_check())
        }
    }

    /// The samples the replica of `shard` must prove now: a spot-check's, or a dispute's; none
    /// otherwise.
    pub fn samples_to_prove(&self, shard: &Shard) -> Option<u8> {
        match self.mode {
            VerificationMode::SpotCheck { samples } => Some(samples),
            VerificationMode::Quorum { .. } => shard.dispute_slot().map(|_| DISPUTE_SAMPLES),
        }
    }

    /// The slot after which `assignment`'s challenge is drawn, once it can be: a spot-check's after
    /// its commitment; a dispute's after the dispute opened, for a replica that revealed.
    pub fn challenge_after(&self, shard: &Shard, assignment: &Assignment) -> Result<u64> {
        require!(
            assignment.challenge.is_none(),
            GpuShareError::AlreadyChallenged
        );
        match self.mode {
            VerificationMode::SpotCheck { .. } => {
                require!(assignment.commitment.is_some(), GpuShareError::NotCommitted);
                Ok(assignment.commit_slot)
            }
            VerificationMode::Quorum { .. } => {
                let after = shard.dispute_slot().ok_or(GpuShareError::NotSpotCheck)?;
                require!(assignment.root.is_some(), GpuShareError::NotRevealed);
                Ok(after)
            }
        }
    }

    /// Tallies `shard` at `now` (clock slot `slot`): quorum, a dispute where ties are settled by
    /// evidence, or no quorum; a spot-check's (or an ended dispute's) verdicts; or, while it is
    /// committing, closes the slots nobody filled in time.
    pub fn resolve_shard(&self, shard: &mut Shard, now: i64, slot: u64) -> Resolution {
        if shard.phase == ShardPhase::Committing {
            return shard.close_unfilled(now, self.reveal_window);
        }
        match self.mode {
            VerificationMode::Quorum { q } if shard.dispute_slot().is_none() => {
                let dispute = self
                    .ties_by_evidence
                    .then(|| (now.saturating_add(self.reveal_window), slot));
                shard.resolve(q, dispute)
            }
            _ => Resolution::Final(shard.resolve_spot_check()),
        }
    }

    /// Stake share slashed from a provider that gives its claim back before committing: half a miss.
    pub fn give_back_slash_bps(&self) -> u16 {
        self.miss_slash_bps / 2
    }

    /// Whether close may run: every shard is settled, or the job expired, or it was cancelled and
    /// every started shard settled; and no shard or assignment account is left.
    pub fn is_closable(&self, now: i64) -> bool {
        self.work_over(now) && self.shards_live == 0 && self.assignments_live == 0
    }

    /// Whether nothing more will happen to the job's work: every shard settled, or it expired, or it
    /// was cancelled and every started shard settled.
    pub fn work_over(&self, now: i64) -> bool {
        self.shards_settled == self.shards
            || self.is_expired(now)
            || (self.cancelled && self.shards_settled == self.shards_started)
    }

    /// Runs `f` with this job's PDA signer seeds.
    pub fn with_signer<R>(&self, f: impl FnOnce(&[&[&[u8]]]) -> R) -> R {
        let id = self.job_id.to_le_bytes();
        let bump = [self.bump];
        let seeds: [&[u8]; 5] = [
            seeds::JOB,
            self.network.as_ref(),
            self.client.as_ref(),
            &id,
            &bump,
        ];
        f(&[&seeds])
    }
}
