// How a process that moves activation frames sets up glibc's malloc (call once, first thing in
// main, before any threads start).
// gRPC and protobuf allocate every frame's buffers afresh: the serialized message, the TCP read
// slices, the parsed payload string and, with TLS, the frame protector's staging slices. With
// glibc's defaults each gRPC thread gets an arena of its own whose 64 MiB heaps are deleted as
// soon as they empty, and buffers past the (dynamic) mmap threshold are mapped and unmapped per
// frame, so every frame's memory comes back from the kernel as fresh pages: one page fault per
// 4 KiB and a TLB shootdown per release. On the dev VM that was most of a hop's CPU time (8 MiB
// frames: ~1,900 faults per frame; 55% of the CPU in page faults, zeroing and madvise), and TLS,
// which holds two more copies of each frame in flight, suffered most. docs/benchmarks.md has the
// measurements.
// What it sets: one arena (no per-thread heaps to create and delete; small allocations still go
// through each thread's tcache, without the arena lock), buffers up to 32 MiB from the heap
// instead of mmap, and freed memory kept up to 128 MiB at the heap's top instead of handed back.
// The cost: the process keeps up to its peak of transient frame memory (plus 128 MiB) mapped.
// Left alone when GLIBC_TUNABLES names a glibc.malloc tunable: the operator chose.
#pragma once

namespace ps {

// True when the settings were applied.
bool TuneAllocatorForFrames();

}  // namespace ps
