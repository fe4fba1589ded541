// Measures this host's matrix-multiply speed: the GFLOP/s of an F32 activations x F32 weights
// product through the CPU backend's MatMul with the worker's thread count. The planner divides
// each stage's FLOPs by it.
// Thread-safety: pure function (it allocates its own pool and buffers).
#pragma once

namespace ps {

double MeasureMatmulGflops(int threads);

}  // namespace ps
