// Tests of common/quant: block layouts, fp16/bf16 conversion, dequantization of hand-built blocks
// with known values, quantize -> dequantize error bounds, and DotRow.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "common/quant/blocks.h"
#include "common/quant/ggml_type.h"
#include "common/quant/quant.h"
#include "common/quant/row_kernels.h"

namespace ps {
namespace {

constexpr GgmlType kSupported[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0,
                                   GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K,
                                   GgmlType::Q5_K, GgmlType::Q6_K};

std::vector<float> Dequantize(GgmlType type, const void* src, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  DequantizeRow(type, src, out.data(), n);
  return out;
}

std::vector<unsigned char> Quantize(GgmlType type, const std::vector<float>& x) {
  const Result<size_t> bytes = RowBytes(type, static_cast<int64_t>(x.size()));
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  std::vector<unsigned char> out(bytes.ok() ? *bytes : 0);
  QuantizeRow(type, x.data(), out.data(), static_cast<int64_t>(x.size()));
  return out;
}

std::vector<float> GaussianRow(int64_t n, uint32_t seed, float mean = 0.0f, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(mean, stddev);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = dist(rng);
  return x;
}

// sqrt(sum (y - x)^2 / sum x^2)
double RelativeRmsError(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (static_cast<double>(y[i]) - x[i]) * (static_cast<double>(y[i]) - x[i]);
    ref += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(err / ref);
}

float FromBits(uint32_t bits) { return std::bit_cast<float>(bits); }

// ---------------------------------------------------------------------------------------------
// Layout and tables

TEST(QuantBlocks, SizesMatchTypeTraits) {
  EXPECT_EQ(sizeof(block_q4_0), TraitsOf(GgmlType::Q4_0).block_bytes);
  EXPECT_EQ(sizeof(block_q4_1), TraitsOf(GgmlType::Q4_1).block_bytes);
  EXPECT_EQ(sizeof(block_q5_0), TraitsOf(GgmlType::Q5_0).block_bytes);
  EXPECT_EQ(sizeof(block_q8_0), TraitsOf(GgmlType::Q8_0).block_bytes);
  EXPECT_EQ(sizeof(block_q4_K), TraitsOf(GgmlType::Q4_K).block_bytes);
  EXPECT_EQ(sizeof(block_q5_K), TraitsOf(GgmlType::Q5_K).block_bytes);
  EXPECT_EQ(sizeof(block_q6_K), TraitsOf(GgmlType::Q6_K).block_bytes);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q8_0}) {
    EXPECT_EQ(TraitsOf(t).block_size, kQK) << TypeName(t);
  }
  for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    EXPECT_EQ(TraitsOf(t).block_size, kQK_K) << TypeName(t);
  }
}

TEST(QuantBlocks, EverySupportedTypeHasKernels) {
  int supported = 0;
  for (uint32_t raw = 0; raw < 64; ++raw) {
    const std::optional<TypeTraits> traits = TraitsOf(raw);
    const GgmlType type = static_cast<GgmlType>(raw);
    const bool has_kernels = quant_internal::FindRowKernels(type) != nullptr;
    if (!traits) {
      EXPECT_FALSE(has_kernels) << raw;
      continue;
    }
    EXPECT_EQ(traits->supported, has_kernels) << traits->name;
    if (traits->supported) {
      ++supported;
      EXPECT_LE(traits->block_size, kQK_K) << "DotRow's stack buffer holds one block: " << traits->name;
    }
  }
  EXPECT_EQ(supported, static_cast<int>(std::size(kSupported)));
}

// ---------------------------------------------------------------------------------------------
// fp16 / bf16

TEST(Fp16, KnownValues) {
  EXPECT_EQ(Fp32ToFp16(0.0f), 0x0000);
  EXPECT_EQ(Fp32ToFp16(-0.0f), 0x8000);
  EXPECT_EQ(Fp32ToFp16(1.0f), 0x3c00);
  EXPECT_EQ(Fp32ToFp16(-2.0f), 0xc000);
  EXPECT_EQ(Fp32ToFp16(0.5f), 0x3800);
  EXPECT_EQ(Fp32ToFp16(65504.0f), 0x7bff);                  // largest finite half
  EXPECT_EQ(Fp32ToFp16(65519.996f), 0x7bff);                // just below the tie
  EXPECT_EQ(Fp32ToFp16(65520.0f), 0x7c00);                  // tie rounds to even = overflow
  EXPECT_EQ(Fp32ToFp16(1e10f), 0x7c00);
  EXPECT_EQ(Fp32ToFp16(-1e10f), 0xfc00);
  EXPECT_EQ(Fp32ToFp16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(Fp32ToFp16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(Fp32ToFp16(std::numeric_limits<float>::quiet_NaN()), 0x7e00);
  EXPECT_EQ(Fp32ToFp16(-std::numeric_limits<float>::quiet_NaN()), 0xfe00);
  EXPECT_EQ(Fp32ToFp16(FromBits(0x7f800001u)), 0x7e00);     // signalling NaN comes out quiet
  // Ties between normal halves go to the even mantissa.
  EXPECT_EQ(Fp32ToFp16(1.0f + 0x1p-11f), 0x3c00);           // halfway 1 and 1+2^-10
  EXPECT_EQ(Fp32ToFp16(1.0f + 3 * 0x1p-11f), 0x3c02);       // halfway 1+2^-10 and 1+2^-9
  EXPECT_EQ(Fp32ToFp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);  // just above a tie
  EXPECT_EQ(Fp32ToFp16(2.0f - 0x1p-12f), 0x4000);           // mantissa carry into the exponent
  // Subnormals.
  EXPECT_EQ(Fp32ToFp16(0x1p-14f), 0x0400);                  // smallest normal
  EXPECT_EQ(Fp32ToFp16(1023 * 0x1p-24f), 0x03ff);           // largest subnormal
  EXPECT_EQ(Fp32ToFp16(0x1p-24f), 0x0001);                  // smallest subnormal
  EXPECT_EQ(Fp32ToFp16(0x1p-25f), 0x0000);                  // tie with 0 goes to even 0
  EXPECT_EQ(Fp32ToFp16(-0x1p-25f), 0x8000);
  EXPECT_EQ(Fp32ToFp16(0x1p-25f * 1.0000001f), 0x0001);     // just above that tie
  EXPECT_EQ(Fp32ToFp16(3 * 0x1p-25f), 0x0002);              // tie between 1 and 2 goes to 2
  EXPECT_EQ(Fp32ToFp16(5 * 0x1p-25f), 0x0002);              // tie between 2 and 3 goes to 2
  EXPECT_EQ(Fp32ToFp16(1e-30f), 0x0000);
  EXPECT_EQ(Fp32ToFp16(2047 * 0x1p-25f), 0x0400);           // rounds up into the smallest normal

  EXPECT_EQ(Fp16ToFp32(0x0000), 0.0f);
  EXPECT_TRUE(std::signbit(Fp16ToFp32(0x8000)));
  EXPECT_EQ(Fp16ToFp32(0x3c00), 1.0f);
  EXPECT_EQ(Fp16ToFp32(0x7bff), 65504.0f);
  EXPECT_EQ(Fp16ToFp32(0x0001), 0x1p-24f);
  EXPECT_EQ(Fp16ToFp32(0x83ff), -1023 * 0x1p-24f);
  EXPECT_EQ(Fp16ToFp32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(Fp16ToFp32(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(Fp16ToFp32(0x7e00)));
  EXPECT_TRUE(std::isnan(Fp16ToFp32(0x7c01)));
}

TEST(Fp16, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = Fp16ToFp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_EQ(Fp32ToFp16(f) & 0x7e00, 0x7e00) << std::hex << h;
      continue;
    }
    ASSERT_EQ(Fp32ToFp16(f), h) << std::hex << h;
  }
}

#if defined(__FLT16_MAX__)
// The compiler's own float -> _Float16 conversion (round to nearest even) is an independent
// oracle; a sweep of bit patterns covers every exponent, both signs and the subnormal range.
TEST(Fp16, MatchesCompilerConversion) {
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 997) {
    const float f = FromBits(static_cast<uint32_t>(bits));
    if (std::isnan(f)) continue;
    const _Float16 h = static_cast<_Float16>(f);
    uint16_t expected;
    std::memcpy(&expected, &h, sizeof(expected));
    ASSERT_EQ(Fp32ToFp16(f), expected) << std::hex << bits;
    ASSERT_EQ(std::bit_cast<uint32_t>(Fp16ToFp32(expected)), std::bit_cast<uint32_t>(static_cast<float>(h)))
        << std::hex << expected;
  }
}
#endif

TEST(Bf16, KnownValues) {
  EXPECT_EQ(Fp32ToBf16(0.0f), 0x0000);
  EXPECT_EQ(Fp32ToBf16(-0.0f), 0x8000);
  EXPECT_EQ(Fp32ToBf16(1.0f), 0x3f80);
  EXPECT_EQ(Fp32ToBf16(-3.0f), 0xc040);
  EXPECT_EQ(Fp32ToBf16(FromBits(0x3f808000u)), 0x3f80);  // tie, even below
  EXPECT_EQ(Fp32ToBf16(FromBits(0x3f818000u)), 0x3f82);  // tie, even above
  EXPECT_EQ(Fp32ToBf16(FromBits(0x3f808001u)), 0x3f81);  // above the tie
  EXPECT_EQ(Fp32ToBf16(FromBits(0x3f807fffu)), 0x3f80);  // below the tie
  EXPECT_EQ(Fp32ToBf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds to infinity
  EXPECT_EQ(Fp32ToBf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(Fp32ToBf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(Fp32ToBf16(FromBits(0x00010000u)), 0x0001);  // subnormals are kept, not flushed
  EXPECT_EQ(Fp32ToBf16(FromBits(0x7fc00000u)), 0x7fc0);  // quiet NaN
  EXPECT_EQ(Fp32ToBf16(FromBits(0x7f800001u)), 0x7fc0);  // signalling NaN: quiet, not infinity
  EXPECT_EQ(Fp32ToBf16(FromBits(0xff812345u)), 0xffc1);  // payload truncated, sign kept

  EXPECT_EQ(Bf16ToFp32(0x3f80), 1.0f);
  EXPECT_EQ(Bf16ToFp32(0xc040), -3.0f);
  EXPECT_EQ(std::bit_cast<uint32_t>(Bf16ToFp32(0x0001)), 0x00010000u);
  EXPECT_TRUE(std::isnan(Bf16ToFp32(0x7fc0)));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = Bf16ToFp32(static_cast<uint16_t>(h));
    if (!std::isnan(f)) {
      ASSERT_EQ(Fp32ToBf16(f), h) << std::hex << h;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-built blocks with known values

TEST(Dequantize, FloatTypes) {
  const float f32[3] = {1.5f, -2.0f, 0.0f};
  EXPECT_EQ(Dequantize(GgmlType::F32, f32, 3), std::vector<float>({1.5f, -2.0f, 0.0f}));
  const uint16_t f16[3] = {0x3c00, 0xc000, 0x3555};
  EXPECT_EQ(Dequantize(GgmlType::F16, f16, 3), std::vector<float>({1.0f, -2.0f, 0.333251953125f}));
  const uint16_t bf16[3] = {0x3f80, 0xc040, 0x3eab};
  EXPECT_EQ(Dequantize(GgmlType::BF16, bf16, 3), std::vector<float>({1.0f, -3.0f, 0.333984375f}));
}

TEST(Dequantize, Q4_0) {
  block_q4_0 blk{};
  blk.d = 0x3800;  // 0.5
  for (int j = 0; j < 16; ++j) blk.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const std::vector<float> y = Dequantize(GgmlType::Q4_0, &blk, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8)) << j;             // low nibbles: elements 0..15
    EXPECT_EQ(y[j + 16], 0.5f * (7 - j)) << j + 16;   // high nibbles: elements 16..31
  }
}

TEST(Dequantize, Q4_1) {
  block_q4_1 blk{};
  blk.d = 0x3400;  // 0.25
  blk.m = 0xbc00;  // -1
  for (int j = 0; j < 16; ++j) blk.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const std::vector<float> y = Dequantize(GgmlType::Q4_1, &blk, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.25f * j - 1.0f) << j;
    EXPECT_EQ(y[j + 16], 0.25f * (15 - j) - 1.0f) << j + 16;
  }
}

TEST(Dequantize, Q5_0) {
  block_q5_0 blk{};
  blk.d = 0x4000;  // 2
  for (int j = 0; j < 16; ++j) blk.qs[j] = 0x88;
  blk.qs[0] = 0xf3;   // element 0: low 3; element 16: high 15
  blk.qs[15] = 0x0a;  // element 15: low 10; element 31: high 0
  // qh little-endian: bit 0 (element 0) and bit 31 (element 31) set.
  blk.qh[0] = 0x01;
  blk.qh[3] = 0x80;
  const std::vector<float> y = Dequantize(GgmlType::Q5_0, &blk, 32);
  EXPECT_EQ(y[0], 2.0f * ((3 | 16) - 16));
  EXPECT_EQ(y[16], 2.0f * (15 - 16));
  EXPECT_EQ(y[15], 2.0f * (10 - 16));
  EXPECT_EQ(y[31], 2.0f * ((0 | 16) - 16));
  for (int j : {1, 2, 14, 17, 30}) EXPECT_EQ(y[j], 2.0f * (8 - 16)) << j;
}

TEST(Dequantize, Q8_0) {
  block_q8_0 blk{};
  blk.d = 0x3000;  // 0.125
  for (int j = 0; j < 32; ++j) blk.qs[j] = static_cast<int8_t>(j * 8 - 128);
  const std::vector<float> y = Dequantize(GgmlType::Q8_0, &blk, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], static_cast<float>(j - 16)) << j;
}

// Scales and mins of the eight sub-blocks used by the q4_K / q5_K tests, and their 12-byte
// packing written out by hand: bytes 0-3 scale[0..3] | (scale[4..7] >> 4) << 6, bytes 4-7
// min[0..3] | (min[4..7] >> 4) << 6, bytes 8-11 (scale[4..7] & 15) | (min[4..7] & 15) << 4.
constexpr int kScK[8] = {1, 2, 3, 4, 17, 33, 48, 63};
constexpr int kMinK[8] = {0, 1, 2, 3, 36, 8, 20, 5};  // top bits differ from the scales'
constexpr uint8_t kPackedK[12] = {0x41, 0x82, 0xc3, 0xc4, 0x80, 0x01, 0x42, 0x03, 0x41, 0x81, 0x40, 0x5f};

// Every qs byte 0x5a: sub-blocks 0, 2, 4, 6 (low nibbles) read q = 10, sub-blocks 1, 3, 5, 7
// read q = 5. d = 1, dmin = 0.5.
float ExpectedK4(int element, int q_extra) {
  const int sub = element / 32;
  const int q = (sub % 2 == 0 ? 10 : 5) + q_extra;
  return static_cast<float>(kScK[sub] * q) - 0.5f * static_cast<float>(kMinK[sub]);
}

TEST(Dequantize, Q4_K) {
  block_q4_K blk{};
  blk.d = 0x3c00;     // 1
  blk.dmin = 0x3800;  // 0.5
  std::memcpy(blk.scales, kPackedK, sizeof(kPackedK));
  std::memset(blk.qs, 0x5a, sizeof(blk.qs));
  blk.qs[0] = 0xf0;  // element 0: q = 0; element 32: q = 15
  const std::vector<float> y = Dequantize(GgmlType::Q4_K, &blk, 256);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[32], 2.0f * 15 - 0.5f * 1);
  for (int e = 1; e < 256; ++e) {
    if (e != 32) {
      EXPECT_EQ(y[e], ExpectedK4(e, 0)) << e;
    }
  }
  EXPECT_EQ(y[200], 48.0f * 10 - 10.0f);  // sub-block 6 spelled out
  EXPECT_EQ(y[255], 63.0f * 5 - 2.5f);
}

TEST(Dequantize, Q5_K) {
  block_q5_K blk{};
  blk.d = 0x3c00;
  blk.dmin = 0x3800;
  std::memcpy(blk.scales, kPackedK, sizeof(kPackedK));
  std::memset(blk.qs, 0x5a, sizeof(blk.qs));
  blk.qh[0] = 0x01;  // bit 0: element 0 gets +16
  blk.qh[3] = 0x02;  // bit 1: element 32 + 3
  blk.qh[7] = 0x80;  // bit 7: element 64*3 + 32 + 7 = 231
  blk.qh[9] = 0x10;  // bit 4: element 64*2 + 9 = 137
  const std::vector<float> y = Dequantize(GgmlType::Q5_K, &blk, 256);
  for (int e = 0; e < 256; ++e) {
    const bool high = e == 0 || e == 35 || e == 231 || e == 137;
    EXPECT_EQ(y[e], ExpectedK4(e, high ? 16 : 0)) << e;
  }
  EXPECT_EQ(y[231], 63.0f * 21 - 2.5f);
}

TEST(Dequantize, Q6_K) {
  block_q6_K blk{};
  blk.d = 0x3800;  // 0.5
  for (int s = 0; s < 16; ++s) blk.scales[s] = static_cast<int8_t>(s - 8);
  std::memset(blk.ql, 0x21, sizeof(blk.ql));  // low nibble 1, high nibble 2
  std::memset(blk.qh, 0xe4, sizeof(blk.qh));  // 2-bit fields 0, 1, 2, 3 from the bottom
  blk.qh[32] = 0x03;                          // half 1, l = 0: fields 3, 0, 0, 0
  // In each half, elements [0,32) take (ql low, qh bits 0-1), [32,64) (ql[+32] low, bits 2-3),
  // [64,96) (ql high, bits 4-5), [96,128) (ql[+32] high, bits 6-7); value q - 32.
  const int q_by_quarter[4] = {(1 | 0 << 4) - 32, (1 | 1 << 4) - 32, (2 | 2 << 4) - 32, (2 | 3 << 4) - 32};
  const std::vector<float> y = Dequantize(GgmlType::Q6_K, &blk, 256);
  for (int e = 0; e < 256; ++e) {
    int q = q_by_quarter[(e % 128) / 32];
    if (e == 128) q = (1 | 3 << 4) - 32;
    if (e == 160) q = 1 - 32;
    if (e == 192 || e == 224) q = 2 - 32;
    EXPECT_EQ(y[e], 0.5f * static_cast<float>(e / 16 - 8) * static_cast<float>(q)) << e;
  }
  EXPECT_EQ(y[0], 0.5f * -8 * -31);
  EXPECT_EQ(y[255], 0.5f * 7 * 18);
}

// With an fp16 d and the small integer scales and levels of these formats, every product is exact
// in F32 (at most 11 + 13 significant bits), so ggml's d * sc * q - dmin * m rounds only once, at
// the subtraction. The double-precision value rounded once is therefore ggml's result, whatever
// the order of the products; non-power-of-two scales make any extra rounding visible.
TEST(Dequantize, KQuantsRoundOnlyOnce) {
  std::mt19937 rng(3);
  block_q4_K b4{};
  b4.d = Fp32ToFp16(0.1f);
  b4.dmin = Fp32ToFp16(0.37f);
  std::memcpy(b4.scales, kPackedK, sizeof(kPackedK));
  for (uint8_t& v : b4.qs) v = static_cast<uint8_t>(rng());
  const std::vector<float> y4 = Dequantize(GgmlType::Q4_K, &b4, 256);
  const double d4 = Fp16ToFp32(b4.d), dmin4 = Fp16ToFp32(b4.dmin);
  for (int e = 0; e < 256; ++e) {
    const int g = e / 64, l = e % 32, sub = e / 32;
    const uint8_t byte = b4.qs[32 * g + l];
    const int q = sub % 2 == 0 ? (byte & 0x0f) : (byte >> 4);
    EXPECT_EQ(y4[e], static_cast<float>(d4 * kScK[sub] * q - dmin4 * kMinK[sub])) << e;
  }

  block_q6_K b6{};
  b6.d = Fp32ToFp16(-0.0123f);
  for (int8_t& v : b6.scales) v = static_cast<int8_t>(rng());
  b6.scales[0] = -128;
  for (uint8_t& v : b6.ql) v = static_cast<uint8_t>(rng());
  for (uint8_t& v : b6.qh) v = static_cast<uint8_t>(rng());
  const std::vector<float> y6 = Dequantize(GgmlType::Q6_K, &b6, 256);
  const double d6 = Fp16ToFp32(b6.d);
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, o = e % 128, l = o % 32, quarter = o / 32;
    const uint8_t low = b6.ql[64 * h + l + (quarter % 2) * 32];
    const int q = ((quarter < 2 ? low & 0x0f : low >> 4) | (((b6.qh[32 * h + l] >> (2 * quarter)) & 3) << 4)) - 32;
    EXPECT_EQ(y6[e], static_cast<float>(d6 * b6.scales[e / 16] * q)) << e;
  }
}

// ---------------------------------------------------------------------------------------------
// Quantization

TEST(Quantize, Q4_0FollowsGgmlRounding) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);
  const std::vector<unsigned char> bytes = Quantize(GgmlType::Q4_0, x);
  block_q4_0 blk;
  std::memcpy(&blk, bytes.data(), sizeof(blk));
  // The signed extreme -16 gives d = -16 / -8 = 2; q = trunc(x / d + 8.5) clamped to 15.
  EXPECT_EQ(blk.d, 0x4000);
  for (int j = 0; j < 16; ++j) {
    const int lo = static_cast<int>((j - 16) / 2.0f + 8.5f);
    const int hi = std::min(15, static_cast<int>(j / 2.0f + 8.5f));
    EXPECT_EQ(blk.qs[j] & 0x0f, lo) << j;
    EXPECT_EQ(blk.qs[j] >> 4, hi) << j + 16;
  }
}

TEST(Quantize, Q8_0RoundsHalfAwayFromZero) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;  // d = 1
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 0.49f;
  const std::vector<unsigned char> bytes = Quantize(GgmlType::Q8_0, x);
  block_q8_0 blk;
  std::memcpy(&blk, bytes.data(), sizeof(blk));
  EXPECT_EQ(blk.d, 0x3c00);
  EXPECT_EQ(blk.qs[0], 127);
  EXPECT_EQ(blk.qs[1], 3);
  EXPECT_EQ(blk.qs[2], -3);
  EXPECT_EQ(blk.qs[3], 0);
}

TEST(Quantize, Q4_1StoresMinAndRange) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = -3.0f + 0.5f * static_cast<float>(j % 16);  // -3 .. 4.5
  const std::vector<unsigned char> bytes = Quantize(GgmlType::Q4_1, x);
  block_q4_1 blk;
  std::memcpy(&blk, bytes.data(), sizeof(blk));
  EXPECT_EQ(Fp16ToFp32(blk.m), -3.0f);
  EXPECT_EQ(Fp16ToFp32(blk.d), 0.5f);  // (4.5 - -3) / 15
  EXPECT_EQ(Dequantize(GgmlType::Q4_1, bytes.data(), 32), x);  // every value is on the grid
}

TEST(Quantize, ZeroRowsStayZero) {
  const std::vector<float> zeros(512, 0.0f);
  for (GgmlType t : kSupported) {
    const std::vector<unsigned char> bytes = Quantize(t, zeros);
    for (float v : Dequantize(t, bytes.data(), 512)) ASSERT_EQ(v, 0.0f) << TypeName(t);
  }
}

struct RoundTripCase {
  GgmlType type;
  double gaussian_bound;  // relative RMS error on N(0, 1) rows
  double skewed_bound;    // on N(0.3, 0.02) rows with an outlier of about -6 every 97 elements
};

// Measured worst cases (4096 elements, seeds below): f16 0.02%, bf16 0.17%, q8_0 0.54% / 1.1%,
// q4_0 8.8% / 25% (a symmetric format cannot follow an offset), q4_1 7.9% / 3.8%, q5_0 4.3% /
// 6.7%, q4_K 7.2% / 3.8%, q5_K 3.6% / 3.6%, q6_K 1.7% / 3.9%. q8_0's error is inherent to ggml's
// reference rule (step amax / 127); the bounds leave ~10-20% margin.
constexpr RoundTripCase kRoundTrips[] = {
    {GgmlType::F32, 0.0, 0.0},        {GgmlType::F16, 0.0003, 0.0003}, {GgmlType::BF16, 0.002, 0.002},
    {GgmlType::Q8_0, 0.006, 0.013},   {GgmlType::Q4_0, 0.10, 0.28},    {GgmlType::Q4_1, 0.09, 0.045},
    {GgmlType::Q5_0, 0.05, 0.075},    {GgmlType::Q4_K, 0.08, 0.045},   {GgmlType::Q5_K, 0.04, 0.042},
    {GgmlType::Q6_K, 0.02, 0.045},
};

TEST(Quantize, RoundTripErrorIsBounded) {
  for (const RoundTripCase& c : kRoundTrips) {
    for (uint32_t seed : {1u, 2u, 3u}) {
      const std::vector<float> x = GaussianRow(4096, seed);
      const std::vector<unsigned char> q = Quantize(c.type, x);
      const double err = RelativeRmsError(x, Dequantize(c.type, q.data(), 4096));
      EXPECT_LE(err, c.gaussian_bound) << TypeName(c.type) << " seed " << seed;
    }
  }
}

// Rows with a mean offset and a few outliers, closer to real weights than N(0, 1).
TEST(Quantize, RoundTripWithOffsetAndOutliers) {
  for (const RoundTripCase& c : kRoundTrips) {
    std::vector<float> x = GaussianRow(4096, 7, 0.3f, 0.02f);
    for (size_t i = 0; i < x.size(); i += 97) x[i] *= -20.0f;
    const std::vector<unsigned char> q = Quantize(c.type, x);
    const double err = RelativeRmsError(x, Dequantize(c.type, q.data(), 4096));
    EXPECT_LE(err, c.skewed_bound) << TypeName(c.type);
  }
}

TEST(Quantize, KQuantsUseTheirHighBits) {
  // A smooth ramp needs every level, so q5_K must set qh bits and q6_K the top qh fields.
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = static_cast<float>(i % 32) - 10.0f;
  const std::vector<unsigned char> q5 = Quantize(GgmlType::Q5_K, x);
  block_q5_K b5;
  std::memcpy(&b5, q5.data(), sizeof(b5));
  int qh_bits = 0;
  for (uint8_t v : b5.qh) qh_bits += std::popcount(v);
  EXPECT_GT(qh_bits, 0);
  EXPECT_LT(RelativeRmsError(x, Dequantize(GgmlType::Q5_K, q5.data(), 256)), 0.02);

  const std::vector<unsigned char> q6 = Quantize(GgmlType::Q6_K, x);
  EXPECT_LT(RelativeRmsError(x, Dequantize(GgmlType::Q6_K, q6.data(), 256)), 0.02);
}

// Blocks are independent: a row of an odd number of blocks (n = 32 k not a multiple of 256 for
// the 32-element formats) quantizes and dequantizes like its blocks one by one.
TEST(Quantize, RowsAreSequencesOfIndependentBlocks) {
  for (GgmlType t : kSupported) {
    const TypeTraits traits = TraitsOf(t);
    const int64_t block = std::max<int64_t>(traits.block_size, kQK);
    const int64_t n = block * 3;  // 96 for the 32-element formats, 768 for the k-quants
    const std::vector<float> x = GaussianRow(n, 11);
    const std::vector<unsigned char> row = Quantize(t, x);
    const std::vector<float> y = Dequantize(t, row.data(), n);
    for (int64_t b = 0; b < 3; ++b) {
      const std::vector<float> part(x.begin() + b * block, x.begin() + (b + 1) * block);
      const std::vector<unsigned char> qb = Quantize(t, part);
      const size_t offset = static_cast<size_t>(b * block / traits.block_size) * traits.block_bytes;
      ASSERT_EQ(std::memcmp(qb.data(), row.data() + offset, qb.size()), 0) << TypeName(t) << " block " << b;
      const std::vector<float> yb = Dequantize(t, qb.data(), block);
      ASSERT_TRUE(std::equal(yb.begin(), yb.end(), y.begin() + b * block)) << TypeName(t) << " block " << b;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// DotRow

// DotRow vs the double-precision dot of DequantizeRow's output, relative to sum |y_i x_i| (the
// scale of the rounding error, immune to cancellation).
void ExpectDotMatches(GgmlType t, int64_t n, uint32_t seed) {
  const std::vector<float> w = GaussianRow(n, seed);
  const std::vector<float> x = GaussianRow(n, seed + 100);
  const std::vector<unsigned char> row = Quantize(t, w);
  const std::vector<float> y = Dequantize(t, row.data(), n);
  double exact = 0, magnitude = 0;
  for (int64_t i = 0; i < n; ++i) {
    exact += static_cast<double>(y[i]) * x[i];
    magnitude += std::fabs(static_cast<double>(y[i]) * x[i]);
  }
  const float dot = DotRow(t, row.data(), x.data(), n);
  EXPECT_LE(std::fabs(dot - exact), 1e-5 * magnitude) << TypeName(t) << " n=" << n;
}

TEST(DotRow, MatchesDequantizedDot) {
  for (GgmlType t : kSupported) ExpectDotMatches(t, 4096, 5);
}

TEST(DotRow, OddLengths) {
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    ExpectDotMatches(t, 1, 6);
    ExpectDotMatches(t, 77, 6);  // one partial group of 13 after two full ones
  }
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q8_0}) {
    ExpectDotMatches(t, 32, 7);
    ExpectDotMatches(t, 32 * 7, 7);  // not a multiple of 256
  }
  for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) ExpectDotMatches(t, 256 * 3, 8);
}

TEST(DotRow, HandBuiltBlock) {
  block_q8_0 blk{};
  blk.d = 0x3800;  // 0.5
  for (int j = 0; j < 32; ++j) blk.qs[j] = static_cast<int8_t>(j - 16);
  std::vector<float> x(32, 2.0f);
  // sum (j - 16) * 0.5 * 2 over j = 0..31 = sum (j - 16) = -16
  EXPECT_EQ(DotRow(GgmlType::Q8_0, &blk, x.data(), 32), -16.0f);
}

// ---------------------------------------------------------------------------------------------
// Unsupported types: visible failure, no out-of-bounds access.

TEST(QuantUnsupported, DequantizeWritesNaNAndDotIsNaN) {
  std::vector<unsigned char> block(24, 0);  // one q5_1 block
  std::vector<float> out(32, 1.0f);
  DequantizeRow(GgmlType::Q5_1, block.data(), out.data(), 32);
  for (float v : out) EXPECT_TRUE(std::isnan(v));
  const std::vector<float> x(32, 1.0f);
  EXPECT_TRUE(std::isnan(DotRow(GgmlType::Q5_1, block.data(), x.data(), 32)));
  std::vector<unsigned char> dst(24, 0xab);
  QuantizeRow(GgmlType::Q5_1, x.data(), dst.data(), 32);
  for (unsigned char b : dst) EXPECT_EQ(b, 0);
}

}  // namespace
}  // namespace ps
