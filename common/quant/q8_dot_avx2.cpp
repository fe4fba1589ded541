// AVX2 versions of the dot kernels in q8_dot_scalar.cpp. Only the integer work is vectorized:
// integer sums are exact in any order, so each block's sum (and each k-quant lane sum) is the
// same integer the scalar kernel computes; the float steps are the shared ones from
// q8_kernels.h, run once per block in block order. The functions carry target("avx2") and are
// only called after CpuHasAvx2(), so the build assumes nothing about the build machine. FMA is
// deliberately not enabled: the compiler must not fuse ggml's separate multiply and add.
#include "common/quant/q8_kernels.h"

#if PS_QUANT_HAVE_AVX2_KERNELS

#include <immintrin.h>

#include <cstring>

#include "common/quant/blocks.h"
#include "common/quant/kquant_scales.h"

#define PS_AVX2 __attribute__((target("avx2")))

namespace ps::quant_internal {

bool CpuHasAvx2() {
  // libgcc also checks that the OS saves the YMM registers before reporting AVX2.
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

namespace {

PS_AVX2 inline __m256i Load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
PS_AVX2 inline __m128i Load16(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

PS_AVX2 inline int32_t HorizontalSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// Products of unsigned bytes u (<= 128 here) with signed bytes s, summed in fours into 8 int32.
// The pairwise int16 sums cannot saturate: 2 * 128 * 127 < 2^15.
PS_AVX2 inline __m256i DotU8I8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Signed bytes times signed bytes: maddubs wants its first operand unsigned, so take |w| and move
// w's sign onto a. Exact for every w (|-128| reads as 128 unsigned) and every a but -128, which
// the activation quantizers never write.
PS_AVX2 inline __m256i DotI8I8(__m256i w, __m256i a) {
  return DotU8I8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

// The 32 nibbles of a legacy 4-bit block in element order: low nibbles are elements 0-15, high
// nibbles 16-31.
PS_AVX2 inline __m256i Nibbles32(const uint8_t* qs) {
  const __m128i bytes = Load16(qs);
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(bytes, mask);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
  return _mm256_set_m128i(hi, lo);
}

// Byte j = 0x10 where bit j of the 32-bit word at qh is set, else 0 (q5_0's fifth bits).
PS_AVX2 inline __m256i FifthBits32(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  // Byte j gets byte j / 8 of the word, then is tested against its own bit j % 8.
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// lanes[l] += scale * sum of w[e] * a[e] over those of the kElems (16 or 32) elements starting at
// w / a whose index e is l mod 8. The int16 products and the up to four of them added per lane
// stay below 2^15 for the k-quant value ranges (|w| <= 32, |a| <= 127).
template <int kElems>
PS_AVX2 inline __m256i AddScaledLaneSums(__m256i lanes, const int8_t* w, const int8_t* a, int scale) {
  static_assert(kElems == 16 || kElems == 32);
  __m256i p = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(Load16(w)), _mm256_cvtepi8_epi16(Load16(a)));
  if constexpr (kElems == 32) {
    p = _mm256_add_epi16(
        p, _mm256_mullo_epi16(_mm256_cvtepi8_epi16(Load16(w + 16)), _mm256_cvtepi8_epi16(Load16(a + 16))));
  }
  // int16 lane k now covers elements k (+16); folding the halves puts element e in lane e % 8.
  const __m128i folded = _mm_add_epi16(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
  const __m256i wide = _mm256_cvtepi16_epi32(folded);
  return _mm256_add_epi32(lanes, _mm256_mullo_epi32(wide, _mm256_set1_epi32(scale)));
}

PS_AVX2 inline void DecodeQ4_K(const block_q4_K& blk, int8_t out[kQK_K]) {
  const __m256i mask = _mm256_set1_epi8(0x0f);
  for (int g = 0; g < kQK_K / 64; ++g) {
    const __m256i q = Load32(blk.qs + 32 * g);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64 * g), _mm256_and_si256(q, mask));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64 * g + 32),
                        _mm256_and_si256(_mm256_srli_epi16(q, 4), mask));
  }
}

PS_AVX2 inline void DecodeQ5_K(const block_q5_K& blk, int8_t out[kQK_K]) {
  const __m256i mask = _mm256_set1_epi8(0x0f);
  const __m256i one = _mm256_set1_epi8(1);
  const __m256i qh = Load32(blk.qh);
  for (int g = 0; g < kQK_K / 64; ++g) {
    const __m256i q = Load32(blk.qs + 32 * g);
    // Bit c of qh[l] is the fifth bit of chunk c; shifting 16-bit lanes by c < 8 and masking bit 0
    // of each byte reads it for both bytes of a lane.
    const __m256i lo_bit = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), one);
    const __m256i hi_bit = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g + 1), one);
    const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, mask), _mm256_slli_epi16(lo_bit, 4));
    const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), mask), _mm256_slli_epi16(hi_bit, 4));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64 * g), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64 * g + 32), hi);
  }
}

PS_AVX2 inline void DecodeQ6_K(const block_q6_K& blk, int8_t out[kQK_K]) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i two = _mm256_set1_epi8(3);
  const __m256i offset = _mm256_set1_epi8(32);
  for (int h = 0; h < 2; ++h) {
    const __m256i ql0 = Load32(blk.ql + 64 * h);
    const __m256i ql1 = Load32(blk.ql + 64 * h + 32);
    const __m256i qh = Load32(blk.qh + 32 * h);
    // Upper two bits of each quarter, already in place (<< 4); values stay below 64, so 16-bit
    // shifts never carry across bytes.
    const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(qh, two), 4);
    const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two), 4);
    const __m256i h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two), 4);
    const __m256i h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two), 4);
    const __m256i v0 = _mm256_or_si256(_mm256_and_si256(ql0, low4), h0);
    const __m256i v1 = _mm256_or_si256(_mm256_and_si256(ql1, low4), h1);
    const __m256i v2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), h2);
    const __m256i v3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), h3);
    int8_t* y = out + 128 * h;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y), _mm256_sub_epi8(v0, offset));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + 32), _mm256_sub_epi8(v1, offset));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + 64), _mm256_sub_epi8(v2, offset));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + 96), _mm256_sub_epi8(v3, offset));
  }
}

// q4_K / q5_K min term: sum over 16-element groups g of bsums[g] * mins[g / 2].
PS_AVX2 inline int32_t MinSum(const block_q8_K& act, const uint8_t mins[8]) {
  alignas(32) int16_t m16[16];
  for (int g = 0; g < 16; ++g) m16[g] = mins[g / 2];
  const __m256i bsums = Load32(act.bsums);
  return HorizontalSum(_mm256_madd_epi16(bsums, _mm256_load_si256(reinterpret_cast<const __m256i*>(m16))));
}

template <typename Block, void (*Decode)(const Block&, int8_t*)>
PS_AVX2 float DotK4(const void* row, const void* act, int64_t n) {
  const auto* w = static_cast<const Block*>(row);
  const auto* a = static_cast<const block_q8_K*>(act);
  KQuantSums acc;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    alignas(32) int8_t values[kQK_K];
    Decode(w[b], values);
    uint8_t scales[8];
    uint8_t mins[8];
    for (int j = 0; j < 8; ++j) UnpackScaleMinK4(w[b].scales, j, &scales[j], &mins[j]);
    __m256i lanes = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) lanes = AddScaledLaneSums<32>(lanes, values + 32 * j, a[b].qs + 32 * j, scales[j]);
    alignas(32) int32_t lane_sums[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lane_sums), lanes);
    AddBlockLanes(acc, HalfToFloat(w[b].d) * a[b].d, lane_sums);
    SubtractBlockMins(acc, HalfToFloat(w[b].dmin) * a[b].d, MinSum(a[b], mins));
  }
  return FinishK(acc);
}

}  // namespace

PS_AVX2 float DotQ4_0Q8_0Avx2(const void* row, const void* act, int64_t n) {
  const auto* w = static_cast<const block_q4_0*>(row);
  const auto* a = static_cast<const block_q8_0*>(act);
  const __m256i eight = _mm256_set1_epi8(8);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    const __m256i wq = _mm256_sub_epi8(Nibbles32(w[b].qs), eight);
    sum = AddBlockQ4_0(sum, HorizontalSum(DotI8I8(wq, Load32(a[b].qs))), w[b].d, a[b].d);
  }
  return sum;
}

PS_AVX2 float DotQ4_1Q8_1Avx2(const void* row, const void* act, int64_t n) {
  const auto* w = static_cast<const block_q4_1*>(row);
  const auto* a = static_cast<const block_q8_1*>(act);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    const int32_t isum = HorizontalSum(DotU8I8(Nibbles32(w[b].qs), Load32(a[b].qs)));
    sum = AddBlockQ4_1(sum, isum, w[b].d, w[b].m, a[b].d, a[b].s);
  }
  return sum;
}

PS_AVX2 float DotQ5_0Q8_0Avx2(const void* row, const void* act, int64_t n) {
  const auto* w = static_cast<const block_q5_0*>(row);
  const auto* a = static_cast<const block_q8_0*>(act);
  const __m256i sixteen = _mm256_set1_epi8(16);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    const __m256i wq = _mm256_sub_epi8(_mm256_or_si256(Nibbles32(w[b].qs), FifthBits32(w[b].qh)), sixteen);
    sum = AddBlockQ5_0(sum, HorizontalSum(DotI8I8(wq, Load32(a[b].qs))), w[b].d, a[b].d);
  }
  return sum;
}

PS_AVX2 float DotQ8_0Q8_0Avx2(const void* row, const void* act, int64_t n) {
  const auto* w = static_cast<const block_q8_0*>(row);
  const auto* a = static_cast<const block_q8_0*>(act);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    sum = AddBlockQ8_0(sum, HorizontalSum(DotI8I8(Load32(w[b].qs), Load32(a[b].qs))), w[b].d, a[b].d);
  }
  return sum;
}

PS_AVX2 float DotQ4_KQ8_KAvx2(const void* row, const void* act, int64_t n) {
  return DotK4<block_q4_K, DecodeQ4_K>(row, act, n);
}

PS_AVX2 float DotQ5_KQ8_KAvx2(const void* row, const void* act, int64_t n) {
  return DotK4<block_q5_K, DecodeQ5_K>(row, act, n);
}

PS_AVX2 float DotQ6_KQ8_KAvx2(const void* row, const void* act, int64_t n) {
  const auto* w = static_cast<const block_q6_K*>(row);
  const auto* a = static_cast<const block_q8_K*>(act);
  KQuantSums acc;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    alignas(32) int8_t values[kQK_K];
    DecodeQ6_K(w[b], values);
    __m256i lanes = _mm256_setzero_si256();
    for (int j = 0; j < kQK_K / 16; ++j) {
      lanes = AddScaledLaneSums<16>(lanes, values + 16 * j, a[b].qs + 16 * j, w[b].scales[j]);
    }
    alignas(32) int32_t lane_sums[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lane_sums), lanes);
    AddBlockLanes(acc, HalfToFloat(w[b].d) * a[b].d, lane_sums);
  }
  return FinishK(acc);
}

}  // namespace ps::quant_internal

#endif  // PS_QUANT_HAVE_AVX2_KERNELS
