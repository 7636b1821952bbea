// Host builds of the embedding kernels in embedding.cuh, each looping a kernel's body over every
// thread index exactly as the CUDA grid does, and the GEMM the device runs on the split levels:
// the device pipeline's host twin for the worker's tests (src/embedding_pipeline/host.rs).
#include "common.cuh"
#include "embedding.cuh"

void gs_host_embedding_quantize(const int* rows, gs_u64 count, gs_u32 width, gs_u32 ld_words, gs_u32* hi, gs_u32* lo,
                                gs_i64* scales)
{
    for (gs_u64 t = 0; t < count; ++t) gs_quantize_row_at(rows, count, width, ld_words, t, hi, lo, scales);
}

// C (rows × n) = A·Bᵀ over words of four int8 values, as gemm_i8_dp4a and cuBLAS compute it.
void gs_host_embedding_gemm(const gs_u32* a, const gs_u32* bt, gs_u64 rows, gs_u32 n, gs_u32 words, int* c)
{
    for (gs_u64 i = 0; i < rows; ++i)
        for (gs_u32 j = 0; j < n; ++j) {
            int acc = 0;
            for (gs_u32 w = 0; w < words; ++w)
                for (int b = 0; b < 4; ++b)
                    acc += (int)(signed char)(a[i * words + w] >> (8 * b)) *
                           (int)(signed char)(bt[(gs_u64)j * words + w] >> (8 * b));
            c[i * n + j] = acc;
        }
}

void gs_host_embedding_linear(const int* acc_hi, const int* acc_lo, const gs_i64* scales, const gs_i64* multipliers,
                              const gs_i64* biases, const int* residual, gs_u64 rows, gs_u32 outputs, int* out)
{
    for (gs_u64 e = 0; e < rows * outputs; ++e)
        gs_linear_at(acc_hi, acc_lo, scales, multipliers, biases, residual, rows, outputs, e, out);
}

void gs_host_embedding_gelu(const int* x, gs_u64 len, int* out)
{
    for (gs_u64 e = 0; e < len; ++e) gs_gelu_at(x, len, e, out);
}

void gs_host_embedding_layer_norm(const int* rows, gs_u64 count, gs_u32 width, const int* gain, const int* bias,
                                  int* out)
{
    for (gs_u64 t = 0; t < count; ++t) gs_layer_norm_at(rows, count, width, gain, bias, t, out);
}

void gs_host_embedding_attention(const int* query, const int* key, const int* value, const gs_u32* first,
                                 const gs_u32* count, gs_u64 tokens, gs_u32 hidden, gs_u32 heads, gs_i64 multiplier,
                                 int* context)
{
    for (gs_u64 t = 0; t < tokens * heads; ++t)
        gs_attention_at(query, key, value, first, count, tokens, hidden, heads, multiplier, t, context);
}

void gs_host_embedding_trace_leaves(const int* rows, gs_u64 count, gs_u32 width, gs_u32 leaf_values,
                                    const gs_u32* first, const gs_u32* tokens, const gs_u64* base, gs_u64 block,
                                    gs_u64 offset, gs_u32 token_stride, gs_u32 piece_stride_tokens,
                                    gs_u32 piece_stride, gs_u32* digests)
{
    const gs_u64 pieces = (width + leaf_values - 1) / leaf_values;
    for (gs_u64 t = 0; t < count * pieces; ++t)
        gs_trace_leaf_at(rows, count, width, leaf_values, first, tokens, base, block, offset, token_stride,
                         piece_stride_tokens, piece_stride, t, digests);
}

void gs_host_embedding_tree_level(const gs_u32* nodes, const gs_u64* below, const gs_u64* above, gs_u32 trees,
                                  gs_u32* parents)
{
    for (gs_u64 t = 0; t < above[trees]; ++t) gs_tree_parent_at(nodes, below, above, trees, t, parents);
}

void gs_host_embedding_pool_mean(const int* rows, const gs_u32* first, gs_u32 sequences, gs_u32 hidden, int* means)
{
    for (gs_u64 s = 0; s < sequences; ++s) gs_pool_mean_at(rows, first, sequences, hidden, s, means);
}

void gs_host_embedding_normalize(const int* means, gs_u32 sequences, gs_u32 hidden, short* out)
{
    for (gs_u64 s = 0; s < sequences; ++s) gs_normalize_at(means, sequences, hidden, s, out);
}

// The element functions alone, for the tests against core's fixed-point arithmetic.
gs_i64 gs_host_exp_neg(gs_i64 d) { return gs_exp_neg(d); }
gs_i64 gs_host_erf(gs_i64 v) { return gs_erf(v); }
int gs_host_gelu(int x) { return gs_gelu(x); }
gs_u64 gs_host_isqrt(gs_u64 n) { return gs_isqrt(n); }
gs_i64 gs_host_div_round(gs_i64 a, gs_i64 b) { return gs_div_round(a, b); }
gs_u32 gs_host_max_head_dim(void) { return GS_MAX_HEAD_DIM; }
