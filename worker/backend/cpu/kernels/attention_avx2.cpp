#include "worker/backend/cpu/kernels/attention_avx2.h"

#include <cstring>
#include <limits>

#include "worker/backend/cpu/kernels/simd_avx2.h"

namespace ps::cpu {

namespace {

constexpr int64_t kT = kAttentionTile;
static_assert(kT % 8 == 0, "score rows are processed 8 lanes at a time");
constexpr int kHeadBlock = 4;  // query heads whose dot products share one load of each key chunk

int64_t Padded(int64_t head_dim) { return (head_dim + 7) / 8 * 8; }

// Where each part of the scratch lives; hp = head_dim rounded up to 8 (the padding stays 0).
struct Layout {
  int64_t hp;
  float* q;    // [group][hp]  the queries times scale
  float* k;    // [kT][hp]     the tile's keys in F32, when head_dim is not a multiple of 8
  float* v;    // [kT][hp]     the tile's values in F32, likewise
  float* p;    // [group][kT]  scores, then exp(score - max)
  float* acc;  // [group][hp]  running weighted V sums
  float* m;    // [group]      running maximum score
  float* l;    // [group]      running sum of exp(score - m)
  float* fac;  // [group]      this tile's rescale of acc and l
};

Layout Carve(float* s, int64_t group, int64_t head_dim) {
  Layout L;
  L.hp = Padded(head_dim);
  L.q = s;
  L.k = L.q + group * L.hp;
  L.v = L.k + kT * L.hp;
  L.p = L.v + kT * L.hp;
  L.acc = L.p + group * kT;
  L.m = L.acc + group * L.hp;
  L.l = L.m + group;
  L.fac = L.l + group;
  return L;
}

// Eight consecutive keys' or values' elements as F32, from the cache (F16 or F32) or a widened tile.
PS_TARGET_AVX2 inline __m256 Load8(const float* x) { return _mm256_loadu_ps(x); }
PS_TARGET_AVX2 inline __m256 Load8(const uint16_t* x) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
}

template <typename Elem>
PS_TARGET_AVX2 inline void WidenRow(const Elem* src, float* dst, int64_t n) {
  if constexpr (sizeof(Elem) == 2) {
    simd::WidenF16(src, dst, n);
  } else {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  }
}

// p[j][t] = q_j . k_t for the NB heads of a block and KEYS keys from t; key t starts at
// k + t * stride. Each dot is one accumulator over the chunks in order, then the fixed Hsum4
// tree, whatever KEYS is.
template <int NB, int KEYS, typename Elem>
PS_TARGET_AVX2 inline void Dots(const float* q, const Elem* k, size_t stride, int64_t t, int64_t hp, float* p) {
  __m256 a[KEYS][kHeadBlock];
  for (int u = 0; u < KEYS; ++u) {
    for (int j = 0; j < kHeadBlock; ++j) a[u][j] = _mm256_setzero_ps();
  }
  for (int64_t c = 0; c < hp; c += 8) {
    for (int u = 0; u < KEYS; ++u) {
      const __m256 kv = Load8(k + (t + u) * stride + c);
      for (int j = 0; j < NB; ++j) a[u][j] = _mm256_fmadd_ps(_mm256_loadu_ps(q + j * hp + c), kv, a[u][j]);
    }
  }
  for (int u = 0; u < KEYS; ++u) {
    alignas(16) float s[4];
    _mm_store_ps(s, simd::Hsum4(a[u][0], a[u][1], a[u][2], a[u][3]));
    for (int j = 0; j < NB; ++j) p[j * kT + t + u] = s[j];
  }
}

// The scores of the tile's cnt keys, two keys per round (eight independent FMA chains).
template <int NB, typename Elem>
PS_TARGET_AVX2 void Scores(const float* q, const Elem* k, size_t stride, int64_t cnt, int64_t hp, float* p) {
  int64_t t = 0;
  for (; t + 2 <= cnt; t += 2) Dots<NB, 2>(q, k, stride, t, hp, p);
  if (t < cnt) Dots<NB, 1>(q, k, stride, t, hp, p);
}

// Turns head j's scores for the tile into exp(score - m_new) and updates its running max m, sum
// l and the rescale fac of the accumulator. Lanes past cnt hold -inf and become 0.
PS_TARGET_AVX2 void Softmax(float* p, int64_t cnt, float& m, float& l, float& fac) {
  const int64_t lanes = (cnt + 7) / 8 * 8;
  for (int64_t t = cnt; t < lanes; ++t) p[t] = -std::numeric_limits<float>::infinity();
  __m256 mx = _mm256_loadu_ps(p);
  for (int64_t t = 8; t < lanes; t += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(p + t));
  const float tile_max = simd::Hmax(mx);
  const float m_new = tile_max > m ? tile_max : m;
  // The first tile has no history to rescale (m = -inf would make exp(m - m_new) a NaN).
  fac = m == -std::numeric_limits<float>::infinity()
            ? 0.0f
            : _mm256_cvtss_f32(simd::Exp8(_mm256_set1_ps(m - m_new)));
  const __m256 shift = _mm256_set1_ps(m_new);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t t = 0; t < lanes; t += 8) {
    const __m256 e = simd::Exp8(_mm256_sub_ps(_mm256_loadu_ps(p + t), shift));
    _mm256_storeu_ps(p + t, e);
    sum = _mm256_add_ps(sum, e);
  }
  l = l * fac + simd::Hsum(sum);
  m = m_new;
}

// acc_j = acc_j * fac_j + sum_t p[j][t] v_t for the NB heads of a block, 8 dimensions at a time;
// even and odd keys in separate accumulators (twice the independent chains), added at the end.
// Value t starts at v + t * stride.
template <int NB, typename Elem>
PS_TARGET_AVX2 void AccumulateV(const float* p, const Elem* v, size_t stride, int64_t cnt, int64_t hp,
                                const float* fac, float* acc) {
  for (int64_t c = 0; c < hp; c += 8) {
    __m256 even[kHeadBlock], odd[kHeadBlock];
    for (int j = 0; j < NB; ++j) {
      even[j] = _mm256_mul_ps(_mm256_loadu_ps(acc + j * hp + c), _mm256_set1_ps(fac[j]));
      odd[j] = _mm256_setzero_ps();
    }
    int64_t t = 0;
    for (; t + 2 <= cnt; t += 2) {
      const __m256 v0 = Load8(v + t * stride + c);
      const __m256 v1 = Load8(v + (t + 1) * stride + c);
      for (int j = 0; j < NB; ++j) {
        even[j] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j * kT + t), v0, even[j]);
        odd[j] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j * kT + t + 1), v1, odd[j]);
      }
    }
    if (t < cnt) {
      const __m256 v0 = Load8(v + t * stride + c);
      for (int j = 0; j < NB; ++j) even[j] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j * kT + t), v0, even[j]);
    }
    for (int j = 0; j < NB; ++j) _mm256_storeu_ps(acc + j * hp + c, _mm256_add_ps(even[j], odd[j]));
  }
}

// One tile for the NB heads from g0: keys and values start at k and v, stride elements apart.
template <int NB, typename Elem>
PS_TARGET_AVX2 void Block(const Layout& L, int64_t g0, int64_t cnt, const Elem* k, const Elem* v, size_t stride) {
  Scores<NB>(L.q + g0 * L.hp, k, stride, cnt, L.hp, L.p + g0 * kT);
  for (int j = 0; j < NB; ++j) Softmax(L.p + (g0 + j) * kT, cnt, L.m[g0 + j], L.l[g0 + j], L.fac[g0 + j]);
  AccumulateV<NB>(L.p + g0 * kT, v, stride, cnt, L.hp, L.fac + g0, L.acc + g0 * L.hp);
}

// The tile for every head of the group, in blocks of up to kHeadBlock heads.
template <typename Elem>
PS_TARGET_AVX2 void Tile(const Layout& L, int64_t group, int64_t cnt, const Elem* k, const Elem* v, size_t stride) {
  for (int64_t g0 = 0; g0 < group; g0 += kHeadBlock) {
    switch (group - g0 < kHeadBlock ? group - g0 : kHeadBlock) {
      case 1:
        Block<1>(L, g0, cnt, k, v, stride);
        break;
      case 2:
        Block<2>(L, g0, cnt, k, v, stride);
        break;
      case 3:
        Block<3>(L, g0, cnt, k, v, stride);
        break;
      default:
        Block<4>(L, g0, cnt, k, v, stride);
        break;
    }
  }
}

template <typename Elem>
PS_TARGET_AVX2 void Attend(const AttendGroupArgs& a, float* scratch) {
  const Layout L = Carve(scratch, a.group, a.head_dim);
  const int64_t hd = a.head_dim;
  const auto* keys = static_cast<const Elem*>(a.keys);
  const auto* values = static_cast<const Elem*>(a.values);
  for (int64_t g = 0; g < a.group; ++g) {
    for (int64_t i = 0; i < hd; ++i) L.q[g * L.hp + i] = a.q[g * hd + i] * a.scale;
    for (int64_t i = 0; i < L.hp; ++i) L.acc[g * L.hp + i] = 0.0f;
    L.m[g] = -std::numeric_limits<float>::infinity();
    L.l[g] = 0.0f;
  }
  // A head_dim of whole 8-lane chunks (every real model) reads K and V straight from the cache;
  // otherwise each tile is first widened into zero-padded rows. Same arithmetic either way.
  const bool direct = hd == L.hp;
  for (int64_t t0 = 0; t0 < a.n_pos; t0 += kT) {
    const int64_t cnt = a.n_pos - t0 < kT ? a.n_pos - t0 : kT;
    const Elem* k = keys + t0 * a.row_stride;
    const Elem* v = values + t0 * a.row_stride;
    if (direct) {
      Tile(L, a.group, cnt, k, v, a.row_stride);
      continue;
    }
    for (int64_t t = 0; t < cnt; ++t) {
      WidenRow(k + t * a.row_stride, L.k + t * L.hp, hd);
      WidenRow(v + t * a.row_stride, L.v + t * L.hp, hd);
    }
    Tile(L, a.group, cnt, static_cast<const float*>(L.k), static_cast<const float*>(L.v), static_cast<size_t>(L.hp));
  }
  for (int64_t g = 0; g < a.group; ++g) {
    const __m256 inv = _mm256_set1_ps(1.0f / L.l[g]);
    const float* acc = L.acc + g * L.hp;
    float* out = a.out + g * hd;
    int64_t i = 0;
    for (; i + 8 <= hd; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(acc + i), inv));
    if (i < hd) {
      _mm256_maskstore_ps(out + i, simd::TailMask(hd - i), _mm256_mul_ps(_mm256_loadu_ps(acc + i), inv));
    }
  }
}

}  // namespace

size_t AttendGroupScratchFloats(int64_t group, int64_t head_dim) {
  const int64_t hp = Padded(head_dim);
  return static_cast<size_t>(group * hp + 2 * kT * hp + group * kT + group * hp + 3 * group);
}

void AttendGroupAvx2(const AttendGroupArgs& args, float* scratch) {
  if (args.f16) {
    Attend<uint16_t>(args, scratch);
  } else {
    Attend<float>(args, scratch);
  }
}

}  // namespace ps::cpu
