// asio_echo: Boost.Asio's C++20 coroutine echo server, the peer coronet is
// measured against. The program follows Asio's own example
// (asio/example/cpp20/coroutines/echo_server.cpp): co_spawn a listener,
// co_spawn one coroutine per connection, use_awaitable everywhere; a single
// thread runs one io_context (epoll underneath). One change from the example:
// reads and writes report errors through redirect_error instead of throwing,
// so the end of every connection (EOF) is not a C++ exception -- as coronet's
// result<T> is not. Like coronet's echo_server it uses a 16 KiB buffer per
// connection and leaves Nagle on.
//
// Usage: asio_echo [--port N]   (0 = any free port; default 65432)
// Prints "listening on 127.0.0.1:PORT" (flushed) once it accepts connections,
// and exits 0 on SIGINT or SIGTERM.
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

// Echoes until EOF or an error (reset): the connection is then done.
static awaitable<void> echo(tcp::socket socket) {
    std::array<char, 16384> buf;
    boost::system::error_code ec;
    for (;;) {
        std::size_t n = co_await socket.async_read_some(asio::buffer(buf),
                                                        asio::redirect_error(use_awaitable, ec));
        if (ec) co_return;
        co_await asio::async_write(socket, asio::buffer(buf.data(), n),
                                   asio::redirect_error(use_awaitable, ec));
        if (ec) co_return;
    }
}

static awaitable<void> listen(tcp::acceptor& acceptor) {
    for (;;) {
        tcp::socket socket = co_await acceptor.async_accept(use_awaitable);
        asio::co_spawn(acceptor.get_executor(), echo(std::move(socket)), asio::detached);
    }
}

int main(int argc, char** argv) {
    unsigned short port = 65432;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            char* end;
            long v = std::strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 0 || v > 65535) {
                std::fprintf(stderr, "asio_echo: --port: '%s' is not 0..65535\n", argv[i]);
                return 2;
            }
            port = static_cast<unsigned short>(v);
        } else {
            std::fprintf(stderr, "usage: asio_echo [--port N]\n");
            return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    try {
        asio::io_context io(1); // concurrency hint 1: a single thread, no locking
        tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), port});
        std::printf("listening on 127.0.0.1:%u\n", acceptor.local_endpoint().port());
        std::fflush(stdout);
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&](auto, auto) { io.stop(); });
        asio::co_spawn(io, listen(acceptor), asio::detached);
        io.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "asio_echo: %s\n", e.what());
        return 1;
    }
    return 0;
}
