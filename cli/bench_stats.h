// The summary of a repeated benchmark measurement: median, min and max (all 0 for no values).
// Shared by `pipeshard bench` in-process and `bench --server`.
// Thread-safety: pure function.
#pragma once

#include <algorithm>
#include <vector>

namespace ps::cli {

struct Stats {
  double median = 0, min = 0, max = 0;
};

inline Stats Summarize(std::vector<double> values) {
  if (values.empty()) return Stats{};
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return Stats{median, values.front(), values.back()};
}

}  // namespace ps::cli
