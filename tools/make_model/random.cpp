#include "tools/make_model/random.h"

#include <cmath>
#include <numbers>

namespace ps::make_model {

namespace {
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;  // SplitMix64's increment, 2^64 / phi

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

uint64_t Mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t HashName(std::string_view name) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a offset basis
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001B3ull;  // FNV prime
  }
  return Mix64(h);
}

uint64_t RowSeed(uint64_t model_seed, std::string_view tensor_name, int64_t row) {
  const uint64_t tensor_key = Mix64(model_seed + kGolden) ^ HashName(tensor_name);
  return Mix64(tensor_key + kGolden * (static_cast<uint64_t>(row) + 1));
}

Rng::Rng(uint64_t seed) {
  // Seeding through SplitMix64 as xoshiro's authors recommend: never an all-zero state.
  for (uint64_t& s : s_) {
    seed += kGolden;
    s = Mix64(seed);
  }
}

uint64_t Rng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

double Rng::Uniform() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }

double Rng::Normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double u1 = 1.0 - Uniform();  // (0, 1]: log stays finite
  const double u2 = Uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  spare_ = radius * std::sin(angle);
  has_spare_ = true;
  return radius * std::cos(angle);
}

}  // namespace ps::make_model
