// The reference dot kernels: weight blocks against activation blocks (q8_activation.h), integer
// sums per block in plain C++, float steps from q8_kernels.h.
#include <cstring>

#include "common/quant/blocks.h"
#include "common/quant/kquant_scales.h"
#include "common/quant/q8_kernels.h"

namespace ps::quant_internal {

namespace {

// Byte j of a 4-bit block holds element j (low nibble) and element j + 16 (high nibble).
int LowNibble(uint8_t b) { return b & 0x0f; }
int HighNibble(uint8_t b) { return b >> 4; }

uint32_t FifthBits(const uint8_t qh[4]) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  return bits;
}

// Decoded super-blocks: element values before any scale, as the lane sums consume them.
void DecodeQ4_K(const block_q4_K& blk, int8_t out[kQK_K]) {
  for (int g = 0; g < kQK_K / 64; ++g) {
    for (int l = 0; l < 32; ++l) {
      out[64 * g + l] = static_cast<int8_t>(blk.qs[32 * g + l] & 0x0f);
      out[64 * g + 32 + l] = static_cast<int8_t>(blk.qs[32 * g + l] >> 4);
    }
  }
}

void DecodeQ5_K(const block_q5_K& blk, int8_t out[kQK_K]) {
  for (int g = 0; g < kQK_K / 64; ++g) {
    for (int l = 0; l < 32; ++l) {
      const int lo_bit = (blk.qh[l] >> (2 * g)) & 1;
      const int hi_bit = (blk.qh[l] >> (2 * g + 1)) & 1;
      out[64 * g + l] = static_cast<int8_t>((blk.qs[32 * g + l] & 0x0f) | (lo_bit << 4));
      out[64 * g + 32 + l] = static_cast<int8_t>((blk.qs[32 * g + l] >> 4) | (hi_bit << 4));
    }
  }
}

void DecodeQ6_K(const block_q6_K& blk, int8_t out[kQK_K]) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = blk.ql + 64 * h;
    const uint8_t* qh = blk.qh + 32 * h;
    int8_t* y = out + 128 * h;
    for (int l = 0; l < 32; ++l) {
      y[l] = static_cast<int8_t>(((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32);
      y[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32);
      y[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      y[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

// lanes[e % 8] += scale(e) * w[e] * q[e] over a super-block, with `sub` elements per scale.
void LaneSums(const int8_t* w, const int8_t* q, const int* scales, int sub, int32_t lanes[8]) {
  for (int l = 0; l < 8; ++l) lanes[l] = 0;
  for (int e = 0; e < kQK_K; ++e) lanes[e % 8] += scales[e / sub] * (w[e] * q[e]);
}

// The min term of q4_K / q5_K: sum over 16-element groups of (activation group sum) * min.
int32_t MinSum(const block_q8_K& act, const uint8_t mins[8]) {
  int32_t sum = 0;
  for (int g = 0; g < kQK_K / 16; ++g) sum += act.bsums[g] * mins[g / 2];
  return sum;
}

template <typename Block, void (*Decode)(const Block&, int8_t*)>
float DotK4(const void* row, const void* act, int64_t n) {
  const auto* w = static_cast<const Block*>(row);
  const auto* a = static_cast<const block_q8_K*>(act);
  KQuantSums acc;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int8_t values[kQK_K];
    Decode(w[b], values);
    int scales[8];
    uint8_t mins[8];
    for (int j = 0; j < 8; ++j) {
      uint8_t sc;
      UnpackScaleMinK4(w[b].scales, j, &sc, &mins[j]);
      scales[j] = sc;
    }
    int32_t lanes[8];
    LaneSums(values, a[b].qs, scales, 32, lanes);
    AddBlockLanes(acc, HalfToFloat(w[b].d) * a[b].d, lanes);
    SubtractBlockMins(acc, HalfToFloat(w[b].dmin) * a[b].d, MinSum(a[b], mins));
  }
  return FinishK(acc);
}

}  // namespace

float DotQ4_0Q8_0(const void* row, const void* act, int64_t n) {
  const auto* w = static_cast<const block_q4_0*>(row);
  const auto* a = static_cast<const block_q8_0*>(act);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      isum += (LowNibble(w[b].qs[j]) - 8) * a[b].qs[j];
      isum += (HighNibble(w[b].qs[j]) - 8) * a[b].qs[j + kQK / 2];
    }
    sum = AddBlockQ4_0(sum, isum, w[b].d, a[b].d);
  }
  return sum;
}

float DotQ4_1Q8_1(const void* row, const void* act, int64_t n) {
  const auto* w = static_cast<const block_q4_1*>(row);
  const auto* a = static_cast<const block_q8_1*>(act);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      isum += LowNibble(w[b].qs[j]) * a[b].qs[j];
      isum += HighNibble(w[b].qs[j]) * a[b].qs[j + kQK / 2];
    }
    sum = AddBlockQ4_1(sum, isum, w[b].d, w[b].m, a[b].d, a[b].s);
  }
  return sum;
}

float DotQ5_0Q8_0(const void* row, const void* act, int64_t n) {
  const auto* w = static_cast<const block_q5_0*>(row);
  const auto* a = static_cast<const block_q8_0*>(act);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    const uint32_t qh = FifthBits(w[b].qh);
    int32_t isum = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = LowNibble(w[b].qs[j]) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = HighNibble(w[b].qs[j]) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      isum += (lo - 16) * a[b].qs[j];
      isum += (hi - 16) * a[b].qs[j + kQK / 2];
    }
    sum = AddBlockQ5_0(sum, isum, w[b].d, a[b].d);
  }
  return sum;
}

float DotQ8_0Q8_0(const void* row, const void* act, int64_t n) {
  const auto* w = static_cast<const block_q8_0*>(row);
  const auto* a = static_cast<const block_q8_0*>(act);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kQK; ++j) isum += w[b].qs[j] * a[b].qs[j];
    sum = AddBlockQ8_0(sum, isum, w[b].d, a[b].d);
  }
  return sum;
}

float DotQ4_KQ8_K(const void* row, const void* act, int64_t n) {
  return DotK4<block_q4_K, DecodeQ4_K>(row, act, n);
}

float DotQ5_KQ8_K(const void* row, const void* act, int64_t n) {
  return DotK4<block_q5_K, DecodeQ5_K>(row, act, n);
}

float DotQ6_KQ8_K(const void* row, const void* act, int64_t n) {
  const auto* w = static_cast<const block_q6_K*>(row);
  const auto* a = static_cast<const block_q8_K*>(act);
  KQuantSums acc;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int8_t values[kQK_K];
    DecodeQ6_K(w[b], values);
    int scales[kQK_K / 16];
    for (int j = 0; j < kQK_K / 16; ++j) scales[j] = w[b].scales[j];
    int32_t lanes[8];
    LaneSums(values, a[b].qs, scales, 16, lanes);
    AddBlockLanes(acc, HalfToFloat(w[b].d) * a[b].d, lanes);
  }
  return FinishK(acc);
}

}  // namespace ps::quant_internal
