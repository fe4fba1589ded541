#include "worker/backend/cpu/huge_page_arena.h"

#include <sys/mman.h>

#include <cstdint>
#include <utility>

namespace ps::cpu {

namespace {

constexpr size_t kAlign = 64;

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

// A mapping of `size` bytes (a multiple of kHugePage) starting on a kHugePage boundary, marked for
// huge pages; nullptr on failure. Maps one huge page more and trims the ends to align it.
uint8_t* MapAligned(size_t size) {
  const size_t huge = HugePageArena::kHugePage;
  void* raw = mmap(nullptr, size + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = RoundUp(start, huge);
  if (aligned > start) munmap(raw, aligned - start);
  const size_t tail = start + size + huge - (aligned + size);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + size), tail);
  auto* base = reinterpret_cast<uint8_t*>(aligned);
  // Advice only: a kernel without THP keeps ordinary pages.
  madvise(base, size, MADV_HUGEPAGE);
  return base;
}

}  // namespace

HugePageArena::~HugePageArena() { Release(); }

HugePageArena::HugePageArena(HugePageArena&& other) noexcept
    : slabs_(std::exchange(other.slabs_, {})), allocated_(std::exchange(other.allocated_, 0)) {}

HugePageArena& HugePageArena::operator=(HugePageArena&& other) noexcept {
  if (this != &other) {
    Release();
    slabs_ = std::exchange(other.slabs_, {});
    allocated_ = std::exchange(other.allocated_, 0);
  }
  return *this;
}

void HugePageArena::Release() {
  for (const Slab& s : slabs_) munmap(s.base, s.size);
  slabs_.clear();
  allocated_ = 0;
}

uint8_t* HugePageArena::Allocate(size_t bytes) {
  // No mapping that big exists; refusing it here also keeps the rounding below from wrapping.
  if (bytes > (SIZE_MAX >> 2)) return nullptr;
  bytes = RoundUp(bytes == 0 ? 1 : bytes, kAlign);
  // The newest slab first; older slabs' tails are left (copies come in load order, so a gap is at
  // most one copy's worth per slab).
  if (!slabs_.empty() && slabs_.back().size - slabs_.back().used >= bytes) {
    Slab& s = slabs_.back();
    uint8_t* p = s.base + s.used;
    s.used += bytes;
    allocated_ += bytes;
    return p;
  }
  const size_t size = bytes > kSlabBytes ? RoundUp(bytes, kHugePage) : kSlabBytes;
  slabs_.reserve(slabs_.size() + 1);  // so that recording the mapping below cannot throw
  uint8_t* base = MapAligned(size);
  if (base == nullptr) return nullptr;
  slabs_.push_back({base, size, bytes});
  allocated_ += bytes;
  return base;
}

}  // namespace ps::cpu
