// http_server: a small HTTP/1.1 server. GET /hello answers "Hello, world!", POST /echo
// echoes the body, and with --root DIR any other GET or HEAD is a file beneath DIR (".."
// and symlinks leading out are refused). Keep-alive, pipelining, Content-Length bodies up
// to 56 KiB; a chunked (Transfer-Encoding) body is refused with 501. A request must be in
// within --request-timeout ms of its first byte (else 408); an idle keep-alive connection
// is closed after --idle-timeout ms. SIGINT/SIGTERM: stop accepting, --grace ms, exit 0.
//
// Run:   build/examples/http_server --port 8080 --root docs [--backend auto]
// Then:  curl http://127.0.0.1:8080/hello http://127.0.0.1:8080/benchmarks.md
#include "cli.hpp"
#include "http_options.hpp"
#include "shutdown.hpp"
#include <coronet/net/http_files.hpp>
#include <coronet/net/http_server.hpp>
#include <coronet/net/tcp_listener.hpp>
#include <coronet/runtime/signal_set.hpp>
#include <coronet/runtime/thread_pool.hpp>
#include <coronet/runtime/when_all.hpp>

using namespace coronet;
using namespace std::chrono_literals;
using writer_t = stream_writer<tcp_stream>;

task<result<void>> answer(writer_t& out, const http::request& req, const example::http_site& s) {
    const bool get = req.method == "GET" || req.method == "HEAD";
    if (get && req.target == "/hello")
        co_return co_await http::write_response(out, req, 200, "Hello, world!\n");
    if (req.method == "POST" && req.target == "/echo")
        co_return co_await http::write_response(out, req, 200, req.body,
                                                "application/octet-stream");
    if (!get) co_return co_await http::write_response(out, req, 501); // no other method here
    auto path = http::target_path(req.target);
    if (!path || s.root < 0)
        co_return co_await http::write_response(out, req,
                                                path ? 404 : http::file_status(path.error()));
    auto read = [&] { return http::read_file_beneath(s.root, *path, 16 << 20); };
    auto file = co_await run_blocking(read); // file reads block: on a worker thread
    if (!file) co_return co_await http::write_response(out, req, http::file_status(file.error()));
    co_return co_await http::write_response(out, req, 200, *file, http::content_type_for(*path));
}

task<> serve_client(tcp_stream conn, const example::http_site& s) {
    http::request_limits limits; // 8 KiB of head, 64 header lines, 56 KiB of body
    stream_reader reader(conn, limits.max_head + limits.max_body);
    stream_writer writer(conn, 16 * 1024);
    http::request_parser parser(limits);
    for (;;) {
        auto req = co_await http::read_request(reader, writer, parser, s.timeouts);
        if (!req) { // closed, idle too long, or a request to refuse (400, 408, 413, 431, 501...)
            if (int status = http::status_of(req.error())) {
                fmt::print(stderr, "http_server: {}: {}\n", conn.peer_address(),
                           req.error().message());
                co_await http::reject(reader, writer, status);
            }
            co_return;
        }
        if (!co_await answer(writer, **req, s) || !(*req)->keep_alive) co_return;
    }
}

task<> serve(tcp_listener& listener, task_group& connections, const example::http_site& s) {
    for (;;) {
        auto conn = co_await listener.accept();
        if (conn)
            connections.spawn(serve_client(std::move(*conn), s));
        else if (conn.error() == std::errc::too_many_files_open)
            co_await sleep_for(100ms); // out of fds: existing connections go on
        else
            co_return; // cancelled: stop accepting
    }
}

task<int> main_task(example::options opts, example::http_site s) {
    signal_set stop{SIGINT, SIGTERM};
    auto listener = tcp_listener::bind(opts.address);
    if (!listener) {
        fmt::print(stderr, "http_server: cannot listen on {}: {}\n", opts.address,
                   listener.error().message());
        co_return 1;
    }
    example::print_listening(listener->local_address());
    task_group connections;
    co_await when_any(serve(*listener, connections, s), example::next_signal(stop));
    listener->close();
    co_await example::shut_down(connections, stop, opts.grace);
    co_return 0;
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: http_server [--host ADDR] [--port N] [--root DIR] [--grace MS]\n"
        "                   [--request-timeout MS] [--idle-timeout MS]\n"
        "                   [--backend auto|io_uring|epoll] [--fast-paths on|off]\n"
        "Serves HTTP/1.1 on ADDR:N (default 127.0.0.1:65432; 0 = any free port): /hello,\n"
        "POST /echo, and files beneath DIR. Timeouts default to 10000 and 60000 ms.\n";
    auto site = example::parse_http_flags(argc, argv); // --root, --request/idle-timeout
    auto opts = example::parse(argc, argv, usage, false);
    return example::run(main_task(opts, site), opts, "http_server");
}
