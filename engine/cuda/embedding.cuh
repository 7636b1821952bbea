// ---------------------------------------------------------------------------------------------
// The embedding model's per-thread bodies (after common.cuh): gpushare-core's integer arithmetic
// (core/src/embedding/fixed.rs and forward.rs) in the C subset NVRTC and a host C compiler share.
// The worker's tests run each body as host C against gpushare-core, and the whole device pipeline on
// those host bodies against core's forward pass (src/embedding_pipeline), so the GPU's model is the
// core's model, checked without a GPU. Signed right shifts are arithmetic (floor), as on every
// compiler the worker builds with (GCC, Clang, NVRTC), which is what core's `>>` on i64 is.

#define GS_FRAC_BITS 12
#define GS_ACT_LIMIT ((1LL << 24) - 1)
#define GS_QUANT_LEVELS 2047LL
#define GS_RECIPROCAL_BITS 32
#define GS_MULTIPLIER_PRE_SHIFT 24
#define GS_MULTIPLIER_SHIFT 40
#define GS_PROB_BITS 16
#define GS_EXP_R_BITS 28
#define GS_LOG2_E 94548LL
#define GS_INV_SQRT_2 46341LL
#define GS_ERF_SATURATION (4LL << GS_FRAC_BITS)
// A 12-bit level is split into an int8 high part and a 6-bit low part: level = hi·64 + lo, so each
// half runs through the int8 GEMM and the accumulator is 64·acc(hi) + acc(lo), exactly.
#define GS_LEVEL_LOW_BITS 6
// Widest attention head a thread holds in registers (a model with wider heads embeds on the host:
// cuda.rs's EMBEDDING_MAX_HEAD_DIM).
#define GS_MAX_HEAD_DIM 64

GS_CONST gs_i64 GS_EXP2_POLY[4] = {1073680337LL, -742284624LL, 247816889LL, -42395223LL};
GS_CONST gs_i64 GS_ERF_POLY[6] = {75723579LL, 45399965LL, 9954153LL, 163224LL, 296962LL, 46239LL};

// v / 2^s rounded half up.
GS_FN gs_i64 gs_shift_round(gs_i64 v, unsigned s) { return s == 0 ? v : (v + (1LL << (s - 1))) >> s; }

// a / b rounded half up for b > 0: ⌊(2a + b) / 2b⌋, floor division.
GS_FN gs_i64 gs_div_round(gs_i64 a, gs_i64 b)
{
    const gs_i64 n = 2 * a + b, d = 2 * b;
    const gs_i64 q = n / d;
    return (n % d != 0 && n < 0) ? q - 1 : q;
}

GS_FN int gs_clamp_act(gs_i64 v)
{
    return (int)(v < -GS_ACT_LIMIT ? -GS_ACT_LIMIT : (v > GS_ACT_LIMIT ? GS_ACT_LIMIT : v));
}

// ⌊√n⌋, digit by digit (exact).
GS_FN gs_u64 gs_isqrt(gs_u64 n)
{
    gs_u64 root = 0, bit = 1ULL << 62;
    while (bit > n) bit >>= 2;
    while (bit != 0) {
        if (n >= root + bit) {
            n -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}

// Row `row` of `count` rows `width` wide, quantized (core's quantize_row) and split: its levels'
// high and low parts packed four int8 values a word, little-endian, `ld_words` words a row (zero
// padded), and its scale m.
GS_FN void gs_quantize_row_at(const int* rows, gs_u64 count, gs_u32 width, gs_u32 ld_words, gs_u64 row, gs_u32* hi,
                              gs_u32* lo, gs_i64* scales)
{
    if (row >= count) return;
    const int* x = rows + row * width;
    gs_i64 m = 0;
    for (gs_u32 i = 0; i < width; ++i) {
        const gs_i64 a = x[i] < 0 ? -(gs_i64)x[i] : (gs_i64)x[i];
        if (a > m) m = a;
    }
    const gs_i64 reciprocal = m == 0 ? 0 : gs_div_round(GS_QUANT_LEVELS << GS_RECIPROCAL_BITS, m);
    for (gs_u32 w = 0; w < ld_words; ++w) {
        gs_u32 high_word = 0, low_word = 0;
        for (gs_u32 b = 0; b < 4 && 4 * w + b < width; ++b) {
            const gs_i64 level = gs_shift_round((gs_i64)x[4 * w + b] * reciprocal, GS_RECIPROCAL_BITS);
            const gs_i64 high = level >> GS_LEVEL_LOW_BITS;
            const gs_i64 low = level - (high << GS_LEVEL_LOW_BITS);
            high_word |= ((gs_u32)high & 0xffu) << (8 * b);
            low_word |= (gs_u32)low << (8 * b);
        }
        hi[row * ld_words + w] = high_word;
        lo[row * ld_words + w] = low_word;
    }
    scales[row] = m;
}

// Element `e` of a linear layer's `rows` × `outputs` outputs (core's linear_output) from the split
// accumulators, plus `residual` (clamped again) when it is not null.
GS_FN void gs_linear_at(const int* acc_hi, const int* acc_lo, const gs_i64* scales, const gs_i64* multipliers,
                        const gs_i64* biases, const int* residual, gs_u64 rows, gs_u32 outputs, gs_u64 e, int* out)
{
    if (e >= rows * outputs) return;
    const gs_u64 row = e / outputs;
    const gs_u32 j = (gs_u32)(e % outputs);
    const gs_i64 acc = ((gs_i64)acc_hi[e] << GS_LEVEL_LOW_BITS) + (gs_i64)acc_lo[e];
    const gs_i64 scaled = gs_shift_round(acc * multipliers[j], GS_MULTIPLIER_PRE_SHIFT);
    int y = gs_clamp_act(biases[j] + gs_shift_round(scaled * scales[row], GS_MULTIPLIER_SHIFT - GS_MULTIPLIER_PRE_SHIFT));
    if (residual) y = gs_clamp_act((gs_i64)y + (gs_i64)residual[e]);
    out[e] = y;
}

// e^d for d ≤ 0 with 30 fraction bits (core's exp_neg).
GS_FN gs_i64 gs_exp_neg(gs_i64 d)
{
    const gs_i64 t = -(d < 0 ? d : 0) * GS_LOG2_E;
    const gs_i64 n = t >> GS_EXP_R_BITS;
    if (n > 30) return 0;
    const gs_i64 r = t & ((1LL << GS_EXP_R_BITS) - 1);
    gs_i64 poly = GS_EXP2_POLY[3];
    for (int c = 2; c >= 0; --c) poly = GS_EXP2_POLY[c] + gs_shift_round(poly * r, GS_EXP_R_BITS);
    return gs_shift_round(poly, (unsigned)n);
}

// erf(v) for an activation v ≥ 0 with 30 fraction bits (core's erf).
GS_FN gs_i64 gs_erf(gs_i64 v)
{
    const gs_i64 one = 1LL << 30;
    v = v < 0 ? 0 : (v > GS_ERF_SATURATION ? GS_ERF_SATURATION : v);
    gs_i64 p = GS_ERF_POLY[5];
    for (int a = 4; a >= 0; --a) p = GS_ERF_POLY[a] + gs_shift_round(p * v, GS_FRAC_BITS);
    p = one + gs_shift_round(p * v, GS_FRAC_BITS);
    gs_i64 q = gs_div_round(one << 30, p);
    for (int i = 0; i < 4; ++i) q = gs_shift_round(q * q, 30);
    return one - q;
}

// GELU of an activation (core's gelu).
GS_FN int gs_gelu(int x)
{
    const gs_i64 v = (gs_i64)x;
    const gs_i64 e = gs_erf(gs_shift_round((v < 0 ? -v : v) * GS_INV_SQRT_2, 16));
    return gs_clamp_act(gs_shift_round(v * ((1LL << 30) + (v < 0 ? -e : e)), 31));
}

GS_FN void gs_gelu_at(const int* x, gs_u64 len, gs_u64 e, int* out)
{
    if (e < len) out[e] = gs_gelu(x[e]);
}

// LayerNorm of row `row` of `count` rows `width` wide (core's layer_norm).
GS_FN void gs_layer_norm_at(const int* rows, gs_u64 count, gs_u32 width, const int* gain, const int* bias, gs_u64 row,
                            int* out)
{
    if (row >= count) return;
    const int* x = rows + row * width;
    int* y = out + row * width;
    const gs_i64 n = (gs_i64)width;
    gs_i64 sum = 0;
    for (gs_u32 i = 0; i < width; ++i) sum += x[i];
    const gs_i64 mean = gs_div_round(sum, n);
    gs_i64 squares = 0;
    for (gs_u32 i = 0; i < width; ++i) squares += ((gs_i64)x[i] - mean) * ((gs_i64)x[i] - mean);
    const gs_i64 sigma = (gs_i64)gs_isqrt((gs_u64)gs_div_round(squares, n) * 256u);
    const gs_i64 reciprocal = sigma == 0 ? 0 : gs_div_round(1LL << 44, sigma);
    for (gs_u32 i = 0; i < width; ++i) {
        const gs_i64 normalized = gs_shift_round(((gs_i64)x[i] - mean) * reciprocal, 24);
        y[i] = gs_clamp_act(gs_shift_round(normalized * gain[i], 20) + bias[i]);
    }
}

// A query row's logit against a key row over one head's columns.
GS_FN gs_i64 gs_attention_logit(const int* q, const int* k, gs_u32 head_dim, gs_i64 multiplier)
{
    gs_i64 score = 0;
    for (gs_u32 c = 0; c < head_dim; ++c) score += (gs_i64)q[c] * (gs_i64)k[c];
    return gs_clamp_act(gs_shift_round(gs_shift_round(score, GS_FRAC_BITS) * multiplier, 16));
}

// The context of token `index / heads` in head `index % heads` (core's attention): the token's
// sequence starts at row first[token] and has count[token] tokens. Three passes over the keys (the
// largest logit, the sum of exponentials, the weighted sum of values), so a thread needs no room
// for a row of probabilities; the values are those core computes, in the same order.
GS_FN void gs_attention_at(const int* query, const int* key, const int* value, const gs_u32* first,
                           const gs_u32* count, gs_u64 tokens, gs_u32 hidden, gs_u32 heads, gs_i64 multiplier,
                           gs_u64 index, int* context)
{
    if (index >= tokens * heads) return;
    const gs_u64 token = index / heads;
    const gs_u32 head_dim = hidden / heads, column = (gs_u32)(index % heads) * head_dim;
    if (head_dim > GS_MAX_HEAD_DIM) return;
    const int* q = query + token * hidden + column;
    const gs_u64 start = first[token], keys = count[token];
    gs_i64 top = 0;
    for (gs_u64 u = 0; u < keys; ++u) {
        const gs_i64 logit = gs_attention_logit(q, key + (start + u) * hidden + column, head_dim, multiplier);
        if (u == 0 || logit > top) top = logit;
    }
    gs_i64 sum = 0;
    for (gs_u64 u = 0; u < keys; ++u)
        sum += gs_exp_neg(gs_attention_logit(q, key + (start + u) * hidden + column, head_dim, multiplier) - top);
    if (sum < 1) sum = 1;
    gs_i64 sums[GS_MAX_HEAD_DIM];
    for (gs_u32 c = 0; c < head_dim; ++c) sums[c] = 0;
    for (gs_u64 u = 0; u < keys; ++u) {
        const gs_i64 e =
            gs_exp_neg(gs_attention_logit(q, key + (start + u) * hidden + column, head_dim, multiplier) - top);
        // Rounded up, as core's softmax: nonzero exactly while e is.
        const gs_i64 p = ((e << GS_PROB_BITS) + sum - 1) / sum;
        const int* v = value + (start + u) * hidden + column;
        for (gs_u32 c = 0; c < head_dim; ++c) sums[c] += p * (gs_i64)v[c];
    }
    for (gs_u32 c = 0; c < head_dim; ++c)
        context[token * hidden + column + c] = gs_clamp_act(gs_shift_round(sums[c], GS_PROB_BITS));
}

// Leaf `index` of `count` rows `width` wide, cut into pieces of `leaf_values` values: its RFC 6962
// leaf hash at its place in its sequence's trace (core's TraceLayout). Piece p of row r is leaf
//   base[r] + L·block + offset + t·token_stride + p·(L·piece_stride_tokens + piece_stride)
// with L = tokens[r] (its sequence's length) and t = r − first[r] (its place in the sequence).
GS_FN void gs_trace_leaf_at(const int* rows, gs_u64 count, gs_u32 width, gs_u32 leaf_values, const gs_u32* first,
                            const gs_u32* tokens, const gs_u64* base, gs_u64 block, gs_u64 offset,
                            gs_u32 token_stride, gs_u32 piece_stride_tokens, gs_u32 piece_stride, gs_u64 index,
                            gs_u32* digests)
{
    const gs_u32 pieces = (width + leaf_values - 1) / leaf_values;
    if (index >= count * pieces) return;
    const gs_u64 row = index / pieces;
    const gs_u32 piece = (gs_u32)(index % pieces);
    const gs_u32 rest = width - piece * leaf_values;
    const gs_u32 values = rest < leaf_values ? rest : leaf_values;
    const gs_u64 length = tokens[row];
    const gs_u64 leaf = base[row] + length * block + offset + (row - first[row]) * token_stride +
                        (gs_u64)piece * (length * piece_stride_tokens + piece_stride);
    gs_sha256_prefixed(0x00, (const gs_u8*)(rows + row * width + (gs_u64)piece * leaf_values), 4ull * values,
                       digests + 8 * leaf);
}

// Parent `index` of a level holding several trees' nodes back to back: tree s has nodes
// [below[s], below[s + 1]) and parents [above[s], above[s + 1]) (every tree at least one node).
GS_FN void gs_tree_parent_at(const gs_u32* nodes, const gs_u64* below, const gs_u64* above, gs_u32 trees,
                             gs_u64 index, gs_u32* parents)
{
    if (index >= above[trees]) return;
    gs_u32 low = 0, high = trees;
    while (high - low > 1) {
        const gs_u32 mid = low + (high - low) / 2;
        if (above[mid] <= index) low = mid;
        else high = mid;
    }
    gs_parent_at(nodes + 8 * below[low], below[low + 1] - below[low], index - above[low], parents + 8 * above[low]);
}

// Sequence `s`'s pooled mean from its last layer's rows [first[s], first[s + 1]) (core's pool_mean):
// per column, the rounded mean over its tokens.
GS_FN void gs_pool_mean_at(const int* rows, const gs_u32* first, gs_u32 sequences, gs_u32 hidden, gs_u64 s, int* means)
{
    if (s >= sequences) return;
    const gs_u64 start = first[s], tokens = first[s + 1] - first[s];
    for (gs_u32 i = 0; i < hidden; ++i) {
        gs_i64 sum = 0;
        for (gs_u64 t = 0; t < tokens; ++t) sum += rows[(start + t) * hidden + i];
        means[s * hidden + i] = (int)gs_div_round(sum, (gs_i64)tokens);
    }
}

// Sequence `s`'s embedding from its pooled mean (core's normalize): divided by its norm, in i16.
GS_FN void gs_normalize_at(const int* means, gs_u32 sequences, gs_u32 hidden, gs_u64 s, short* out)
{
    if (s >= sequences) return;
    const int* mean = means + s * hidden;
    gs_i64 squares = 0;
    for (gs_u32 i = 0; i < hidden; ++i) squares += (gs_i64)mean[i] * (gs_i64)mean[i];
    const gs_i64 norm = (gs_i64)gs_isqrt((gs_u64)squares);
    for (gs_u32 i = 0; i < hidden; ++i) {
        const gs_i64 v = norm == 0 ? 0 : gs_div_round((gs_i64)mean[i] * 32767, norm);
        out[s * hidden + i] = (short)(v < -32767 ? -32767 : (v > 32767 ? 32767 : v));
    }
}
