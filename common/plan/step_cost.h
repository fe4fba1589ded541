// The roofline cost of one micro-batch on one stage: what a catalog device (hardware_catalog.h)
// spends running a layer range over some rows. A step reads the range's weights once and every
// attended sequence's cached K/V, and does the range's FLOPs for each row plus attention growing
// with the position; it takes the longer of the memory time (bytes over the bandwidth decode
// kernels reach) and the compute time (weight FLOPs over the throughput quantized or float GEMMs
// reach, attention FLOPs over the float throughput), plus a fixed launch cost per layer. When the
// device carries measured rates for the model's weight type (DeviceProfile::kernels), the weights
// are read at the measured decode rate and multiplied at the measured prefill rate instead, and a
// measured attention rate and per-row element-wise rate (CPU profiles) join the compute time.
// With a measured curve for the type (ops/s by rows in the product), the weights' time is read
// off it instead of the roofline: small batches are neither purely memory- nor compute-bound.
// Curves are measured at a few row lengths (the products' input width); the feed-forward down
// projection, whose rows are n_ff long, reads the curve nearest n_ff, the other products the one
// nearest n_embd (a 4-row product of 4096-long rows ran at half the rate of 1024-long ones here).
// Thread-safety: plain values; StageCostModel is immutable after construction.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "common/plan/hardware_catalog.h"
#include "common/plan/model_cost.h"

namespace ps::plan {

// What one micro-batch asks of a stage.
struct StepWork {
  int64_t rows = 0;              // tokens through the layers
  double attended_positions = 0;  // sum over rows of the positions each attends to (pos + 1)
  double kv_positions_read = 0;   // sum over the micro-batch's sequences of their longest attended span
  int64_t logits_rows = 0;        // rows that need the output head (last stage only)
};

struct StepTime {
  double seconds = 0;
  double memory_seconds = 0;   // bytes / effective bandwidth
  double compute_seconds = 0;  // FLOPs / effective throughput
  double fixed_seconds = 0;    // launches
  bool memory_bound() const { return memory_seconds >= compute_seconds; }
};

class StageCostModel {
 public:
  // Layers [first, last) of `cost` on `device`; the embedding when first == 0, the head when
  // last == cost.n_layer().
  StageCostModel(const ModelCost& cost, int64_t first, int64_t last, const DeviceProfile& device);

  StepTime Step(const StepWork& work) const;

  uint64_t weight_bytes() const { return layer_bytes_ + embedding_bytes_ + head_bytes_; }
  const DeviceProfile& device() const { return device_; }

 private:
  DeviceProfile device_;
  int64_t layers_ = 0;
  uint64_t layer_bytes_ = 0;      // the blocks' weights
  uint64_t embedding_bytes_ = 0;  // held, read one row per token
  uint64_t head_bytes_ = 0;       // read when a row needs logits
  double embedding_row_bytes_ = 0;
  double layer_flops_ = 0;        // per row
  double head_flops_ = 0;         // per logits row
  double attention_flops_ = 0;    // per attended position
  double kv_bytes_ = 0;           // per cached position
  double weight_throughput_ = 0;  // effective FLOP/s of the weight GEMMs
  double float_throughput_ = 0;   // effective FLOP/s of attention
  double bandwidth_ = 0;          // effective bytes/s of cache and activations
  double weight_bandwidth_ = 0;   // effective bytes/s of the weights
  double row_seconds_ = 0;        // element-wise work per row through the range (measured devices)
  using Curve = std::vector<std::pair<int32_t, double>>;  // measured (rows, ops/s)
  Curve curve_;       // of the weight type at the row length nearest n_embd; empty: roofline
  Curve curve_ff_;    // at the row length nearest n_ff (the down projection)
  double down_flops_ = 0;  // per row: the part of layer_flops_ in the down projections

  static double CurveOps(const Curve& curve, double rows);
};

}  // namespace ps::plan
