// Memory for the CPU backend's load-time weight copies, in 2 MiB-aligned anonymous mappings that
// the kernel is asked to back with transparent huge pages (MADV_HUGEPAGE).
//
// Why: decode streams every weight once per token. With 4 KiB pages each 4 KiB of that stream
// needs a TLB entry, and on a virtual machine a TLB miss walks two page tables. On the dev VM
// (Xeon, 2 vCPUs) q4_0 decode went from 64-66 to 79-86 tok/s with the copies in huge pages.
// Where THP is off ("never") the mappings are ordinary pages and nothing else changes.
//
// Allocations are carved from slabs of kSlabBytes (bigger ones get a slab of their own), 64-byte
// aligned, and live until the arena is destroyed. Untouched slab tails cost address space only.
// Thread-safety: none; the backend allocates while loading, before any product runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ps::cpu {

class HugePageArena {
 public:
  static constexpr size_t kHugePage = size_t{2} << 20;
  static constexpr size_t kSlabBytes = 16 * kHugePage;

  HugePageArena() = default;
  ~HugePageArena();
  HugePageArena(const HugePageArena&) = delete;
  HugePageArena& operator=(const HugePageArena&) = delete;
  HugePageArena(HugePageArena&& other) noexcept;
  HugePageArena& operator=(HugePageArena&& other) noexcept;

  // `bytes` of zero-filled memory, 64-byte aligned; nullptr when the system refuses the mapping.
  uint8_t* Allocate(size_t bytes);

  // Bytes handed out so far.
  size_t allocated() const { return allocated_; }

 private:
  struct Slab {
    uint8_t* base;
    size_t size;
    size_t used;
  };
  void Release();

  std::vector<Slab> slabs_;
  size_t allocated_ = 0;
};

}  // namespace ps::cpu
