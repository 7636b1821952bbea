// Host builds of the kernels in common.cuh, each looping a kernel's per-thread body over every
// thread index exactly as the CUDA grid does, for the worker's tests (src/host_kernels.rs).
#include "common.cuh"

void gs_host_leaf_hashes(const gs_u8* data, gs_u64 len, gs_u32 leaf_bytes, gs_u64 leaves, gs_u32* out)
{
    for (gs_u64 leaf = 0; leaf < leaves; ++leaf) gs_leaf_hash_at(data, len, leaf_bytes, leaf, out);
}

void gs_host_merkle_level(const gs_u32* below, gs_u64 count, gs_u32* above)
{
    for (gs_u64 i = 0; i < (count + 1) / 2; ++i) gs_parent_at(below, count, i, above);
}

void gs_host_seeded_operand(gs_u64 seed, gs_u64 first_row, gs_u64 row_stride, gs_u64 col_stride, gs_u64 rows,
                            gs_u32 cols, gs_u32 ld_words, gs_u32* out)
{
    for (gs_u64 t = 0; t < rows * ld_words; ++t)
        out[t] = gs_seeded_operand_word(seed, first_row + t / ld_words, (gs_u32)(t % ld_words), cols, row_stride,
                                        col_stride);
}

void gs_host_strided_operand(const gs_u8* src, gs_u64 row_stride, gs_u64 col_stride, gs_u64 rows, gs_u32 cols,
                             gs_u32 ld_words, gs_u32* out)
{
    for (gs_u64 t = 0; t < rows * ld_words; ++t)
        out[t] = gs_strided_operand_word(src, t / ld_words, (gs_u32)(t % ld_words), cols, row_stride, col_stride);
}

void gs_host_sha256_chains(const gs_u32* starts, const gs_u32 key[4], gs_u64 chains, gs_u32 leaves,
                           gs_u32 leaf_every, gs_u32* out)
{
    for (gs_u64 chain = 0; chain < chains; ++chain) gs_sha256_chain_at(starts, key, chain, leaves, leaf_every, out);
}

gs_u32 gs_host_monte_carlo_block(gs_u32 k0, gs_u32 k1, gs_u32 block, gs_u32 samples)
{
    gs_u32 count = 0;
    for (gs_u32 t = 0; t < samples / 2u + (samples & 1u); ++t) count += gs_monte_carlo_pair(k0, k1, block, t, samples);
    return count;
}

// Freivalds' vectors as the kernels form them: x = B·r from Bᵀ in `parts` column parts, y = A·x and
// z = C·r each summed over 32 lanes, lane sums combined in the warp's order.
static gs_u64 gs_host_warp_sum(gs_u64 lanes[32])
{
    for (int offset = 16; offset > 0; offset >>= 1)
        for (int lane = 0; lane < offset; ++lane) lanes[lane] = gs_add_p(lanes[lane], lanes[lane + offset]);
    return lanes[0];
}

void gs_host_freivalds(const signed char* a, gs_u64 a_ld, const signed char* bt, gs_u64 bt_ld, const int* c,
                       gs_u64 rows, gs_u32 n, gs_u32 k, gs_u32 parts, const gs_u64* r, gs_u64* x, gs_u64* y,
                       gs_u64* z)
{
    for (gs_u32 p = 0; p < k; ++p) {
        gs_u64 acc = 0;
        for (gs_u32 part = 0; part < parts; ++part) {
            const gs_u32 j0 = (gs_u32)((gs_u64)part * n / parts), j1 = (gs_u32)((gs_u64)(part + 1) * n / parts);
            acc = gs_add_p(acc, gs_column_dot(bt, bt_ld, p, r, j0, j1));
        }
        x[p] = acc;
    }
    for (gs_u64 row = 0; row < rows; ++row) {
        gs_u64 lanes[32];
        for (gs_u32 lane = 0; lane < 32; ++lane) lanes[lane] = gs_dot_i8(a + row * a_ld, k, x, lane, 32);
        y[row] = gs_host_warp_sum(lanes);
        for (gs_u32 lane = 0; lane < 32; ++lane) lanes[lane] = gs_dot_i32(c + row * n, n, r, lane, 32);
        z[row] = gs_host_warp_sum(lanes);
    }
}
