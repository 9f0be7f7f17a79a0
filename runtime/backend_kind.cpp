#include "coronet/runtime/backend_kind.hpp"

#include "coronet/runtime/detail/backend.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

#ifndef CORONET_DEFAULT_BACKEND
#define CORONET_DEFAULT_BACKEND "auto"
#endif

namespace coronet {

std::string_view to_string(backend_kind kind) noexcept {
    switch (kind) {
    case backend_kind::io_uring:
        return "io_uring";
    case backend_kind::epoll:
        return "epoll";
    case backend_kind::automatic:
        break;
    }
    return "auto";
}

std::optional<backend_kind> parse_backend_kind(std::string_view text) noexcept {
    if (text == "auto") return backend_kind::automatic;
    if (text == "io_uring") return backend_kind::io_uring;
    if (text == "epoll") return backend_kind::epoll;
    return std::nullopt;
}

backend_kind configured_backend_kind() {
    const char* env = std::getenv("CORONET_BACKEND");
    std::string_view text = env != nullptr && *env != '\0' ? env : CORONET_DEFAULT_BACKEND;
    if (auto kind = parse_backend_kind(text)) return *kind;
    throw std::invalid_argument("coronet: CORONET_BACKEND='" + std::string(text) +
                                "' is not one of auto|io_uring|epoll");
}

bool configured_fast_paths() {
    const char* env = std::getenv("CORONET_FAST_PATHS");
    if (env == nullptr || *env == '\0') return true;
    std::string_view text = env;
    if (text == "1" || text == "on") return true;
    if (text == "0" || text == "off") return false;
    throw std::invalid_argument("coronet: CORONET_FAST_PATHS='" + std::string(text) +
                                "' is not one of 1|on|0|off");
}

std::string backend_unavailable_reason(backend_kind kind) {
    if (kind != backend_kind::io_uring) return {};
    detail::ready_queue scratch;
    detail::wake_fd wake;
    std::string why;
    bool resource = false;
    auto ring = detail::make_io_uring_backend(scratch, {}, wake, why, resource);
    return ring ? std::string{} : why;
}

namespace detail {

std::unique_ptr<backend> make_backend(backend_kind requested, ready_queue& ready,
                                      const backend_config& config, wake_fd& wake) {
    if (requested == backend_kind::epoll) return make_epoll_backend(ready, config, wake);
    std::string why;
    bool resource_error = false;
    if (auto ring = make_io_uring_backend(ready, config, wake, why, resource_error)) return ring;
    if (requested == backend_kind::io_uring)
        throw backend_unavailable("coronet: io_uring backend unavailable: " + why);
    if (resource_error)
        std::fprintf(stderr, "coronet: io_uring not used (%s); falling back to epoll\n",
                     why.c_str());
    return make_epoll_backend(ready, config, wake);
}

} // namespace detail
} // namespace coronet
