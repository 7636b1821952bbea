// ---------------------------------------------------------------------------------------------
// The embedding model's kernels (after kernels.cu): one thread per row, element, (token, head),
// leaf, parent or sequence, each calling its body in embedding.cuh. The linear layers' GEMMs are
// gemm_i8_dp4a or cuBLAS, run on the split levels.

extern "C" __global__ void embedding_quantize(const int* __restrict__ rows, gs_u64 count, gs_u32 width, gs_u32 ld_words,
                                              gs_u32* __restrict__ hi, gs_u32* __restrict__ lo,
                                              gs_i64* __restrict__ scales)
{
    gs_quantize_row_at(rows, count, width, ld_words, thread_index(), hi, lo, scales);
}

extern "C" __global__ void embedding_linear(const int* __restrict__ acc_hi, const int* __restrict__ acc_lo,
                                            const gs_i64* __restrict__ scales, const gs_i64* __restrict__ multipliers,
                                            const gs_i64* __restrict__ biases, const int* __restrict__ residual,
                                            gs_u64 rows, gs_u32 outputs, int* __restrict__ out)
{
    gs_linear_at(acc_hi, acc_lo, scales, multipliers, biases, residual, rows, outputs, thread_index(), out);
}

extern "C" __global__ void embedding_gelu(const int* __restrict__ x, gs_u64 len, int* __restrict__ out)
{
    gs_gelu_at(x, len, thread_index(), out);
}

extern "C" __global__ void embedding_layer_norm(const int* __restrict__ rows, gs_u64 count, gs_u32 width,
                                                const int* __restrict__ gain, const int* __restrict__ bias,
                                                int* __restrict__ out)
{
    gs_layer_norm_at(rows, count, width, gain, bias, thread_index(), out);
}

extern "C" __global__ void embedding_attention(const int* __restrict__ query, const int* __restrict__ key,
                                               const int* __restrict__ value, const gs_u32* __restrict__ first,
                                               const gs_u32* __restrict__ count, gs_u64 tokens, gs_u32 hidden,
                                               gs_u32 heads, gs_i64 multiplier, int* __restrict__ context)
{
    gs_attention_at(query, key, value, first, count, tokens, hidden, heads, multiplier, thread_index(), context);
}

extern "C" __global__ void embedding_trace_leaves(const int* __restrict__ rows, gs_u64 count, gs_u32 width,
                                                  gs_u32 leaf_values, const gs_u32* __restrict__ first,
                                                  const gs_u32* __restrict__ tokens, const gs_u64* __restrict__ base,
                                                  gs_u64 block, gs_u64 offset, gs_u32 token_stride,
                                                  gs_u32 piece_stride_tokens, gs_u32 piece_stride,
                                                  gs_u32* __restrict__ digests)
{
    gs_trace_leaf_at(rows, count, width, leaf_values, first, tokens, base, block, offset, token_stride,
                     piece_stride_tokens, piece_stride, thread_index(), digests);
}

extern "C" __global__ void embedding_tree_level(const gs_u32* __restrict__ nodes, const gs_u64* __restrict__ below,
                                                const gs_u64* __restrict__ above, gs_u32 trees,
                                                gs_u32* __restrict__ parents)
{
    gs_tree_parent_at(nodes, below, above, trees, thread_index(), parents);
}

extern "C" __global__ void embedding_pool_mean(const int* __restrict__ rows, const gs_u32* __restrict__ first,
                                               gs_u32 sequences, gs_u32 hidden, int* __restrict__ means)
{
    gs_pool_mean_at(rows, first, sequences, hidden, thread_index(), means);
}

extern "C" __global__ void embedding_normalize(const int* __restrict__ means, gs_u32 sequences, gs_u32 hidden,
                                               short* __restrict__ out)
{
    gs_normalize_at(means, sequences, hidden, thread_index(), out);
}
