#include "test/net/memory_stream.hpp"
#include "test/test_util.hpp"
#include <coronet/net/http_server.hpp>
#include <coronet/runtime/task_group.hpp>
#include <coronet/runtime/timer.hpp>

#include <chrono>
#include <doctest/doctest.h>
#include <ostream> // doctest prints std::error_code
#include <string>

using namespace coronet;
using namespace std::chrono_literals;
using test::text_of;

namespace {

const std::string pipelined = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
                              "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
                              "HEAD /three HTTP/1.1\r\nHost: h\r\n\r\n";

// Answers every request on `m` with its target and body, until read_request fails
// (refusing the request with reject() when it has a status), as a server does.
task<std::error_code> answer_all(test::memory_stream& m, std::size_t capacity = 64 * 1024) {
    stream_reader reader(m, capacity);
    stream_writer writer(m, 4096);
    http::request_parser parser;
    for (int i = 0; i < 100; ++i) {
        auto req = co_await http::read_request(reader, writer, parser);
        if (!req) {
            if (int status = http::status_of(req.error()))
                co_await http::reject(reader, writer, status);
            co_return req.error();
        }
        std::string body = std::string((*req)->target) + ":" + std::string((*req)->body);
        CHECK(co_await http::write_response(writer, **req, 200, body));
    }
    co_return std::error_code{};
}

std::size_t count(const std::string& s, std::string_view what) {
    std::size_t n = 0;
    for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1))
        ++n;
    return n;
}

} // namespace

TEST_CASE("http server: pipelined requests, any packet boundaries, answered in order") {
    auto main = []() -> task<> {
        for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, pipelined.size()}) {
            CAPTURE(chunk);
            test::memory_stream m(pipelined, chunk);
            CHECK(co_await answer_all(m) == error::end_of_stream);
            std::string out = text_of(m.output);
            auto one = out.find("\r\n\r\n/one:");
            auto two = out.find("\r\n\r\n/two:hello");
            CHECK(one != std::string::npos);
            CHECK(two > one);
            CHECK(two != std::string::npos);
            CHECK(out.ends_with(
                "Content-Length: 7\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"));
            CHECK(count(out, "HTTP/1.1 200 OK\r\n") == 3);      // the HEAD answer has no body
            if (chunk == pipelined.size()) CHECK(m.sends == 1); // answers left together
        }
    };
    test::run(main());
}

TEST_CASE("http server: 100 Continue only when the body is still to come") {
    auto main = []() -> task<> {
        const std::string head = "POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                                 "Content-Length: 3\r\n\r\n";
        test::memory_stream waits(head + "abc", head.size()); // the body comes in a later recv
        CHECK(co_await answer_all(waits) == error::end_of_stream);
        std::string out = text_of(waits.output);
        CHECK(out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
        CHECK(out.ends_with("\r\n\r\n/up:abc"));
        test::memory_stream sent(head + "abc", 1000); // already here: no 100
        CHECK(co_await answer_all(sent) == error::end_of_stream);
        CHECK(text_of(sent.output).starts_with("HTTP/1.1 200 OK\r\n"));
    };
    test::run(main());
}

TEST_CASE("http server: a closed or refused request ends the loop with its error") {
    auto main = []() -> task<> {
        test::memory_stream cut("GET / HTTP/1.1\r\nHo", 4);
        CHECK(co_await answer_all(cut) == error::unexpected_eof);
        test::memory_stream body_cut("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc",
                                     4);
        CHECK(co_await answer_all(body_cut) == error::unexpected_eof);
        test::memory_stream bad("GET / HTTP/1.1\r\nHost: h\r\n\r\nNONSENSE\r\n\r\n", 100);
        CHECK(co_await answer_all(bad) == http::request_error::bad_request_line);
        std::string out = text_of(bad.output); // the first one answered, then the refusal
        CHECK(count(out, "HTTP/1.1 200 OK") == 1);
        CHECK(out.find("HTTP/1.1 400 Bad Request\r\n") > out.find("HTTP/1.1 200 OK"));
        CHECK(out.ends_with("Connection: close\r\n\r\n400 Bad Request\n"));
        test::memory_stream fine("GET / HTTP/1.1\r\nHost: h\r\n\r\n", 100);
        CHECK(co_await answer_all(fine, 1024) == error::buffer_too_small); // < max_head + max_body
        CHECK(fine.output.empty());
    };
    test::run(main());
}

TEST_CASE("http server: write_response for HEAD and Connection: close, and reject") {
    auto main = []() -> task<> {
        test::memory_stream m;
        stream_writer writer(m);
        http::request req{.method = "HEAD", .keep_alive = true};
        CHECK(co_await http::write_response(writer, req, 200, "twelve bytes"));
        CHECK(text_of(writer.buffered())
                  .ends_with("Content-Length: 12\r\nContent-Type: "
                             "text/plain; charset=utf-8\r\n\r\n"));
        req = {.method = "GET", .keep_alive = false};
        CHECK(co_await http::write_response(writer, req, 404));
        CHECK(writer.buffered().empty()); // the connection ends: flushed
        CHECK(text_of(m.output).ends_with("Connection: close\r\n\r\n404 Not Found\n"));

        test::memory_stream client("the rest of a refused request", 5);
        stream_reader reader(client);
        stream_writer out(client);
        co_await http::reject(reader, out, 431);
        std::string sent = text_of(client.output);
        CHECK(sent.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        CHECK(sent.ends_with("Connection: close\r\n\r\n431 Request Header Fields Too Large\n"));
        CHECK(client.pos == client.input.size()); // what the client still sent was read
    };
    test::run(main());
}

TEST_CASE("http server: the idle timeout, and a request deadline that a trickle cannot stretch") {
    auto main = []() -> task<> {
        auto [client, server] = co_await test::connect_pair();
        CHECK(client.set_nodelay(true));
        stream_reader reader(server);
        stream_writer writer(server);
        http::request_parser parser;
        auto t0 = clock::now();
        auto idle = co_await http::read_request(reader, writer, parser, {.idle = 50ms});
        CHECK(idle.error() == error::timed_out); // nothing arrived: close without an answer
        CHECK(http::status_of(idle.error()) == 0);
        CHECK(clock::now() - t0 >= 50ms);

        CHECK(co_await client.send_all(std::string_view("GET / HTTP/1.1\r\nHo")));
        auto half = co_await http::read_request(reader, writer, parser, {.request = 50ms});
        CHECK(half.error() == http::request_error::request_timeout);
        CHECK(http::status_of(half.error()) == 408);
        CHECK(reader.buffered().size() == 18); // the bytes that came stay buffered
        reader.consume(18);

        // A byte every 10 ms would take 2 s for the whole head; the deadline is 150 ms.
        auto trickle = [](tcp_stream& c) -> task<> {
            const std::string head =
                "GET /slow HTTP/1.1\r\nX: " + std::string(170, 'x') + "\r\n\r\n";
            for (char ch : head) {
                if (!co_await c.send_all(std::string_view(&ch, 1))) co_return;
                co_await sleep_for(10ms); // the pace of a slow client, not synchronisation
            }
        };
        task_group g;
        g.spawn(trickle(client));
        t0 = clock::now();
        auto slow = co_await http::read_request(reader, writer, parser, {.request = 150ms});
        CHECK(slow.error() == http::request_error::request_timeout);
        CHECK(clock::now() - t0 < 1500ms);
        client.close();
        co_await g.join();
    };
    test::run(main());
}

TEST_CASE("http server: a request and its answer over TCP") {
    auto main = []() -> task<> {
        auto [client, server] = co_await test::connect_pair();
        auto serve = [](tcp_stream s) -> task<std::error_code> { // closes s when it returns
            stream_reader reader(s);
            stream_writer writer(s);
            http::request_parser parser;
            for (;;) {
                auto req = co_await http::read_request(reader, writer, parser);
                if (!req) co_return req.error();
                if (!co_await http::write_response(writer, **req, 200, (*req)->body))
                    co_return std::error_code{};
            }
        };
        task_group g;
        std::error_code served;
        auto run_server = [&](tcp_stream s) -> task<> { served = co_await serve(std::move(s)); };
        g.spawn(run_server(std::move(server)));
        CHECK(co_await client.send_all(
            std::string_view("POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\npingGET / "
                             "HTTP/1.1\r\nHost: h\r\n"
                             "Connection: close\r\n\r\n")));
        CHECK(client.shutdown());
        stream_reader in(client);
        std::string got;
        for (int i = 0; i < 1000; ++i) { // each turn reads >= 1 byte or ends
            auto r = co_await in.read_some();
            if (!r || r->empty()) break;
            got += text_of(*r);
        }
        co_await g.join();
        CHECK(served == error::end_of_stream);
        CHECK(count(got, "HTTP/1.1 200 OK\r\n") == 2);
        CHECK(got.find("\r\n\r\nping") != std::string::npos);
        CHECK(got.ends_with("Connection: close\r\n\r\n"));
    };
    test::run(main());
}
