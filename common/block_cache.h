#pragma once
// A CPU allocator for LibTorch that keeps freed large blocks for reuse. glibc serves LibTorch's
// 64-byte-aligned allocations of tens of MB from the heap top and cannot reuse the freed blocks
// for the next aligned request of the same size (the alignment slack does not fit), so every
// same-sized temporary (an activation gradient, a batch) lands on fresh pages and pays a page
// fault per 4 KiB - on the test VM ~30x the cost of the kernel that fills it. Blocks of 1 MiB and
// more are cached by exact size (at most 1 GiB in all; when full, blocks of other sizes are freed
// to make room for the newest) and handed back to the next request of that size; smaller ones go
// straight to LibTorch's own allocation functions.
#include <cstddef>

namespace softrl {

struct BlockCacheStats {
  size_t cached_bytes;  // held for reuse now
  size_t hits;          // requests served from the cache so far
};
BlockCacheStats block_cache_stats();

// Installs the caching allocator as LibTorch's CPU allocator (once; later calls do nothing).
void install_block_cache();

}  // namespace softrl
