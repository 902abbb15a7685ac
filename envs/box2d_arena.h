#pragma once
// Exact environment snapshots for Box2D tasks. Each task allocates its b2World, and everything
// the world allocates, from one contiguous arena of its own; the world's whole state is then the
// arena's used byte range. A snapshot copies those bytes; restoring copies them back to the same
// addresses, so every pointer inside the world (bodies, contacts, broad-phase tree, solver caches)
// stays valid and the future is reproduced bit for bit, warm-starting impulses included.
//
// Box2D 2.4.1 sends all of its heap memory through b2Alloc_Default / b2Free_Default
// (b2_settings.h), exported from libbox2d and called through its PLT; box2d_arena.cpp defines
// both, so the dynamic linker binds libbox2d's calls to them. Calls made while an ArenaScope is
// active on the thread are served from that arena; others fall back to malloc.
#include <cstddef>
#include <memory>
#include <new>
#include <utility>
#include <vector>

class b2World;

namespace softrl::envs::b2 {

class Arena {
 public:
  // Address space reserved up front (pages are committed only when touched); a world never
  // moves, so the arena cannot grow. A LunarLander world uses ~0.3 MB, a walker world ~0.5 MB.
  static constexpr size_t kDefaultCapacity = size_t{32} << 20;
  explicit Arena(size_t capacity = kDefaultCapacity);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Memory for Box2D (16-byte aligned); throws std::bad_alloc when the arena is full.
  void* allocate(size_t bytes);
  // Forgets every allocation (after the world in it was destroyed).
  void clear() { used_ = 0; }
  size_t used() const { return used_; }

  // The used bytes, and putting them back; load() requires the same arena (the addresses).
  std::vector<std::byte> save() const;
  void load(const std::vector<std::byte>& bytes);

  // Constructs a T in the arena (the first object after clear() always lands at the same address).
  template <class T, class... Args>
  T* create(Args&&... args) {
    return new (allocate(sizeof(T))) T(std::forward<Args>(args)...);
  }

 private:
  std::byte* base_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
};

// Routes this thread's Box2D allocations to `arena` for the scope's lifetime (nestable).
class ArenaScope {
 public:
  explicit ArenaScope(Arena& arena);
  ~ArenaScope();
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;

 private:
  Arena* previous_;
};

// A task's world in its own arena. Every call into the world that may allocate (creating bodies,
// stepping, destroying) runs inside scope().
class ArenaWorld {
 public:
  ArenaWorld() = default;
  ~ArenaWorld();
  ArenaWorld(const ArenaWorld&) = delete;
  ArenaWorld& operator=(const ArenaWorld&) = delete;

  // Destroys the current world and builds a fresh one (gravity (gx, gy)) in the cleared arena.
  b2World& recreate(float gx, float gy);
  b2World* get() const { return world_; }
  b2World* operator->() const { return world_; }
  [[nodiscard]] ArenaScope scope() { return ArenaScope(arena_); }

  // The world's complete state, and putting it back (same object only).
  std::vector<std::byte> save() const { return arena_.save(); }
  void load(const std::vector<std::byte>& bytes) { arena_.load(bytes); }

 private:
  void destroy();
  Arena arena_;
  b2World* world_ = nullptr;
};

}  // namespace softrl::envs::b2
