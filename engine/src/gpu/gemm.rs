//! The GEMM on one device: operands generated or packed K-contiguous, cuBLAS's int8 GEMM where it is
//! proven bit-identical, else our dp4a kernel; and the bare GEMM timing of the benchmark.

use cudarc::cublas::{CudaBlas, sys as cublas_sys};
use cudarc::driver::{
    CudaSlice, CudaView, CudaViewMut, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg,
};

use crate::error::GpuError;

use crate::cuda;

use super::nvrtc::{arg_u32, grid};
use super::{GpuBackend, guarded};

/// to `ld` bytes (a multiple of 4: whole dp4a words, and cuBLAS's leading dimension when k % 4 = 0).
/// A GEMM's operands on the device: rows of A and the rows of Bᵀ, K-contiguous, each row zero-padded
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

impl GpuBackend {
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
    pub(super) fn gemm_host_operands(
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
            &crate::backend::BENCH_SEED,
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
}
