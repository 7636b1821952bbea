//! The device-resident gemm_i8 shard: operands generated (or data packed) on the device in the
//! layout the GEMM wants, cuBLAS's int8 GEMM (or the dp4a kernel), Freivalds' check, leaf hashes and
//! every Merkle level on the device; the output copied into pinned host memory on a second stream
//! while the tree is hashed. Shards larger than the free device memory run in row panels, the copy
//! of one panel overlapping the compute of the next. Phases are timed with CUDA events.
use std::ops::Range;
use std::sync::PoisonError;

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaContext, CudaEvent, CudaSlice, CudaStream, DevicePtr, PinnedHostSlice};
use gpushare_core::kernels::{DataGemm, KernelError, SeededGemm};
use rayon::prelude::*;

use crate::error::EngineError;
use crate::error::GpuError;
use crate::freivalds;
use crate::shard::{GemmShard, Input, Phases, ShardOutput};

use super::{GpuBackend, OperandLayout, OperandSource, guarded};

/// Device memory left free for cuBLAS's workspace and the driver.
const DEVICE_HEADROOM_BYTES: u64 = 512 << 20;

/// Which phase a piece of device work belongs to.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Generate,
    CopyIn,
    Kernel,
    Verify,
    Hash,
    CopyOut,
}

impl Phase {
    fn slot(self, phases: &mut Phases) -> &mut f64 {
        match self {
            Phase::Generate => &mut phases.generate,
            Phase::CopyIn => &mut phases.copy_in,
            Phase::Kernel => &mut phases.kernel,
            Phase::Verify => &mut phases.verify,
            Phase::Hash => &mut phases.hash,
            Phase::CopyOut => &mut phases.copy_out,
        }
    }
}

/// CUDA events around each phase's work on its stream, read once the device has finished.
struct Timeline {
    context: std::sync::Arc<CudaContext>,
    marks: Vec<(Phase, CudaEvent, CudaEvent)>,
}

impl Timeline {
    fn new(context: &std::sync::Arc<CudaContext>) -> Self {
        Self {
            context: context.clone(),
            marks: Vec::new(),
        }
    }

    fn event(&self, stream: &CudaStream) -> Result<CudaEvent, GpuError> {
        let event = self
            .context
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
        event.record(stream)?;
        Ok(event)
    }

    /// Enqueues `work` on `stream` between two timing events.
    fn around<T>(
        &mut self,
        phase: Phase,
        stream: &CudaStream,
        work: impl FnOnce() -> Result<T, GpuError>,
    ) -> Result<T, GpuError> {
        let start = self.event(stream)?;
        let value = work()?;
        let end = self.event(stream)?;
        self.marks.push((phase, start, end));
        Ok(value)
    }

    /// Adds each phase's device time to `phases` (waits for the events).
    fn add_to(&self, phases: &mut Phases) -> Result<(), GpuError> {
        for (phase, start, end) in &self.marks {
            *phase.slot(phases) += f64::from(start.elapsed_ms(end)?) / 1e3;
        }
        Ok(())
    }
}

/// How a shard is laid out on the device: its operands, and the rows of C per panel.
struct Plan {
    layout: OperandLayout,
    panel_rows: u64,
    leaves: u64,
    output_bytes: u64,
}

impl Plan {
    /// The largest panel (a multiple of 8 rows, so that panels start on a leaf boundary) that fits
    /// `budget` bytes of device memory beside what the whole shard needs at once.
    fn new(shard: &GemmShard, budget: u64) -> Result<Self, GpuError> {
        let rows = shard.rows();
        let layout = OperandLayout::new(
            rows.end - rows.start,
            u64::from(shard.n),
            u64::from(shard.k),
        );
        let (n, k, ld) = (layout.n, layout.k, layout.ld);
        let output_bytes = layout.rows * n * 4;
        let leaf_bytes = shard.kernel().leaf_bytes() as u64;
        let leaves = output_bytes.div_ceil(leaf_bytes);
        let data = matches!(shard.input, Input::Data(_));
        let shard_wide = n * ld
            + if data { k * n } else { 0 }
            + (leaves + leaves.div_ceil(2)) * 32
            + k * 8 * (u64::from(crate::cuda::FREIVALDS_PARTS) + 1)
            + n * 8
            + layout.rows * 16;
        let per_row = ld + 2 * n * 4 + if data { k } else { 0 };
        let fit = budget.saturating_sub(shard_wide) / per_row;
        let panel_rows = if fit >= layout.rows {
            layout.rows
        } else {
            fit - fit % 8
        };
        if panel_rows == 0 {
            return Err(GpuError::NoRoom);
        }
        Ok(Self {
            layout,
            panel_rows,
            leaves,
            output_bytes,
        })
    }

    fn panels(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        (0..self.layout.rows)
            .step_by(self.panel_rows as usize)
            .map(|start| start..(start + self.panel_rows).min(self.layout.rows))
    }

    fn panel_layout(&self, panel: &Range<u64>) -> OperandLayout {
        OperandLayout::new(panel.end - panel.start, self.layout.n, self.layout.k)
    }
}

/// The pinned staging buffer, grown to at least `len` bytes (page-locked, not write-combined: the
/// host reads it).
fn staging_buffer<'a>(
    context: &std::sync::Arc<CudaContext>,
    staging: &'a mut Option<PinnedHostSlice<u8>>,
    len: usize,
) -> Result<&'a mut PinnedHostSlice<u8>, GpuError> {
    if staging.as_ref().is_none_or(|buffer| buffer.len() < len) {
        *staging = None;
        // SAFETY: the buffer is only read after the device wrote every byte that is read.
        *staging = Some(unsafe { context.alloc_pinned_with_flags::<u8>(len.max(1), 0) }?);
    }
    staging.as_mut().ok_or(GpuError::NoRoom)
}

impl GpuBackend {
    /// One gemm_i8 shard on the device (see the module's documentation).
    pub(crate) fn device_gemm_shard(
        &self,
        shard: &GemmShard,
        phases: &mut Phases,
    ) -> Result<ShardOutput, EngineError> {
        let data = match shard.input {
            Input::Data(bytes) => Some(DataGemm::new(bytes, shard.m, shard.n, shard.k)?),
            Input::Seed(_) => None,
            Input::Embedding { .. } => return Err(KernelError::SeedOnly.into()),
        };
        let mut staging = self.staging.lock().unwrap_or_else(PoisonError::into_inner);
        let (bytes, root) = guarded(|| {
            self.context.bind_to_thread()?;
            let (free, _) = self.context.mem_get_info()?;
            let budget = (free as u64).saturating_sub(DEVICE_HEADROOM_BYTES);
            let plan = Plan::new(
                shard,
                self.memory_limit.map_or(budget, |limit| limit.min(budget)),
            )?;
            let pinned = staging_buffer(&self.context, &mut staging, plan.output_bytes as usize)?;
            let host = pinned.as_mut_slice()?;
            let mut timeline = Timeline::new(&self.context);
            let root = self.run_panels(shard, data.as_ref(), &plan, host, &mut timeline);
            // On every exit, nothing may still be copying into the pinned buffer.
            self.copy_stream.synchronize()?;
            let root = root?;
            timeline.add_to(phases)?;
            let mut bytes = vec![0u8; plan.output_bytes as usize];
            Phases::timed(&mut phases.copy_out, || {
                bytes
                    .par_chunks_mut(1 << 20)
                    .zip(host.par_chunks(1 << 20))
                    .for_each(|(out, from)| out.copy_from_slice(&from[..out.len()]));
            });
            Ok((bytes, root))
        })?;
        Ok(ShardOutput { bytes, root })
    }

    /// Enqueues every panel, then the tree; returns the root once the compute stream has finished
    /// and Freivalds' vectors agree. Output bytes land in `host` when the copy stream finishes.
    fn run_panels(
        &self,
        shard: &GemmShard,
        data: Option<&DataGemm>,
        plan: &Plan,
        host: &mut [u8],
        timeline: &mut Timeline,
    ) -> Result<[u8; 32], GpuError> {
        let (s, copy) = (&self.stream, &self.copy_stream);
        let layout = &plan.layout;
        let (rows, n, k, ld) = (shard.rows(), layout.n, layout.k, layout.ld);
        let seeds = match shard.input {
            Input::Seed(seed) => Some(SeededGemm::new(seed, shard.n, shard.k)),
            Input::Data(_) | Input::Embedding { .. } => None,
        };
        let blas = self.blas_for(layout);

        let mut bt = s.alloc_zeros::<u8>((n * ld) as usize)?;
        match (&seeds, data) {
            (Some(seeds), _) => timeline.around(Phase::Generate, s, || {
                self.operand(
                    &OperandSource::Seeded {
                        seed: seeds.seed_b,
                        first_row: 0,
                    },
                    layout.bt_strides(),
                    n,
                    k,
                    ld,
                    &mut bt.as_view_mut(),
                )
            })?,
            (None, Some(data)) => {
                let b_raw = timeline.around(Phase::CopyIn, s, || Ok(s.clone_htod(data.b)?))?;
                timeline.around(Phase::Generate, s, || {
                    self.operand(
                        &OperandSource::Device(&b_raw.as_view()),
                        layout.bt_strides(),
                        n,
                        k,
                        ld,
                        &mut bt.as_view_mut(),
                    )
                })?;
            }
            (None, None) => return Err(GpuError::TooLarge),
        }
        let r = freivalds::random_vector(n as usize, &mut rand::rng());
        let (r_dev, x) = timeline.around(Phase::Verify, s, || {
            let r_dev = s.clone_htod(&r)?;
            let x = self.freivalds_columns(&bt.as_view(), layout, &r_dev)?;
            Ok((r_dev, x))
        })?;
        let mut y = s.alloc_zeros::<u64>(layout.rows as usize)?;
        let mut z = s.alloc_zeros::<u64>(layout.rows as usize)?;
        let mut level = s.alloc_zeros::<u32>(plan.leaves as usize * 8)?;
        let mut a_panel = s.alloc_zeros::<u8>((plan.panel_rows * ld) as usize)?;
        let mut a_raw: Option<CudaSlice<i8>> = match data {
            Some(_) => Some(s.alloc_zeros::<i8>((plan.panel_rows * k) as usize)?),
            None => None,
        };
        let panel_bytes = (plan.panel_rows * n * 4) as usize;
        let buffers = if plan.panel_rows < layout.rows { 2 } else { 1 };
        let mut c_panels: Vec<CudaSlice<u8>> = (0..buffers)
            .map(|_| s.alloc_zeros::<u8>(panel_bytes))
            .collect::<Result<_, _>>()?;
        let leaf_bytes = shard.kernel().leaf_bytes() as u64;

        let mut copied: Vec<Option<CudaEvent>> = (0..buffers).map(|_| None).collect();
        for (index, panel) in plan.panels().enumerate() {
            let panel_layout = plan.panel_layout(&panel);
            let pr = panel_layout.rows;
            let mut a_view = a_panel.slice_mut(..(pr * ld) as usize);
            let first_row = rows.start + panel.start;
            match (&seeds, data, a_raw.as_mut()) {
                (Some(seeds), _, _) => timeline.around(Phase::Generate, s, || {
                    self.operand(
                        &OperandSource::Seeded {
                            seed: seeds.seed_a,
                            first_row,
                        },
                        layout.a_strides(),
                        pr,
                        k,
                        ld,
                        &mut a_view,
                    )
                })?,
                (None, Some(data), Some(a_raw)) => {
                    let source = &data.a[(first_row * k) as usize..((first_row + pr) * k) as usize];
                    let mut raw = a_raw.slice_mut(..source.len());
                    timeline.around(Phase::CopyIn, s, || Ok(s.memcpy_htod(source, &mut raw)?))?;
                    timeline.around(Phase::Generate, s, || {
                        self.operand(
                            &OperandSource::Device(&raw.as_view()),
                            layout.a_strides(),
                            pr,
                            k,
                            ld,
                            &mut a_view,
                        )
                    })?;
                }
                _ => return Err(GpuError::TooLarge),
            }
            if let Some(copied) = &copied[index % buffers] {
                s.wait(copied)?;
            }
            let c = &mut c_panels[index % buffers];
            let c_len = (pr * n * 4) as usize;
            timeline.around(Phase::Kernel, s, || {
                self.gemm_on_device(
                    blas,
                    &a_view.as_view(),
                    &bt.as_view(),
                    &mut c.slice_mut(..c_len),
                    &panel_layout,
                )
            })?;
            let out_start = (panel.start * n * 4) as usize;
            timeline.around(Phase::Verify, s, || {
                self.freivalds_rows(
                    &a_view.as_view(),
                    &c.slice(..c_len),
                    &panel_layout,
                    &x,
                    &r_dev,
                    &mut y.slice_mut(panel.start as usize..panel.end as usize),
                    &mut z.slice_mut(panel.start as usize..panel.end as usize),
                )
            })?;
            let first_leaf = (out_start as u64 / leaf_bytes) as usize;
            timeline.around(Phase::Hash, s, || {
                self.leaf_hashes(
                    &c.slice(..c_len),
                    c_len as u64,
                    leaf_bytes,
                    &mut level.slice_mut(first_leaf * 8..),
                )
            })?;
            // The copy is the panel's last reader, so the buffer's read event (which its release
            // waits for) is the copy stream's; the next GEMM into it also waits for `copied`.
            let destination = &mut host[out_start..out_start + c_len];
            timeline.around(Phase::CopyOut, copy, || {
                let view = c.slice(..c_len);
                let (source, _read) = view.device_ptr(copy);
                // SAFETY: `destination` is pinned host memory of c_len bytes that nothing reads
                // before the copy stream is synchronized, which every exit of the caller does.
                unsafe {
                    cudarc::driver::result::memcpy_dtoh_async(destination, source, copy.cu_stream())
                }?;
                Ok(())
            })?;
            copied[index % buffers] = Some(copy.record_event(None)?);
        }
        let root = timeline.around(Phase::Hash, s, || self.merkle_root(&mut level, plan.leaves))?;
        let (y, z) = (s.clone_dtoh(&y)?, s.clone_dtoh(&z)?);
        if y != z {
            return Err(GpuError::WrongProduct);
        }
        Ok(root)
    }
}
