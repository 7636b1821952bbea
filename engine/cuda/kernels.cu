// ---------------------------------------------------------------------------------------------
// gpushare's CUDA kernels (NVRTC, after common.cuh). Each is a thin wrapper mapping threads onto the
// per-thread bodies of common.cuh, which the worker's tests also run as host C.

// gemm_i8: C (M x N, i32) = A (M x K) * B (K x N), i8 operands packed four per 32-bit word along K
// (A row-major, B transposed so both are K-contiguous; K zero-padded to a multiple of 4, which is
// exact). Each 256-thread block computes a 64 x 64 tile of C; each thread a 4 x 4 register block,
// accumulating with __dp4a (exact signed 8-bit dot products into i32). K is staged through shared
// memory 8 words (32 values) at a time. The fallback where cuBLAS's int8 GEMM does not apply.
#define TILE 64
#define KW_SLAB 8

extern "C" __global__ void gemm_i8_dp4a(const int* __restrict__ A, const int* __restrict__ Bt,
                                        int* __restrict__ C, int M, int N, int KW)
{
    __shared__ int As[KW_SLAB][TILE + 1];
    __shared__ int Bs[KW_SLAB][TILE + 1];
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int row0 = blockIdx.y * TILE, col0 = blockIdx.x * TILE;
    int acc[4][4];
    #pragma unroll
    for (int i = 0; i < 4; ++i)
        #pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0;

    for (int kw0 = 0; kw0 < KW; kw0 += KW_SLAB) {
        for (int l = threadIdx.x; l < TILE * KW_SLAB; l += blockDim.x) {
            const int r = l / KW_SLAB, w = l % KW_SLAB;
            const int gw = kw0 + w;
            const int ga = row0 + r, gb = col0 + r;
            As[w][r] = (ga < M && gw < KW) ? A[(size_t)ga * KW + gw] : 0;
            Bs[w][r] = (gb < N && gw < KW) ? Bt[(size_t)gb * KW + gw] : 0;
        }
        __syncthreads();
        #pragma unroll
        for (int w = 0; w < KW_SLAB; ++w) {
            int a[4], b[4];
            #pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = As[w][ty * 4 + i];
            #pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = Bs[w][tx * 4 + j];
            #pragma unroll
            for (int i = 0; i < 4; ++i)
                #pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = __dp4a(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
    #pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int row = row0 + ty * 4 + i;
        #pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int col = col0 + tx * 4 + j;
            if (row < M && col < N) C[(size_t)row * N + col] = acc[i][j];
        }
    }
}

__device__ __forceinline__ gs_u64 thread_index() { return (gs_u64)blockIdx.x * blockDim.x + threadIdx.x; }

// sha256_chains: one thread per chain; the state after every leaf_every steps is written out.
extern "C" __global__ void sha256_chains(const gs_u32* __restrict__ starts, gs_u32* __restrict__ out,
                                         gs_u32 k0, gs_u32 k1, gs_u32 k2, gs_u32 k3,
                                         int chains, gs_u32 leaves, gs_u32 leaf_every)
{
    const gs_u64 chain = thread_index();
    if (chain >= (gs_u64)chains) return;
    const gs_u32 key[4] = {k0, k1, k2, k3};
    gs_sha256_chain_at(starts, key, chain, leaves, leaf_every, out);
}

// monte_carlo_pi: one CUDA block per Monte Carlo block. Sample pair t uses Philox4x32-10 on counter
// (t, block, 0, 0). Integer counts: the sum is exact.
extern "C" __global__ void monte_carlo_pi(gs_u32 k0, gs_u32 k1, gs_u32 first_block, gs_u32 samples,
                                          gs_u32* __restrict__ hits)
{
    __shared__ gs_u32 total;
    if (threadIdx.x == 0) total = 0u;
    __syncthreads();
    const gs_u32 block = first_block + blockIdx.x;
    const gs_u32 pairs = samples / 2u + (samples & 1u);
    gs_u32 count = 0u;
    for (gs_u32 t = threadIdx.x; t < pairs; t += blockDim.x) count += gs_monte_carlo_pair(k0, k1, block, t, samples);
    atomicAdd(&total, count);
    __syncthreads();
    if (threadIdx.x == 0) hits[blockIdx.x] = total;
}

// seeded_operand: rows x ld_words words of a K-contiguous operand generated from its seed (A: row
// stride K, column stride 1; Bᵀ: row stride 1, column stride N), one word per thread.
extern "C" __global__ void seeded_operand(gs_u64 seed, gs_u64 first_row, gs_u64 row_stride, gs_u64 col_stride,
                                          gs_u64 rows, gs_u32 cols, gs_u32 ld_words, gs_u32* __restrict__ out)
{
    const gs_u64 t = thread_index();
    if (t >= rows * ld_words) return;
    out[t] = gs_seeded_operand_word(seed, first_row + t / ld_words, (gs_u32)(t % ld_words), cols, row_stride,
                                    col_stride);
}

// strided_operand: the same layout packed from operand bytes already on the device (data inputs).
extern "C" __global__ void strided_operand(const gs_u8* __restrict__ src, gs_u64 row_stride, gs_u64 col_stride,
                                           gs_u64 rows, gs_u32 cols, gs_u32 ld_words, gs_u32* __restrict__ out)
{
    const gs_u64 t = thread_index();
    if (t >= rows * ld_words) return;
    out[t] = gs_strided_operand_word(src, t / ld_words, (gs_u32)(t % ld_words), cols, row_stride, col_stride);
}

// leaf_hashes: RFC 6962 leaf hashes of `len` bytes cut into `leaf_bytes`-byte leaves (the last may be
// shorter), one leaf per thread, as digest words.
extern "C" __global__ void leaf_hashes(const gs_u8* __restrict__ data, gs_u64 len, gs_u32 leaf_bytes,
                                       gs_u32* __restrict__ out)
{
    gs_leaf_hash_at(data, len, leaf_bytes, thread_index(), out);
}

// merkle_level: the level above `count` digests, one parent per thread (a last unpaired node is
// carried up unchanged, RFC 6962's split at the largest power of two).
extern "C" __global__ void merkle_level(const gs_u32* __restrict__ below, gs_u64 count, gs_u32* __restrict__ above)
{
    gs_parent_at(below, count, thread_index(), above);
}

// freivalds_columns: partial sums of x = B·r over the columns of Bᵀ: thread p of part y sums
// j in [y·N/parts, (y+1)·N/parts) into partial[y·K + p]. Threads of a warp read adjacent bytes.
extern "C" __global__ void freivalds_columns(const signed char* __restrict__ bt, gs_u64 ld, gs_u32 n, gs_u32 k,
                                             const gs_u64* __restrict__ r, gs_u64* __restrict__ partial)
{
    const gs_u64 p = thread_index();
    if (p >= k) return;
    const gs_u32 part = blockIdx.y, parts = gridDim.y;
    const gs_u32 j0 = (gs_u32)((gs_u64)part * n / parts), j1 = (gs_u32)((gs_u64)(part + 1) * n / parts);
    partial[(gs_u64)part * k + p] = gs_column_dot(bt, ld, (gs_u32)p, r, j0, j1);
}

// freivalds_sum: x[p] = Σ over parts of partial[part·K + p] mod P.
extern "C" __global__ void freivalds_sum(const gs_u64* __restrict__ partial, gs_u32 parts, gs_u32 k,
                                         gs_u64* __restrict__ x)
{
    const gs_u64 p = thread_index();
    if (p >= k) return;
    gs_u64 acc = 0;
    for (gs_u32 part = 0; part < parts; ++part) acc = gs_add_p(acc, partial[(gs_u64)part * k + p]);
    x[p] = acc;
}

__device__ __forceinline__ gs_u64 warp_sum_p(gs_u64 acc)
{
    for (int offset = 16; offset > 0; offset >>= 1) acc = gs_add_p(acc, __shfl_down_sync(0xffffffffu, acc, offset));
    return acc;
}

// Freivalds' row sums, one warp per row: out[i] = Σ_p M[i][p]·v[p] mod P over `cols` entries of rows
// `ld` elements apart, `dot` being the element type's gs_dot.
template <class T, gs_u64 (*dot)(const T*, gs_u32, const gs_u64*, gs_u32, gs_u32)>
__device__ __forceinline__ void freivalds_rows(const T* m, gs_u64 ld, gs_u64 rows, gs_u32 cols, const gs_u64* v,
                                               gs_u64* out)
{
    const gs_u64 row = thread_index() / 32;
    const gs_u32 lane = threadIdx.x % 32;
    if (row >= rows) return;
    const gs_u64 acc = warp_sum_p(dot(m + row * ld, cols, v, lane, 32));
    if (lane == 0) out[row] = acc;
}

// freivalds_rows_i8: y = A·x, A's rows `ld` bytes apart.
extern "C" __global__ void freivalds_rows_i8(const signed char* __restrict__ a, gs_u64 ld, gs_u64 rows, gs_u32 cols,
                                             const gs_u64* __restrict__ x, gs_u64* __restrict__ y)
{
    freivalds_rows<signed char, gs_dot_i8>(a, ld, rows, cols, x, y);
}

// freivalds_rows_i32: z = C·r, C row-major.
extern "C" __global__ void freivalds_rows_i32(const int* __restrict__ c, gs_u64 rows, gs_u32 cols,
                                              const gs_u64* __restrict__ r, gs_u64* __restrict__ z)
{
    freivalds_rows<int, gs_dot_i32>(c, cols, rows, cols, r, z);
}
