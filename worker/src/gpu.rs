//! The CUDA backend on cudarc: NVRTC-compiled kernels (`cuda.rs`), and cuBLAS's int8 GEMM where it
//! is proven bit-identical on this device. Built with dynamic loading, so the binary runs on machines
//! without CUDA; there, and on any driver or library failure, construction returns an error (cudarc
//! panics when a library is missing, hence the probes and `catch_unwind`) and the worker uses the CPU.
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use cudarc::cublas::{CudaBlas, sys as cublas_sys};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaStream, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{CompileOptions, Ptx, compile_ptx_with_opts};

use crate::backend::{Backend, ChainKey, check_chain_shape, check_gemm_shape};
use crate::cuda;
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
fn guarded<T>(f: impl FnOnce() -> Result<T, GpuError>) -> Result<T, GpuError> {
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

/// The CUDA backend on device 0.
pub struct GpuBackend {
    device: String,
    stream: Arc<CudaStream>,
    gemm: CudaFunction,
    sha256: CudaFunction,
    monte_carlo: CudaFunction,
    /// cuBLAS, kept only when its int8 GEMM matched our kernel bit for bit at start-up.
    blas: Option<CudaBlas>,
}

// SAFETY: cudarc's handles are used through the stream, which serializes work; the CUDA context is
// thread-safe, and the cuBLAS handle is only used from `&self` methods that launch on that stream.
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
            let stream = context.default_stream();
            let (major, minor) = context.compute_capability()?;
            let module = context.load_module(compile_ptx(arch_for(major, minor))?)?;
            Ok(GpuBackend {
                device: context.name()?,
                gemm: module.load_function(cuda::GEMM_I8)?,
                sha256: module.load_function(cuda::SHA256_CHAINS)?,
                monte_carlo: module.load_function(cuda::MONTE_CARLO)?,
                stream,
                blas: None,
            })
        })?;
        backend.blas = backend.probe_cublas();
        Ok(backend)
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
        let ours = self.gemm_kernel(&a, &b, m, n, k).ok()?;
        match self.gemm_cublas(&blas, &a, &b, m, n, k) {
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

    /// Our tiled dp4a kernel.
    pub fn gemm_kernel(
        &self,
        a: &[i8],
        b: &[i8],
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<Vec<i32>, GpuError> {
        let words = k.div_ceil(4);
        let (m32, n32, w32) = (i32::try_from(m), i32::try_from(n), i32::try_from(words));
        let (Ok(m32), Ok(n32), Ok(w32)) = (m32, n32, w32) else {
            return Err(GpuError::TooLarge);
        };
        let pack = |rows: usize, value: &dyn Fn(usize, usize) -> i8| -> Vec<i32> {
            let mut packed = vec![0i32; rows * words];
            for (r, row) in packed.chunks_mut(words.max(1)).enumerate() {
                for (w, word) in row.iter_mut().enumerate() {
                    let bytes: [u8; 4] = std::array::from_fn(|q| {
                        let p = w * 4 + q;
                        if p < k { value(r, p) as u8 } else { 0 }
                    });
                    *word = i32::from_le_bytes(bytes);
                }
            }
            packed
        };
        let a_words = pack(m, &|i, p| a[i * k + p]);
        let bt_words = pack(n, &|j, p| b[p * n + j]);
        guarded(|| {
            let s = &self.stream;
            let a_d = s.clone_htod(&a_words)?;
            let b_d = s.clone_htod(&bt_words)?;
            let mut c_d = s.alloc_zeros::<i32>(m * n)?;
            let config = LaunchConfig {
                grid_dim: (
                    (n as u32).div_ceil(cuda::GEMM_TILE),
                    (m as u32).div_ceil(cuda::GEMM_TILE),
                    1,
                ),
                block_dim: (cuda::GEMM_THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut launch = s.launch_builder(&self.gemm);
            launch
                .arg(&a_d)
                .arg(&b_d)
                .arg(&mut c_d)
                .arg(&m32)
                .arg(&n32)
                .arg(&w32);
            // SAFETY: the arguments match the kernel's signature and the buffers' sizes.
            unsafe { launch.launch(config) }?;
            Ok(s.clone_dtoh(&c_d)?)
        })
    }

    /// cuBLAS `gemm_ex` with int8 inputs and i32 compute (needs k and n multiples of 4).
    fn gemm_cublas(
        &self,
        blas: &CudaBlas,
        a: &[i8],
        b: &[i8],
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<Vec<i32>, GpuError> {
        if !k.is_multiple_of(4) || !n.is_multiple_of(4) {
            return Err(GpuError::TooLarge);
        }
        let mut bt = vec![0i8; n * k];
        for p in 0..k {
            for j in 0..n {
                bt[j * k + p] = b[p * n + j];
            }
        }
        guarded(|| {
            let s = &self.stream;
            let a_d = s.clone_htod(a)?;
            let bt_d = s.clone_htod(&bt)?;
            let mut c_d = s.alloc_zeros::<i32>(m * n)?;
            let (alpha, beta) = (1i32, 0i32);
            {
                let (a_p, _a) = a_d.device_ptr(s);
                let (bt_p, _b) = bt_d.device_ptr(s);
                let (c_p, _c) = c_d.device_ptr_mut(s);
                // SAFETY: C^T (n×m, col-major) = Bt^T · A with both operands K-contiguous ("TN");
                // pointers and leading dimensions match the buffers above.
                unsafe {
                    cudarc::cublas::result::gemm_ex(
                        *blas.handle(),
                        cublas_sys::cublasOperation_t::CUBLAS_OP_T,
                        cublas_sys::cublasOperation_t::CUBLAS_OP_N,
                        n as i32,
                        m as i32,
                        k as i32,
                        (&alpha) as *const i32 as *const _,
                        bt_p as *const _,
                        cublas_sys::cudaDataType::CUDA_R_8I,
                        k as i32,
                        a_p as *const _,
                        cublas_sys::cudaDataType::CUDA_R_8I,
                        k as i32,
                        (&beta) as *const i32 as *const _,
                        c_p as *mut _,
                        cublas_sys::cudaDataType::CUDA_R_32I,
                        n as i32,
                        cublas_sys::cublasComputeType_t::CUBLAS_COMPUTE_32I,
                        cublas_sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
                    )?;
                }
            }
            Ok(s.clone_dtoh(&c_d)?)
        })
    }

    /// cuBLAS's int8 GEMM, for the benchmark's comparison; `None` when it is not usable here.
    pub fn gemm_with_cublas(
        &self,
        a: &[i8],
        b: &[i8],
        m: usize,
        n: usize,
        k: usize,
    ) -> Option<Result<Vec<i32>, GpuError>> {
        self.blas
            .as_ref()
            .map(|blas| self.gemm_cublas(blas, a, b, m, n, k))
    }
}

/// State bytes as the kernel's big-endian words, and back.
fn to_words(state: &[u8; 32]) -> [u32; 8] {
    std::array::from_fn(|i| {
        u32::from_be_bytes([
            state[4 * i],
            state[4 * i + 1],
            state[4 * i + 2],
            state[4 * i + 3],
        ])
    })
}

fn from_words(words: &[u32]) -> [u8; 32] {
    let mut state = [0u8; 32];
    for (i, word) in words.iter().enumerate() {
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
        format!("cuda ({}{blas})", self.device)
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
        if let Some(blas) = &self.blas
            && k.is_multiple_of(4)
            && n.is_multiple_of(4)
        {
            return Ok(self.gemm_cublas(blas, a, b, m, n, k)?);
        }
        Ok(self.gemm_kernel(a, b, m, n, k)?)
    }

    fn sha256_chains(
        &self,
        starts: &[[u8; 32]],
        key: &ChainKey,
        steps: u32,
        leaf_every: u32,
    ) -> Result<Vec<Vec<[u8; 32]>>, WorkerError> {
        check_chain_shape(steps, leaf_every)?;
        let leaves = steps / leaf_every;
        let chains = i32::try_from(starts.len()).map_err(|_| GpuError::TooLarge)?;
        let words: Vec<u32> = starts.iter().flat_map(to_words).collect();
        let key_words: [u32; 4] = std::array::from_fn(|i| {
            u32::from_be_bytes([key[4 * i], key[4 * i + 1], key[4 * i + 2], key[4 * i + 3]])
        });
        let out = guarded(|| {
            let s = &self.stream;
            let starts_d = s.clone_htod(&words)?;
            let mut out_d = s.alloc_zeros::<u32>(starts.len() * leaves as usize * 8)?;
            let config = LaunchConfig {
                grid_dim: ((starts.len() as u32).div_ceil(cuda::WIDE_THREADS), 1, 1),
                block_dim: (cuda::WIDE_THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut launch = s.launch_builder(&self.sha256);
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
            unsafe { launch.launch(config) }?;
            Ok(s.clone_dtoh(&out_d)?)
        })?;
        Ok(out
            .chunks(leaves as usize * 8)
            .map(|chain| chain.chunks(8).map(from_words).collect())
            .collect())
    }

    fn monte_carlo(
        &self,
        key: [u32; 2],
        blocks: Range<u32>,
        samples: u32,
    ) -> Result<Vec<u32>, WorkerError> {
        let count = blocks.end.saturating_sub(blocks.start);
        if count == 0 {
            return Ok(Vec::new());
        }
        Ok(guarded(|| {
            let s = &self.stream;
            let mut hits_d = s.alloc_zeros::<u32>(count as usize)?;
            let config = LaunchConfig {
                grid_dim: (count, 1, 1),
                block_dim: (cuda::WIDE_THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut launch = s.launch_builder(&self.monte_carlo);
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
}
