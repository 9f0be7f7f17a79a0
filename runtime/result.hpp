#pragma once
/// \class coronet::result
/// coronet::result<T>: a value or a std::error_code, the return type of every
/// fallible coronet operation.
///
/// Two ways to use it, like Python's socket.connect() and connect_ex():
///
///     auto r = co_await stream.recv(buf);   // non-throwing: test, then use
///     if (!r) log(r.error().message());
///     std::size_t n = (co_await stream.recv(buf)).value();   // throws std::system_error

#include <cerrno>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

/// coronet's API: the event loop, tasks and their tools (runtime/), sockets
/// and streams (net/). Names in coronet::detail are internal.
namespace coronet {

/// Holds either a T or the std::error_code that explains why there is none.
template <class T>
class [[nodiscard]] result {
public:
    /// A result holding `value` (implicit: `co_return value;`).
    result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    /// A result holding `error` (implicit: `co_return error;`).
    result(std::error_code error) : v_(std::in_place_index<1>, error) {}
    /// Constructs the value in place from `args`.
    template <class... Args>
    explicit result(std::in_place_t, Args&&... args)
        : v_(std::in_place_index<0>, std::forward<Args>(args)...) {}

    /// True when a value is held.
    bool has_value() const noexcept { return v_.index() == 0; }
    /// has_value(): `if (auto r = co_await ...)`.
    explicit operator bool() const noexcept { return has_value(); }

    /// The value. Throws std::system_error carrying error() when there is none.
    T& value() & {
        check();
        return std::get<0>(v_);
    }
    /// The value (const). Throws std::system_error carrying error() when there is none.
    const T& value() const& {
        check();
        return std::get<0>(v_);
    }
    /// The value, moved out of a temporary result. Throws std::system_error
    /// carrying error() when there is none.
    T&& value() && {
        check();
        return std::get<0>(std::move(v_));
    }

    /// Unchecked access: only after testing has_value().
    T& operator*() & noexcept { return *std::get_if<0>(&v_); }
    /// Unchecked access (const): only after testing has_value().
    const T& operator*() const& noexcept { return *std::get_if<0>(&v_); }
    /// Unchecked move out of a temporary result: only after testing has_value().
    T&& operator*() && noexcept { return std::move(*std::get_if<0>(&v_)); }
    /// Unchecked member access: only after testing has_value().
    T* operator->() noexcept { return std::get_if<0>(&v_); }
    /// Unchecked member access (const): only after testing has_value().
    const T* operator->() const noexcept { return std::get_if<0>(&v_); }

    /// The error, or a default (success) error_code when a value is held.
    std::error_code error() const noexcept {
        auto* e = std::get_if<1>(&v_);
        return e ? *e : std::error_code{};
    }

private:
    void check() const {
        if (!has_value()) throw std::system_error(std::get<1>(v_));
    }
    std::variant<T, std::error_code> v_;
};

/// result<void>: success, or the error that prevented it.
template <>
class [[nodiscard]] result<void> {
public:
    /// Success.
    result() = default;
    /// Failure with `error` (implicit: `co_return error;`).
    result(std::error_code error) : error_(error) {}

    /// True on success.
    bool has_value() const noexcept { return !error_; }
    /// has_value(): `if (co_await s.send_all(data))`.
    explicit operator bool() const noexcept { return has_value(); }
    /// Throws std::system_error carrying error() on failure.
    void value() const {
        if (error_) throw std::system_error(error_);
    }
    /// The error, or a default (success) error_code.
    std::error_code error() const noexcept { return error_; }

private:
    std::error_code error_;
};

/// The std::error_code for an errno value (generic category, so it compares
/// equal to std::errc enumerators: `r.error() == std::errc::connection_refused`).
inline std::error_code errno_code(int err) noexcept {
    return {err, std::generic_category()};
}

namespace detail {
/// Converts a kernel-style result (>= 0 value, < 0 is -errno) to a result.
template <class T>
result<T> from_syscall(int res) {
    if (res < 0) return errno_code(-res);
    return static_cast<T>(res);
}
} // namespace detail

} // namespace coronet
