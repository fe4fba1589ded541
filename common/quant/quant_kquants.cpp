// Row kernels of the 256-element k-quant formats q4_K, q5_K and q6_K.
// Dequantization performs exactly ggml's float operations in ggml's order
// (sub-block scale d * sc first, then (d * sc) * q - dmin * m), so results match llama.cpp bit
// for bit. Quantization is our own: a least-squares fit per sub-block over a small grid of
// candidate scales, 6/8-bit quantization of the sub-block scales, then a final rounding of every
// element against the scales actually stored. It is not ggml's search and need not produce the
// same bytes, only valid blocks that dequantize close to the input.
// Dequantizers copy each block to a local first: dst is float and the block bytes could alias it,
// which would stop the compiler from vectorizing the loops.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/quant/blocks.h"
#include "common/quant/kquant_scales.h"
#include "common/quant/quant.h"
#include "common/quant/row_kernels.h"

namespace ps::quant_internal {

namespace {

constexpr int kSubK4 = 32;  // sub-block size of q4_K / q5_K
constexpr int kSubK6 = 16;  // sub-block size of q6_K

// The packing UnpackScaleMinK4 (kquant_scales.h) reads back.
void PackScaleMinK4(const uint8_t scale[8], const uint8_t min[8], uint8_t* packed) {
  std::memset(packed, 0, kKScaleSize);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      packed[j] |= scale[j];
      packed[j + 4] |= min[j];
    } else {
      packed[j + 4] = static_cast<uint8_t>((scale[j] & 0x0f) | ((min[j] & 0x0f) << 4));
      packed[j - 4] |= static_cast<uint8_t>((scale[j] >> 4) << 6);
      packed[j] |= static_cast<uint8_t>((min[j] >> 4) << 6);
    }
  }
}

// Nearest integer in [lo, hi] (ties up); NaN gives lo. Clamping first makes v - lo + 0.5
// non-negative, so truncation is a floor; min/max and the cast compile to branch-free
// instructions, which matters because the fits call this in their innermost loops.
inline int RoundClamp(float v, int lo, int hi) {
  const float flo = static_cast<float>(lo);
  const float clamped = std::min(static_cast<float>(hi), std::max(flo, v));  // max(lo, NaN) = lo
  return lo + static_cast<int>(clamped - flo + 0.5f);
}

// Candidate step counts tried by the fits: nmax + t for t in kStretch. Stretching the grid a
// little past the range often lowers the error because the extreme values are rare.
constexpr float kStretch[] = {-1.0f, -0.8f, -0.6f, -0.4f, -0.2f, 0.0f, 0.2f, 0.4f, 0.6f, 0.8f, 1.0f};

struct AffineFit {
  float scale = 0.0f;  // >= 0
  float min = 0.0f;    // >= 0; x ~ scale * q - min
};

// Fits x[i] ~ scale * q[i] - min with q in [0, nmax] and min >= 0 (the format stores an unsigned
// min) minimising the squared error. For each candidate grid the levels are rounded once and
// (scale, offset) solved by least squares; the error follows from the same sums, so each
// candidate costs one pass. Level sums are integers (exact); the x sums use double.
AffineFit FitAffine(const float* x, int n, int nmax) {
  const float lo = std::min(0.0f, *std::min_element(x, x + n));
  const float hi = *std::max_element(x, x + n);
  if (!(hi > lo)) return {0.0f, -lo};  // constant (or all-NaN) sub-block

  double sx = 0, sxx = 0;
  for (int i = 0; i < n; ++i) {
    sx += x[i];
    sxx += static_cast<double>(x[i]) * x[i];
  }
  AffineFit best{(hi - lo) / static_cast<float>(nmax), -lo};
  double best_err = INFINITY;
  for (float stretch : kStretch) {
    const float iscale = (static_cast<float>(nmax) + stretch) / (hi - lo);
    int64_t sq = 0, sqq = 0;
    double sxq = 0;
    for (int i = 0; i < n; ++i) {
      const int q = RoundClamp((x[i] - lo) * iscale, 0, nmax);
      sq += q;
      sqq += q * q;
      sxq += static_cast<double>(x[i]) * q;
    }
    const double det = static_cast<double>(n * sqq - sq * sq);
    if (det <= 0) continue;
    double s = (n * sxq - sx * static_cast<double>(sq)) / det;
    double b = (sx - s * static_cast<double>(sq)) / n;
    if (b > 0) {  // a positive offset cannot be stored: refit the scale alone
      b = 0;
      s = sxq / static_cast<double>(sqq);
    }
    if (s <= 0) continue;
    // sum (s q + b - x)^2 expanded
    const double err = s * s * static_cast<double>(sqq) + 2 * s * b * static_cast<double>(sq) + n * b * b -
                       2 * s * sxq - 2 * b * sx + sxx;
    if (err < best_err) {
      best_err = err;
      best = {static_cast<float>(s), static_cast<float>(-b)};
    }
  }
  return best;
}

// Fits x[i] ~ scale * q[i] with q in [-nmax, nmax - 1] minimising the squared error. The sign of
// the scale is chosen so the value of largest magnitude lands on -nmax, the side with one more
// level.
float FitSymmetric(const float* x, int n, int nmax) {
  float amax = 0.0f, max = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax == 0.0f) return 0.0f;

  float best_scale = max / static_cast<float>(-nmax);
  double best_gain = -1;  // sum(xq)^2 / sum(q^2): larger means smaller residual
  for (float stretch : kStretch) {
    const float iscale = -(static_cast<float>(nmax) + stretch) / max;
    int64_t sqq = 0;
    double sxq = 0;
    for (int i = 0; i < n; ++i) {
      const int q = RoundClamp(x[i] * iscale, -nmax, nmax - 1);
      sxq += static_cast<double>(x[i]) * q;
      sqq += q * q;
    }
    if (sqq <= 0) continue;
    const double gain = sxq * sxq / static_cast<double>(sqq);
    if (gain > best_gain) {
      best_gain = gain;
      best_scale = static_cast<float>(sxq / static_cast<double>(sqq));
    }
  }
  return best_scale;
}

// Shared by q4_K and q5_K: fits the eight sub-blocks, stores d, dmin and the packed 6-bit
// scales/mins, and writes each element's level (0..nmax) into levels.
void QuantizeSuperBlockWithMins(const float* x, int nmax, uint16_t* d_out, uint16_t* dmin_out,
                                uint8_t* packed_scales, uint8_t levels[kQK_K]) {
  AffineFit fits[kQK_K / kSubK4];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < kQK_K / kSubK4; ++j) {
    fits[j] = FitAffine(x + j * kSubK4, kSubK4, nmax);
    max_scale = std::max(max_scale, fits[j].scale);
    max_min = std::max(max_min, fits[j].min);
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  uint8_t sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>(RoundClamp(fits[j].scale * inv_scale, 0, 63));
    mn[j] = static_cast<uint8_t>(RoundClamp(fits[j].min * inv_min, 0, 63));
  }
  PackScaleMinK4(sc, mn, packed_scales);
  *d_out = Fp32ToFp16(max_scale / 63.0f);
  *dmin_out = Fp32ToFp16(max_min / 63.0f);

  // Round every element against the scales as stored (fp16, 6-bit), not the ideal fits.
  const float d = Fp16ToFp32(*d_out);
  const float dmin = Fp16ToFp32(*dmin_out);
  for (int j = 0; j < 8; ++j) {
    const float step = d * sc[j];
    const float offset = dmin * mn[j];
    for (int i = 0; i < kSubK4; ++i) {
      const float v = x[j * kSubK4 + i];
      levels[j * kSubK4 + i] =
          static_cast<uint8_t>(step != 0.0f ? RoundClamp((v + offset) / step, 0, nmax) : 0);
    }
  }
}

}  // namespace

void DequantizeQ4_K(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const block_q4_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const block_q4_K blk = blocks[b];
    const float d = Fp16ToFp32(blk.d);
    const float dmin = Fp16ToFp32(blk.dmin);
    float* y = dst + b * kQK_K;
    for (int g = 0; g < kQK_K / 64; ++g) {  // group g: sub-blocks 2g (low nibbles), 2g+1 (high)
      uint8_t sc, mn;
      UnpackScaleMinK4(blk.scales, 2 * g, &sc, &mn);
      const float d_lo = d * sc, m_lo = dmin * mn;
      UnpackScaleMinK4(blk.scales, 2 * g + 1, &sc, &mn);
      const float d_hi = d * sc, m_hi = dmin * mn;
      const uint8_t* q = blk.qs + 32 * g;
      for (int l = 0; l < 32; ++l) y[64 * g + l] = d_lo * static_cast<float>(q[l] & 0x0f) - m_lo;
      for (int l = 0; l < 32; ++l) y[64 * g + 32 + l] = d_hi * static_cast<float>(q[l] >> 4) - m_hi;
    }
  }
}

void QuantizeQ4_K(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<block_q4_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    block_q4_K& blk = blocks[b];
    uint8_t levels[kQK_K];
    QuantizeSuperBlockWithMins(src + b * kQK_K, 15, &blk.d, &blk.dmin, blk.scales, levels);
    for (int g = 0; g < kQK_K / 64; ++g) {
      for (int l = 0; l < 32; ++l) {
        blk.qs[32 * g + l] = static_cast<uint8_t>(levels[64 * g + l] | (levels[64 * g + 32 + l] << 4));
      }
    }
  }
}

void DequantizeQ5_K(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const block_q5_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const block_q5_K blk = blocks[b];
    const float d = Fp16ToFp32(blk.d);
    const float dmin = Fp16ToFp32(blk.dmin);
    float* y = dst + b * kQK_K;
    for (int g = 0; g < kQK_K / 64; ++g) {
      uint8_t sc, mn;
      UnpackScaleMinK4(blk.scales, 2 * g, &sc, &mn);
      const float d_lo = d * sc, m_lo = dmin * mn;
      UnpackScaleMinK4(blk.scales, 2 * g + 1, &sc, &mn);
      const float d_hi = d * sc, m_hi = dmin * mn;
      const uint8_t* ql = blk.qs + 32 * g;
      const uint8_t bit_lo = static_cast<uint8_t>(1u << (2 * g));
      const uint8_t bit_hi = static_cast<uint8_t>(2u << (2 * g));
      for (int l = 0; l < 32; ++l) {
        const int q = (ql[l] & 0x0f) + ((blk.qh[l] & bit_lo) ? 16 : 0);
        y[64 * g + l] = d_lo * static_cast<float>(q) - m_lo;
      }
      for (int l = 0; l < 32; ++l) {
        const int q = (ql[l] >> 4) + ((blk.qh[l] & bit_hi) ? 16 : 0);
        y[64 * g + 32 + l] = d_hi * static_cast<float>(q) - m_hi;
      }
    }
  }
}

void QuantizeQ5_K(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<block_q5_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    block_q5_K& blk = blocks[b];
    uint8_t levels[kQK_K];
    QuantizeSuperBlockWithMins(src + b * kQK_K, 31, &blk.d, &blk.dmin, blk.scales, levels);
    std::memset(blk.qh, 0, sizeof(blk.qh));
    for (int g = 0; g < kQK_K / 64; ++g) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo = levels[64 * g + l];
        const uint8_t hi = levels[64 * g + 32 + l];
        blk.qs[32 * g + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
        blk.qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * g)) | ((hi >> 4) << (2 * g + 1)));
      }
    }
  }
}

void DequantizeQ6_K(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const block_q6_K*>(src);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const block_q6_K blk = blocks[b];
    const float d = Fp16ToFp32(blk.d);
    float* y = dst + b * kQK_K;
    for (int h = 0; h < 2; ++h) {  // two halves of 128 elements
      const uint8_t* ql = blk.ql + 64 * h;
      const uint8_t* qh = blk.qh + 32 * h;
      const int8_t* sc = blk.scales + 8 * h;
      float* yh = y + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int s = l / 16;
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        yh[l] = d * static_cast<float>(sc[s + 0]) * static_cast<float>(q1);
        yh[l + 32] = d * static_cast<float>(sc[s + 2]) * static_cast<float>(q2);
        yh[l + 64] = d * static_cast<float>(sc[s + 4]) * static_cast<float>(q3);
        yh[l + 96] = d * static_cast<float>(sc[s + 6]) * static_cast<float>(q4);
      }
    }
  }
}

void QuantizeQ6_K(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<block_q6_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    block_q6_K& blk = blocks[b];

    float scales[kQK_K / kSubK6];
    float max_abs_scale = 0.0f;
    for (int j = 0; j < kQK_K / kSubK6; ++j) {
      scales[j] = FitSymmetric(x + j * kSubK6, kSubK6, 32);
      max_abs_scale = std::max(max_abs_scale, std::fabs(scales[j]));
    }
    const float inv = max_abs_scale > 0 ? 127.0f / max_abs_scale : 0.0f;
    for (int j = 0; j < kQK_K / kSubK6; ++j) {
      blk.scales[j] = static_cast<int8_t>(RoundClamp(scales[j] * inv, -127, 127));
    }
    blk.d = Fp32ToFp16(max_abs_scale / 127.0f);

    // Levels 0..63 (value + 32) against the scales as stored.
    uint8_t levels[kQK_K];
    const float d = Fp16ToFp32(blk.d);
    for (int j = 0; j < kQK_K / kSubK6; ++j) {
      const float step = d * blk.scales[j];
      for (int i = 0; i < kSubK6; ++i) {
        const float v = x[j * kSubK6 + i];
        levels[j * kSubK6 + i] = static_cast<uint8_t>(step != 0.0f ? RoundClamp(v / step, -32, 31) + 32 : 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      uint8_t* ql = blk.ql + 64 * h;
      uint8_t* qh = blk.qh + 32 * h;
      const uint8_t* lv = levels + 128 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((lv[l] & 0x0f) | ((lv[l + 64] & 0x0f) << 4));
        ql[l + 32] = static_cast<uint8_t>((lv[l + 32] & 0x0f) | ((lv[l + 96] & 0x0f) << 4));
        qh[l] = static_cast<uint8_t>((lv[l] >> 4) | ((lv[l + 32] >> 4) << 2) | ((lv[l + 64] >> 4) << 4) |
                                     ((lv[l + 96] >> 4) << 6));
      }
    }
  }
}

}  // namespace ps::quant_internal
