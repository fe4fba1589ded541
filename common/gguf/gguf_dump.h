// Human- and machine-readable listings of a GGUF file (header, metadata, tensor table), the
// output of `pipeshard gguf-info FILE [--json]`. Long arrays are abbreviated.
// Thread-safety: pure functions of an immutable GgufFile.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/gguf/gguf_file.h"

namespace ps::gguf {

// Like gguf-dump: a header line, one line per metadata key ("  3: general.name  string  = ..."),
// then a tensor table (index, name, type, shape, offset in the data section, bytes).
std::string DumpText(const GgufFile& file);

// {"path", "version", "alignment", "data_offset", "file_size", "tensor_count",
//  "metadata": {key: {"type", "value"}}, "tensors": [{"name", "type", "shape", "offset", "bytes"}]}.
// An array value is {"type": "array", "element_type", "count", "value": [...]}, or with more than
// 32 items {"type": "array", "element_type", "count", "head": [first 8]}. Strings that are not
// valid UTF-8 have the bad bytes replaced by U+FFFD so that the result always serializes.
nlohmann::json DumpJson(const GgufFile& file);

}  // namespace ps::gguf
