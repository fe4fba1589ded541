// Parses the bytes of a mapped GGUF file into a GgufFile (internal to common/gguf).
// Every read is bounded by the bytes that remain; nothing is allocated from an unchecked count.
// Thread-safety: stateless; Parse fills the one file it is given.
#pragma once

#include "common/gguf/gguf_file.h"
#include "common/util/status.h"

namespace ps::gguf {

class GgufParser {
 public:
  // Reads file->base_[0, file->size_) and fills version, metadata, alignment, data offset and
  // tensors. Errors name the field and byte offset (the caller adds the file name).
  static Status Parse(GgufFile* file);
};

}  // namespace ps::gguf
