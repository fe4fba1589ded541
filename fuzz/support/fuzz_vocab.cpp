#include "fuzz/support/fuzz_vocab.h"

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "common/gguf/gguf_file.h"
#include "common/gguf/gguf_writer.h"
#include "tools/make_model/make_model.h"

namespace ps::fuzz {

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fuzz vocabulary: %s\n", what.c_str());
  std::exit(1);
}

// A temporary folder, removed with everything in it when this goes out of scope.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pipeshard_fuzz_XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) Die("cannot make a temporary folder in /tmp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::unique_ptr<Tokenizer> TokenizerFromFile(const std::string& path) {
  auto file = gguf::GgufFile::Open(path);
  if (!file.ok()) Die(file.status().ToString());
  auto tokenizer = Tokenizer::FromGguf(**file);
  if (!tokenizer.ok()) Die(path + ": " + tokenizer.status().ToString());
  return std::move(tokenizer).value();
}

// The GGUF file named by $env_var, else a tiny model of `vocab` that make-model's code writes
// into `temp` (the vocabulary is all the fuzzers read from it, so the weights are as small as
// make-model allows).
std::string ModelFile(const char* env_var, const std::string& vocab, const TempDir& temp) {
  if (const char* given = std::getenv(env_var); given != nullptr && *given != '\0') return given;
  MakeModelOptions o;
  o.dim = 8;
  o.layers = 1;
  o.heads = 2;
  o.kv_heads = 1;
  o.ff = 16;
  o.ctx = 32;
  o.vocab = vocab;
  const std::string path = temp.File(vocab + ".gguf");
  if (Status s = MakeModel(path, o); !s.ok()) Die("make-model --vocab " + vocab + ": " + s.ToString());
  return path;
}

// The file's metadata with tokenizer.ggml.pre replaced, as a file of its own (no tensors).
std::string WithPreTokenizer(const std::string& path, const std::string& pre, const TempDir& temp) {
  auto file = gguf::GgufFile::Open(path);
  if (!file.ok()) Die(file.status().ToString());
  gguf::GgufWriter w;
  for (const gguf::KeyValue& kv : (*file)->metadata()) {
    if (kv.key != "tokenizer.ggml.pre") w.SetValue(kv.key, kv.value);
  }
  w.SetString("tokenizer.ggml.pre", pre);
  const std::string out = temp.File("pre_" + pre + ".gguf");
  if (Status s = w.Write(out); !s.ok()) Die(s.ToString());
  return out;
}

std::unique_ptr<Tokenizer> Load(VocabKind kind) {
  const TempDir temp;
  switch (kind) {
    case VocabKind::kSpm:
      return TokenizerFromFile(ModelFile("PIPESHARD_FUZZ_SPM_MODEL", "spm", temp));
    case VocabKind::kLlama3Bpe:
      return TokenizerFromFile(ModelFile("PIPESHARD_FUZZ_BPE_MODEL", "llama3", temp));
    case VocabKind::kDefaultBpe:
      return TokenizerFromFile(
          WithPreTokenizer(ModelFile("PIPESHARD_FUZZ_BPE_MODEL", "llama3", temp), "default", temp));
  }
  Die("unknown vocabulary kind");
}

}  // namespace

const Tokenizer& FuzzTokenizer(VocabKind kind) {
  static std::unique_ptr<Tokenizer> loaded[3];
  std::unique_ptr<Tokenizer>& slot = loaded[static_cast<int>(kind)];
  if (slot == nullptr) slot = Load(kind);
  return *slot;
}

}  // namespace ps::fuzz
