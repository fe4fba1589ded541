#include "common/plan/model_cost.h"

#include "common/model/llama_weights.h"

namespace ps::plan {

namespace {

// Multiply-add = 2 FLOPs per weight of a matrix applied to one token.
double MatrixFlops(const gguf::TensorInfo* t) { return 2.0 * static_cast<double>(t->n_elements()); }

uint64_t KvBytesPerToken(const LlamaConfig& config, int kv_elem_bytes) {
  return 2ull * static_cast<uint64_t>(config.n_embd_kv()) * static_cast<uint64_t>(kv_elem_bytes);
}

// Per attended position: a dot product of head_dim for each of n_head query heads (QK^T), then
// the same again to weight the values (AV); 2 FLOPs per multiply-add.
double AttentionFlopsPerPosition(const LlamaConfig& config) {
  return 4.0 * static_cast<double>(config.n_head) * static_cast<double>(config.head_dim());
}

void SetShape(const LlamaConfig& config, ModelCost* cost) {
  cost->n_embd = config.n_embd;
  cost->n_vocab = config.n_vocab;
  cost->n_head = config.n_head;
  cost->n_ff = config.n_ff;
  cost->n_embd_kv = config.n_embd_kv();
}

}  // namespace

MatmulPrecision PrecisionOf(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
      return MatmulPrecision::kF32;
    case GgmlType::F16:
    case GgmlType::BF16:
      return MatmulPrecision::kF16;
    default:
      return MatmulPrecision::kQuantized;
  }
}

Result<ModelCost> ModelCostFromFile(const gguf::GgufFile& file, const LlamaConfig& config, int kv_elem_bytes) {
  PS_ASSIGN_OR_RETURN(LlamaWeights weights, BindLlamaWeights(file, config, LayerRange{0, config.n_layer}));
  ModelCost cost;
  SetShape(config, &cost);
  if (!weights.layers.empty()) {
    cost.weight_type = weights.layers.front().wq->type;
    cost.precision = PrecisionOf(*cost.weight_type);
  }
  for (const LayerWeights& l : weights.layers) {
    PartCost part;
    for (const gguf::TensorInfo* t : l.matrices()) {
      part.weight_bytes += t->nbytes;
      part.flops_per_token += MatrixFlops(t);
    }
    for (const gguf::TensorInfo* t : l.vectors()) {
      if (t != nullptr) part.weight_bytes += t->nbytes;
    }
    part.kv_bytes_per_token = KvBytesPerToken(config, kv_elem_bytes);
    part.attention_flops_per_position = AttentionFlopsPerPosition(config);
    cost.layers.push_back(part);
  }
  // The lookup reads one row per token: a copy, not a multiply.
  cost.embedding.weight_bytes = weights.tok_embd->nbytes;
  cost.embedding.flops_per_token = static_cast<double>(config.n_embd);
  // A tied head reuses token_embd; the last stage still has to hold it.
  cost.head.weight_bytes = weights.output->nbytes + weights.output_norm->nbytes;
  cost.head.flops_per_token = MatrixFlops(weights.output);
  return cost;
}

ModelCost ModelCostFromConfig(const LlamaConfig& config, double bytes_per_weight, int kv_elem_bytes,
                              MatmulPrecision precision) {
  const double e = static_cast<double>(config.n_embd);
  const double q = static_cast<double>(config.n_embd_q());  // Wq and Wo; n_embd unless heads are wider
  const double kv = static_cast<double>(config.n_embd_kv());
  const double ff = static_cast<double>(config.n_ff);
  const double v = static_cast<double>(config.n_vocab);
  const double layer_weights = e * q * 2 + e * kv * 2 + e * ff * 3;
  ModelCost cost;
  SetShape(config, &cost);
  cost.precision = precision;
  PartCost layer;
  layer.weight_bytes = static_cast<uint64_t>(layer_weights * bytes_per_weight + 2 * e * 4);
  layer.flops_per_token = 2 * layer_weights;
  layer.kv_bytes_per_token = KvBytesPerToken(config, kv_elem_bytes);
  layer.attention_flops_per_position = AttentionFlopsPerPosition(config);
  cost.layers.assign(static_cast<size_t>(config.n_layer), layer);
  cost.embedding.weight_bytes = static_cast<uint64_t>(e * v * bytes_per_weight);
  cost.embedding.flops_per_token = e;
  cost.head.weight_bytes = static_cast<uint64_t>(e * v * bytes_per_weight + e * 4);
  cost.head.flops_per_token = 2 * e * v;
  return cost;
}

ModelCost ModelCostForType(const LlamaConfig& config, GgmlType type, int kv_elem_bytes) {
  const TypeTraits traits = TraitsOf(type);
  ModelCost cost = ModelCostFromConfig(
      config, static_cast<double>(traits.block_bytes) / static_cast<double>(traits.block_size), kv_elem_bytes,
      PrecisionOf(type));
  cost.weight_type = type;
  return cost;
}

}  // namespace ps::plan
