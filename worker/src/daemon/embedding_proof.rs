//! Proving a challenged slot of a spot-checked embedding job: every unproven sample's witness,
//! checked here first (`crate::embedding_prover`), is staged in a proof buffer of its own — opened
//! with its first piece, then written twelve pieces at a time — and proven by `prove_embedding`.
//! Samples are staged and proven sixteen at a time; the proof that completes the slot goes with its
//! settlement. Buffers left behind are closed when the slot settles, and at every resync those whose
//! assignment is gone (settled or expired while the worker was down).
use std::time::Instant;

use gpushare::state::{JobInput, KernelSpec, ProofBuffer};
use gpushare_client::ix::{self, Slot};
use gpushare_client::{filters, pda};
use gpushare_core::embedding::layout::TokenBatch;
use gpushare_engine::shard::Input;
use solana_signer::Signer;

use crate::embedding_prover::{EmbeddingShard, StagedSample};
use crate::error::WorkerError;

use super::*;

/// Witness bytes one `write_proof_buffer` carries: what is left of a 1,232-byte transaction after
/// the signature, six account keys, the compute-budget instructions and the open instruction that
/// goes with the first piece.
const WRITE_BYTES: usize = 800;

/// Writes sent side by side: the pieces of one wave reach at most 9,600 bytes past what the waves
/// before them wrote, within the 10 KiB a buffer may grow in one write, whatever order they land in.
const PIECES_PER_WAVE: usize = 12;

/// Samples staged and proven side by side: enough that a shard's 64 prove in four rounds, within
/// the localnet's 30-second reveal window, few enough that the rent their buffers hold at once
/// stays about 1.8 SOL at all-MiniLM-L6-v2's shape (every lamport of it returned by the proofs).
const STAGED_AT_ONCE: usize = 16;

/// `close_proof_buffer`s one transaction carries: two accounts and a discriminator each, well
/// within its size.
const CLOSES_PER_TRANSACTION: usize = 16;

impl Daemon {
    /// Closes, in the background (one sweep at a time), the proof buffers of this provider whose
    /// assignments are gone ([`Worker::close_abandoned_proof_buffers`]): at start and at every
    /// resync.
    pub(super) fn sweep_abandoned_proof_buffers(&mut self) {
        if self
            .sweeping
            .as_ref()
            .is_some_and(|task| !task.is_finished())
        {
            return;
        }
        let worker = Arc::clone(&self.worker);
        self.sweeping = Some(tokio::spawn(async move {
            match worker.close_abandoned_proof_buffers().await {
                Ok(0) => {}
                Ok(closed) => {
                    tracing::info!(
                        closed,
                        "closed proof buffers of finished slots; rent returned"
                    )
                }
                Err(error) => tracing::warn!(%error, "could not sweep proof buffers"),
            }
        }));
    }
}

impl Worker {
    /// Stages and proves every unproven sample of an embedding slot challenged with `challenge`.
    pub(super) async fn prove_embedding(
        &self,
        at: &SlotStep<'_>,
        samples: u8,
        challenge: [u8; 32],
    ) -> Result<(), WorkerError> {
        let (job, slot) = (at.job, at.slot);
        let (Some(check), KernelSpec::Embedding { tokens, .. }, JobInput::Data { uri, sha256 }) = (
            job.embedding_check(&slot.job, slot.shard_index),
            job.kernel,
            &job.input,
        ) else {
            return Ok(());
        };
        let root = at.assignment.root.ok_or(WorkerError::SaltLost(at.key))?;
        let served = self.models.get(&check.model).ok_or_else(|| {
            WorkerError::Config(format!("model {} is not served", hex::encode(check.model)))
        })?;
        let data = self.data_input(&slot.job, job, uri, sha256).await?;
        // The model this worker computed with: the job's, unless a fault was injected.
        let Input::Embedding {
            data,
            model: computed_with,
            ..
        } = self.fault.prepare(Input::Embedding {
            data,
            model: Arc::clone(&served),
            job: check.address,
        })
        else {
            return Err(WorkerError::SelfCheck(
                "the prepared input is not an embedding's".into(),
            ));
        };
        let output = self
            .store
            .output(&slot.job, slot.shard_index, job.private.is_some())?
            .ok_or(WorkerError::SaltLost(at.key))?;
        let unproven: Vec<u8> = (0..samples)
            .filter(|sample| at.assignment.proven & (1u64 << sample) == 0)
            .collect();
        let started = Instant::now();
        let staged = tokio::task::spawn_blocking(move || {
            let batch = TokenBatch::from_bytes(&data, check.sequences, tokens)
                .map_err(|e| WorkerError::SelfCheck(e.to_string()))?;
            EmbeddingShard {
                model: &served,
                computed_with: &computed_with,
                batch: &batch,
                output: &output,
            }
            .witnesses(&check.context(&root, &challenge), unproven)
        })
        .await
        .map_err(|e| WorkerError::SelfCheck(e.to_string()))??;
        let authority = self.me.wallet.pubkey();
        let Some((last, earlier)) = staged.split_last() else {
            return Ok(());
        };
        // Sixteen samples at a time, each staged then proven before the next: a buffer holds its
        // witness's rent (about 0.11 SOL for 15.7 KB, the draw's average) until its proof closes it.
        for batch in earlier.chunks(STAGED_AT_ONCE) {
            futures::future::try_join_all(batch.iter().map(|staged| async move {
                self.stage(&slot, staged).await?;
                let prove = ix::prove_embedding(&authority, &slot, staged.sample);
                let proven = self.chain.send(&[prove], &[]).await;
                self.close_after_failure(&slot, staged.sample, proven.map(drop).map_err(Into::into))
                    .await
            }))
            .await?;
        }
        self.stage(&slot, last).await?;
        let mut after = at.shard.clone();
        after.record_passed(slot.replica);
        let proven_at = SlotStep {
            shard: &after,
            ..*at
        };
        let prove = ix::prove_embedding(&authority, &slot, last.sample);
        self.send_then_settle(&proven_at, vec![prove]).await?;
        self.metrics
            .observe("prove", started.elapsed().as_secs_f64());
        tracing::info!(job = %slot.job, shard = slot.shard_index, replica = slot.replica, samples, "proved embedding samples");
        Ok(())
    }

    /// Closes the proof buffers an interrupted proof of `slot` left behind (its `samples`), their
    /// rent back: called once the slot is settled, whatever its verdict.
    pub(super) async fn sweep_proof_buffers(
        &self,
        slot: &Slot,
        samples: u8,
    ) -> Result<(), WorkerError> {
        let assignment = slot.assignment();
        let buffers: Vec<_> = (0..samples)
            .map(|sample| pda::proof_buffer(&assignment, sample))
            .collect();
        let left = self.chain.accounts::<ProofBuffer>(&buffers).await?;
        let open: Vec<(Pubkey, u8)> = (0..samples)
            .zip(left)
            .filter(|(_, buffer)| buffer.is_some())
            .map(|(sample, _)| (assignment, sample))
            .collect();
        self.close_buffers(&open).await
    }

    /// Closes every proof buffer this provider holds whose assignment is gone (settled or expired
    /// while the worker was down, so that no settlement of its own swept it); returns how many.
    /// Only the provider can close its buffers, so without this their rent would stay locked.
    pub(super) async fn close_abandoned_proof_buffers(&self) -> Result<usize, WorkerError> {
        let authority = self.me.wallet.pubkey();
        let held = self
            .chain
            .program_accounts::<ProofBuffer>(&[(
                filters::PROOF_BUFFER_AUTHORITY,
                authority.as_ref(),
            )])
            .await?;
        let assignments: Vec<Pubkey> = held.iter().map(|(_, buffer)| buffer.assignment).collect();
        let live = self.chain.accounts::<Assignment>(&assignments).await?;
        let abandoned: Vec<(Pubkey, u8)> = held
            .iter()
            .zip(live)
            .filter(|(_, assignment)| assignment.is_none())
            .map(|((_, buffer), _)| (buffer.assignment, buffer.sample))
            .collect();
        self.close_buffers(&abandoned).await?;
        Ok(abandoned.len())
    }

    /// Closes the buffers of `(assignment, sample)`, a transaction for every sixteen.
    async fn close_buffers(&self, buffers: &[(Pubkey, u8)]) -> Result<(), WorkerError> {
        let authority = self.me.wallet.pubkey();
        for batch in buffers.chunks(CLOSES_PER_TRANSACTION) {
            let closes: Vec<_> = batch
                .iter()
                .map(|(assignment, sample)| ix::close_proof_buffer(&authority, assignment, *sample))
                .collect();
            self.chain.send(&closes, &[]).await?;
        }
        Ok(())
    }

    /// Writes one sample's witness into its buffer: a buffer left by an earlier attempt is closed
    /// first, then the buffer is opened with the first piece and the rest follow in waves. A write
    /// that fails closes the buffer again, its rent back, and the step is retried later.
    async fn stage(&self, slot: &Slot, staged: &StagedSample) -> Result<(), WorkerError> {
        let authority = self.me.wallet.pubkey();
        let buffer = pda::proof_buffer(&slot.assignment(), staged.sample);
        if self.chain.account_at(&buffer).await?.1.is_some() {
            let close = ix::close_proof_buffer(&authority, &slot.assignment(), staged.sample);
            self.chain.send(&[close], &[]).await?;
        }
        let written = async {
            // The first piece opens the buffer; the rest go a wave at a time, each wave at most the
            // 10 KiB a buffer may grow in one write past what the waves before it wrote.
            let mut pieces = staged.witness.chunks(WRITE_BYTES).enumerate();
            if let Some((_, first)) = pieces.next() {
                let open = ix::open_proof_buffer(&authority, slot, staged.sample);
                let write =
                    ix::write_proof_buffer(&authority, slot, staged.sample, 0, first.to_vec());
                self.chain.send(&[open, write], &[]).await?;
            }
            let rest: Vec<_> = pieces.collect();
            for wave in rest.chunks(PIECES_PER_WAVE) {
                let writes = wave.iter().map(|(i, piece)| {
                    let offset = (i * WRITE_BYTES) as u32;
                    let write = ix::write_proof_buffer(
                        &authority,
                        slot,
                        staged.sample,
                        offset,
                        piece.to_vec(),
                    );
                    async move { self.chain.send(&[write], &[]).await }
                });
                futures::future::try_join_all(writes).await?;
            }
            Ok(())
        }
        .await;
        self.close_after_failure(slot, staged.sample, written).await
    }

    /// `outcome`, after closing sample `sample`'s buffer if it failed (the buffer may be half
    /// written, or its proof refused): its rent is not left behind.
    async fn close_after_failure(
        &self,
        slot: &Slot,
        sample: u8,
        outcome: Result<(), WorkerError>,
    ) -> Result<(), WorkerError> {
        if outcome.is_err() {
            let assignment = slot.assignment();
            let buffer = pda::proof_buffer(&assignment, sample);
            if let Ok((_, Some(_))) = self.chain.account_at(&buffer).await {
                let close = ix::close_proof_buffer(&self.me.wallet.pubkey(), &assignment, sample);
                if let Err(error) = self.chain.send(&[close], &[]).await {
                    tracing::warn!(job = %slot.job, sample, %error, "proof buffer left open");
                }
            }
        }
        outcome
    }
}
