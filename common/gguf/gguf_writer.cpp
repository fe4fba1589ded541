#include "common/gguf/gguf_writer.h"

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <unordered_set>

namespace ps::gguf {

static_assert(std::endian::native == std::endian::little, "GGUF is written as little-endian in place");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr uint32_t kVersion = 3;
constexpr uint32_t kDefaultAlignment = 32;
constexpr const char* kAlignmentKey = "general.alignment";

// Checks that a value's variant matches its declared type and range, so that what is written
// reads back as the same value.
Status CheckValue(const Value& v) {
  auto unsigned_max = [](ValueType t) -> uint64_t {
    switch (t) {
      case ValueType::kUint8: return std::numeric_limits<uint8_t>::max();
      case ValueType::kUint16: return std::numeric_limits<uint16_t>::max();
      case ValueType::kUint32: return std::numeric_limits<uint32_t>::max();
      default: return std::numeric_limits<uint64_t>::max();
    }
  };
  auto signed_bits = [](ValueType t) -> int {
    switch (t) {
      case ValueType::kInt8: return 8;
      case ValueType::kInt16: return 16;
      case ValueType::kInt32: return 32;
      default: return 64;
    }
  };
  const std::string type_name = ValueTypeName(v.type);
  switch (v.type) {
    case ValueType::kUint8:
    case ValueType::kUint16:
    case ValueType::kUint32:
    case ValueType::kUint64: {
      const auto* u = std::get_if<uint64_t>(&v.data);
      if (u == nullptr) return Status::InvalidArgument(type_name + " value does not hold an unsigned integer");
      if (*u > unsigned_max(v.type)) return Status::InvalidArgument(std::to_string(*u) + " does not fit " + type_name);
      return Status::Ok();
    }
    case ValueType::kInt8:
    case ValueType::kInt16:
    case ValueType::kInt32:
    case ValueType::kInt64: {
      const auto* i = std::get_if<int64_t>(&v.data);
      if (i == nullptr) return Status::InvalidArgument(type_name + " value does not hold a signed integer");
      const int bits = signed_bits(v.type);
      if (bits < 64 && (*i < -(int64_t{1} << (bits - 1)) || *i >= (int64_t{1} << (bits - 1)))) {
        return Status::InvalidArgument(std::to_string(*i) + " does not fit " + type_name);
      }
      return Status::Ok();
    }
    case ValueType::kFloat32:
    case ValueType::kFloat64:
      if (!std::holds_alternative<double>(v.data)) return Status::InvalidArgument(type_name + " value does not hold a number");
      return Status::Ok();
    case ValueType::kBool:
      if (!std::holds_alternative<bool>(v.data)) return Status::InvalidArgument("bool value does not hold a bool");
      return Status::Ok();
    case ValueType::kString:
      if (v.as_string() == nullptr) return Status::InvalidArgument("string value does not hold a string");
      return Status::Ok();
    case ValueType::kArray: {
      const Array* a = v.as_array();
      if (a == nullptr) return Status::InvalidArgument("array value does not hold an array");
      for (size_t i = 0; i < a->items.size(); ++i) {
        const Value& item = a->items[i];
        if (item.type != a->element_type) {
          return Status::InvalidArgument("array of " + std::string(ValueTypeName(a->element_type)) + " item " +
                                         std::to_string(i) + " has type " + ValueTypeName(item.type));
        }
        Status s = CheckValue(item);
        if (!s.ok()) return s.WithContext("item " + std::to_string(i));
      }
      return Status::Ok();
    }
  }
  return Status::InvalidArgument("unknown value type " + std::to_string(static_cast<uint32_t>(v.type)));
}

// Appends little-endian encodings to an in-memory header buffer (metadata and tensor infos are
// small next to the tensor data, which is streamed).
class Encoder {
 public:
  template <typename T>
  void Put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    buf_.insert(buf_.end(), p, p + sizeof(T));
  }
  void PutString(const std::string& s) {
    Put<uint64_t>(s.size());
    buf_.insert(buf_.end(), s.begin(), s.end());
  }
  // The value's payload without its type tag (arrays carry their element type inside).
  void PutPayload(const Value& v) {
    switch (v.type) {
      case ValueType::kUint8: Put(static_cast<uint8_t>(std::get<uint64_t>(v.data))); break;
      case ValueType::kUint16: Put(static_cast<uint16_t>(std::get<uint64_t>(v.data))); break;
      case ValueType::kUint32: Put(static_cast<uint32_t>(std::get<uint64_t>(v.data))); break;
      case ValueType::kUint64: Put(std::get<uint64_t>(v.data)); break;
      case ValueType::kInt8: Put(static_cast<int8_t>(std::get<int64_t>(v.data))); break;
      case ValueType::kInt16: Put(static_cast<int16_t>(std::get<int64_t>(v.data))); break;
      case ValueType::kInt32: Put(static_cast<int32_t>(std::get<int64_t>(v.data))); break;
      case ValueType::kInt64: Put(std::get<int64_t>(v.data)); break;
      case ValueType::kFloat32: Put(static_cast<float>(std::get<double>(v.data))); break;
      case ValueType::kFloat64: Put(std::get<double>(v.data)); break;
      case ValueType::kBool: Put<uint8_t>(std::get<bool>(v.data) ? 1 : 0); break;
      case ValueType::kString: PutString(*v.as_string()); break;
      case ValueType::kArray: {
        const Array* a = v.as_array();
        Put(static_cast<uint32_t>(a->element_type));
        Put<uint64_t>(a->items.size());
        for (const Value& item : a->items) PutPayload(item);
        break;
      }
    }
  }
  void PadTo(uint64_t alignment) { buf_.resize((buf_.size() + alignment - 1) / alignment * alignment, 0); }
  const std::vector<uint8_t>& bytes() const { return buf_; }
  std::vector<uint8_t> Take() { return std::move(buf_); }

 private:
  std::vector<uint8_t> buf_;
};

uint64_t AlignUp(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

void GgufWriter::SetValue(const std::string& key, Value v) {
  for (KeyValue& kv : kv_) {
    if (kv.key == key) {
      kv.value = std::move(v);
      return;
    }
  }
  kv_.push_back(KeyValue{key, std::move(v)});
}

void GgufWriter::SetU32(const std::string& key, uint32_t v) { SetValue(key, Value::Unsigned(ValueType::kUint32, v)); }
void GgufWriter::SetI32(const std::string& key, int32_t v) { SetValue(key, Value::Signed(ValueType::kInt32, v)); }
void GgufWriter::SetU64(const std::string& key, uint64_t v) { SetValue(key, Value::Unsigned(ValueType::kUint64, v)); }
void GgufWriter::SetF32(const std::string& key, float v) { SetValue(key, Value::Float(ValueType::kFloat32, v)); }
void GgufWriter::SetBool(const std::string& key, bool v) { SetValue(key, Value::Bool(v)); }
void GgufWriter::SetString(const std::string& key, const std::string& v) { SetValue(key, Value::String(v)); }

void GgufWriter::SetStringArray(const std::string& key, const std::vector<std::string>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (const std::string& s : v) items.push_back(Value::String(s));
  SetValue(key, Value::MakeArray(ValueType::kString, std::move(items)));
}

void GgufWriter::SetF32Array(const std::string& key, const std::vector<float>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (float f : v) items.push_back(Value::Float(ValueType::kFloat32, f));
  SetValue(key, Value::MakeArray(ValueType::kFloat32, std::move(items)));
}

void GgufWriter::SetI32Array(const std::string& key, const std::vector<int32_t>& v) {
  std::vector<Value> items;
  items.reserve(v.size());
  for (int32_t i : v) items.push_back(Value::Signed(ValueType::kInt32, i));
  SetValue(key, Value::MakeArray(ValueType::kInt32, std::move(items)));
}

Status GgufWriter::AddTensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, FillFn fill) {
  const std::string what = "tensor '" + name + "'";
  if (name.empty()) return Status::InvalidArgument("tensor name is empty");
  for (const PendingTensor& t : tensors_) {
    if (t.name == name) return Status::InvalidArgument(what + " added twice");
  }
  if (ne.empty() || ne.size() > 4) {
    return Status::InvalidArgument(what + " has " + std::to_string(ne.size()) + " dimensions, expected 1..4");
  }
  int64_t rows = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] <= 0) return Status::InvalidArgument(what + " ne[" + std::to_string(d) + "] = " + std::to_string(ne[d]) + " is not positive");
    if (d > 0 && __builtin_mul_overflow(rows, ne[d], &rows)) return Status::InvalidArgument(what + " has too many rows");
  }
  Result<size_t> row = RowBytes(type, ne[0]);
  if (!row.ok()) return row.status().WithContext(what);
  size_t nbytes = 0;
  if (__builtin_mul_overflow(*row, static_cast<size_t>(rows), &nbytes)) {
    return Status::InvalidArgument(what + " byte size overflows");
  }
  if (!fill) return Status::InvalidArgument(what + " has no fill function");
  tensors_.push_back(PendingTensor{name, type, std::move(ne), nbytes, std::move(fill)});
  return Status::Ok();
}

Result<std::vector<uint8_t>> GgufWriter::Header(uint32_t alignment) const {
  if (alignment == 0 || !std::has_single_bit(alignment)) {
    return Status::InvalidArgument("alignment " + std::to_string(alignment) + " is not a power of two");
  }
  // general.alignment always agrees with the layout actually written.
  std::vector<KeyValue> kv = kv_;
  bool has_alignment_key = false;
  for (KeyValue& e : kv) {
    if (e.key == kAlignmentKey) {
      e.value = Value::Unsigned(ValueType::kUint32, alignment);
      has_alignment_key = true;
    }
  }
  if (!has_alignment_key && alignment != kDefaultAlignment) {
    kv.push_back(KeyValue{kAlignmentKey, Value::Unsigned(ValueType::kUint32, alignment)});
  }

  Encoder enc;
  enc.Put(kMagic);
  enc.Put(kVersion);
  enc.Put<uint64_t>(tensors_.size());
  enc.Put<uint64_t>(kv.size());
  for (const KeyValue& e : kv) {
    Status s = CheckValue(e.value);
    if (!s.ok()) return s.WithContext("metadata key '" + e.key + "'");
    enc.PutString(e.key);
    enc.Put(static_cast<uint32_t>(e.value.type));
    enc.PutPayload(e.value);
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    enc.PutString(t.name);
    enc.Put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) enc.Put<uint64_t>(static_cast<uint64_t>(d));
    enc.Put(static_cast<uint32_t>(t.type));
    enc.Put<uint64_t>(offset);
    offset = AlignUp(offset + t.nbytes, alignment);
  }
  enc.PadTo(alignment);
  return enc.Take();
}

uint64_t GgufWriter::DataBytes(uint32_t alignment) const {
  uint64_t bytes = 0;
  for (const PendingTensor& t : tensors_) bytes += AlignUp(t.nbytes, alignment);
  return bytes;
}

Result<uint64_t> GgufWriter::FileSize(uint32_t alignment) const {
  PS_ASSIGN_OR_RETURN(const std::vector<uint8_t> header, Header(alignment));
  return header.size() + DataBytes(alignment);
}

Status GgufWriter::Write(const std::string& path, uint32_t alignment, const ProgressFn& progress) const {
  PS_ASSIGN_OR_RETURN(const std::vector<uint8_t> header, Header(alignment));
  const uint64_t total = header.size() + DataBytes(alignment);
  const auto report = [&](uint64_t written) {
    if (progress) progress(written, total);
  };

  // Written beside the target and renamed at the end, so a failed write never leaves a file
  // that looks complete.
  const std::string tmp = path + ".tmp";
  auto fail = [&](const std::string& what) {
    const std::string msg = path + ": " + what + ": " + std::strerror(errno);
    std::remove(tmp.c_str());
    return Status::IOError(msg);
  };
  std::unique_ptr<std::FILE, FileCloser> out(std::fopen(tmp.c_str(), "wb"));
  if (!out) return Status::IOError(tmp + ": cannot create: " + std::strerror(errno));
  if (std::fwrite(header.data(), 1, header.size(), out.get()) != header.size()) {
    return fail("writing the header");
  }
  uint64_t written = header.size();
  report(written);
  std::vector<uint8_t> buf;
  const std::vector<uint8_t> padding(alignment, 0);
  for (const PendingTensor& t : tensors_) {
    buf.assign(t.nbytes, 0);
    t.fill(buf.data(), buf.size());
    const size_t pad = AlignUp(t.nbytes, alignment) - t.nbytes;
    if (std::fwrite(buf.data(), 1, buf.size(), out.get()) != buf.size() ||
        std::fwrite(padding.data(), 1, pad, out.get()) != pad) {
      return fail("writing tensor '" + t.name + "'");
    }
    written += buf.size() + pad;
    report(written);
  }
  std::FILE* f = out.release();
  if (std::fclose(f) != 0) return fail("closing");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return fail("renaming " + tmp);
  return Status::Ok();
}

}  // namespace ps::gguf
