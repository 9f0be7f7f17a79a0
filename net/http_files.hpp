#pragma once
// Static files for HTTP: the path a request target names, read safely from
// beneath a served directory.
//
//   auto path = coronet::http::target_path(req.target);        // "docs/a b.txt"
//   auto read = [&] { return coronet::http::read_file_beneath(root_fd, *path, max); };
//   auto body = co_await coronet::run_blocking(read);           // file reads block
//   if (!body) status = coronet::http::file_status(body.error()); // 403, 404, 500
//
// Two locks keep a request inside the directory: target_path() refuses any
// ".." segment (after percent-decoding, so "%2e%2e/" and "..%2f" too), and
// read_file_beneath() opens with openat2(RESOLVE_BENEATH), so the kernel
// refuses a symlink or ".." that would resolve outside `dir_fd`.

#include "coronet/runtime/result.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace coronet::http {

/// The file `target` (a request target) names, relative to the served
/// directory: for an absolute-form target ("http://host/a") the scheme and
/// authority are dropped, the query too; the rest is percent-decoded, empty
/// and "." segments are dropped, and "index.html" is added to a directory
/// path ("/", "/docs/"). Errors: std::errc::invalid_argument (not "/..." nor
/// "http[s]://host/...", a bad %-escape, a decoded NUL), std::errc::permission_denied
/// (a ".." segment: the path would leave the directory).
result<std::string> target_path(std::string_view target);

/// The Content-Type for a file name, from its extension (ASCII
/// case-insensitive): text/html, text/css, image/png, ...; application/octet-stream
/// for an extension it does not know.
std::string_view content_type_for(std::string_view path) noexcept;

/// The bytes of the regular file `path` (relative, as target_path gives it)
/// beneath the directory `dir_fd`. Blocking (open, fstat, read): call it
/// through run_blocking. It opens with openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_MAGICLINKS): a symlink may point anywhere inside the directory,
/// but nothing resolves outside it; where the kernel has no openat2 (before
/// 5.6, or a seccomp filter that hides it) no symlink is followed at all.
/// Errors (errno codes): no_such_file_or_directory, not_a_directory,
/// permission_denied, cross_device_link (the path would resolve outside),
/// too_many_symbolic_link_levels (a symlink refused), is_a_directory (not a
/// regular file), file_too_large (more than `max_size` bytes), I/O errors.
result<std::string> read_file_beneath(int dir_fd, const std::string& path, std::size_t max_size);

/// The HTTP status that answers a target_path or read_file_beneath error:
/// 400 (invalid_argument), 403 (permission_denied, cross_device_link), 404
/// (missing, not a regular file, a refused symlink), 500 for anything else.
int file_status(std::error_code e) noexcept;

} // namespace coronet::http
