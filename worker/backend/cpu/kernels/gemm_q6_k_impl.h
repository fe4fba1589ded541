// The body of the q6_K kernel (see gemm_q6_k_avx2.cpp), compiled twice: by gemm_q6_k_avx2.cpp for
// AVX2 and by gemm_q6_k_vnni.cpp for AVX-512 VNNI. The includer defines PS_Q6K_TARGET (the
// functions' target attribute) and PS_Q6K_VNNI (0 or 1), and includes this inside an anonymous
// namespace in ps::cpu. The only difference: with VNNI a sub-block's scaled int16 pair sums are
// added into the int32 sum by one vpdpwssd instead of a madd and an add; the same exact integers,
// so the same bits.
// Thread-safety: pure functions.

// Activation rows sharing one decoded weight super-block (the includer's PS_Q6K_TILE_ACTS).
constexpr int kTileActs = PS_Q6K_TILE_ACTS;
// Weight rows per group: as many as fill kRowGroupBytes (a quarter of Zen 3's 512 KiB L2), at
// least kMinRowGroup.
constexpr size_t kRowGroupBytes = 128 * 1024;
constexpr int64_t kMinRowGroup = 16;
// Decode's software prefetch distance in bytes. A 1024-element q6_K row is only 840 bytes, too
// short a stream for the hardware prefetcher to ramp up per row; 1 KiB ahead took a 1 GB q6_K
// GEMV from 15-19 to 21-23 GB/s with 2 threads on the Xeon dev VM (512: 20, 2048: 20, 4096: 18).
constexpr size_t kDecodeAhead = 1024;

PS_Q6K_TARGET inline float HalfToFloat(uint16_t h) { return _cvtsh_ss(h); }

// An empty asm that GCC must assume reads and changes v. Placed after each add to a block's int32
// sums, it stops GCC from reassociating a block's adds into one tree that first computes (and
// spills to the stack) every product: about 20% fewer cycles per super-block (llvm-mca, znver3).
// Integer sums are exact, so this changes no result.
PS_Q6K_TARGET inline void KeepInRegister(__m256i& v) { asm("" : "+x"(v)); }

struct Q6K {
  static constexpr size_t kBlockBytes = sizeof(block_q6_K);

  template <int C>
  PS_Q6K_TARGET static inline void Accumulate(const uint8_t* w, const KQuantActBlock* const act[C], __m256 acc[C]) {
    const auto& blk = *reinterpret_cast<const block_q6_K*>(w);
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    // 16 int8 scales as int16: [s0..s7 | s8..s15]. Vector t (elements 32t .. 32t + 31) covers
    // sub-blocks 2t (low 128-bit lane) and 2t + 1 (high lane).
    const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
    const __m256i first_half = _mm256_permute4x64_epi64(scales16, 0x44);   // [s0..s7 | s0..s7]
    const __m256i second_half = _mm256_permute4x64_epi64(scales16, 0xee);  // [s8..s15 | s8..s15]
    __m256i scale[8];
    for (int t = 0; t < 4; ++t) {
      // Word 2t of the low lane and word 2t + 1 of the high lane, each into all 8 words of its lane.
      const auto low_word = static_cast<int16_t>(((4 * t + 1) << 8) | (4 * t));
      const auto high_word = static_cast<int16_t>(((4 * t + 3) << 8) | (4 * t + 2));
      const __m256i word_pair = _mm256_setr_m128i(_mm_set1_epi16(low_word), _mm_set1_epi16(high_word));
      scale[t] = _mm256_shuffle_epi8(first_half, word_pair);
      scale[t + 4] = _mm256_shuffle_epi8(second_half, word_pair);
    }
    __m256i sum[C];
    for (int c = 0; c < C; ++c) sum[c] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.ql + 64 * h));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.ql + 64 * h + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * h));
      // Elements 128h + 32k + l: a nibble of ql plus bits 2k, 2k + 1 of qh[32h + l] as bits 4-5
      // (16-bit shifts are safe: the mask keeps bits that come from the same byte).
      const __m256i v[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, nibble), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45)),
          _mm256_or_si256(_mm256_and_si256(ql1, nibble), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), nibble), _mm256_and_si256(qh, bits45)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), nibble),
                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45))};
      for (int k = 0; k < 4; ++k) {
        for (int c = 0; c < C; ++c) {
          const auto* a = reinterpret_cast<const __m256i*>(act[c]->q + 128 * h + 32 * k);
          const __m256i prod = _mm256_maddubs_epi16(v[k], _mm256_load_si256(a));
#if PS_Q6K_VNNI
          sum[c] = _mm256_dpwssd_epi32(sum[c], prod, scale[4 * h + k]);
#else
          sum[c] = _mm256_add_epi32(sum[c], _mm256_madd_epi16(prod, scale[4 * h + k]));
#endif
          KeepInRegister(sum[c]);
        }
      }
    }
    const __m256 d = _mm256_set1_ps(HalfToFloat(blk.d));
    for (int c = 0; c < C; ++c) {
      // The stored weights are q + 32: subtract 32 * scale * (group sum) per 16-element group.
      const __m256i offset = _mm256_madd_epi16(
          _mm256_load_si256(reinterpret_cast<const __m256i*>(act[c]->group_sums)), scales16);
      const __m256i exact = _mm256_sub_epi32(sum[c], _mm256_slli_epi32(offset, 5));
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(exact), _mm256_mul_ps(d, _mm256_set1_ps(act[c]->d)), acc[c]);
    }
  }
};

// y for one weight row and C activation rows: the row's super-blocks in order, each decoded once.
template <class Kind, int C>
PS_Q6K_TARGET void RowTimesTile(const uint8_t* w, const KQuantActBlock* const rows[C], int64_t blocks,
                                float* const y[C]) {
  __m256 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const KQuantActBlock* act[C];
    for (int c = 0; c < C; ++c) act[c] = rows[c] + b;
    if constexpr (C == 1) {
      // Decode streams the rows one after another; ask for the bytes kDecodeAhead further on.
      const char* ahead = reinterpret_cast<const char*>(w + static_cast<size_t>(b) * Kind::kBlockBytes + kDecodeAhead);
#pragma GCC unroll 4
      for (size_t off = 0; off < Kind::kBlockBytes; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
    }
    Kind::template Accumulate<C>(w + static_cast<size_t>(b) * Kind::kBlockBytes, act, acc);
  }
  for (int c = 0; c < C; ++c) *y[c] = simd::Hsum(acc[c]);
}

// Weight rows [g0, g1) times activation rows [i0, i0 + C).
template <class Kind, int C>
PS_Q6K_TARGET void GroupTimesTile(const FastGemmArgs& a, int64_t g0, int64_t g1, int64_t i0) {
  const int64_t blocks = a.k / kKQuantActBlockElems;
  const KQuantActBlock* rows[C];
  for (int c = 0; c < C; ++c) {
    rows[c] = reinterpret_cast<const KQuantActBlock*>(a.act + static_cast<size_t>(i0 + c) * a.act_stride);
  }
  for (int64_t r = g0; r < g1; ++r) {
    float* y[C];
    for (int c = 0; c < C; ++c) y[c] = a.y + (i0 + c) * a.ldy + r;
    RowTimesTile<Kind, C>(a.w + static_cast<size_t>(r) * a.w_row_bytes, rows, blocks, y);
  }
}

// Weight rows [g0, g1) times the last `rows` (< C) activation rows from i0: a narrower tile.
template <class Kind, int C>
PS_Q6K_TARGET void GroupTimesTail(const FastGemmArgs& a, int64_t g0, int64_t g1, int64_t i0, int64_t rows) {
  if constexpr (C > 1) {
    if (rows == C - 1) {
      GroupTimesTile<Kind, C - 1>(a, g0, g1, i0);
    } else {
      GroupTimesTail<Kind, C - 1>(a, g0, g1, i0, rows);
    }
  }
}

template <class Kind>
PS_Q6K_TARGET void Gemm(const FastGemmArgs& a) {
  const auto fitting = static_cast<int64_t>(kRowGroupBytes / std::max<size_t>(a.w_row_bytes, 1));
  const int64_t group = std::max(kMinRowGroup, fitting);
  for (int64_t g0 = a.r0; g0 < a.r1; g0 += group) {
    const int64_t g1 = std::min(a.r1, g0 + group);
    int64_t i = 0;
    for (; i + kTileActs <= a.n; i += kTileActs) GroupTimesTile<Kind, kTileActs>(a, g0, g1, i);
    if (i < a.n) GroupTimesTail<Kind, kTileActs>(a, g0, g1, i, a.n - i);
  }
}
