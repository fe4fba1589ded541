#include "common/gguf/gguf_parser.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_set>

namespace ps::gguf {

// Numbers are copied out of the mapping as they lie; a big-endian host would need byte swaps.
static_assert(std::endian::native == std::endian::little, "GGUF is read as little-endian in place");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" as a little-endian u32
constexpr uint32_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;
// Deeper nesting has no use in any model file; the cap keeps recursion off the stack's edge.
constexpr int kMaxArrayDepth = 16;
// Each item becomes a Value (~48 bytes), so a large u8 array would expand ~48x in memory. Real
// tokenizer arrays hold a few hundred thousand items; this cap bounds what a hostile file costs.
constexpr uint64_t kMaxArrayItems = uint64_t{1} << 24;
// The fewest bytes one metadata entry (key length, type, 1-byte value) and one tensor info
// (name length, n_dims, ne[0], type, offset) can occupy: counts larger than the remaining bytes
// allow are rejected before anything is reserved.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;
constexpr const char* kNeField[kMaxDims] = {"ne[0]", "ne[1]", "ne[2]", "ne[3]"};

std::string Num(uint64_t v) { return std::to_string(v); }

// A little-endian reader that never reads past the end of the mapping.
class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t size) : base_(base), size_(size) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  static Status Error(const char* field, uint64_t at, const std::string& what) {
    return Status::Corruption(std::string(field) + " at byte " + Num(at) + ": " + what);
  }

  template <typename T>
  Status Read(T* out, const char* field) {
    if (remaining() < sizeof(T)) {
      return Error(field, pos_, "needs " + Num(sizeof(T)) + " bytes, only " + Num(remaining()) +
                                    " left (file truncated?)");
    }
    std::memcpy(out, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  // A u64 length followed by that many bytes.
  Status ReadString(std::string* out, const char* field) {
    const uint64_t at = pos_;
    uint64_t len = 0;
    PS_RETURN_IF_ERROR(Read(&len, field));
    if (len > remaining()) {
      return Error(field, at, "string length " + Num(len) + " exceeds the " + Num(remaining()) +
                                  " bytes left in the file");
    }
    out->assign(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return Status::Ok();
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

template <typename T>
Status ReadScalar(Cursor& c, Value* out) {
  T v{};
  PS_RETURN_IF_ERROR(c.Read(&v, "value"));
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    out->data = static_cast<double>(v);
  } else if constexpr (std::is_signed_v<T>) {
    out->data = static_cast<int64_t>(v);
  } else {
    out->data = static_cast<uint64_t>(v);
  }
  return Status::Ok();
}

Status ReadValue(Cursor& c, ValueType type, int depth, Value* out);

Status ReadArray(Cursor& c, int depth, Value* out) {
  if (depth >= kMaxArrayDepth) {
    return Cursor::Error("array", c.pos(), "arrays nested deeper than " + Num(kMaxArrayDepth));
  }
  const uint64_t type_at = c.pos();
  uint32_t raw_type = 0;
  PS_RETURN_IF_ERROR(c.Read(&raw_type, "array element type"));
  if (!IsValidValueType(raw_type)) {
    return Cursor::Error("array element type", type_at, "unknown value type " + Num(raw_type));
  }
  const auto element_type = static_cast<ValueType>(raw_type);
  const uint64_t count_at = c.pos();
  uint64_t count = 0;
  PS_RETURN_IF_ERROR(c.Read(&count, "array count"));
  if (count > c.remaining() / MinEncodedSize(element_type)) {
    return Cursor::Error("array count", count_at,
                         Num(count) + " " + ValueTypeName(element_type) + " items cannot fit in the " +
                             Num(c.remaining()) + " bytes left in the file");
  }
  if (count > kMaxArrayItems) {
    return Status::Unsupported("array count at byte " + Num(count_at) + ": " + Num(count) +
                               " items exceed pipeshard's limit of " + Num(kMaxArrayItems));
  }
  auto array = std::make_shared<Array>();
  array->element_type = element_type;
  array->items.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    Status s = ReadValue(c, element_type, depth + 1, &array->items[i]);
    if (!s.ok()) return s.WithContext("item " + Num(i));
  }
  out->data = std::move(array);
  return Status::Ok();
}

Status ReadValue(Cursor& c, ValueType type, int depth, Value* out) {
  out->type = type;
  switch (type) {
    case ValueType::kUint8: return ReadScalar<uint8_t>(c, out);
    case ValueType::kInt8: return ReadScalar<int8_t>(c, out);
    case ValueType::kUint16: return ReadScalar<uint16_t>(c, out);
    case ValueType::kInt16: return ReadScalar<int16_t>(c, out);
    case ValueType::kUint32: return ReadScalar<uint32_t>(c, out);
    case ValueType::kInt32: return ReadScalar<int32_t>(c, out);
    case ValueType::kUint64: return ReadScalar<uint64_t>(c, out);
    case ValueType::kInt64: return ReadScalar<int64_t>(c, out);
    case ValueType::kFloat32: return ReadScalar<float>(c, out);
    case ValueType::kFloat64: return ReadScalar<double>(c, out);
    case ValueType::kBool: {
      const uint64_t at = c.pos();
      uint8_t b = 0;
      PS_RETURN_IF_ERROR(c.Read(&b, "value"));
      if (b > 1) return Cursor::Error("value", at, "bool byte " + Num(b) + " is neither 0 nor 1");
      out->data = b == 1;
      return Status::Ok();
    }
    case ValueType::kString: {
      std::string s;
      PS_RETURN_IF_ERROR(c.ReadString(&s, "string"));
      out->data = std::move(s);
      return Status::Ok();
    }
    case ValueType::kArray: return ReadArray(c, depth, out);
  }
  return Status::Internal("unhandled value type " + Num(static_cast<uint32_t>(type)));
}

Status ReadKeyValue(Cursor& c, KeyValue* kv) {
  PS_RETURN_IF_ERROR(c.ReadString(&kv->key, "key"));
  Status s = [&]() -> Status {
    const uint64_t type_at = c.pos();
    uint32_t raw_type = 0;
    PS_RETURN_IF_ERROR(c.Read(&raw_type, "value type"));
    if (!IsValidValueType(raw_type)) {
      return Cursor::Error("value type", type_at, "unknown value type " + Num(raw_type));
    }
    return ReadValue(c, static_cast<ValueType>(raw_type), 0, &kv->value);
  }();
  return s.ok() ? s : s.WithContext("key '" + kv->key + "'");
}

Status ReadAlignment(const std::vector<KeyValue>& kv, uint32_t* alignment) {
  *alignment = kDefaultAlignment;
  for (const KeyValue& e : kv) {
    if (e.key != "general.alignment") continue;
    const auto* u = std::get_if<uint64_t>(&e.value.data);
    if (u == nullptr || !e.value.is_integer()) {
      return Status::Corruption(std::string("general.alignment has type ") + ValueTypeName(e.value.type) +
                                ", expected uint32");
    }
    if (*u == 0 || *u > std::numeric_limits<uint32_t>::max() || !std::has_single_bit(*u)) {
      return Status::Corruption("general.alignment " + Num(*u) + " is not a power of two in 1..2^31");
    }
    *alignment = static_cast<uint32_t>(*u);
  }
  return Status::Ok();
}

// Reads one tensor info and checks everything that does not depend on where the data section
// starts. *offset_at receives the byte position of the offset field for later error messages.
Status ReadTensorInfo(Cursor& c, uint32_t alignment, TensorInfo* ti, uint64_t* offset_at) {
  const uint64_t dims_at = c.pos();
  uint32_t n_dims = 0;
  PS_RETURN_IF_ERROR(c.Read(&n_dims, "n_dims"));
  if (n_dims == 0 || n_dims > kMaxDims) {
    return Cursor::Error("n_dims", dims_at, Num(n_dims) + " is outside 1.." + Num(kMaxDims));
  }
  int64_t n_elements = 1;
  ti->ne.resize(n_dims);
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t at = c.pos();
    uint64_t raw = 0;
    PS_RETURN_IF_ERROR(c.Read(&raw, kNeField[d]));
    if (raw == 0 || raw > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Cursor::Error(kNeField[d], at, "dimension " + Num(raw) + " is not in 1..2^63-1");
    }
    const auto ne = static_cast<int64_t>(raw);
    if (__builtin_mul_overflow(n_elements, ne, &n_elements)) {
      return Cursor::Error(kNeField[d], at, "dimension " + Num(raw) + " makes the element count overflow int64");
    }
    ti->ne[d] = ne;
  }

  const uint64_t type_at = c.pos();
  uint32_t raw_type = 0;
  PS_RETURN_IF_ERROR(c.Read(&raw_type, "type"));
  const std::optional<TypeTraits> traits = TraitsOf(raw_type);
  if (!traits) {
    return Status::Unsupported("type at byte " + Num(type_at) + ": unknown ggml type id " + Num(raw_type));
  }
  ti->type = traits->type;
  if (ti->ne[0] % traits->block_size != 0) {
    return Cursor::Error("ne[0]", dims_at + 4, Num(static_cast<uint64_t>(ti->ne[0])) +
                                                   " is not a multiple of the " + traits->name +
                                                   " block size " + Num(traits->block_size));
  }
  // Cannot overflow past n_elements * block_bytes / block_size, but the product is checked anyway
  // because block_bytes may exceed block_size (f32, f64, q8_K).
  const uint64_t blocks = static_cast<uint64_t>(n_elements / traits->block_size);
  if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(traits->block_bytes), &ti->nbytes)) {
    return Cursor::Error("type", type_at, "tensor byte size overflows uint64");
  }

  *offset_at = c.pos();
  PS_RETURN_IF_ERROR(c.Read(&ti->offset, "offset"));
  if (ti->offset % alignment != 0) {
    return Cursor::Error("offset", *offset_at,
                         Num(ti->offset) + " is not a multiple of the alignment " + Num(alignment));
  }
  return Status::Ok();
}

std::string HexBytes(const uint8_t* p, size_t n) {
  std::string out;
  char buf[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", p[i]);
    out += buf;
  }
  return out;
}

}  // namespace

Status GgufParser::Parse(GgufFile* f) {
  Cursor c(f->base_, f->size_);

  uint32_t magic = 0;
  if (f->size_ < sizeof magic) {
    return Status::Corruption("not a GGUF file (only " + Num(f->size_) + " bytes)");
  }
  PS_RETURN_IF_ERROR(c.Read(&magic, "magic"));
  if (magic != kMagic) {
    return Status::Corruption("not a GGUF file (magic 0x" + HexBytes(f->base_, 4) +
                              ", expected 0x47475546 \"GGUF\")");
  }

  PS_RETURN_IF_ERROR(c.Read(&f->version_, "version"));
  if (f->version_ != 2 && f->version_ != 3) {
    const uint32_t swapped = __builtin_bswap32(f->version_);
    if (swapped == 2 || swapped == 3) {
      return Status::Unsupported("version at byte 4: big-endian GGUF (version " + Num(swapped) +
                                 " byte-swapped) is not supported");
    }
    return Status::Unsupported("version at byte 4: GGUF version " + Num(f->version_) +
                               " is not supported (only versions 2 and 3)");
  }

  uint64_t tensor_count = 0;
  uint64_t kv_count = 0;
  PS_RETURN_IF_ERROR(c.Read(&tensor_count, "tensor_count"));
  PS_RETURN_IF_ERROR(c.Read(&kv_count, "metadata_kv_count"));
  if (kv_count > c.remaining() / kMinKvBytes) {
    return Cursor::Error("metadata_kv_count", 16,
                         Num(kv_count) + " entries cannot fit in the " + Num(c.remaining()) + " bytes left");
  }
  if (tensor_count > c.remaining() / kMinTensorInfoBytes) {
    return Cursor::Error("tensor_count", 8,
                         Num(tensor_count) + " tensor infos cannot fit in the " + Num(c.remaining()) +
                             " bytes left");
  }

  f->kv_.resize(kv_count);
  std::unordered_set<std::string> keys;
  for (uint64_t i = 0; i < kv_count; ++i) {
    const uint64_t at = c.pos();
    KeyValue& kv = f->kv_[i];
    Status s = ReadKeyValue(c, &kv);
    if (!s.ok()) return s.WithContext("metadata entry " + Num(i));
    if (!keys.insert(kv.key).second) {
      return Cursor::Error("metadata entry", at, "duplicate key '" + kv.key + "'");
    }
  }
  PS_RETURN_IF_ERROR(ReadAlignment(f->kv_, &f->alignment_));

  if (tensor_count > c.remaining() / kMinTensorInfoBytes) {
    return Cursor::Error("tensor_count", 8,
                         Num(tensor_count) + " tensor infos cannot fit in the " + Num(c.remaining()) +
                             " bytes left after the metadata");
  }
  f->tensors_.resize(tensor_count);
  std::vector<uint64_t> offset_at(tensor_count);
  std::unordered_set<std::string> names;
  for (uint64_t i = 0; i < tensor_count; ++i) {
    const uint64_t at = c.pos();
    TensorInfo& ti = f->tensors_[i];
    Status s = c.ReadString(&ti.name, "name");
    if (!s.ok()) return s.WithContext("tensor #" + Num(i));
    s = ReadTensorInfo(c, f->alignment_, &ti, &offset_at[i]);
    if (!s.ok()) return s.WithContext("tensor '" + ti.name + "'");
    if (!names.insert(ti.name).second) {
      return Cursor::Error("tensor info", at, "duplicate tensor name '" + ti.name + "'");
    }
  }

  // The data section starts at the next multiple of the alignment; a file without tensors may
  // end before it.
  const uint64_t align = f->alignment_;
  f->data_offset_ = (c.pos() + align - 1) / align * align;
  for (uint64_t i = 0; i < tensor_count; ++i) {
    TensorInfo& ti = f->tensors_[i];
    const uint64_t data_size = f->data_offset_ <= f->size_ ? f->size_ - f->data_offset_ : 0;
    if (ti.offset > data_size || ti.nbytes > data_size - ti.offset) {
      return Cursor::Error("offset", offset_at[i],
                           "data [" + Num(ti.offset) + ", +" + Num(ti.nbytes) +
                               " bytes) runs past the end of the " + Num(data_size) + "-byte data section")
          .WithContext("tensor '" + ti.name + "'");
    }
    ti.data = f->base_ + f->data_offset_ + ti.offset;
  }
  return Status::Ok();
}

}  // namespace ps::gguf
