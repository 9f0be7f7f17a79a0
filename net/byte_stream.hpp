#pragma once
/// \concept coronet::byte_stream
/// coronet::byte_stream: what buffered readers and writers, framing and object
/// streams need from a connection.
///
///     template <coronet::byte_stream S>
///     coronet::task<> greet(S& s) { co_await s.send_all(hello); }
///
/// A type S models byte_stream when, for an `S& s`:
/// - `co_await s.recv(std::span<std::byte>)` yields `result<std::size_t>`
///   (bytes received, 0 = EOF), and
/// - `co_await s.send_all(std::span<const std::byte>)` yields `result<void>`
///   (every byte sent, or the error that stopped it).
///
/// tcp_stream models it. If the send_all awaitable also has bytes_sent() (as
/// coronet's own do), stream_writer uses it to keep exactly the unsent bytes
/// after a failed or cancelled flush.

#include "coronet/runtime/cancel_scope.hpp"
#include "coronet/runtime/result.hpp"

#include <concepts>
#include <cstddef>
#include <span>

namespace coronet {

template <class S>
concept byte_stream = requires(S& s, std::span<std::byte> in, std::span<const std::byte> out) {
    requires std::same_as<detail::await_result_t<decltype(s.recv(in))>, result<std::size_t>>;
    requires std::same_as<detail::await_result_t<decltype(s.send_all(out))>, result<void>>;
};

} // namespace coronet
