#include "common/plan/step_cost.h"

#include <algorithm>
#include <cmath>

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
  weight_bandwidth_ = bandwidth_;
  if (device.attention_flops > 0) float_throughput_ = device.attention_flops;
  if (device.row_elements_per_s > 0) {
    const double elements = 3.0 * static_cast<double>(cost.n_embd) + 3.0 * static_cast<double>(cost.n_embd_kv) +
                            static_cast<double>(cost.n_ff);
    row_seconds_ = static_cast<double>(layers_) * elements / device.row_elements_per_s;
  }
  if (cost.weight_type) {
    if (const auto it = device.kernels.find(KernelKey(*cost.weight_type)); it != device.kernels.end()) {
      weight_bandwidth_ = it->second.decode_bytes_per_s;
      weight_throughput_ = it->second.prefill_ops;
      // The curves measured at the row lengths nearest the products' input widths.
      const auto nearest = [&](int64_t width) {
        double best = 0;
        Curve chosen;
        for (const auto& [cols, points] : it->second.curves) {
          const double distance =
              std::abs(std::log(static_cast<double>(cols) / static_cast<double>(std::max<int64_t>(1, width))));
          if (chosen.empty() || distance < best) {
            best = distance;
            chosen = points;
          }
        }
        return chosen;
      };
      curve_ = nearest(cost.n_embd);
      curve_ff_ = nearest(cost.n_ff > 0 ? cost.n_ff : cost.n_embd);
      down_flops_ = 2.0 * static_cast<double>(cost.n_ff) * static_cast<double>(cost.n_embd) * static_cast<double>(layers_);
    }
  }
}

// ops/s at `rows` rows: linear in log2(rows) between measured points, flat beyond them.
double StageCostModel::CurveOps(const Curve& curve, double rows) {
  if (rows <= curve.front().first) return curve.front().second;
  for (size_t i = 1; i < curve.size(); ++i) {
    if (rows <= curve[i].first) {
      const double a = std::log2(static_cast<double>(curve[i - 1].first)), b = std::log2(static_cast<double>(curve[i].first));
      const double f = (std::log2(rows) - a) / (b - a);
      return curve[i - 1].second + f * (curve[i].second - curve[i - 1].second);
    }
  }
  return curve.back().second;
}

StepTime StageCostModel::Step(const StepWork& work) const {
  StepTime t;
  if (work.rows <= 0) return t;
  const double rows = static_cast<double>(work.rows);
  const bool logits = work.logits_rows > 0 && head_flops_ > 0;
  const double weight_bytes = static_cast<double>(layer_bytes_) + (logits ? static_cast<double>(head_bytes_) : 0);
  const double other_bytes = embedding_row_bytes_ * rows + kv_bytes_ * work.kv_positions_read;
  const double weight_flops = rows * layer_flops_ + (logits ? static_cast<double>(work.logits_rows) * head_flops_ : 0);
  t.memory_seconds = (weight_bandwidth_ > 0 ? weight_bytes / weight_bandwidth_ : 0) +
                     (bandwidth_ > 0 ? other_bytes / bandwidth_ : 0);
  const double other_compute =
      (float_throughput_ > 0 ? work.attended_positions * attention_flops_ / float_throughput_ : 0) + rows * row_seconds_;
  t.compute_seconds = (weight_throughput_ > 0 ? weight_flops / weight_throughput_ : 0) + other_compute;
  if (!curve_.empty()) {
    // Measured kernels: the weights' product time from the curve, the rest as above but with
    // the cache's reads inside the measured attention rate.
    const double down = std::min(down_flops_, layer_flops_);
    const double head = logits ? static_cast<double>(work.logits_rows) * head_flops_ /
                                     CurveOps(curve_, static_cast<double>(work.logits_rows))
                               : 0;
    t.memory_seconds = rows * (layer_flops_ - down) / CurveOps(curve_, rows) + rows * down / CurveOps(curve_ff_, rows) + head;
    t.compute_seconds = other_compute;
    t.fixed_seconds = device_.launch_overhead_s * static_cast<double>(layers_ + (logits ? 1 : 0));
    t.seconds = t.memory_seconds + t.compute_seconds + t.fixed_seconds;
    return t;
  }
  t.fixed_seconds = device_.launch_overhead_s * static_cast<double>(layers_ + (logits ? 1 : 0));
  t.seconds = std::max(t.memory_seconds, t.compute_seconds) + t.fixed_seconds;
  return t;
}

}  // namespace ps::plan
