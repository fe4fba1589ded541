#include "common/gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "common/gguf/gguf_parser.h"

namespace ps::gguf {

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;  // the parser checked that the product fits
  return n;
}

int64_t TensorInfo::n_rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < ne.size(); ++i) n *= ne[i];
  return n;
}

size_t TensorInfo::row_bytes() const { return static_cast<size_t>(nbytes / static_cast<uint64_t>(n_rows())); }

std::string TensorInfo::ShapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(ne[i]);
  }
  return s + "]";
}

Result<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f->fd_ < 0) {
    const int err = errno;
    const std::string why = path + ": cannot open: " + std::strerror(err);
    return err == ENOENT || err == ENOTDIR ? Status::NotFound(why) : Status::IOError(why);
  }
  struct stat st {};
  if (::fstat(f->fd_, &st) != 0) return Status::IOError(path + ": fstat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, f->fd_, 0);
    if (p == MAP_FAILED) return Status::IOError(path + ": mmap: " + std::strerror(errno));
    f->base_ = static_cast<const uint8_t*>(p);
  }
  Status s = GgufParser::Parse(f.get());
  if (!s.ok()) return s.WithContext(path);
  return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::FromBytes(std::string name, std::vector<uint8_t> bytes) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = std::move(name);
  f->owned_ = std::move(bytes);
  f->size_ = f->owned_.size();
  f->base_ = f->owned_.empty() ? nullptr : f->owned_.data();
  Status s = GgufParser::Parse(f.get());
  if (!s.ok()) return s.WithContext(f->path_);
  return f;
}

GgufFile::~GgufFile() {
  if (base_ != nullptr && owned_.empty()) ::munmap(const_cast<uint8_t*>(base_), size_);
  if (fd_ >= 0) ::close(fd_);
}

const Value* GgufFile::Find(std::string_view key) const {
  for (const KeyValue& kv : kv_) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

const TensorInfo* GgufFile::FindTensor(std::string_view name) const {
  for (const TensorInfo& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

namespace {

Status WrongType(const std::string& path, std::string_view key, const Value& v, const char* expected) {
  return Status::Corruption(path + ": metadata key '" + std::string(key) + "' has type " +
                            ValueTypeName(v.type) + ", expected " + expected);
}

// The integer held by v when it lies in [lo, hi].
std::optional<int64_t> IntegerIn(const Value& v, int64_t lo, int64_t hi) {
  if (!v.is_integer()) return std::nullopt;
  if (const auto* u = std::get_if<uint64_t>(&v.data)) {
    if (*u > static_cast<uint64_t>(hi)) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  const auto* i = std::get_if<int64_t>(&v.data);
  if (i == nullptr || *i < lo || *i > hi) return std::nullopt;
  return *i;
}

}  // namespace

// Looks key up, or says which file lacks it.
#define PS_FIND_OR_RETURN(v, key)                                                                \
  const Value* v = Find(key);                                                                    \
  if (v == nullptr) return Status::NotFound(path_ + ": metadata key '" + std::string(key) + "' not found")

Result<uint32_t> GgufFile::GetU32(std::string_view key) const {
  PS_FIND_OR_RETURN(v, key);
  const auto n = IntegerIn(*v, 0, std::numeric_limits<uint32_t>::max());
  if (!n) return WrongType(path_, key, *v, "an integer in 0..2^32-1");
  return static_cast<uint32_t>(*n);
}

Result<int64_t> GgufFile::GetI64(std::string_view key) const {
  PS_FIND_OR_RETURN(v, key);
  const auto n = IntegerIn(*v, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  if (!n) return WrongType(path_, key, *v, "an integer in int64 range");
  return *n;
}

Result<float> GgufFile::GetF32(std::string_view key) const {
  PS_FIND_OR_RETURN(v, key);
  const auto* d = std::get_if<double>(&v->data);
  if (d == nullptr) return WrongType(path_, key, *v, "float32 or float64");
  return static_cast<float>(*d);
}

Result<bool> GgufFile::GetBool(std::string_view key) const {
  PS_FIND_OR_RETURN(v, key);
  const auto* b = std::get_if<bool>(&v->data);
  if (b == nullptr) return WrongType(path_, key, *v, "bool");
  return *b;
}

Result<std::string> GgufFile::GetString(std::string_view key) const {
  PS_FIND_OR_RETURN(v, key);
  const std::string* s = v->as_string();
  if (s == nullptr) return WrongType(path_, key, *v, "string");
  return *s;
}

Result<std::vector<std::string>> GgufFile::GetStringArray(std::string_view key) const {
  PS_FIND_OR_RETURN(v, key);
  const Array* a = v->as_array();
  if (a == nullptr || a->element_type != ValueType::kString) return WrongType(path_, key, *v, "array of string");
  std::vector<std::string> out;
  out.reserve(a->items.size());
  for (const Value& item : a->items) out.push_back(*item.as_string());
  return out;
}

Result<std::vector<float>> GgufFile::GetF32Array(std::string_view key) const {
  PS_FIND_OR_RETURN(v, key);
  const Array* a = v->as_array();
  if (a == nullptr || (a->element_type != ValueType::kFloat32 && a->element_type != ValueType::kFloat64)) {
    return WrongType(path_, key, *v, "array of float32");
  }
  std::vector<float> out;
  out.reserve(a->items.size());
  for (const Value& item : a->items) out.push_back(static_cast<float>(std::get<double>(item.data)));
  return out;
}

Result<std::vector<int32_t>> GgufFile::GetI32Array(std::string_view key) const {
  PS_FIND_OR_RETURN(v, key);
  const Array* a = v->as_array();
  if (a == nullptr) return WrongType(path_, key, *v, "array of int32");
  std::vector<int32_t> out;
  out.reserve(a->items.size());
  for (size_t i = 0; i < a->items.size(); ++i) {
    const auto n = IntegerIn(a->items[i], std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
    if (!n) {
      return Status::Corruption(path_ + ": metadata key '" + std::string(key) + "' item " + std::to_string(i) +
                                " (" + a->items[i].ToString() + ", " + ValueTypeName(a->items[i].type) +
                                ") is not an int32");
    }
    out.push_back(static_cast<int32_t>(*n));
  }
  return out;
}

#undef PS_FIND_OR_RETURN

}  // namespace ps::gguf
