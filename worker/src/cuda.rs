//! CUDA C++ sources of the GPU kernels, compiled at run time with NVRTC. Integer arithmetic only
//! (exact i32 sums, unsigned wrapping words), so every GPU produces the reference bits.

/// Kernel function names (extern "C", unmangled).
pub const GEMM_I8: &str = "gemm_i8_dp4a";
pub const SHA256_CHAINS: &str = "sha256_chains";
pub const MONTE_CARLO: &str = "monte_carlo_pi";

/// Threads per CUDA block of the GEMM kernel, and the C tile one block computes.
pub const GEMM_THREADS: u32 = 256;
pub const GEMM_TILE: u32 = 64;
/// Threads per CUDA block of the Monte Carlo and SHA-256 kernels.
pub const WIDE_THREADS: u32 = 256;

/// Every kernel, in one translation unit.
pub const SOURCE: &str = r#"
// ---------------------------------------------------------------------------------------------
// gemm_i8: C (M x N, i32) = A (M x K) * B (K x N), i8 operands packed four per 32-bit word along K
// (A row-major, B transposed so both are K-contiguous; K zero-padded to a multiple of 4, which is
// exact). Each 256-thread block computes a 64 x 64 tile of C; each thread a 4 x 4 register block,
// accumulating with __dp4a (exact signed 8-bit dot products into i32). K is staged through shared
// memory 8 words (32 values) at a time.
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

// ---------------------------------------------------------------------------------------------
// sha256_chains: one thread per chain; a state is 8 big-endian words; each step hashes the 32-byte
// state followed by the chain's 16-byte key (one padded 64-byte block: 48 bytes, 0x80, length 384
// bits). The state after every leaf_every steps is written out.
__constant__ unsigned int K256[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};

__device__ __forceinline__ unsigned int rotr(unsigned int x, int n) { return (x >> n) | (x << (32 - n)); }

__device__ void sha256_of_state(unsigned int s[8], const unsigned int key[4])
{
    unsigned int w[64];
    #pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = s[i];
    #pragma unroll
    for (int i = 0; i < 4; ++i) w[8 + i] = key[i];
    w[12] = 0x80000000u;
    w[13] = 0u;
    w[14] = 0u;
    w[15] = 384u;
    #pragma unroll
    for (int i = 16; i < 64; ++i) {
        const unsigned int s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        const unsigned int s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    const unsigned int H[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                               0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    unsigned int a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
    #pragma unroll
    for (int i = 0; i < 64; ++i) {
        const unsigned int t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        const unsigned int t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s[0] = H[0] + a; s[1] = H[1] + b; s[2] = H[2] + c; s[3] = H[3] + d;
    s[4] = H[4] + e; s[5] = H[5] + f; s[6] = H[6] + g; s[7] = H[7] + h;
}

extern "C" __global__ void sha256_chains(const unsigned int* __restrict__ starts, unsigned int* __restrict__ out,
                                         unsigned int k0, unsigned int k1, unsigned int k2, unsigned int k3,
                                         int chains, unsigned int leaves, unsigned int leaf_every)
{
    const int chain = blockIdx.x * blockDim.x + threadIdx.x;
    if (chain >= chains) return;
    const unsigned int key[4] = {k0, k1, k2, k3};
    unsigned int s[8];
    for (int i = 0; i < 8; ++i) s[i] = starts[chain * 8 + i];
    for (unsigned int leaf = 0; leaf < leaves; ++leaf) {
        for (unsigned int t = 0; t < leaf_every; ++t) sha256_of_state(s, key);
        for (int i = 0; i < 8; ++i) out[((size_t)chain * leaves + leaf) * 8 + i] = s[i];
    }
}

// ---------------------------------------------------------------------------------------------
// monte_carlo_pi: one CUDA block per Monte Carlo block. Sample pair t uses Philox4x32-10 on counter
// (t, block, 0, 0); a point (x, y) hits when x*x + y*y < 2^64. Integer counts: the sum is exact.
__device__ void philox4x32_10(unsigned int c[4], unsigned int k0, unsigned int k1)
{
    #pragma unroll
    for (int r = 0; r < 10; ++r) {
        const unsigned int hi0 = __umulhi(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
        const unsigned int hi1 = __umulhi(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
        const unsigned int n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
}

__device__ __forceinline__ unsigned int inside(unsigned int x, unsigned int y)
{
    const unsigned long long xx = (unsigned long long)x * x, yy = (unsigned long long)y * y;
    return xx <= 0xFFFFFFFFFFFFFFFFull - yy ? 1u : 0u;
}

extern "C" __global__ void monte_carlo_pi(unsigned int k0, unsigned int k1, unsigned int first_block,
                                          unsigned int samples, unsigned int* __restrict__ hits)
{
    __shared__ unsigned int total;
    if (threadIdx.x == 0) total = 0u;
    __syncthreads();
    const unsigned int block = first_block + blockIdx.x;
    const unsigned int pairs = samples / 2u + (samples & 1u);
    unsigned int count = 0u;
    for (unsigned int t = threadIdx.x; t < pairs; t += blockDim.x) {
        unsigned int c[4] = {t, block, 0u, 0u};
        philox4x32_10(c, k0, k1);
        count += inside(c[0], c[1]);
        if (2u * t + 1u < samples) count += inside(c[2], c[3]);
    }
    atomicAdd(&total, count);
    __syncthreads();
    if (threadIdx.x == 0) hits[blockIdx.x] = total;
}
"#;
