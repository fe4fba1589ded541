#include "common/plan/step_cost.h"

#include <algorithm>

namespace ps::plan {

namespace {

double WeightPeak(const DeviceProfile& d, MatmulPrecision precision) {
  switch (precision) {
    case MatmulPrecision::kQuantized:
      return d.int8_ops > 0 ? d.int8_ops : std::max(d.f16_flops, d.f32_flops);
    case MatmulPrecision::kF16:
      return std::max(d.f16_flops, d.f32_flops);
    case MatmulPrecision::kF32:
      break;
  }
  return d.f32_flops;
}

}  // namespace

StageCostModel::StageCostModel(const ModelCost& cost, int64_t first, int64_t last, const DeviceProfile& device)
    : device_(device) {
  first = std::clamp<int64_t>(first, 0, cost.n_layer());
  last = std::clamp<int64_t>(last, first, cost.n_layer());
  layers_ = last - first;
  for (int64_t i = first; i < last; ++i) {
    const PartCost& l = cost.layers[static_cast<size_t>(i)];
    layer_bytes_ += l.weight_bytes;
    layer_flops_ += l.flops_per_token;
    attention_flops_ += l.attention_flops_per_position;
    kv_bytes_ += static_cast<double>(l.kv_bytes_per_token);
  }
  if (first == 0) {
    embedding_bytes_ = cost.embedding.weight_bytes;
    embedding_row_bytes_ = cost.n_vocab > 0 ? static_cast<double>(embedding_bytes_) / static_cast<double>(cost.n_vocab) : 0;
    layer_flops_ += cost.embedding.flops_per_token;
  }
  if (last == cost.n_layer()) {
    head_bytes_ = cost.head.weight_bytes;
    head_flops_ = cost.head.flops_per_token;
  }
  weight_throughput_ = WeightPeak(device, cost.precision) * device.compute_efficiency;
  float_throughput_ = std::max(device.f32_flops, device.f16_flops) * device.compute_efficiency;
  bandwidth_ = device.memory_bandwidth * device.bandwidth_efficiency;
}

StepTime StageCostModel::Step(const StepWork& work) const {
  StepTime t;
  if (work.rows <= 0) return t;
  const double rows = static_cast<double>(work.rows);
  const bool logits = work.logits_rows > 0 && head_flops_ > 0;
  const double bytes = static_cast<double>(layer_bytes_) + embedding_row_bytes_ * rows +
                       (logits ? static_cast<double>(head_bytes_) : 0) + kv_bytes_ * work.kv_positions_read;
  const double weight_flops = rows * layer_flops_ + (logits ? static_cast<double>(work.logits_rows) * head_flops_ : 0);
  t.memory_seconds = bandwidth_ > 0 ? bytes / bandwidth_ : 0;
  t.compute_seconds = (weight_throughput_ > 0 ? weight_flops / weight_throughput_ : 0) +
                      (float_throughput_ > 0 ? work.attended_positions * attention_flops_ / float_throughput_ : 0);
  t.fixed_seconds = device_.launch_overhead_s * static_cast<double>(layers_ + (logits ? 1 : 0));
  t.seconds = std::max(t.memory_seconds, t.compute_seconds) + t.fixed_seconds;
  return t;
}

}  // namespace ps::plan
