#include "coordinator/control/stage_order.h"

#include <algorithm>

namespace ps::coord {

void OrderForStages(const std::vector<std::string>& stage_order, std::vector<WorkerRecord>* workers) {
  if (stage_order.empty()) return;
  auto rank = [&](const WorkerRecord& w) {
    const auto it = std::find(stage_order.begin(), stage_order.end(), w.name);
    return static_cast<size_t>(it - stage_order.begin());  // unlisted: stage_order.size(), after all
  };
  std::stable_sort(workers->begin(), workers->end(),
                   [&](const WorkerRecord& a, const WorkerRecord& b) { return rank(a) < rank(b); });
}

}  // namespace ps::coord
