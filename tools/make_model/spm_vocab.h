// The built-in SentencePiece-style vocabulary ("--vocab spm"), learned deterministically at run
// time by a BPE merge loop over a small embedded English text, so that no tokenizer file has to
// be shipped or downloaded. Layout: <unk>=0, <s>=1, </s>=2, <0x00>..<0xFF>, then the learned
// pieces (U+2581 marks a word-initial space), best first with score -rank, then single
// characters.
// Thread-safety: BuiltInSpmVocabulary is safe to call from any thread.
#pragma once

#include "tools/make_model/vocabulary.h"

namespace ps::make_model {

// Learned on first use, then shared; the result never changes between runs or machines.
const Vocabulary& BuiltInSpmVocabulary();

}  // namespace ps::make_model
