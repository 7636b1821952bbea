// gpushare's per-thread kernel bodies, in the subset of C that both NVRTC (as CUDA device code) and a
// host C compiler accept: the CUDA kernels call these, and the worker's tests compile this file as
// host C and check every function against gpushare-core, so the GPU's arithmetic is tested without
// a GPU. Integer arithmetic only: every device produces the reference bits.
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define GS_FN __device__ __forceinline__
#define GS_CONST __constant__ const
#define GS_MULHI32(a, b) __umulhi((a), (b))
#define GS_MULHI64(a, b) __umul64hi((a), (b))
#define GS_UNROLL _Pragma("unroll")
#else
#define GS_FN static inline
#define GS_CONST static const
#define GS_MULHI32(a, b) ((gs_u32)(((gs_u64)(a) * (gs_u64)(b)) >> 32))
#define GS_MULHI64(a, b) ((gs_u64)(((unsigned __int128)(a) * (unsigned __int128)(b)) >> 64))
#define GS_UNROLL
#endif

typedef unsigned char gs_u8;
typedef unsigned int gs_u32;
typedef unsigned long long gs_u64;
typedef long long gs_i64;

// ---------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4). Digests are kept as eight word values; their bytes are the words big-endian.
GS_CONST gs_u32 GS_K256[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};

GS_FN gs_u32 gs_rotr(gs_u32 x, int n) { return (x >> n) | (x << (32 - n)); }

GS_FN void gs_sha256_init(gs_u32 h[8])
{
    h[0] = 0x6a09e667u; h[1] = 0xbb67ae85u; h[2] = 0x3c6ef372u; h[3] = 0xa54ff53au;
    h[4] = 0x510e527fu; h[5] = 0x9b05688cu; h[6] = 0x1f83d9abu; h[7] = 0x5be0cd19u;
}

// One compression of the 16-word block `m` into the state `h` (the message schedule kept as a
// rolling window of 16 words; fully unrolled on the GPU so that it lives in registers).
GS_FN void gs_sha256_compress(gs_u32 h[8], const gs_u32 m[16])
{
    gs_u32 w[16];
    GS_UNROLL
    for (int i = 0; i < 16; ++i) w[i] = m[i];
    gs_u32 a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    GS_UNROLL
    for (int i = 0; i < 64; ++i) {
        if (i >= 16) {
            const gs_u32 x = w[(i + 1) & 15], y = w[(i + 14) & 15];
            const gs_u32 s0 = gs_rotr(x, 7) ^ gs_rotr(x, 18) ^ (x >> 3);
            const gs_u32 s1 = gs_rotr(y, 17) ^ gs_rotr(y, 19) ^ (y >> 10);
            w[i & 15] += s0 + w[(i + 9) & 15] + s1;
        }
        const gs_u32 t1 = k + (gs_rotr(e, 6) ^ gs_rotr(e, 11) ^ gs_rotr(e, 25)) + ((e & f) ^ (~e & g)) + GS_K256[i] + w[i & 15];
        const gs_u32 t2 = (gs_rotr(a, 2) ^ gs_rotr(a, 13) ^ gs_rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

// Byte `pos` of the padded message `prefix ‖ data[0..len)` of `padded` bytes.
GS_FN gs_u32 gs_padded_byte(gs_u8 prefix, const gs_u8* data, gs_u64 len, gs_u64 padded, gs_u64 pos)
{
    const gs_u64 total = len + 1;
    if (pos >= padded - 8) return (gs_u32)(((total * 8) >> (8 * (padded - 1 - pos))) & 0xffu);
    if (pos == 0) return prefix;
    if (pos <= len) return data[pos - 1];
    return pos == total ? 0x80u : 0u;
}

// SHA-256 of `prefix ‖ data[0..len)`: an RFC 6962 leaf hash with prefix 0x00.
GS_FN void gs_sha256_prefixed(gs_u8 prefix, const gs_u8* data, gs_u64 len, gs_u32 h[8])
{
    const gs_u64 padded = ((len + 1 + 8) / 64 + 1) * 64;
    gs_sha256_init(h);
    for (gs_u64 block = 0; block < padded; block += 64) {
        gs_u32 m[16];
        for (int i = 0; i < 16; ++i) {
            gs_u32 word = 0;
            for (int b = 0; b < 4; ++b)
                word = (word << 8) | gs_padded_byte(prefix, data, len, padded, block + 4 * i + b);
            m[i] = word;
        }
        gs_sha256_compress(h, m);
    }
}

// RFC 6962 node hash H(0x01 ‖ left ‖ right) of two digests: 65 bytes, two blocks.
GS_FN void gs_sha256_node(const gs_u32 left[8], const gs_u32 right[8], gs_u32 h[8])
{
    gs_u32 m[16];
    m[0] = 0x01000000u | (left[0] >> 8);
    for (int i = 1; i < 8; ++i) m[i] = (left[i - 1] << 24) | (left[i] >> 8);
    m[8] = (left[7] << 24) | (right[0] >> 8);
    for (int i = 9; i < 16; ++i) m[i] = (right[i - 9] << 24) | (right[i - 8] >> 8);
    gs_sha256_init(h);
    gs_sha256_compress(h, m);
    m[0] = (right[7] << 24) | 0x00800000u;
    for (int i = 1; i < 15; ++i) m[i] = 0u;
    m[15] = 65u * 8u;
    gs_sha256_compress(h, m);
}

// One sha256_chain step, state ← SHA-256(state ‖ key): 48 bytes, one padded block.
GS_FN void gs_sha256_chain_step(gs_u32 s[8], const gs_u32 key[4])
{
    gs_u32 m[16];
    for (int i = 0; i < 8; ++i) m[i] = s[i];
    for (int i = 0; i < 4; ++i) m[8 + i] = key[i];
    m[12] = 0x80000000u;
    m[13] = 0u;
    m[14] = 0u;
    m[15] = 48u * 8u;
    gs_sha256_init(s);
    gs_sha256_compress(s, m);
}

// ---------------------------------------------------------------------------------------------
// Seeded generators.

// Output `index` of the SplitMix64 stream seeded with `seed`.
GS_FN gs_u64 gs_splitmix64_at(gs_u64 seed, gs_u64 index)
{
    gs_u64 z = seed + (index + 1ull) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Element `index` of a seeded gemm_i8 operand stream: byte index % 8 (little-endian) of output index / 8.
GS_FN gs_u32 gs_seeded_byte(gs_u64 seed, gs_u64 index)
{
    return (gs_u32)((gs_splitmix64_at(seed, index >> 3) >> (8 * (index & 7))) & 0xffu);
}

// Word `word` of row `row` of an operand laid out K-contiguous with `ld_words` words per row: its
// four bytes are elements (row, 4·word + q) of the stream, element (r, p) being stream index
// r·row_stride + p·col_stride; columns at or past `cols` are zero (exact padding for dot products).
GS_FN gs_u32 gs_seeded_operand_word(gs_u64 seed, gs_u64 row, gs_u32 word, gs_u32 cols, gs_u64 row_stride,
                                    gs_u64 col_stride)
{
    gs_u32 packed = 0;
    for (gs_u32 q = 0; q < 4; ++q) {
        const gs_u32 p = 4 * word + q;
        if (p < cols) packed |= gs_seeded_byte(seed, row * row_stride + (gs_u64)p * col_stride) << (8 * q);
    }
    return packed;
}

// The same word read from bytes in memory, element (r, p) at src[r·row_stride + p·col_stride].
GS_FN gs_u32 gs_strided_operand_word(const gs_u8* src, gs_u64 row, gs_u32 word, gs_u32 cols, gs_u64 row_stride,
                                     gs_u64 col_stride)
{
    gs_u32 packed = 0;
    for (gs_u32 q = 0; q < 4; ++q) {
        const gs_u32 p = 4 * word + q;
        if (p < cols) packed |= (gs_u32)src[row * row_stride + (gs_u64)p * col_stride] << (8 * q);
    }
    return packed;
}

// Philox4x32-10 (Random123): the block of four words for counter `c` under key (k0, k1), in place.
GS_FN void gs_philox4x32_10(gs_u32 c[4], gs_u32 k0, gs_u32 k1)
{
    for (int r = 0; r < 10; ++r) {
        const gs_u32 hi0 = GS_MULHI32(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
        const gs_u32 hi1 = GS_MULHI32(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
        const gs_u32 n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
}

// Whether the point (x, y) of two u32 coordinates hits: x² + y² < 2⁶⁴.
GS_FN gs_u32 gs_inside(gs_u32 x, gs_u32 y)
{
    const gs_u64 xx = (gs_u64)x * x, yy = (gs_u64)y * y;
    return xx <= 0xFFFFFFFFFFFFFFFFull - yy ? 1u : 0u;
}

// ---------------------------------------------------------------------------------------------
// Freivalds' check over the prime field 2⁶¹ − 1.
#define GS_P 0x1FFFFFFFFFFFFFFFull

// A signed value with |v| < P as a field element.
GS_FN gs_u64 gs_field_of(gs_i64 v) { return v < 0 ? (gs_u64)(v + (gs_i64)GS_P) : (gs_u64)v; }

GS_FN gs_u64 gs_add_p(gs_u64 a, gs_u64 b)
{
    const gs_u64 s = a + b;
    return s >= GS_P ? s - GS_P : s;
}

// a·b mod P for a, b < P: the 122-bit product folded with 2⁶¹ ≡ 1.
GS_FN gs_u64 gs_mul_p(gs_u64 a, gs_u64 b)
{
    const gs_u64 lo = a * b, hi = GS_MULHI64(a, b);
    gs_u64 r = (lo & GS_P) + (lo >> 61) + (hi << 3);
    r = (r & GS_P) + (r >> 61);
    return r >= GS_P ? r - GS_P : r;
}

// Σ m[p]·v[p] mod P over p = first, first + step, … < cols, for a row of i8 values.
GS_FN gs_u64 gs_dot_i8(const signed char* row, gs_u32 cols, const gs_u64* v, gs_u32 first, gs_u32 step)
{
    gs_u64 acc = 0;
    for (gs_u32 p = first; p < cols; p += step) acc = gs_add_p(acc, gs_mul_p(gs_field_of(row[p]), v[p]));
    return acc;
}

// The same for a row of i32 values.
GS_FN gs_u64 gs_dot_i32(const int* row, gs_u32 cols, const gs_u64* v, gs_u32 first, gs_u32 step)
{
    gs_u64 acc = 0;
    for (gs_u32 p = first; p < cols; p += step) acc = gs_add_p(acc, gs_mul_p(gs_field_of(row[p]), v[p]));
    return acc;
}

// Σ_j Bᵀ[j][p]·r[j] mod P over j in [j0, j1): entry p of B·r, from Bᵀ with `ld` bytes per row.
GS_FN gs_u64 gs_column_dot(const signed char* bt, gs_u64 ld, gs_u32 p, const gs_u64* r, gs_u32 j0, gs_u32 j1)
{
    gs_u64 acc = 0;
    for (gs_u32 j = j0; j < j1; ++j) acc = gs_add_p(acc, gs_mul_p(gs_field_of(bt[(gs_u64)j * ld + p]), r[j]));
    return acc;
}

// ---------------------------------------------------------------------------------------------
// Per-thread bodies of the kernels.

// Leaf `leaf` of `len` bytes cut into `leaf_bytes`-byte leaves (the last may be shorter), hashed to
// out[8·leaf ..]; nothing past the data.
GS_FN void gs_leaf_hash_at(const gs_u8* data, gs_u64 len, gs_u32 leaf_bytes, gs_u64 leaf, gs_u32* out)
{
    const gs_u64 start = leaf * leaf_bytes;
    if (start >= len) return;
    const gs_u64 rest = len - start;
    gs_sha256_prefixed(0x00, data + start, rest < leaf_bytes ? rest : leaf_bytes, out + 8 * leaf);
}

// Parent `i` of a level of `count` digests: the node of children 2i and 2i + 1, or child 2i carried
// up when it has no sibling.
GS_FN void gs_parent_at(const gs_u32* below, gs_u64 count, gs_u64 i, gs_u32* above)
{
    if (2 * i >= count) return;
    if (2 * i + 1 < count) {
        gs_sha256_node(below + 16 * i, below + 16 * i + 8, above + 8 * i);
    } else {
        for (int w = 0; w < 8; ++w) above[8 * i + w] = below[16 * i + w];
    }
}

// Chain `chain`: from its start state, the state after every `leaf_every` keyed steps.
GS_FN void gs_sha256_chain_at(const gs_u32* starts, const gs_u32 key[4], gs_u64 chain, gs_u32 leaves,
                              gs_u32 leaf_every, gs_u32* out)
{
    gs_u32 s[8];
    for (int i = 0; i < 8; ++i) s[i] = starts[chain * 8 + i];
    for (gs_u32 leaf = 0; leaf < leaves; ++leaf) {
        for (gs_u32 t = 0; t < leaf_every; ++t) gs_sha256_chain_step(s, key);
        for (int i = 0; i < 8; ++i) out[(chain * leaves + leaf) * 8 + i] = s[i];
    }
}

// Hits of sample pair `t` of Monte Carlo block `block` (`samples` points in the block).
GS_FN gs_u32 gs_monte_carlo_pair(gs_u32 k0, gs_u32 k1, gs_u32 block, gs_u32 t, gs_u32 samples)
{
    gs_u32 c[4] = {t, block, 0u, 0u};
    gs_philox4x32_10(c, k0, k1);
    gs_u32 hits = gs_inside(c[0], c[1]);
    if (2u * t + 1u < samples) hits += gs_inside(c[2], c[3]);
    return hits;
}
