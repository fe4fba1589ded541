// Deterministic random numbers for make-model: the same seed gives the same bits on every machine
// and standard library (no std:: distributions, whose output is implementation-defined).
// Thread-safety: a Rng is one stream for one thread; the free functions are pure.
#pragma once

#include <cstdint>
#include <string_view>

namespace ps::make_model {

// SplitMix64's finaliser: a bijective 64-bit mix, used to turn related keys into unrelated seeds.
uint64_t Mix64(uint64_t x);

// FNV-1a of the bytes, mixed: a stable 64-bit key for a tensor name.
uint64_t HashName(std::string_view name);

// A seed for one row of one tensor, so that every row can be generated on its own (in any order,
// on any thread) and a tensor does not depend on which tensors were generated before it.
uint64_t RowSeed(uint64_t model_seed, std::string_view tensor_name, int64_t row);

// xoshiro256** seeded through SplitMix64, with standard normals by Box-Muller.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t Next();
  double Uniform();  // [0, 1), 53 bits
  double Normal();   // mean 0, standard deviation 1

 private:
  uint64_t s_[4];
  bool has_spare_ = false;  // Box-Muller makes normals in pairs
  double spare_ = 0.0;
};

}  // namespace ps::make_model
