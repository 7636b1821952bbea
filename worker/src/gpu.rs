//! The CUDA backend on cudarc, one device: NVRTC-compiled kernels (`cuda.rs`), cuBLAS's int8 GEMM
//! where it is proven bit-identical on this device, and each kernel's operations on the device
//! (operands generated or packed K-contiguous, GEMM, Freivalds' vectors, Merkle levels) that the
//! device-resident shard pipeline (`gpu_pipeline.rs`) strings together. Built with dynamic loading,
//! so the binary runs on machines without CUDA; there, and on any driver or library failure,
//! construction returns an error (cudarc panics when a library is missing, hence the probes and
//! `catch_unwind`) and the worker uses the CPU.
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use cudarc::cublas::{CudaBlas, sys as cublas_sys};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, CudaView, CudaViewMut, DevicePtr,
    DevicePtrMut, LaunchConfig, PinnedHostSlice, PushKernelArg,
};
use cudarc::nvrtc::{CompileOptions, Ptx, compile_ptx_with_opts};

use crate::backend::{Backend, ChainKey, check_chain_shape, check_gemm_shape};
use crate::cpu::CpuBackend;
use crate::cuda;
use crate::engine::{self, GemmShard, Input, Phases, ShardOutput};
use crate::error::WorkerError;

/// Why the GPU backend is unavailable or failed.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no NVIDIA driver library (libcuda) on this machine")]
    DriverLibraryMissing,
    #[error("no NVRTC library (libnvrtc.so.13); add its directory to LD_LIBRARY_PATH")]
    NvrtcLibraryMissing,
    #[error("CUDA driver: {0}")]
    Driver(#[from] cudarc::driver::DriverError),
    #[error("NVRTC: {0:?}")]
    Compile(cudarc::nvrtc::CompileError),
    #[error("cuBLAS: {0:?}")]
    Cublas(cudarc::cublas::result::CublasError),
    #[error("CUDA libraries failed to load: {0}")]
    Load(String),
    #[error("sizes too large for the GPU kernels")]
    TooLarge,
    #[error("not enough free device memory for one panel of the shard")]
    NoRoom,
    #[error("no usable GPU among the devices asked for")]
    NoDevice,
    #[error("the device's shard pipeline does not reproduce the reference on the start-up probe")]
    PipelineMismatch,
    #[error("the device's GEMM failed Freivalds' check")]
    WrongProduct,
}

impl From<cudarc::nvrtc::CompileError> for GpuError {
    fn from(error: cudarc::nvrtc::CompileError) -> Self {
        GpuError::Compile(error)
    }
}

impl From<cudarc::cublas::result::CublasError> for GpuError {
    fn from(error: cudarc::cublas::result::CublasError) -> Self {
        GpuError::Cublas(error)
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

/// Compiles the kernel sources to PTX for `arch` (e.g. `compute_90`). Needs libnvrtc only, no GPU.
pub fn compile_ptx(arch: &'static str) -> Result<Ptx, GpuError> {
    if !nvrtc_present() {
        return Err(GpuError::NvrtcLibraryMissing);
    }
    guarded(|| {
        let options = CompileOptions {
            arch: Some(arch),
            fmad: Some(false),
            name: Some("gpushare_kernels.cu".into()),
            ..Default::default()
        };
        Ok(compile_ptx_with_opts(cuda::SOURCE, options)?)
    })
}

/// NVRTC virtual architectures the kernels are built for (CUDA 13 supports compute_75 and up).
pub const ARCHES: [&str; 7] = [
    "compute_75",
    "compute_80",
    "compute_86",
    "compute_89",
    "compute_90",
    "compute_100",
    "compute_120",
];

/// The NVRTC virtual architecture for a compute capability (the oldest one for unknown devices).
fn arch_for(major: i32, minor: i32) -> &'static str {
    let wanted = format!("compute_{major}{minor}");
    ARCHES
        .iter()
        .find(|arch| **arch == wanted)
        .copied()
        .unwrap_or(ARCHES[0])
}

/// Chains below which the CPU backend runs sha256_chain: one GPU thread hashes about 30× slower than
/// one CPU core (H100: 7·10⁵ against 2·10⁷ hashes/s), so the GPU wins only with ~32 chains per CPU thread.
const GPU_CHAINS_PER_CPU_THREAD: usize = 32;
/// Monte Carlo samples below which the CPU backend runs them (a launch and copy cost tens of µs).
const GPU_MIN_MONTE_CARLO_SAMPLES: u64 = 1 << 22;

/// Device memory budget of the start-up probe's panelled case (a 100-row shard in several panels).
const PROBE_PANEL_BUDGET_BYTES: u64 = 96 << 10;

/// The module's kernels.
struct Kernels {
    gemm_dp4a: CudaFunction,
    sha256_chains: CudaFunction,
    monte_carlo: CudaFunction,
    seeded_operand: CudaFunction,
    strided_operand: CudaFunction,
    leaf_hashes: CudaFunction,
    merkle_level: CudaFunction,
    freivalds_columns: CudaFunction,
    freivalds_sum: CudaFunction,
    freivalds_rows_i8: CudaFunction,
    freivalds_rows_i32: CudaFunction,
}

impl Kernels {
    fn load(module: &Arc<CudaModule>) -> Result<Self, GpuError> {
        let get = |name: &str| module.load_function(name);
        Ok(Self {
            gemm_dp4a: get(cuda::GEMM_I8)?,
            sha256_chains: get(cuda::SHA256_CHAINS)?,
            monte_carlo: get(cuda::MONTE_CARLO)?,
            seeded_operand: get(cuda::SEEDED_OPERAND)?,
            strided_operand: get(cuda::STRIDED_OPERAND)?,
            leaf_hashes: get(cuda::LEAF_HASHES)?,
            merkle_level: get(cuda::MERKLE_LEVEL)?,
            freivalds_columns: get(cuda::FREIVALDS_COLUMNS)?,
            freivalds_sum: get(cuda::FREIVALDS_SUM)?,
            freivalds_rows_i8: get(cuda::FREIVALDS_ROWS_I8)?,
            freivalds_rows_i32: get(cuda::FREIVALDS_ROWS_I32)?,
        })
    }
}

/// A launch of `threads` threads in blocks of `block`.
pub(crate) fn grid(threads: u64, block: u32) -> Result<LaunchConfig, GpuError> {
    let blocks =
        u32::try_from(threads.div_ceil(u64::from(block))).map_err(|_| GpuError::TooLarge)?;
    Ok(LaunchConfig {
        grid_dim: (blocks.max(1), 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// A `u32` kernel argument, or `TooLarge`.
pub(crate) fn arg_u32(value: u64) -> Result<u32, GpuError> {
    u32::try_from(value).map_err(|_| GpuError::TooLarge)
}

/// A GEMM's operands on the device: rows of A and the rows of Bᵀ, K-contiguous, each row zero-padded
/// to `ld` bytes (a multiple of 4: whole dp4a words, and cuBLAS's leading dimension when k % 4 = 0).
pub(crate) struct OperandLayout {
    pub rows: u64,
    pub n: u64,
    pub k: u64,
    pub ld: u64,
}

impl OperandLayout {
    pub fn new(rows: u64, n: u64, k: u64) -> Self {
        Self {
            rows,
            n,
            k,
            ld: k.next_multiple_of(4),
        }
    }

    /// (row, column) strides of A's elements in A (row-major m×k): element (i, p) is i·k + p.
    pub fn a_strides(&self) -> (u64, u64) {
        (self.k, 1)
    }

    /// (row, column) strides of Bᵀ's elements in B (row-major k×n): element (j, p) is p·n + j.
    pub fn bt_strides(&self) -> (u64, u64) {
        (1, self.n)
    }

    /// (rows, n, k, ld) as the i32s cuBLAS and the GEMM kernel take.
    fn dims_i32(&self) -> Result<(i32, i32, i32, i32), GpuError> {
        let to_i32 = |v: u64| i32::try_from(v).map_err(|_| GpuError::TooLarge);
        Ok((
            to_i32(self.rows)?,
            to_i32(self.n)?,
            to_i32(self.k)?,
            to_i32(self.ld)?,
        ))
    }
}

/// Where an operand's values come from.
pub(crate) enum OperandSource<'a> {
    /// A seeded stream (`SeededGemm`'s), from row `first_row` on.
    Seeded { seed: u64, first_row: u64 },
    /// Operand bytes already on the device.
    Device(&'a CudaView<'a, i8>),
}

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
            })
        })?;
        backend.blas = backend.probe_cublas();
        backend.probe_pipeline()?;
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
            let reference = engine::reference_shard(shard.kernel(), &seed, 3, 1);
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

    /// Whether cuBLAS's int8 GEMM is in use.
    pub fn uses_cublas(&self) -> bool {
        self.blas.is_some()
    }

    /// cuBLAS when it is in use and applies to the layout (k and n multiples of 4).
    pub(crate) fn blas_for(&self, layout: &OperandLayout) -> Option<&CudaBlas> {
        self.blas
            .as_ref()
            .filter(|_| layout.k.is_multiple_of(4) && layout.n.is_multiple_of(4))
    }

    /// Writes `rows` rows of an operand into `out`, K-contiguous: `cols` values per row, zero-padded
    /// to `ld` bytes; element (r, p) is element r·row_stride + p·col_stride of the source (a seeded
    /// stream from row `first_row` on, or bytes already on the device).
    pub(crate) fn operand(
        &self,
        source: &OperandSource,
        (row_stride, col_stride): (u64, u64),
        rows: u64,
        cols: u64,
        ld: u64,
        out: &mut CudaViewMut<u8>,
    ) -> Result<(), GpuError> {
        let (cols, ld_words) = (arg_u32(cols)?, arg_u32(ld / 4)?);
        let mut launch = match source {
            OperandSource::Seeded { seed, first_row } => {
                let mut launch = self.stream.launch_builder(&self.kernels.seeded_operand);
                launch.arg(seed).arg(first_row);
                launch
            }
            OperandSource::Device(bytes) => {
                let mut launch = self.stream.launch_builder(&self.kernels.strided_operand);
                launch.arg(*bytes);
                launch
            }
        };
        launch
            .arg(&row_stride)
            .arg(&col_stride)
            .arg(&rows)
            .arg(&cols)
            .arg(&ld_words)
            .arg(out);
        // SAFETY: the arguments match the kernel's signature; `out` holds rows × ld bytes and a
        // device source covers every element read.
        unsafe { launch.launch(grid(rows * u64::from(ld_words), cuda::WIDE_THREADS)?) }?;
        Ok(())
    }

    /// A's rows and Bᵀ laid out as `layout`, from their sources.
    pub(crate) fn operands(
        &self,
        layout: &OperandLayout,
        a: &OperandSource,
        b: &OperandSource,
    ) -> Result<(CudaSlice<u8>, CudaSlice<u8>), GpuError> {
        let s = &self.stream;
        let mut a_dev = s.alloc_zeros::<u8>((layout.rows * layout.ld) as usize)?;
        let mut bt = s.alloc_zeros::<u8>((layout.n * layout.ld) as usize)?;
        self.operand(
            a,
            layout.a_strides(),
            layout.rows,
            layout.k,
            layout.ld,
            &mut a_dev.as_view_mut(),
        )?;
        self.operand(
            b,
            layout.bt_strides(),
            layout.n,
            layout.k,
            layout.ld,
            &mut bt.as_view_mut(),
        )?;
        Ok((a_dev, bt))
    }

    /// C (rows × n i32, row-major, as bytes) = A·B from operands laid out as `layout`: cuBLAS's int8
    /// GEMM in its fast "TN" form (both operands K-contiguous) when given, else (and when cuBLAS
    /// refuses the shape) the dp4a kernel.
    pub(crate) fn gemm_on_device(
        &self,
        blas: Option<&CudaBlas>,
        a: &CudaView<u8>,
        bt: &CudaView<u8>,
        c: &mut CudaViewMut<u8>,
        layout: &OperandLayout,
    ) -> Result<(), GpuError> {
        if let Some(blas) = blas {
            match self.cublas_gemm(blas, a, bt, c, layout) {
                Ok(()) => return Ok(()),
                Err(error) => tracing::warn!(
                    %error,
                    rows = layout.rows,
                    n = layout.n,
                    k = layout.k,
                    "cuBLAS refused this GEMM; using the dp4a kernel"
                ),
            }
        }
        self.dp4a_gemm(a, bt, c, layout)
    }

    fn cublas_gemm(
        &self,
        blas: &CudaBlas,
        a: &CudaView<u8>,
        bt: &CudaView<u8>,
        c: &mut CudaViewMut<u8>,
        layout: &OperandLayout,
    ) -> Result<(), GpuError> {
        let s = &self.stream;
        let (rows, n, k, ld) = layout.dims_i32()?;
        let (alpha, beta) = (1i32, 0i32);
        let (a_p, _a) = a.device_ptr(s);
        let (bt_p, _b) = bt.device_ptr(s);
        let (c_p, _c) = c.device_ptr_mut(s);
        // SAFETY: Cᵀ (n×rows, column-major) = (Bᵀ)ᵀ·A with both operands K-contiguous ("TN");
        // pointers and leading dimensions match the views above.
        unsafe {
            cudarc::cublas::result::gemm_ex(
                *blas.handle(),
                cublas_sys::cublasOperation_t::CUBLAS_OP_T,
                cublas_sys::cublasOperation_t::CUBLAS_OP_N,
                n,
                rows,
                k,
                (&alpha) as *const i32 as *const _,
                bt_p as *const _,
                cublas_sys::cudaDataType::CUDA_R_8I,
                ld,
                a_p as *const _,
                cublas_sys::cudaDataType::CUDA_R_8I,
                ld,
                (&beta) as *const i32 as *const _,
                c_p as *mut _,
                cublas_sys::cudaDataType::CUDA_R_32I,
                n,
                cublas_sys::cublasComputeType_t::CUBLAS_COMPUTE_32I,
                cublas_sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )?;
        }
        Ok(())
    }

    fn dp4a_gemm(
        &self,
        a: &CudaView<u8>,
        bt: &CudaView<u8>,
        c: &mut CudaViewMut<u8>,
        layout: &OperandLayout,
    ) -> Result<(), GpuError> {
        let (rows, n, _, ld) = layout.dims_i32()?;
        let words = ld / 4;
        let config = LaunchConfig {
            grid_dim: (
                (n as u32).div_ceil(cuda::GEMM_TILE),
                (rows as u32).div_ceil(cuda::GEMM_TILE),
                1,
            ),
            block_dim: (cuda::GEMM_THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = self.stream.launch_builder(&self.kernels.gemm_dp4a);
        launch.arg(a).arg(bt).arg(c).arg(&rows).arg(&n).arg(&words);
        // SAFETY: the arguments match the kernel's signature and the views' sizes.
        unsafe { launch.launch(config) }?;
        Ok(())
    }

    /// Host operands (A m×k, B k×n, row-major) copied once, packed on the device, multiplied there.
    fn gemm_host_operands(
        &self,
        blas: Option<&CudaBlas>,
        a: &[i8],
        b: &[i8],
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<Vec<i32>, GpuError> {
        let layout = OperandLayout::new(m as u64, n as u64, k as u64);
        guarded(|| {
            self.context.bind_to_thread()?;
            let s = &self.stream;
            let (a_raw, b_raw) = (s.clone_htod(a)?, s.clone_htod(b)?);
            let (a_dev, bt) = self.operands(
                &layout,
                &OperandSource::Device(&a_raw.as_view()),
                &OperandSource::Device(&b_raw.as_view()),
            )?;
            let mut c = s.alloc_zeros::<u8>(m * n * 4)?;
            self.gemm_on_device(
                blas,
                &a_dev.as_view(),
                &bt.as_view(),
                &mut c.as_view_mut(),
                &layout,
            )?;
            let bytes = s.clone_dtoh(&c)?;
            Ok(bytes
                .chunks_exact(4)
                .map(|w| i32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect())
        })
    }

    /// Our dp4a kernel alone, for the benchmark's comparison.
    pub fn gemm_kernel(
        &self,
        a: &[i8],
        b: &[i8],
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<Vec<i32>, GpuError> {
        self.gemm_host_operands(None, a, b, m, n, k)
    }

    /// The bare GEMM of seeded size³ operands already on the device, timed with CUDA events over
    /// `repeats` runs after a warm-up: seconds per GEMM and C's bytes. `None` when cuBLAS is asked
    /// for and not usable here.
    pub fn time_device_gemm(
        &self,
        size: usize,
        cublas: bool,
        repeats: u32,
    ) -> Result<Option<(f64, Vec<u8>)>, GpuError> {
        let layout = OperandLayout::new(size as u64, size as u64, size as u64);
        let blas = match (cublas, self.blas_for(&layout)) {
            (false, _) => None,
            (true, Some(blas)) => Some(blas),
            (true, None) => return Ok(None),
        };
        let seeds = gpushare_core::kernels::SeededGemm::new(
            &crate::backend::BENCHMARK_SEED,
            size as u32,
            size as u32,
        );
        guarded(|| {
            self.context.bind_to_thread()?;
            let s = &self.stream;
            let (a, bt) = self.operands(
                &layout,
                &OperandSource::Seeded {
                    seed: seeds.seed_a,
                    first_row: 0,
                },
                &OperandSource::Seeded {
                    seed: seeds.seed_b,
                    first_row: 0,
                },
            )?;
            let mut c = s.alloc_zeros::<u8>(size * size * 4)?;
            let mut run = || {
                self.gemm_on_device(
                    blas,
                    &a.as_view(),
                    &bt.as_view(),
                    &mut c.as_view_mut(),
                    &layout,
                )
            };
            run()?;
            let flags = Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
            let start = s.record_event(flags)?;
            for _ in 0..repeats.max(1) {
                run()?;
            }
            let end = s.record_event(flags)?;
            let seconds = f64::from(start.elapsed_ms(&end)?) / 1e3 / f64::from(repeats.max(1));
            Ok(Some((seconds, s.clone_dtoh(&c)?)))
        })
    }

    /// Freivalds' x = B·r (k entries) from Bᵀ, summed in column parts so that small k still fills
    /// the device.
    pub(crate) fn freivalds_columns(
        &self,
        bt: &CudaView<u8>,
        layout: &OperandLayout,
        r: &CudaSlice<u64>,
    ) -> Result<CudaSlice<u64>, GpuError> {
        let s = &self.stream;
        let parts = cuda::FREIVALDS_PARTS;
        let (n, k) = (arg_u32(layout.n)?, arg_u32(layout.k)?);
        let mut partial = s.alloc_zeros::<u64>(parts as usize * layout.k as usize)?;
        let mut x = s.alloc_zeros::<u64>(layout.k as usize)?;
        let mut config = grid(layout.k, cuda::WIDE_THREADS)?;
        config.grid_dim.1 = parts;
        let mut launch = s.launch_builder(&self.kernels.freivalds_columns);
        launch
            .arg(bt)
            .arg(&layout.ld)
            .arg(&n)
            .arg(&k)
            .arg(r)
            .arg(&mut partial);
        // SAFETY: the arguments match the kernel's signature and the buffers' sizes.
        unsafe { launch.launch(config) }?;
        let mut launch = s.launch_builder(&self.kernels.freivalds_sum);
        launch.arg(&partial).arg(&parts).arg(&k).arg(&mut x);
        // SAFETY: as above.
        unsafe { launch.launch(grid(layout.k, cuda::WIDE_THREADS)?) }?;
        Ok(x)
    }

    /// Freivalds' rows: y = A·x for `rows` rows of A (`ld` bytes each) and z = C·r for the same rows
    /// of C, one warp per row.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn freivalds_rows(
        &self,
        a: &CudaView<u8>,
        c: &CudaView<u8>,
        layout: &OperandLayout,
        x: &CudaSlice<u64>,
        r: &CudaSlice<u64>,
        y: &mut CudaViewMut<u64>,
        z: &mut CudaViewMut<u64>,
    ) -> Result<(), GpuError> {
        let s = &self.stream;
        let (n, k) = (arg_u32(layout.n)?, arg_u32(layout.k)?);
        let config = grid(layout.rows * 32, cuda::WIDE_THREADS)?;
        let mut launch = s.launch_builder(&self.kernels.freivalds_rows_i8);
        launch
            .arg(a)
            .arg(&layout.ld)
            .arg(&layout.rows)
            .arg(&k)
            .arg(x)
            .arg(y);
        // SAFETY: the arguments match the kernel's signature and the views' sizes.
        unsafe { launch.launch(config) }?;
        let mut launch = s.launch_builder(&self.kernels.freivalds_rows_i32);
        launch.arg(c).arg(&layout.rows).arg(&n).arg(r).arg(z);
        // SAFETY: as above.
        unsafe { launch.launch(config) }?;
        Ok(())
    }

    /// RFC 6962 leaf hashes of `len` bytes of `data` in `leaf_bytes`-byte leaves, into `out`.
    pub(crate) fn leaf_hashes(
        &self,
        data: &CudaView<u8>,
        len: u64,
        leaf_bytes: u64,
        out: &mut CudaViewMut<u32>,
    ) -> Result<(), GpuError> {
        let leaf_bytes32 = arg_u32(leaf_bytes)?;
        let mut launch = self.stream.launch_builder(&self.kernels.leaf_hashes);
        launch.arg(data).arg(&len).arg(&leaf_bytes32).arg(out);
        // SAFETY: the arguments match the kernel's signature; `out` has 8 words per leaf.
        unsafe { launch.launch(grid(len.div_ceil(leaf_bytes), cuda::WIDE_THREADS)?) }?;
        Ok(())
    }

    /// The Merkle root over `leaves` leaf digests in `level` (8 words each), every level on the
    /// device (`level` is overwritten).
    pub(crate) fn merkle_root(
        &self,
        level: &mut CudaSlice<u32>,
        leaves: u64,
    ) -> Result<[u8; 32], GpuError> {
        let s = &self.stream;
        if leaves == 0 {
            return Ok(gpushare_core::merkle::empty_root());
        }
        let mut above = s.alloc_zeros::<u32>(leaves.div_ceil(2) as usize * 8)?;
        let mut count = leaves;
        while count > 1 {
            let mut launch = s.launch_builder(&self.kernels.merkle_level);
            launch.arg(&*level).arg(&count).arg(&mut above);
            // SAFETY: `level` holds `count` digests, `above` room for their parents.
            unsafe { launch.launch(grid(count.div_ceil(2), cuda::WIDE_THREADS)?) }?;
            std::mem::swap(level, &mut above);
            count = count.div_ceil(2);
        }
        let root = s.clone_dtoh(&level.slice(..8))?;
        Ok(digest_bytes(&root))
    }
}

/// State bytes as the kernels' big-endian words, and digest words back as bytes.
pub(crate) fn state_words(state: &[u8; 32]) -> [u32; 8] {
    std::array::from_fn(|i| {
        u32::from_be_bytes([
            state[4 * i],
            state[4 * i + 1],
            state[4 * i + 2],
            state[4 * i + 3],
        ])
    })
}

pub(crate) fn digest_bytes(words: &[u32]) -> [u8; 32] {
    let mut state = [0u8; 32];
    for (i, word) in words.iter().take(8).enumerate() {
        state[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    state
}

impl Backend for GpuBackend {
    fn name(&self) -> String {
        let blas = if self.uses_cublas() {
            ", cuBLAS int8"
        } else {
            ""
        };
        format!("cuda {} ({}{blas})", self.ordinal, self.device)
    }

    fn memory_mib(&self) -> u64 {
        guarded(|| Ok(self.context.total_mem()?)).map_or(0, |bytes| bytes as u64 >> 20)
    }

    fn bare_gemm_seconds(&self, size: usize, repeats: u32) -> Result<f64, WorkerError> {
        let timed = match self.time_device_gemm(size, true, repeats)? {
            Some(timed) => Some(timed),
            None => self.time_device_gemm(size, false, repeats)?,
        };
        timed
            .map(|(seconds, _)| seconds)
            .ok_or_else(|| GpuError::TooLarge.into())
    }

    fn gemm_i8(
        &self,
        a: &[i8],
        b: &[i8],
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<Vec<i32>, WorkerError> {
        check_gemm_shape(a, b, m, n, k)?;
        if m == 0 || n == 0 || k == 0 {
            return self.cpu.gemm_i8(a, b, m, n, k);
        }
        let layout = OperandLayout::new(m as u64, n as u64, k as u64);
        Ok(self.gemm_host_operands(self.blas_for(&layout), a, b, m, n, k)?)
    }

    fn sha256_chains(
        &self,
        starts: &[[u8; 32]],
        key: &ChainKey,
        steps: u32,
        leaf_every: u32,
    ) -> Result<Vec<Vec<[u8; 32]>>, WorkerError> {
        check_chain_shape(steps, leaf_every)?;
        if starts.len() < GPU_CHAINS_PER_CPU_THREAD * rayon::current_num_threads() {
            return self.cpu.sha256_chains(starts, key, steps, leaf_every);
        }
        let leaves = steps / leaf_every;
        let chains = i32::try_from(starts.len()).map_err(|_| GpuError::TooLarge)?;
        let words: Vec<u32> = starts.iter().flat_map(state_words).collect();
        let key_words: [u32; 4] = std::array::from_fn(|i| {
            u32::from_be_bytes([key[4 * i], key[4 * i + 1], key[4 * i + 2], key[4 * i + 3]])
        });
        let out = guarded(|| {
            self.context.bind_to_thread()?;
            let s = &self.stream;
            let starts_d = s.clone_htod(&words)?;
            let mut out_d = s.alloc_zeros::<u32>(starts.len() * leaves as usize * 8)?;
            let mut launch = s.launch_builder(&self.kernels.sha256_chains);
            launch
                .arg(&starts_d)
                .arg(&mut out_d)
                .arg(&key_words[0])
                .arg(&key_words[1])
                .arg(&key_words[2])
                .arg(&key_words[3])
                .arg(&chains)
                .arg(&leaves)
                .arg(&leaf_every);
            // SAFETY: the arguments match the kernel's signature and the buffers' sizes.
            unsafe { launch.launch(grid(starts.len() as u64, cuda::WIDE_THREADS)?) }?;
            Ok(s.clone_dtoh(&out_d)?)
        })?;
        Ok(out
            .chunks(leaves as usize * 8)
            .map(|chain| chain.chunks(8).map(digest_bytes).collect())
            .collect())
    }

    fn monte_carlo(
        &self,
        key: [u32; 2],
        blocks: Range<u32>,
        samples: u32,
    ) -> Result<Vec<u32>, WorkerError> {
        let count = blocks.end.saturating_sub(blocks.start);
        if u64::from(count) * u64::from(samples) < GPU_MIN_MONTE_CARLO_SAMPLES {
            return self.cpu.monte_carlo(key, blocks, samples);
        }
        Ok(guarded(|| {
            self.context.bind_to_thread()?;
            let s = &self.stream;
            let mut hits_d = s.alloc_zeros::<u32>(count as usize)?;
            let config = LaunchConfig {
                grid_dim: (count, 1, 1),
                block_dim: (cuda::WIDE_THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut launch = s.launch_builder(&self.kernels.monte_carlo);
            launch
                .arg(&key[0])
                .arg(&key[1])
                .arg(&blocks.start)
                .arg(&samples)
                .arg(&mut hits_d);
            // SAFETY: the arguments match the kernel's signature and the buffer's size.
            unsafe { launch.launch(config) }?;
            Ok(s.clone_dtoh(&hits_d)?)
        })?)
    }

    /// The device-resident pipeline; the host pipeline when the device has no room for a panel.
    fn gemm_shard(
        &self,
        shard: &GemmShard,
        phases: &mut Phases,
    ) -> Result<ShardOutput, WorkerError> {
        match self.device_gemm_shard(shard, phases) {
            Err(WorkerError::Gpu(GpuError::NoRoom | GpuError::TooLarge)) => {
                tracing::info!(
                    device = self.ordinal,
                    "shard too large for the device's free memory; computing it on the host"
                );
                *phases = Phases::default();
                engine::host_gemm_shard(self, shard, phases)
            }
            result => result,
        }
    }
}
