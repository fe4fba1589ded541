// pipeshard-fuzz-seeds DIR: writes the fuzzers' seed corpora and vocabularies into DIR, so that
// nothing binary is committed: DIR/<fuzzer>/ holds small valid inputs (a tiny Llama GGUF with a
// SentencePiece and one with a byte-level BPE vocabulary, frames that pass the frame check on
// every stage role, text and id sequences, OpenAI request bodies and raw HTTP requests, the
// built-in chat templates with conversations), DIR/vocab/ the GGUF files the tokenizer fuzzers
// load ($PIPESHARD_FUZZ_SPM_MODEL, $PIPESHARD_FUZZ_BPE_MODEL; the BPE one only when the Llama 3
// vocabulary is installed). Exit 0, or 1 naming what failed.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/gguf/gguf_writer.h"
#include "common/template/chat_template.h"
#include "fuzz/support/fuzz_stage.h"
#include "proto/stage.pb.h"
#include "tools/make_model/make_model.h"

namespace {

using namespace ps;
using gguf::GgufWriter;

Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return out ? Status::Ok() : Status::IOError(path + ": cannot write");
}

// Deterministic small values (the weights' bits do not matter to any fuzzer).
void FillPattern(uint8_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(i * 37 + 11);
}
void FillOnes(uint8_t* dst, size_t n) {
  const float one = 1.0f;
  for (size_t i = 0; i + sizeof one <= n; i += sizeof one) std::memcpy(dst + i, &one, sizeof one);
}

struct Vocab {
  std::string model, pre;
  std::vector<std::string> tokens, merges;
  std::vector<int32_t> types;
  int32_t bos, eos;
};

// SentencePiece: unknown, control, byte, normal pieces (U+2581 marks a space) and a user-defined
// token.
Vocab SpmVocab() {
  Vocab v{"llama", "default", {}, {}, {}, 1, 2};
  const std::pair<const char*, int32_t> tokens[] = {
      {"<unk>", 2}, {"<s>", 3},  {"</s>", 3}, {"<0x00>", 6}, {"<0x0A>", 6}, {"<0xE2>", 6}, {"<0xFF>", 6},
      {"\xE2\x96\x81", 1}, {"\xE2\x96\x81t", 1}, {"he", 1}, {"\xE2\x96\x81the", 1}, {"h", 1}, {"e", 1},
      {"t", 1}, {"a", 1}, {"<|user|>", 4}};
  for (const auto& [text, type] : tokens) {
    v.tokens.push_back(text);
    v.types.push_back(type);
  }
  return v;
}

// Byte-level BPE (Llama 3 style): byte characters (U+0120 is a space, U+010A a newline), merged
// pieces, and control tokens.
Vocab BpeVocab() {
  Vocab v{"gpt2", "llama-bpe", {}, {"a b", "ab c", "\xC4\xA0 a", "1 2"}, {}, 9, 10};
  const std::pair<const char*, int32_t> tokens[] = {
      {"a", 1}, {"b", 1}, {"c", 1}, {"\xC4\xA0", 1}, {"\xC4\x8A", 1}, {"ab", 1}, {"abc", 1}, {"\xC4\xA0" "a", 1},
      {"12", 1}, {"<|begin_of_text|>", 3}, {"<|end_of_text|>", 3}, {"<|eot_id|>", 3}, {"1", 1}, {"2", 1}};
  for (const auto& [text, type] : tokens) {
    v.tokens.push_back(text);
    v.types.push_back(type);
  }
  return v;
}

// A two-layer Llama small enough to mutate quickly: dim 8, two heads sharing one KV head.
Status WriteLlama(const std::string& path, const Vocab& vocab, bool tied, bool rope_freqs) {
  constexpr int64_t kDim = 8, kKvDim = 4, kFf = 16, kLayers = 2;
  const auto n_vocab = static_cast<int64_t>(vocab.tokens.size());
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetString("general.name", "fuzz seed");
  w.SetU32("llama.context_length", 32);
  w.SetU32("llama.embedding_length", kDim);
  w.SetU32("llama.block_count", kLayers);
  w.SetU32("llama.feed_forward_length", kFf);
  w.SetU32("llama.rope.dimension_count", kDim / 2);
  w.SetU32("llama.attention.head_count", 2);
  w.SetU32("llama.attention.head_count_kv", 1);
  w.SetF32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.SetF32("llama.rope.freq_base", 10000.0f);
  w.SetString("tokenizer.ggml.model", vocab.model);
  w.SetString("tokenizer.ggml.pre", vocab.pre);
  w.SetStringArray("tokenizer.ggml.tokens", vocab.tokens);
  if (vocab.model == "llama") {
    std::vector<float> scores;
    for (int64_t i = 0; i < n_vocab; ++i) scores.push_back(-static_cast<float>(i));
    w.SetF32Array("tokenizer.ggml.scores", scores);
    w.SetBool("tokenizer.ggml.add_space_prefix", true);
    w.SetU32("tokenizer.ggml.unknown_token_id", 0);
  } else {
    w.SetStringArray("tokenizer.ggml.merges", vocab.merges);
    w.SetU32("tokenizer.ggml.eot_token_id", 11);
  }
  w.SetI32Array("tokenizer.ggml.token_type", vocab.types);
  w.SetU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(vocab.bos));
  w.SetU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(vocab.eos));
  w.SetBool("tokenizer.ggml.add_bos_token", true);

  PS_RETURN_IF_ERROR(w.AddTensor("token_embd.weight", GgmlType::F32, {kDim, n_vocab}, FillPattern));
  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    PS_RETURN_IF_ERROR(w.AddTensor(p + "attn_norm.weight", GgmlType::F32, {kDim}, FillOnes));
    PS_RETURN_IF_ERROR(w.AddTensor(p + "attn_q.weight", GgmlType::F32, {kDim, kDim}, FillPattern));
    PS_RETURN_IF_ERROR(w.AddTensor(p + "attn_k.weight", GgmlType::F16, {kDim, kKvDim}, FillPattern));
    PS_RETURN_IF_ERROR(w.AddTensor(p + "attn_v.weight", GgmlType::F16, {kDim, kKvDim}, FillPattern));
    PS_RETURN_IF_ERROR(w.AddTensor(p + "attn_output.weight", GgmlType::F32, {kDim, kDim}, FillPattern));
    PS_RETURN_IF_ERROR(w.AddTensor(p + "ffn_norm.weight", GgmlType::F32, {kDim}, FillOnes));
    PS_RETURN_IF_ERROR(w.AddTensor(p + "ffn_gate.weight", GgmlType::BF16, {kDim, kFf}, FillPattern));
    PS_RETURN_IF_ERROR(w.AddTensor(p + "ffn_up.weight", GgmlType::BF16, {kDim, kFf}, FillPattern));
    PS_RETURN_IF_ERROR(w.AddTensor(p + "ffn_down.weight", GgmlType::F32, {kFf, kDim}, FillPattern));
  }
  PS_RETURN_IF_ERROR(w.AddTensor("output_norm.weight", GgmlType::F32, {kDim}, FillOnes));
  if (!tied) PS_RETURN_IF_ERROR(w.AddTensor("output.weight", GgmlType::F32, {kDim, n_vocab}, FillPattern));
  if (rope_freqs) PS_RETURN_IF_ERROR(w.AddTensor("rope_freqs.weight", GgmlType::F32, {kDim / 4}, FillOnes));
  return w.Write(path);
}

// Every metadata value type, nested arrays, and tensors of block-quantized types.
Status WriteOddities(const std::string& path) {
  using gguf::Value;
  using gguf::ValueType;
  GgufWriter w;
  w.SetValue("u8", Value::Unsigned(ValueType::kUint8, 200));
  w.SetValue("i8", Value::Signed(ValueType::kInt8, -5));
  w.SetValue("u16", Value::Unsigned(ValueType::kUint16, 60000));
  w.SetValue("i16", Value::Signed(ValueType::kInt16, -300));
  w.SetValue("i64", Value::Signed(ValueType::kInt64, -1));
  w.SetValue("u64", Value::Unsigned(ValueType::kUint64, 1ull << 40));
  w.SetValue("f64", Value::Float(ValueType::kFloat64, 0.25));
  w.SetValue("nested", Value::MakeArray(ValueType::kArray,
                                        {Value::MakeArray(ValueType::kInt16, {Value::Signed(ValueType::kInt16, 7)}),
                                         Value::MakeArray(ValueType::kBool, {Value::Bool(false)})}));
  w.SetString("general.architecture", "llama");
  w.SetU32("general.alignment", 64);
  PS_RETURN_IF_ERROR(w.AddTensor("q8", GgmlType::Q8_0, {32, 2}, FillPattern));
  PS_RETURN_IF_ERROR(w.AddTensor("q4k", GgmlType::Q4_K, {256}, FillPattern));
  return w.Write(path, 64);
}

pipeshard::v1::Frame MakeFrame(const std::vector<int32_t>& seqs, bool payload, int32_t samples_drawn, float temperature) {
  pipeshard::v1::Frame f;
  f.set_microbatch_id(1);
  f.set_rows(static_cast<int32_t>(seqs.size()));
  std::vector<int32_t> next_pos(fuzz::kStageSeqs, 0);
  std::string need_logits;
  for (size_t i = 0; i < seqs.size(); ++i) {
    f.add_seq_ids(seqs[i]);
    f.add_positions(next_pos[static_cast<size_t>(seqs[i])]++);
    f.add_tokens(static_cast<int32_t>((i * 7 + 3) % fuzz::kStageVocab));
    need_logits += i + 1 == seqs.size() || seqs[i + 1] != seqs[i] ? '\1' : '\0';
  }
  f.set_need_logits(need_logits);
  std::vector<int32_t> started;
  for (int32_t seq : seqs) {
    if (std::find(started.begin(), started.end(), seq) != started.end()) continue;
    started.push_back(seq);
    pipeshard::v1::SequenceStart* s = f.add_starts();
    s->set_seq_id(seq);
    s->set_samples_drawn(samples_drawn);
    pipeshard::v1::SamplingParams* p = s->mutable_sampling();
    p->set_temperature(temperature);
    p->set_top_k(5);
    p->set_top_p(0.9f);
    p->set_min_p(0.05f);
    p->set_repeat_penalty(1.1f);
    p->set_penalty_last_n(16);
    p->set_seed(42);
  }
  if (payload) {
    f.set_cols(static_cast<int32_t>(fuzz::kStageEmbd));
    f.set_dtype(pipeshard::v1::DTYPE_F32);
    std::vector<float> values(seqs.size() * fuzz::kStageEmbd);
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 5) - 1.5f;
    f.set_payload(values.data(), values.size() * sizeof(float));
  }
  return f;
}

std::string Ids(uint8_t vocab, const std::vector<int32_t>& ids) {
  std::string bytes(1, static_cast<char>(vocab));
  bytes.append(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int32_t));
  return bytes;
}

// OpenAI request bodies (every field ParseOpenAiRequest reads, right and wrong) and raw HTTP
// requests as a client sends them (Content-Length, chunked, three on one kept-alive connection, a
// query string, a declared body over the limit, a header over the server's 16 KiB).
Status WriteOpenAiSeeds(const std::filesystem::path& dir) {
  const std::string completion =
      R"({"model":"m","prompt":"Once upon","max_tokens":16,"temperature":0.7,"top_p":0.9,"min_p":0.05,)"
      R"("top_k":40,"repeat_penalty":1.1,"repeat_last_n":64,"seed":42,"stop":["\n","END"],"stream":true,)"
      R"("stream_options":{"include_usage":true},"ignore_eos":false,"n":1,"presence_penalty":0,"logprobs":false})";
  const std::string chat =
      R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text",)"
      R"("text":"Hi \u00e9\ud83d\ude00"}]},{"role":"assistant","content":null}],"max_completion_tokens":-1,)"
      R"("stop":"</s>","frequency_penalty":0.0,"top_logprobs":null})";
  const std::string bodies[] = {
      completion,
      chat,
      R"({"prompt":["one"],"n_predict":2147483647,"seed":4294967294})",
      R"({"prompt":["a","b"],"temperature":-1,"top_k":1.5,"seed":18446744073709551615})",
      R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}],"logprobs":true})",
      R"({"messages":[],"stream_options":{"include_usage":"yes"},"stop":[1]})",
      R"([1e400, {"prompt": "\u0000\u001f"}])"};
  int n = 0;
  for (const std::string& body : bodies) {
    PS_RETURN_IF_ERROR(WriteFile((dir / ("body" + std::to_string(n++) + ".json")).string(), body));
  }
  const std::string host = "Host: localhost:8080\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\n";
  const auto post = [&](const std::string& target, const std::string& body, const std::string& more) {
    return "POST " + target + " HTTP/1.1\r\n" + host + more + "Content-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
  };
  std::string chunked = "POST /v1/chat/completions HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n";
  for (size_t at = 0; at < chat.size(); at += 40) {
    const std::string piece = chat.substr(at, 40);
    char size[16];
    std::snprintf(size, sizeof size, "%zx", piece.size());
    chunked += std::string(size) + ";ext=1\r\n" + piece + "\r\n";
  }
  chunked += "0\r\nTrailer: x\r\n\r\n";
  const std::string requests[] = {
      post("/v1/completions", completion, ""),
      post("/v1/chat/completions?x=1", chat, "Connection: close\r\n"),
      chunked,
      "GET /health HTTP/1.1\r\nHost: h\r\n\r\n" + post("/v1/completions", bodies[2], "") +
          "GET /v1/models HTTP/1.0\r\n\r\n",
      "POST /v1/completions HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{",
      "POST /v1/completions HTTP/1.1\r\nX-Pad: " + std::string(17 * 1024, 'a') + "\r\n\r\n"};
  n = 0;
  for (const std::string& request : requests) {
    PS_RETURN_IF_ERROR(WriteFile((dir / ("http" + std::to_string(n++) + ".txt")).string(), request));
  }
  return Status::Ok();
}

// Chat templates: each built-in one alone (rendered with CheckChatTemplate's conversation) and
// with a conversation of its own (0x00, an options byte, then a role byte and the content of each
// message, each ended by 0x00; see chat_template_fuzzer.cpp), plus constructs the built-ins do
// not use, and some the interpreter refuses.
Status WriteChatTemplateSeeds(const std::filesystem::path& dir) {
  std::string conversation("\0\x01", 2);  // the generation prompt, <s> and </s>
  const std::pair<uint8_t, const char*> messages[] = {
      {0, "Be brief."}, {1, "Hi"}, {2, " Hello! "}, {1, "caf\xC3\xA9 \xF0\x9F\x98\x80 {{ x }}"}};
  for (const auto& [role, content] : messages) {
    conversation += static_cast<char>(role);
    conversation += content;
    conversation += '\0';
  }
  for (const BuiltinChatTemplate& t : BuiltinChatTemplates()) {
    const std::string name(t.name);
    PS_RETURN_IF_ERROR(WriteFile((dir / (name + ".jinja")).string(), std::string(t.text)));
    PS_RETURN_IF_ERROR(WriteFile((dir / (name + ".chat")).string(), std::string(t.text) + conversation));
  }
  const char* constructs[] = {
      "{% for m in messages if m.role != 'system' %}{{ loop.index }}/{{ loop.length }}{{ loop.previtem is defined }}"
      "{% if loop.last %}{% break %}{% endif %}{% else %}none{% endfor %}",
      "{% set ns = namespace(n=0, s='') %}{% for a, b in [(1, 'x'), (2, 'y')] %}{% set ns.n = ns.n + a %}"
      "{% set ns.s = ns.s ~ b %}{% endfor %}{{ ns.n }} {{ ns.s | upper }} {{ ns | tojson(indent=2) }}",
      "{% macro f(x, y=2) %}[{{ x * y }}]{% endmacro %}{{ f(3) }}{{ f(*[1], y=5) }}{% filter upper %}abc{% endfilter %}",
      "{%- set s = '  Mixed Case  ' -%}\n  {{ s.strip().split(' ') | join('|') }} {{ s[1:-1:2] }} {{ s.title() }}"
      " {{ 'x' in s }} {{ s | length }} {{ 10 // 3 }} {{ 2 ** 10 }} {{ 7 % 3 }} {{ 1.5 | int }} {{ -3 | abs }}",
      "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list | tojson }}"
      "{{ {'b': 1, 'a': [1, 2]} | dictsort | first }}{{ [3, 1, 2] | sort | reverse | unique | last }}",
      "{% set t %}block {{ bos_token }}{% endset %}{{ t | trim }}{{ t if t is string else 0 }}{# comment #}"
      "{{ raise_exception('refused') if messages | length > 9 }}{{ range(3) | list }}{{ none is none }}",
      "{% call f() %}x{% endcall %}",
      "{{ 'a' is divisibleby(3) }} {% include 'x' %}",
      "{{ x.y[0](1)|default('d', true) }}\n{% if %}"};
  int n = 0;
  for (const char* text : constructs) {
    PS_RETURN_IF_ERROR(WriteFile((dir / ("construct" + std::to_string(n++) + ".jinja")).string(), text));
  }
  return Status::Ok();
}

Status WriteSeeds(const std::filesystem::path& dir) {
  for (const char* sub : {"gguf_fuzzer", "frame_check_fuzzer", "tokenize_spm_fuzzer", "tokenize_bpe_fuzzer",
                          "detokenize_fuzzer", "openai_request_fuzzer", "chat_template_fuzzer", "vocab"}) {
    std::filesystem::create_directories(dir / sub);
  }
  const std::string g = (dir / "gguf_fuzzer").string() + "/";
  PS_RETURN_IF_ERROR(WriteLlama(g + "llama_spm.gguf", SpmVocab(), /*tied=*/false, /*rope_freqs=*/false));
  PS_RETURN_IF_ERROR(WriteLlama(g + "llama_bpe.gguf", BpeVocab(), /*tied=*/true, /*rope_freqs=*/true));
  PS_RETURN_IF_ERROR(WriteOddities(g + "oddities.gguf"));

  const std::string fr = (dir / "frame_check_fuzzer").string() + "/";
  PS_RETURN_IF_ERROR(WriteFile(fr + "tokens.bin", MakeFrame({0, 0, 0}, false, 0, 0.8f).SerializeAsString()));
  PS_RETURN_IF_ERROR(WriteFile(fr + "payload.bin", MakeFrame({1, 1}, true, 0, 0.8f).SerializeAsString()));
  PS_RETURN_IF_ERROR(WriteFile(fr + "two_seqs.bin", MakeFrame({0, 0, 2, 2, 2}, true, 3, 1.0f).SerializeAsString()));
  PS_RETURN_IF_ERROR(WriteFile(fr + "greedy.bin", MakeFrame({3}, true, 0, 0.0f).SerializeAsString()));

  // Option byte (bit 0 add_bos, bit 1 parse_special, bit 7 the default BPE pre-tokenizer), then text.
  const char* texts[] = {"Hello world", "the cat's 1234567 \n\n  tabs\tand   spaces",
                         "<s>user<|eot_id|><|begin_of_text|></s><|user|>", "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80",
                         "bad \xC3\x28 \xED\xA0\x80 \xFF\xFE", "I'LL DON'T we've"};
  int n = 0;
  for (const char* text : texts) {
    for (uint8_t options : {0x00, 0x01, 0x02, 0x03, 0x80, 0x83}) {
      const std::string bytes = std::string(1, static_cast<char>(options)) + text;
      const std::string name = "t" + std::to_string(n++) + ".txt";
      if (options < 0x80) PS_RETURN_IF_ERROR(WriteFile((dir / "tokenize_spm_fuzzer" / name).string(), bytes));
      PS_RETURN_IF_ERROR(WriteFile((dir / "tokenize_bpe_fuzzer" / name).string(), bytes));
    }
  }

  const std::string d = (dir / "detokenize_fuzzer").string() + "/";
  PS_RETURN_IF_ERROR(WriteFile(d + "spm.bin", Ids(0, {1, 300, 301, 5, 200, -1, 1287, 1288, 2})));
  PS_RETURN_IF_ERROR(WriteFile(d + "bpe.bin", Ids(1, {128000, 9906, 1917, 0, 127, 128, 220, 128009, 128256, -7})));

  PS_RETURN_IF_ERROR(WriteOpenAiSeeds(dir / "openai_request_fuzzer"));
  PS_RETURN_IF_ERROR(WriteChatTemplateSeeds(dir / "chat_template_fuzzer"));

  // The tokenizer fuzzers' vocabularies, written once here instead of at every fuzzer's start.
  MakeModelOptions o;
  o.dim = 8;
  o.layers = 1;
  o.heads = 2;
  o.kv_heads = 1;
  o.ff = 16;
  o.ctx = 32;
  o.vocab = "spm";
  PS_RETURN_IF_ERROR(MakeModel((dir / "vocab" / "spm.gguf").string(), o));
  if (FindLlama3TokenizerJson().ok()) {
    o.vocab = "llama3";
    PS_RETURN_IF_ERROR(MakeModel((dir / "vocab" / "llama3.gguf").string(), o));
  }
  return Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: pipeshard-fuzz-seeds DIR\n");
    return 2;
  }
  if (const Status s = WriteSeeds(argv[1]); !s.ok()) {
    std::fprintf(stderr, "pipeshard-fuzz-seeds: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
