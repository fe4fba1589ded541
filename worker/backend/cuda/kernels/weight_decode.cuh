// Device-side decoding of the weight formats, one 32-element unit at a time (weight_format.h):
// Decoder<T>::Unit(block, u, out) writes elements [32 u, 32 u + 32) of the block at `block` as
// floats, with the same float operations as common/quant's DequantizeRow. `block` may point to
// global or shared memory and must be 2-byte aligned (4-byte for F32); every block size is even
// and rows start 16-byte aligned, so blocks in a row always are.
// Thread-safety: pure device functions.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "common/quant/blocks.h"
#include "common/quant/ggml_type.h"
#include "worker/backend/cuda/weight_format.h"

namespace ps::cuda {

__device__ __forceinline__ float HalfToFloat(uint16_t bits) { return __half2float(__ushort_as_half(bits)); }
__device__ __forceinline__ float Bf16ToFloat(uint16_t bits) { return __uint_as_float(static_cast<uint32_t>(bits) << 16); }

// The 6-bit scale and min of sub-block j of a q4_K / q5_K block (layout: kquant_scales.h).
__device__ __forceinline__ void ScaleMinK4(const uint8_t* packed, int j, int* scale, int* min) {
  if (j < 4) {
    *scale = packed[j] & 63;
    *min = packed[j + 4] & 63;
  } else {
    *scale = (packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4);
    *min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
  }
}

template <GgmlType T>
struct Decoder;

template <>
struct Decoder<GgmlType::F32> {
  __device__ static void Unit(const uint8_t* block, int, float* out) {
    const float* v = reinterpret_cast<const float*>(block);
#pragma unroll
    for (int i = 0; i < 32; ++i) out[i] = v[i];
  }
};

template <>
struct Decoder<GgmlType::F16> {
  __device__ static void Unit(const uint8_t* block, int, float* out) {
    const uint16_t* v = reinterpret_cast<const uint16_t*>(block);
#pragma unroll
    for (int i = 0; i < 32; ++i) out[i] = HalfToFloat(v[i]);
  }
};

template <>
struct Decoder<GgmlType::BF16> {
  __device__ static void Unit(const uint8_t* block, int, float* out) {
    const uint16_t* v = reinterpret_cast<const uint16_t*>(block);
#pragma unroll
    for (int i = 0; i < 32; ++i) out[i] = Bf16ToFloat(v[i]);
  }
};

template <>
struct Decoder<GgmlType::Q4_0> {
  __device__ static void Unit(const uint8_t* block, int, float* out) {
    const auto* b = reinterpret_cast<const block_q4_0*>(block);
    const float d = HalfToFloat(b->d);
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      out[j] = static_cast<float>((b->qs[j] & 0x0f) - 8) * d;
      out[j + 16] = static_cast<float>((b->qs[j] >> 4) - 8) * d;
    }
  }
};

template <>
struct Decoder<GgmlType::Q4_1> {
  __device__ static void Unit(const uint8_t* block, int, float* out) {
    const auto* b = reinterpret_cast<const block_q4_1*>(block);
    const float d = HalfToFloat(b->d);
    const float m = HalfToFloat(b->m);
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      out[j] = static_cast<float>(b->qs[j] & 0x0f) * d + m;
      out[j + 16] = static_cast<float>(b->qs[j] >> 4) * d + m;
    }
  }
};

template <>
struct Decoder<GgmlType::Q5_0> {
  __device__ static void Unit(const uint8_t* block, int, float* out) {
    const auto* b = reinterpret_cast<const block_q5_0*>(block);
    const float d = HalfToFloat(b->d);
    const uint32_t qh = static_cast<uint32_t>(b->qh[0]) | (static_cast<uint32_t>(b->qh[1]) << 8) |
                        (static_cast<uint32_t>(b->qh[2]) << 16) | (static_cast<uint32_t>(b->qh[3]) << 24);
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int lo = static_cast<int>((b->qs[j] & 0x0fu) | (((qh >> j) & 1u) << 4)) - 16;
      const int hi = static_cast<int>((b->qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16;
      out[j] = static_cast<float>(lo) * d;
      out[j + 16] = static_cast<float>(hi) * d;
    }
  }
};

template <>
struct Decoder<GgmlType::Q8_0> {
  __device__ static void Unit(const uint8_t* block, int, float* out) {
    const auto* b = reinterpret_cast<const block_q8_0*>(block);
    const float d = HalfToFloat(b->d);
#pragma unroll
    for (int j = 0; j < 32; ++j) out[j] = static_cast<float>(b->qs[j]) * d;
  }
};

// Unit u of q4_K / q5_K is sub-block u: elements 64 g + 32 hi + l with g = u / 2, hi = u % 2,
// in the low (hi = 0) or high nibble of qs[32 g + l].
template <>
struct Decoder<GgmlType::Q4_K> {
  __device__ static void Unit(const uint8_t* block, int u, float* out) {
    const auto* b = reinterpret_cast<const block_q4_K*>(block);
    int sc, mn;
    ScaleMinK4(b->scales, u, &sc, &mn);
    const float step = HalfToFloat(b->d) * static_cast<float>(sc);
    const float offset = HalfToFloat(b->dmin) * static_cast<float>(mn);
    const uint8_t* q = b->qs + 32 * (u / 2);
    const int shift = 4 * (u % 2);
#pragma unroll
    for (int l = 0; l < 32; ++l) out[l] = step * static_cast<float>((q[l] >> shift) & 0x0f) - offset;
  }
};

template <>
struct Decoder<GgmlType::Q5_K> {
  __device__ static void Unit(const uint8_t* block, int u, float* out) {
    const auto* b = reinterpret_cast<const block_q5_K*>(block);
    int sc, mn;
    ScaleMinK4(b->scales, u, &sc, &mn);
    const float step = HalfToFloat(b->d) * static_cast<float>(sc);
    const float offset = HalfToFloat(b->dmin) * static_cast<float>(mn);
    const uint8_t* q = b->qs + 32 * (u / 2);
    const int shift = 4 * (u % 2);
    // The fifth bit of element 64 g + 32 hi + l is bit 2 g + hi = u of qh[l].
#pragma unroll
    for (int l = 0; l < 32; ++l) {
      const int level = ((q[l] >> shift) & 0x0f) + (((b->qh[l] >> u) & 1) << 4);
      out[l] = step * static_cast<float>(level) - offset;
    }
  }
};

// Unit u of q6_K: half h = u / 4, quarter k = u % 4, elements 128 h + 32 k + l. Low bits: the
// low (k < 2) or high nibble of ql[64 h + 32 (k % 2) + l]; high bits: bits 2k, 2k+1 of
// qh[32 h + l]; scale: scales[8 h + 2 k + l / 16].
template <>
struct Decoder<GgmlType::Q6_K> {
  __device__ static void Unit(const uint8_t* block, int u, float* out) {
    const auto* b = reinterpret_cast<const block_q6_K*>(block);
    const int h = u / 4;
    const int k = u % 4;
    const float d = HalfToFloat(b->d);
    const uint8_t* ql = b->ql + 64 * h + 32 * (k % 2);
    const uint8_t* qh = b->qh + 32 * h;
    const int8_t* sc = b->scales + 8 * h + 2 * k;
    const int low_shift = k < 2 ? 0 : 4;
#pragma unroll
    for (int l = 0; l < 32; ++l) {
      const int level = (((ql[l] >> low_shift) & 0x0f) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
      out[l] = d * static_cast<float>(sc[l / 16]) * static_cast<float>(level);
    }
  }
};

// Unit u of a run of whole blocks of type T starting at `blocks` (a row, or a tile of one):
// block u / units_per_block, unit u % units_per_block within it.
template <GgmlType T>
__device__ __forceinline__ void DecodeUnit(const uint8_t* blocks, int64_t u, float* out) {
  constexpr WeightFormat kF = FormatOf(T);
  constexpr int kUnits = kF.units_per_block();
  Decoder<T>::Unit(blocks + (u / kUnits) * kF.block_bytes, static_cast<int>(u % kUnits), out);
}

}  // namespace ps::cuda
