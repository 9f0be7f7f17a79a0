#pragma once
// Per-fd state of a backend: a vector indexed by fd that grows on demand.
// Growing moves the elements, so a backend grows it only where it holds no
// reference into it (when an operation is submitted), and every later lookup
// of that fd finds its entry made.

#include <algorithm>
#include <cstddef>
#include <vector>

namespace coronet::detail {

template <class T>
class fd_table {
public:
    /// The entry of `fd` (>= 0), made if needed.
    T& operator[](int fd) {
        auto i = static_cast<std::size_t>(fd);
        if (i >= size_) [[unlikely]]
            grow(i);
        return entries_[i];
    }
    /// The entry of `fd` if it was ever made, else nullptr. Never grows.
    T* find(int fd) noexcept {
        auto i = static_cast<std::size_t>(fd);
        return fd >= 0 && i < size_ ? &entries_[i] : nullptr;
    }
    /// An entry known to exist (made by operator[] when its operation started).
    T& at(int fd) noexcept { return entries_[static_cast<std::size_t>(fd)]; }
    const T& at(int fd) const noexcept { return entries_[static_cast<std::size_t>(fd)]; }
    std::size_t size() const noexcept { return size_; }

private:
    [[gnu::noinline]] void grow(std::size_t i) {
        entries_.resize(std::max(i + 1, entries_.size() * 2));
        size_ = entries_.size();
    }
    std::vector<T> entries_;
    std::size_t size_ = 0; // entries_.size(), without a division per lookup
};

} // namespace coronet::detail
