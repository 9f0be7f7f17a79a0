#include "coronet/net/resolve.hpp"

#include "coronet/runtime/thread_pool.hpp"

#include <algorithm>
#include <cerrno>
#include <memory>
#include <sys/socket.h>

namespace coronet {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "getaddrinfo"; }
    std::string message(int c) const override { return ::gai_strerror(c); }
};

struct addrinfo_deleter {
    void operator()(addrinfo* ai) const noexcept { ::freeaddrinfo(ai); }
};

} // namespace

const std::error_category& resolve_category() noexcept {
    static const category instance;
    return instance;
}

std::error_code gai_error_code(int eai, int saved_errno) noexcept {
    if (eai == EAI_SYSTEM) return errno_code(saved_errno != 0 ? saved_errno : EIO);
    return {eai, resolve_category()};
}

result<std::vector<socket_address>> resolve_blocking(const std::string& host, std::uint16_t port) {
    if (host.empty() || host.find('\0') != std::string::npos)
        return std::make_error_code(std::errc::invalid_argument);
    if (auto numeric = socket_address::from(host, port)) return std::vector{*numeric};

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* list = nullptr;
    errno = 0;
    if (int eai = ::getaddrinfo(host.c_str(), nullptr, &hints, &list); eai != 0)
        return gai_error_code(eai, errno);
    std::unique_ptr<addrinfo, addrinfo_deleter> owner(list);

    std::vector<socket_address> out;
    for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
        auto a = socket_address::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
        if (!a) continue; // a family coronet does not speak
        a->set_port(port);
        if (std::find(out.begin(), out.end(), *a) == out.end()) out.push_back(*a);
    }
    if (out.empty()) return make_error_code(resolve_error::no_address);
    return out;
}

task<result<std::vector<socket_address>>> resolve(std::string host, std::uint16_t port) {
    if (host.empty() || host.find('\0') != std::string::npos)
        co_return std::make_error_code(std::errc::invalid_argument);
    if (auto numeric = socket_address::from(host, port)) co_return std::vector{*numeric};
    // The job owns its copy of the host: abandoning it on cancellation is safe.
    // (Named first: g++ 12 miscompiles a lambda with class-type captures
    // written inside a co_await expression.)
    auto lookup = [host = std::move(host), port] { return resolve_blocking(host, port); };
    co_return co_await run_blocking(std::move(lookup), cancel_policy::abandon);
}

} // namespace coronet
