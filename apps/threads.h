#pragma once
namespace softrl::apps {
// Sets LibTorch's intra-op threads and, when OpenBLAS is the BLAS, OpenBLAS's own pool to the
// same count (its pthread pool otherwise uses every core and spins against LibTorch's).
void set_compute_threads(int threads);
}  // namespace softrl::apps
