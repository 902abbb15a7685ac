#pragma once
// Process-wide settings every command shares: thread counts and the process set-up.

namespace softrl {

// `requested` threads, or every core when it is 0.
int resolve_threads(int requested);

// Sets LibTorch's intra-op threads and, when OpenBLAS is the BLAS, OpenBLAS's own pool to the
// same count (its pthread pool otherwise uses every core and spins against LibTorch's).
void set_compute_threads(int threads);

// Called first in main. libgomp reads OMP_WAIT_POLICY once, at load time, and its default
// (spinning idle workers) steals the second core from OpenBLAS, halving MLP update throughput with
// 2 threads: unless the user chose a policy, the process re-executes itself once with PASSIVE.
// Then it keeps freed tensor memory in the heap: otherwise every large tensor is a fresh mmap and
// its first touch costs a page fault per 4 KiB, which dominates loops that allocate same-sized
// tensors each step; and LibTorch's large aligned blocks are cached for reuse (block_cache.h).
void setup_process(char** argv);

}  // namespace softrl
