//! The CUDA backend on cudarc, one device: NVRTC-compiled kernels (`cuda.rs`), cuBLAS's int8 GEMM
//! where it is proven bit-identical on this device, and each kernel's operations on the device
//! (operands generated or packed K-contiguous, GEMM, Freivalds' vectors, Merkle levels) that the
//! device-resident shard pipeline (`pipeline.rs`) strings together, and the embedding model's
//! kernels under `embedding_pipeline` (`embedding.rs`). Built with dynamic loading,
//! so the binary runs on machines without CUDA; there, and on any driver or library failure,
//! construction returns an error (cudarc panics when a library is missing, hence the probes and
//! `catch_unwind`) and the worker uses the CPU.
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use cudarc::cublas::{CudaBlas, sys as cublas_sys};
use cudarc::driver::{CudaContext, CudaStream, PinnedHostSlice};

use crate::cpu::CpuBackend;
use crate::error::GpuError;
use crate::reference::reference_shard;
use crate::shard::{GemmShard, Input, Phases};

mod backend;
mod embedding;
mod gemm;
mod nvrtc;
mod pipeline;
mod verify;

pub(crate) use gemm::{OperandLayout, OperandSource};
pub use nvrtc::{ARCHES, compile_ptx};
use nvrtc::{Kernels, arch_for};

impl From<cudarc::driver::DriverError> for GpuError {
    fn from(error: cudarc::driver::DriverError) -> Self {
        GpuError::Driver(error.to_string())
    }
}

impl From<cudarc::nvrtc::CompileError> for GpuError {
    fn from(error: cudarc::nvrtc::CompileError) -> Self {
        GpuError::Compile(format!("{error:?}"))
    }
}

impl From<cudarc::cublas::result::CublasError> for GpuError {
    fn from(error: cudarc::cublas::result::CublasError) -> Self {
        GpuError::Cublas(format!("{error:?}"))
    }
}

/// Runs `f`, turning a cudarc panic (a library or symbol that failed to load) into an error.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, GpuError>) -> Result<T, GpuError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        Err(GpuError::Load(message))
    })
}

fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the library; no CUDA call is made.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

fn nvrtc_present() -> bool {
    // SAFETY: as above.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

fn cublas_present() -> bool {
    // SAFETY: as above.
    unsafe { cublas_sys::is_culib_present() }
}

/// Chains below which the CPU backend runs sha256_chain: one GPU thread hashes about 30× slower than
/// one CPU core (H100: 7·10⁵ against 2·10⁷ hashes/s), so the GPU wins only with ~32 chains per CPU thread.
pub(super) const GPU_CHAINS_PER_CPU_THREAD: usize = 32;
/// Monte Carlo samples below which the CPU backend runs them (a launch and copy cost tens of µs).
pub(super) const GPU_MIN_MONTE_CARLO_SAMPLES: u64 = 1 << 22;

/// Device memory budget of the start-up probe's panelled case (a 100-row shard in several panels).
const PROBE_PANEL_BUDGET_BYTES: u64 = 96 << 10;

/// The CUDA backend on one device.
pub struct GpuBackend {
    device: String,
    ordinal: usize,
    pub(crate) context: Arc<CudaContext>,
    /// Where kernels run, in order.
    pub(crate) stream: Arc<CudaStream>,
    /// Where outputs are copied to the host, beside the kernels.
    pub(crate) copy_stream: Arc<CudaStream>,
    kernels: Kernels,
    /// cuBLAS on `stream`, kept only when its int8 GEMM matched our kernel bit for bit at start-up.
    blas: Option<CudaBlas>,
    /// One shard at a time on this device; the pinned host buffer its outputs are copied into.
    pub(crate) staging: Mutex<Option<PinnedHostSlice<u8>>>,
    /// Where work too small for the device runs.
    cpu: CpuBackend,
    /// Device memory one shard may use, bytes (`None`: what is free).
    pub(crate) memory_limit: Option<u64>,
    /// Whether embedding shards run on the device: set by the start-up probe.
    embeds_on_device: bool,
}

// SAFETY: cudarc's handles are used through the streams, which serialize work; the CUDA context is
// thread-safe, and the cuBLAS handle is only used from `&self` methods that launch on `stream`.
unsafe impl Send for GpuBackend {}
unsafe impl Sync for GpuBackend {}

impl GpuBackend {
    /// Opens device `ordinal`, compiles the kernels for it, and probes cuBLAS's int8 GEMM.
    pub fn new(ordinal: usize) -> Result<Self, GpuError> {
        if !driver_present() {
            return Err(GpuError::DriverLibraryMissing);
        }
        let mut backend = guarded(|| {
            let context = CudaContext::new(ordinal)?;
            let stream = context.new_stream()?;
            let copy_stream = context.new_stream()?;
            let (major, minor) = context.compute_capability()?;
            let module = context.load_module(compile_ptx(arch_for(major, minor))?)?;
            Ok(GpuBackend {
                device: context.name()?,
                ordinal,
                kernels: Kernels::load(&module)?,
                context,
                stream,
                copy_stream,
                blas: None,
                staging: Mutex::new(None),
                cpu: CpuBackend::new(),
                memory_limit: None,
                embeds_on_device: true,
            })
        })?;
        backend.blas = backend.probe_cublas();
        backend.probe_pipeline()?;
        backend.embeds_on_device = backend.probe_embeddings();
        Ok(backend)
    }

    /// Refuses the device unless its shard pipeline reproduces the reference bits and root on small
    /// ragged shards — through cuBLAS and the dp4a kernel, in one panel and in several — so that a
    /// faulty device or driver never commits a wrong root for its owner (who would be slashed).
    fn probe_pipeline(&mut self) -> Result<(), GpuError> {
        let seed = Input::Seed([0x9e; 32]);
        let cases = [
            ((67, 48, 132), None),
            ((67, 45, 129), None),
            ((301, 48, 132), Some(PROBE_PANEL_BUDGET_BYTES)),
        ];
        let limit = self.memory_limit;
        for ((m, n, k), budget) in cases {
            self.memory_limit = budget;
            let shard = GemmShard {
                input: &seed,
                m,
                n,
                k,
                shards: 3,
                shard: 1,
            };
            let computed = self.device_gemm_shard(&shard, &mut Phases::default());
            let reference = reference_shard(shard.kernel(), &seed, 3, 1);
            match (computed, reference) {
                (Ok(output), Ok(reference))
                    if output.root == reference.root && output.bytes == reference.bytes => {}
                (computed, _) => {
                    tracing::warn!(
                        device = self.ordinal,
                        m,
                        n,
                        k,
                        error = ?computed.err(),
                        "the device's shard pipeline differs from the reference; device not used"
                    );
                    return Err(GpuError::PipelineMismatch);
                }
            }
        }
        self.memory_limit = limit;
        Ok(())
    }

    /// The same backend allowed at most `limit` bytes of device memory per shard.
    pub fn with_memory_limit(self, limit: Option<u64>) -> Self {
        Self {
            memory_limit: limit,
            ..self
        }
    }

    /// The number of CUDA devices visible here (0 without a driver).
    pub fn device_count() -> usize {
        if !driver_present() {
            return 0;
        }
        guarded(|| Ok(CudaContext::device_count()?))
            .ok()
            .and_then(|count| usize::try_from(count).ok())
            .unwrap_or(0)
    }

    /// The device's ordinal and name.
    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    pub fn device_name(&self) -> &str {
        &self.device
    }

    /// cuBLAS is used only if it computes a ragged-free probe GEMM exactly as our kernel does.
    fn probe_cublas(&self) -> Option<CudaBlas> {
        if !cublas_present() {
            tracing::info!("cuBLAS not found; the GEMM kernel is used alone");
            return None;
        }
        let blas = guarded(|| Ok(CudaBlas::new(self.stream.clone())?)).ok()?;
        let (m, n, k) = (96, 128, 256);
        let a: Vec<i8> = (0..m * k).map(|i| (i * 37 % 251) as i8).collect();
        let b: Vec<i8> = (0..k * n).map(|i| (i * 101 % 253) as i8).collect();
        let ours = self.gemm_host_operands(None, &a, &b, m, n, k).ok()?;
        match self.gemm_host_operands(Some(&blas), &a, &b, m, n, k) {
            Ok(theirs) if theirs == ours => Some(blas),
            Ok(_) => {
                tracing::warn!(
                    "cuBLAS int8 GEMM differs from the reference on this device; not used"
                );
                None
            }
            Err(error) => {
                tracing::info!(%error, "cuBLAS int8 GEMM unavailable");
                None
            }
        }
    }

    /// Whether embedding shards run on this device (else on the host, without holding it).
    pub fn embeds_on_device(&self) -> bool {
        self.embeds_on_device
    }

    /// Whether cuBLAS's int8 GEMM is in use.
    pub fn uses_cublas(&self) -> bool {
        self.blas.is_some()
    }
}
