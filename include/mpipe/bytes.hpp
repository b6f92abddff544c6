// The two byte vectors of mpipe. `blob` is what user code sees (a file's contents, an exec
// worker's frame, a stage's raw output). `byte_buffer` is what travels: its elements are left
// uninitialised because every byte is written right after allocation (by a producer, a
// serializer or MPI), and zero-filling first cost about a fifth of shared-memory bandwidth at
// 1 MiB (measured with mpipe bench).
#pragma once

#include <memory>
#include <utility>
#include <vector>

namespace mpipe {

using blob = std::vector<unsigned char>;

template <class T>
struct uninit_allocator : std::allocator<T> {
  using value_type = T;
  uninit_allocator() noexcept = default;
  template <class U>
  uninit_allocator(const uninit_allocator<U>&) noexcept {}
  template <class U>
  struct rebind {
    using other = uninit_allocator<U>;
  };
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

using byte_buffer = std::vector<unsigned char, uninit_allocator<unsigned char>>;

}  // namespace mpipe
