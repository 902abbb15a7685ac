#include "envs/box2d_arena.h"

#include <sys/mman.h>

#include <box2d/box2d.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace softrl::envs::b2 {
namespace {

thread_local Arena* current_arena = nullptr;

// Every block handed to Box2D starts 16 bytes after a tag saying where it came from, so that
// b2Free_Default knows without a lookup (arena blocks are released with their arena).
constexpr size_t kHeader = 16;
constexpr uint64_t kArenaTag = 0x534f465452414e41ull;  // "SOFTRANA"
constexpr uint64_t kHeapTag = 0x534f465452484550ull;   // "SOFTRHEP"

void* tag(void* block, uint64_t t) {
  std::memcpy(block, &t, sizeof t);
  return static_cast<std::byte*>(block) + kHeader;
}

}  // namespace

Arena::Arena(size_t capacity) : capacity_(capacity) {
  void* p = mmap(nullptr, capacity_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  base_ = static_cast<std::byte*>(p);
}

Arena::~Arena() { munmap(base_, capacity_); }

void* Arena::allocate(size_t bytes) {
  const size_t size = (bytes + 15) & ~size_t{15};
  if (size > capacity_ - used_) throw std::bad_alloc();
  void* p = base_ + used_;
  used_ += size;
  return p;
}

std::vector<std::byte> Arena::save() const { return {base_, base_ + used_}; }

void Arena::load(const std::vector<std::byte>& bytes) {
  if (bytes.size() > capacity_) throw std::invalid_argument("Arena::load: snapshot larger than the arena");
  std::memcpy(base_, bytes.data(), bytes.size());
  used_ = bytes.size();
}

ArenaScope::ArenaScope(Arena& arena) : previous_(current_arena) { current_arena = &arena; }
ArenaScope::~ArenaScope() { current_arena = previous_; }

ArenaWorld::~ArenaWorld() { destroy(); }

void ArenaWorld::destroy() {
  if (world_ == nullptr) return;
  ArenaScope s(arena_);
  world_->~b2World();
  world_ = nullptr;
  arena_.clear();
}

b2World& ArenaWorld::recreate(float gx, float gy) {
  destroy();
  ArenaScope s(arena_);
  world_ = arena_.create<b2World>(b2Vec2(gx, gy));
  return *world_;
}

}  // namespace softrl::envs::b2

// Box2D's allocation hooks (see the header). Box2D is not exception-safe, but an arena that is
// full leaves nothing to continue with anyway: the error reaches the command's boundary.
void* b2Alloc_Default(int32 size) {
  using namespace softrl::envs::b2;
  const size_t bytes = static_cast<size_t>(size) + kHeader;
  if (Arena* a = current_arena) return tag(a->allocate(bytes), kArenaTag);
  void* block = std::malloc(bytes);
  if (block == nullptr) throw std::bad_alloc();
  return tag(block, kHeapTag);
}

void b2Free_Default(void* mem) {
  using namespace softrl::envs::b2;
  if (mem == nullptr) return;
  std::byte* block = static_cast<std::byte*>(mem) - kHeader;
  uint64_t t = 0;
  std::memcpy(&t, block, sizeof t);
  if (t == kHeapTag) std::free(block);
  // kArenaTag: released when the arena is cleared.
}
