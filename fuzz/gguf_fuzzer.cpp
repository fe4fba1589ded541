// Hostile GGUF files: any bytes go through what loading a model does before it computes anything
// (parse, gguf-info's listings, the Llama config, the tokenizer, binding the weights of the whole
// model and of a two-stage split) and must come back as a Status: never a crash, an abort, an
// ASan or UBSan error, or an allocation beyond what the file's own size justifies.
#include <cstdint>
#include <string>
#include <vector>

#include "common/gguf/gguf_dump.h"
#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "common/model/llama_weights.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/tokenizer.h"
#include "fuzz/support/fuzz_check.h"

namespace {

using namespace ps;

// A tokenizer built from the file's vocabulary encodes text that touches every path (spaces,
// digits, contractions, a special token's text, invalid UTF-8) and decodes every id it has,
// plus the ids just outside.
void ExerciseTokenizer(const Tokenizer& t, size_t file_size) {
  static const char* kTexts[] = {"Hello world", " 'll  123456 \n\n x", "<s></s><|eot_id|><unk>",
                                 "\xE2\x96\x81\xC3\x28\xFF", ""};
  for (const char* text : kTexts) {
    for (int32_t id : t.Encode(text, /*add_bos=*/true, /*parse_special=*/true)) {
      fuzz::Check(id >= 0 && id < t.n_vocab(), "Encode gives only ids inside the vocabulary");
    }
  }
  // A piece is built from its token's text, which lies inside the file: at most 19 bytes per text
  // byte, plus llama.cpp's echo of texts up to kMaxEchoedText bytes. More than that is an
  // amplification a hostile vocabulary could blow up.
  constexpr size_t kEchoed = byte_level::kMaxEchoedText;
  const size_t max_piece = 19 * file_size + kEchoed * (kEchoed + 19);
  StreamDecoder decoder(t);
  for (int32_t id = -1; id <= t.n_vocab(); ++id) {
    fuzz::Check(t.TokenToPiece(id).size() <= max_piece, "a piece stays linear in the file's size");
    (void)decoder.Push(id);
    (void)t.IsEndOfGeneration(id);
  }
  (void)decoder.Flush();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto opened = gguf::GgufFile::FromBytes("fuzz.gguf", std::vector<uint8_t>(data, data + size));
  if (!opened.ok()) return 0;
  const gguf::GgufFile& file = **opened;

  (void)gguf::DumpText(file);
  (void)gguf::DumpJson(file).dump();  // throws on invalid UTF-8, which DumpJson must have replaced

  if (auto tokenizer = Tokenizer::FromGguf(file); tokenizer.ok()) ExerciseTokenizer(**tokenizer, size);

  const auto config = ReadLlamaConfig(file);
  if (!config.ok()) return 0;
  const int64_t layers = config->n_layer;
  (void)BindLlamaWeights(file, *config, LayerRange{0, layers});
  if (layers > 1) {
    (void)BindLlamaWeights(file, *config, LayerRange{0, layers / 2});
    (void)BindLlamaWeights(file, *config, LayerRange{layers / 2, layers});
  }
  return 0;
}
