// SentencePiece with scores (tokenizer.ggml.model "llama": Llama 2, Mistral, TinyLlama), as
// llama.cpp's llm_tokenizer_spm_session: spaces become U+2581, a space is prepended to text at
// the start or after a special token (add_space_prefix), adjacent symbols merge best score first,
// and characters the vocabulary lacks fall back to <0xNN> byte tokens (else the unknown token).
// Thread-safety: immutable after creation.
#pragma once

#include <memory>

#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/vocabulary.h"

namespace ps {

std::unique_ptr<Tokenizer> MakeSpmTokenizer(Vocabulary vocab);

}  // namespace ps
