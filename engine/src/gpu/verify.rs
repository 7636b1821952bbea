//! What the device computes to check and commit to a GEMM shard: Freivalds' vectors and the Merkle
//! tree's leaves and levels.

use cudarc::driver::{CudaSlice, CudaView, CudaViewMut, PushKernelArg};

use crate::cuda;
use crate::error::GpuError;
use crate::hashing::digest_bytes;

use super::nvrtc::{arg_u32, grid};
use super::{GpuBackend, OperandLayout};

impl GpuBackend {
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
