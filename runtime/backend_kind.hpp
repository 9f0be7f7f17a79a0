#pragma once
/// \file
/// Which I/O backend an event loop uses, and how that choice is made.
///
/// Selection order: an explicit loop_options::backend, else the
/// CORONET_BACKEND environment variable (auto|io_uring|epoll), else the build
/// default (meson option `default_backend`). `automatic` probes io_uring and
/// falls back to epoll when io_uring is unavailable (ENOSYS, EPERM from a
/// seccomp filter or kernel.io_uring_disabled, EINVAL, or a missing opcode); a
/// resource error (ENOMEM, RLIMIT_MEMLOCK) is reported on stderr with its cause
/// and then falls back too. Forcing a backend that is unavailable throws
/// backend_unavailable with a one-line reason.

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace coronet {

/// An event loop's I/O backend, or `automatic` to probe (see the file comment).
enum class backend_kind {
    automatic, ///< io_uring if this kernel can run it, else epoll
    io_uring,  ///< io_uring (liburing), batched submissions and its fast paths
    epoll,     ///< epoll: readiness, then the non-blocking syscall
};

/// "auto", "io_uring" or "epoll".
std::string_view to_string(backend_kind kind) noexcept;

/// Parses "auto", "io_uring" or "epoll"; nullopt for anything else.
std::optional<backend_kind> parse_backend_kind(std::string_view text) noexcept;

/// The kind requested by CORONET_BACKEND, else the build default.
/// Throws std::invalid_argument naming the bad value if CORONET_BACKEND is not
/// one of auto|io_uring|epoll.
backend_kind configured_backend_kind();

/// Whether io_uring's optional fast paths are wanted: CORONET_FAST_PATHS
/// ("1"/"on" or "0"/"off"; unset: on). With them off the io_uring backend
/// uses plain setup flags and one-shot operations only (a test and
/// comparison mode). Throws std::invalid_argument for any other value.
bool configured_fast_paths();

/// Empty when `kind` can run on this machine, else why it cannot (one line).
/// Probes io_uring by setting up (and tearing down) a small ring.
std::string backend_unavailable_reason(backend_kind kind);

/// Thrown (by event_loop's constructor, so by run()) when a forced backend
/// cannot be used here; what() is the one-line reason.
class backend_unavailable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace coronet
