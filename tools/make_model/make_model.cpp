// MakeModel: validation, metadata and the random tensors of a Llama-family GGUF file.
#include "tools/make_model/make_model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <initializer_list>
#include <numbers>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "common/gguf/gguf_writer.h"
#include "common/model/llama_config.h"
#include "common/quant/quant.h"
#include "common/tokenizer/bpe_pretokenizer_names.h"
#include "common/util/disk_space.h"
#include "tools/make_model/hf_vocab.h"
#include "tools/make_model/packaged_vocab.h"
#include "tools/make_model/random.h"
#include "tools/make_model/spm_vocab.h"
#include "tools/make_model/vocabulary.h"

namespace ps {

namespace {

using gguf::GgufWriter;
using make_model::Vocabulary;

// The weight types make-model writes and the llama_ftype recorded for each in general.file_type
// (informational for llama.cpp; the K-quants are recorded as the "_M" mixes they approximate).
struct WeightType {
  GgmlType type;
  uint32_t file_type;
};
constexpr WeightType kWeightTypes[] = {
    {GgmlType::F32, 0},  {GgmlType::F16, 1},  {GgmlType::Q4_0, 2},  {GgmlType::Q4_1, 3},
    {GgmlType::Q8_0, 7}, {GgmlType::Q5_0, 8}, {GgmlType::Q4_K, 15}, {GgmlType::Q5_K, 17},
    {GgmlType::Q6_K, 18}, {GgmlType::BF16, 32},
};

// Upper bounds that keep every size computation far from overflow while allowing any real
// Llama shape (Llama 3.1 405B: dim 16384, 126 layers, ff 53248, context 131072).
constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxLayers = 1 << 12;
constexpr int64_t kMaxFf = 1 << 18;
constexpr int64_t kMaxCtx = 1 << 24;

// Scales of the random weights. A matrix with n inputs gets standard deviation 1/sqrt(n), so
// each projection keeps its (RMS-normalised, hence unit-scale) input at unit scale; the residual
// stream then grows slowly with depth and every RMSNorm brings it back. The output head is
// twice that, giving logits with a standard deviation of about 2: peaked enough that greedy
// decoding has clear winners, flat enough that sampling still varies.
constexpr double kOutputGain = 2.0;
constexpr double kNormNoise = 0.05;  // norm weights are 1 + N(0, kNormNoise)
// Qwen2's Q/K/V biases are N(0, kBiasStd): large enough that dropping or misplacing one changes
// the greedy tokens (the parity tests rely on it), small next to the unit-scale projections.
constexpr double kBiasStd = 0.5;

// Llama 3.1's rope_scaling (its config.json: factor 8, low 1, high 4, original context 8192).
constexpr double kRopeFactor = 8.0;
constexpr double kRopeLowFreqFactor = 1.0;
constexpr double kRopeHighFreqFactor = 4.0;
constexpr double kRopeOriginalContext = 8192.0;

constexpr uint32_t kAlignment = 32;  // general.alignment, llama.cpp's default

Status CheckDim(const char* flag, int64_t value, int64_t max) {
  if (value <= 0 || value > max) {
    return Status::InvalidArgument(std::string(flag) + " " + std::to_string(value) + " is out of range 1.." +
                                   std::to_string(max));
  }
  return Status::Ok();
}

// `type` (given as `flag`) as a weight type: one of kWeightTypes, and a whole number of its blocks
// in each row length of `rows` (the flag that sets it, its value).
Result<const WeightType*> CheckWeightType(const std::string& flag, GgmlType type,
                                          std::initializer_list<std::pair<const char*, int64_t>> rows) {
  const WeightType* weight = nullptr;
  for (const WeightType& w : kWeightTypes) {
    if (w.type == type) weight = &w;
  }
  // The raw value is checked against the table first: TraitsOf(GgmlType) expects a known type.
  const auto raw_type = TraitsOf(static_cast<uint32_t>(type));
  if (weight == nullptr || !raw_type || !raw_type->supported) {
    const std::string name = raw_type ? raw_type->name : "id " + std::to_string(static_cast<uint32_t>(type));
    return Status::InvalidArgument(flag + " " + name +
                                   " is not one of f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q4_K, q5_K, q6_K");
  }
  const TypeTraits traits = *raw_type;
  for (const auto& [row_flag, value] : rows) {
    if (value % traits.block_size != 0) {
      return Status::InvalidArgument(flag + " " + traits.name + " stores rows in blocks of " +
                                     std::to_string(traits.block_size) + ": " + row_flag + " " +
                                     std::to_string(value) + " must be a multiple of " +
                                     std::to_string(traits.block_size) + " (--dim and --ff are the weight row lengths)");
    }
  }
  return weight;
}

int64_t HeadDim(const MakeModelOptions& o) { return o.head_dim > 0 ? o.head_dim : o.dim / o.heads; }

Result<uint32_t> Validate(const MakeModelOptions& o) {
  // make-model writes every architecture pipeshard reads.
  if (!ParseArch(o.arch).ok()) {
    return Status::InvalidArgument("--arch '" + o.arch + "' is not one of " + SupportedArchNames());
  }
  PS_RETURN_IF_ERROR(CheckDim("--dim", o.dim, kMaxDim));
  PS_RETURN_IF_ERROR(CheckDim("--layers", o.layers, kMaxLayers));
  PS_RETURN_IF_ERROR(CheckDim("--heads", o.heads, kMaxDim));
  PS_RETURN_IF_ERROR(CheckDim("--kv-heads", o.kv_heads, kMaxDim));
  PS_RETURN_IF_ERROR(CheckDim("--ff", o.ff, kMaxFf));
  PS_RETURN_IF_ERROR(CheckDim("--ctx", o.ctx, kMaxCtx));
  if (o.head_dim != 0) {
    PS_RETURN_IF_ERROR(CheckDim("--head-dim", o.head_dim, kMaxDim));
    if (o.head_dim * o.heads > kMaxDim) {
      return Status::InvalidArgument("--head-dim " + std::to_string(o.head_dim) + " x --heads " +
                                     std::to_string(o.heads) + " exceeds " + std::to_string(kMaxDim));
    }
    if (o.head_dim % 2 != 0) {
      return Status::InvalidArgument("--head-dim " + std::to_string(o.head_dim) +
                                     " is odd; RoPE rotates pairs of elements");
    }
  } else if (o.dim % o.heads != 0) {
    return Status::InvalidArgument("--dim " + std::to_string(o.dim) + " is not a multiple of --heads " +
                                   std::to_string(o.heads) + " (or give --head-dim)");
  } else if ((o.dim / o.heads) % 2 != 0) {
    return Status::InvalidArgument("head size --dim / --heads = " + std::to_string(o.dim / o.heads) +
                                   " is odd; RoPE rotates pairs of elements");
  }
  if (o.heads % o.kv_heads != 0) {
    return Status::InvalidArgument("--heads " + std::to_string(o.heads) + " is not a multiple of --kv-heads " +
                                   std::to_string(o.kv_heads));
  }
  if (!(o.rope_freq_base > 0.0f) || !std::isfinite(o.rope_freq_base)) {
    return Status::InvalidArgument("--rope-freq-base " + std::to_string(o.rope_freq_base) + " must be positive");
  }
  if (!(o.rms_eps > 0.0f) || !std::isfinite(o.rms_eps)) {
    return Status::InvalidArgument("rms_eps " + std::to_string(o.rms_eps) + " must be positive");
  }
  // attn_output's rows hold --heads x --head-dim elements.
  PS_ASSIGN_OR_RETURN(const WeightType* weight,
                      CheckWeightType("--type", o.type,
                                      {{"--dim", o.dim}, {"--ff", o.ff}, {"--heads x --head-dim", HeadDim(o) * o.heads}}));
  if (o.output_type) {
    if (o.tied_embeddings) {
      return Status::InvalidArgument("--output-type sets output.weight's type, and --tied-embeddings writes no "
                                     "output.weight (the head reuses token_embd, of --type)");
    }
    // output.weight's rows hold --dim elements.
    PS_RETURN_IF_ERROR(CheckWeightType("--output-type", *o.output_type, {{"--dim", o.dim}}).status());
  }
  return weight->file_type;
}

Result<Vocabulary> ReadVocabulary(const std::string& vocab) {
  if (vocab == "spm") return make_model::BuiltInSpmVocabulary();
  Result<Vocabulary> v = make_model::IsPackagedVocabulary(vocab) ? make_model::LoadPackagedVocabulary(vocab)
                                                                 : make_model::ReadHfTokenizerJson(vocab);
  if (!v.ok()) return v.status().WithContext("--vocab " + vocab);
  return v;
}

// --vocab, then --pre (empty: the vocabulary's own), which must be a pre-tokenizer pipeshard
// supports, so that the file loads here as well as in llama.cpp.
Result<Vocabulary> LoadVocabulary(const std::string& vocab, const std::string& pre) {
  PS_ASSIGN_OR_RETURN(Vocabulary v, ReadVocabulary(vocab));
  if (!pre.empty()) {
    if (v.model != "gpt2") {
      return Status::InvalidArgument("--pre " + pre + " needs a byte-level BPE vocabulary; --vocab " + vocab +
                                     " is SentencePiece, which has no pre-tokenizer");
    }
    const auto spec = BpePreTokenizerByName(pre);
    if (!spec.ok()) return Status::InvalidArgument("--pre " + pre + ": " + spec.status().message());
    v.pre = pre;
  }
  return v;
}

void SetVocabularyMetadata(GgufWriter& w, const Vocabulary& v) {
  w.SetString("tokenizer.ggml.model", v.model);
  w.SetString("tokenizer.ggml.pre", v.pre);
  w.SetStringArray("tokenizer.ggml.tokens", v.tokens);
  if (!v.scores.empty()) w.SetF32Array("tokenizer.ggml.scores", v.scores);
  w.SetI32Array("tokenizer.ggml.token_type", v.token_types);
  if (!v.merges.empty()) w.SetStringArray("tokenizer.ggml.merges", v.merges);
  if (v.bos >= 0) w.SetU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos));
  if (v.eos >= 0) w.SetU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos));
  if (v.eot >= 0) w.SetU32("tokenizer.ggml.eot_token_id", static_cast<uint32_t>(v.eot));
  if (v.unk >= 0) w.SetU32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(v.unk));
  if (v.pad >= 0) w.SetU32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(v.pad));
  w.SetBool("tokenizer.ggml.add_bos_token", v.add_bos);
  w.SetBool("tokenizer.ggml.add_eos_token", false);
  if (v.model == "llama") w.SetBool("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
}

// Llama 3.1's per-frequency RoPE divisors, computed as llama.cpp's converter does: the rotation
// frequencies in float32, the wavelength bands in double. Long wavelengths (beyond the original
// context) are slowed by the full factor, short ones kept, and the band between interpolated.
std::vector<float> Llama3RopeFactors(int64_t head_dim, float freq_base) {
  std::vector<float> factors;
  const double low_freq_wavelen = kRopeOriginalContext / kRopeLowFreqFactor;
  const double high_freq_wavelen = kRopeOriginalContext / kRopeHighFreqFactor;
  for (int64_t i = 0; i < head_dim; i += 2) {
    const float exponent = static_cast<float>(i) / static_cast<float>(head_dim);
    const float freq = 1.0f / std::pow(freq_base, exponent);
    const double wavelen = 2.0 * std::numbers::pi / static_cast<double>(freq);
    double factor;
    if (wavelen < high_freq_wavelen) {
      factor = 1.0;
    } else if (wavelen > low_freq_wavelen) {
      factor = kRopeFactor;
    } else {
      const double smooth = (kRopeOriginalContext / wavelen - kRopeLowFreqFactor) /
                            (kRopeHighFreqFactor - kRopeLowFreqFactor);
      factor = 1.0 / ((1.0 - smooth) / kRopeFactor + smooth);
    }
    factors.push_back(static_cast<float>(factor));
  }
  return factors;
}

// Fills a tensor of `rows` rows of `cols` values drawn from N(mean, stddev), each row from its
// own seed, quantized to `type`. Rows are shared out to threads; the bytes do not depend on how.
GgufWriter::FillFn RandomRows(uint64_t seed, std::string name, GgmlType type, int64_t cols, int64_t rows,
                              double mean, double stddev) {
  return [=](uint8_t* dst, size_t nbytes) {
    const size_t row_bytes = nbytes / static_cast<size_t>(rows);
    std::atomic<int64_t> next_row{0};
    constexpr int64_t kRowsPerGrab = 16;
    auto work = [&] {
      std::vector<float> values(static_cast<size_t>(cols));
      for (;;) {
        const int64_t begin = next_row.fetch_add(kRowsPerGrab);
        if (begin >= rows) return;
        for (int64_t r = begin; r < std::min(rows, begin + kRowsPerGrab); ++r) {
          make_model::Rng rng(make_model::RowSeed(seed, name, r));
          for (float& v : values) v = static_cast<float>(mean + stddev * rng.Normal());
          QuantizeRow(type, values.data(), dst + static_cast<size_t>(r) * row_bytes, cols);
        }
      }
    };
    const int64_t wanted = std::min<int64_t>(std::max(1u, std::thread::hardware_concurrency()),
                                             (rows + kRowsPerGrab - 1) / kRowsPerGrab);
    std::vector<std::thread> helpers;
    for (int64_t t = 1; t < wanted; ++t) {
      try {
        helpers.emplace_back(work);
      } catch (const std::system_error&) {
        break;  // fewer threads: this one does the remaining rows
      }
    }
    work();
    for (std::thread& h : helpers) h.join();
  };
}

GgufWriter::FillFn ConstantF32(std::vector<float> values) {
  return [values = std::move(values)](uint8_t* dst, size_t nbytes) {
    std::copy_n(reinterpret_cast<const uint8_t*>(values.data()), std::min(nbytes, values.size() * sizeof(float)), dst);
  };
}

}  // namespace

Status MakeModel(const std::string& out_path, const MakeModelOptions& o) {
  PS_ASSIGN_OR_RETURN(const uint32_t file_type, Validate(o));
  PS_ASSIGN_OR_RETURN(const Vocabulary vocab, LoadVocabulary(o.vocab, o.pre));
  const auto n_vocab = static_cast<int64_t>(vocab.tokens.size());
  const int64_t head_dim = HeadDim(o);
  const int64_t q_dim = head_dim * o.heads;
  const int64_t kv_dim = head_dim * o.kv_heads;
  const std::string type_name(TypeName(o.type));
  const std::string k = o.arch + ".";  // every hyper-parameter key is under the architecture

  GgufWriter w;
  w.SetString("general.architecture", o.arch);
  w.SetString("general.name", "pipeshard random " + o.arch + " " + std::to_string(o.dim) + "x" +
                                  std::to_string(o.layers) + " " + type_name + " seed " + std::to_string(o.seed));
  w.SetU32("general.file_type", file_type);
  w.SetU32("general.alignment", kAlignment);
  w.SetU32(k + "context_length", static_cast<uint32_t>(o.ctx));
  w.SetU32(k + "embedding_length", static_cast<uint32_t>(o.dim));
  w.SetU32(k + "block_count", static_cast<uint32_t>(o.layers));
  w.SetU32(k + "feed_forward_length", static_cast<uint32_t>(o.ff));
  w.SetU32(k + "rope.dimension_count", static_cast<uint32_t>(head_dim));
  w.SetU32(k + "attention.head_count", static_cast<uint32_t>(o.heads));
  w.SetU32(k + "attention.head_count_kv", static_cast<uint32_t>(o.kv_heads));
  if (o.head_dim != 0) {
    w.SetU32(k + "attention.key_length", static_cast<uint32_t>(head_dim));
    w.SetU32(k + "attention.value_length", static_cast<uint32_t>(head_dim));
  }
  w.SetF32(k + "attention.layer_norm_rms_epsilon", o.rms_eps);
  w.SetF32(k + "rope.freq_base", o.rope_freq_base);
  w.SetU32(k + "vocab_size", static_cast<uint32_t>(n_vocab));
  SetVocabularyMetadata(w, vocab);
  if (!o.chat_template.empty()) w.SetString("tokenizer.chat_template", o.chat_template);

  const double inv_sqrt_dim = 1.0 / std::sqrt(static_cast<double>(o.dim));
  const double inv_sqrt_ff = 1.0 / std::sqrt(static_cast<double>(o.ff));
  // ne[0] is the row length (the input dimension of a projection), ne[1] the number of rows.
  auto matrix = [&](const std::string& name, int64_t cols, int64_t rows, double stddev) {
    return w.AddTensor(name, o.type, {cols, rows}, RandomRows(o.seed, name, o.type, cols, rows, 0.0, stddev));
  };
  auto norm = [&](const std::string& name, int64_t n) {
    return w.AddTensor(name, GgmlType::F32, {n}, RandomRows(o.seed, name, GgmlType::F32, n, 1, 1.0, kNormNoise));
  };
  auto bias = [&](const std::string& name, int64_t n) {
    return w.AddTensor(name, GgmlType::F32, {n}, RandomRows(o.seed, name, GgmlType::F32, n, 1, 0.0, kBiasStd));
  };

  // Untied, token embeddings are unit-scale like the residual stream they start. Tied, they are
  // also the output head and get its scale instead; the first RMSNorm restores unit scale. (A
  // tied random model tends to repeat tokens: the last token's embedding is still part of the
  // residual stream and matches itself in the head.)
  const double embd_std = o.tied_embeddings ? kOutputGain * inv_sqrt_dim : 1.0;
  PS_RETURN_IF_ERROR(matrix("token_embd.weight", o.dim, n_vocab, embd_std));
  if (o.rope_scaling_llama3) {
    PS_RETURN_IF_ERROR(w.AddTensor("rope_freqs.weight", GgmlType::F32, {head_dim / 2},
                                   ConstantF32(Llama3RopeFactors(head_dim, o.rope_freq_base))));
  }
  for (int64_t l = 0; l < o.layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    PS_RETURN_IF_ERROR(norm(b + "attn_norm.weight", o.dim));
    PS_RETURN_IF_ERROR(matrix(b + "attn_q.weight", o.dim, q_dim, inv_sqrt_dim));
    PS_RETURN_IF_ERROR(matrix(b + "attn_k.weight", o.dim, kv_dim, inv_sqrt_dim));
    PS_RETURN_IF_ERROR(matrix(b + "attn_v.weight", o.dim, kv_dim, inv_sqrt_dim));
    if (o.arch == "qwen2") {
      PS_RETURN_IF_ERROR(bias(b + "attn_q.bias", q_dim));
      PS_RETURN_IF_ERROR(bias(b + "attn_k.bias", kv_dim));
      PS_RETURN_IF_ERROR(bias(b + "attn_v.bias", kv_dim));
    }
    if (o.arch == "qwen3") {
      PS_RETURN_IF_ERROR(norm(b + "attn_q_norm.weight", head_dim));
      PS_RETURN_IF_ERROR(norm(b + "attn_k_norm.weight", head_dim));
    }
    PS_RETURN_IF_ERROR(
        matrix(b + "attn_output.weight", q_dim, o.dim, 1.0 / std::sqrt(static_cast<double>(q_dim))));
    PS_RETURN_IF_ERROR(norm(b + "ffn_norm.weight", o.dim));
    PS_RETURN_IF_ERROR(matrix(b + "ffn_gate.weight", o.dim, o.ff, inv_sqrt_dim));
    PS_RETURN_IF_ERROR(matrix(b + "ffn_up.weight", o.dim, o.ff, inv_sqrt_dim));
    PS_RETURN_IF_ERROR(matrix(b + "ffn_down.weight", o.ff, o.dim, inv_sqrt_ff));
  }
  PS_RETURN_IF_ERROR(norm("output_norm.weight", o.dim));
  if (!o.tied_embeddings) {
    const GgmlType head = o.output_type.value_or(o.type);
    PS_RETURN_IF_ERROR(w.AddTensor("output.weight", head, {o.dim, n_vocab},
                                   RandomRows(o.seed, "output.weight", head, o.dim, n_vocab, 0.0,
                                              kOutputGain * inv_sqrt_dim)));
  }

  PS_ASSIGN_OR_RETURN(const uint64_t file_bytes, w.FileSize(kAlignment));
  if (o.on_size) o.on_size(file_bytes);
  // Fail now, with the numbers, rather than minutes into the write with ENOSPC. A folder whose
  // free space cannot be read (it may not exist) is left to the write to report.
  if (const Result<uint64_t> free_bytes = FreeDiskBytes(out_path); free_bytes.ok()) {
    PS_RETURN_IF_ERROR(CheckFreeSpace(out_path, file_bytes, *free_bytes));
  }
  return w.Write(out_path, kAlignment, o.on_progress);
}

}  // namespace ps
