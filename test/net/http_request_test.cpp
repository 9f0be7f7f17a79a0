#include <coronet/net/http_request.hpp>
#include <coronet/runtime/error.hpp>

#include <doctest/doctest.h>
#include <ostream> // doctest prints std::error_code
#include <stdexcept>
#include <string>

using namespace coronet;
using http::request_error;

namespace {

// Parses `text` in one call; CHECKs that it completes and returns the parser.
http::request_parser parsed(const std::string& text, http::request_limits limits = {}) {
    http::request_parser p(limits);
    auto r = p.parse(text);
    REQUIRE_MESSAGE(r, r.error().message());
    CHECK(*r);
    return p;
}

std::error_code error_of(const std::string& text, http::request_limits limits = {}) {
    http::request_parser p(limits);
    auto r = p.parse(text);
    return r ? std::error_code{} : r.error();
}

} // namespace

TEST_CASE("http request: a GET with headers") {
    const std::string text = "GET /a%20b?x=1 HTTP/1.1\r\nHost: example.com\r\n"
                             "Accept:  text/plain \t\r\nX-Empty:\r\n\r\nNEXT";
    http::request_parser p;
    auto r = p.parse(text);
    REQUIRE(r);
    REQUIRE(*r);
    const http::request& req = p.request();
    CHECK(req.method == "GET");
    CHECK(req.target == "/a%20b?x=1");
    CHECK(req.version_minor == 1);
    REQUIRE(req.headers.size() == 3);
    CHECK(req.headers[0].name == "Host");
    CHECK(req.headers[0].value == "example.com");
    CHECK(req.headers[1].value == "text/plain"); // whitespace around the value trimmed
    CHECK(req.headers[2].value == "");
    CHECK(req.find("ACCEPT") == "text/plain");
    CHECK(!req.find("missing"));
    CHECK(req.content_length == 0);
    CHECK(req.keep_alive);
    CHECK(!req.expect_continue);
    CHECK(req.head_size == text.size() - 4); // "NEXT" is not looked at
}

TEST_CASE("http request: every split point gives the same request, wherever the bytes move") {
    const std::string text =
        "\r\nPOST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\nX: y\r\n\r\n";
    for (std::size_t cut = 0; cut <= text.size(); ++cut) {
        CAPTURE(cut);
        http::request_parser p;
        std::string first = text.substr(0, cut);
        auto r = p.parse(first);
        REQUIRE(r);
        CHECK(*r == (cut == text.size()));
        std::string whole = "junk" + text; // at another address: only offsets were kept
        r = p.parse(std::string_view(whole).substr(4));
        REQUIRE(r);
        REQUIRE(*r);
        CHECK(p.request().method == "POST");
        CHECK(p.request().target == "/echo");
        CHECK(p.request().content_length == 5);
        CHECK(p.request().find("x") == "y");
        CHECK(p.request().head_size == text.size());
        CHECK(p.request().target.data() == whole.data() + 4 + 7);
    }
    http::request_parser p; // one byte at a time
    std::string grown;
    for (char c : text) {
        grown += c;
        auto r = p.parse(grown);
        REQUIRE(r);
        CHECK(*r == (grown.size() == text.size()));
    }
}

TEST_CASE("http request: keep-alive follows the version and Connection") {
    auto keep = [](const std::string& line, const std::string& headers) {
        return parsed(line + "\r\nHost: h\r\n" + headers + "\r\n").request().keep_alive;
    };
    CHECK(keep("GET / HTTP/1.1", ""));
    CHECK(!keep("GET / HTTP/1.1", "Connection: close\r\n"));
    CHECK(!keep("GET / HTTP/1.1", "Connection: Upgrade, CLOSE\r\n"));
    CHECK(!keep("GET / HTTP/1.0", ""));
    CHECK(keep("GET / HTTP/1.0", "Connection: Keep-Alive\r\n"));
    CHECK(!keep("GET / HTTP/1.0", "Connection: keep-alive, close\r\n"));
    CHECK(parsed("GET / HTTP/1.0\r\n\r\n").request().version_minor == 0); // no Host needed
    CHECK(parsed("GET / HTTP/1.7\r\nHost: h\r\n\r\n").request().version_minor == 1);
}

TEST_CASE("http request: Content-Length, Transfer-Encoding and Expect") {
    auto with = [](const std::string& headers, const std::string& version = "HTTP/1.1") {
        return "POST /echo " + version + "\r\nHost: h\r\n" + headers + "\r\n";
    };
    CHECK(parsed(with("Content-Length: 42\r\n")).request().content_length == 42);
    CHECK(parsed(with("Content-Length: 7\r\ncontent-length: 007\r\n")).request().content_length ==
          7);
    CHECK(error_of(with("Content-Length: 7\r\nContent-Length: 8\r\n")) ==
          request_error::bad_content_length);
    for (const char* bad : {"", "-1", "1 2", "0x10", "+5", "5,5"})
        CHECK(error_of(with(std::string("Content-Length: ") + bad + "\r\n")) ==
              request_error::bad_content_length);
    CHECK(error_of(with("Content-Length: 57345\r\n")) == request_error::body_too_large);
    CHECK(error_of(with("Content-Length: 99999999999999999999999999\r\n")) ==
          request_error::body_too_large);
    CHECK(parsed(with("Content-Length: 57344\r\n")).request().content_length == 57344);
    CHECK(error_of(with("Transfer-Encoding: chunked\r\n")) ==
          request_error::unsupported_transfer_coding);
    CHECK(error_of(with("Transfer-Encoding: gzip\r\nContent-Length: 3\r\n")) ==
          request_error::unsupported_transfer_coding);
    CHECK(parsed(with("Content-Length: 3\r\nExpect: 100-Continue\r\n")).request().expect_continue);
    CHECK(!parsed(with("Expect: 100-continue\r\n")).request().expect_continue); // no body
    CHECK(error_of(with("Expect: 200-ok\r\n")) == request_error::unsupported_expectation);
    CHECK(
        !parsed(with("Content-Length: 3\r\nExpect: x\r\n", "HTTP/1.0")).request().expect_continue);
}

TEST_CASE("http request: malformed requests are refused") {
    for (const char* line :
         {"GET", "GET /", "GET  / HTTP/1.1", "GET / HTTP/1.1 ", " GET / HTTP/1.1", "G@T / HTTP/1.1",
          "GET / http/1.1", "GET / HTTP/1.10", "GET / HTTP/1", "GET /a\x01 HTTP/1.1",
          "GET /a\x7f HTTP/1.1", "GET / HTTP/1.1\r", "GET /\rx HTTP/1.1"}) {
        CAPTURE(line);
        CHECK(error_of(std::string(line) + "\r\nHost: h\r\n\r\n") ==
              request_error::bad_request_line);
    }
    CHECK(error_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == request_error::unsupported_version);
    CHECK(error_of("GET / HTTP/0.9\r\n\r\n") == request_error::unsupported_version);
    for (const char* h : {"NoColon", ": v", "Name : v", " Folded: v", "\tX: v", "A(b): v",
                          "X: a\x01", "X: a\rb", "X: a\x7f"}) {
        CAPTURE(h);
        CHECK(error_of(std::string("GET / HTTP/1.1\r\nHost: h\r\n") + h + "\r\n\r\n") ==
              request_error::bad_header);
    }
    CHECK(error_of("GET / HTTP/1.1\r\n\r\n") == request_error::bad_host);
    CHECK(error_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == request_error::bad_host);
    CHECK(error_of("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n") == request_error::bad_host);
    // Refused as soon as the bad line is complete, before the head ends.
    CHECK(error_of("BAD\r\n") == request_error::bad_request_line);
    CHECK(error_of("GET / HTTP/1.1\r\nbad line\r\n") == request_error::bad_header);
}

TEST_CASE("http request: limits are checked at their exact edges, before the head is complete") {
    http::request_limits lim{
        .max_request_line = 32, .max_head = 64, .max_headers = 2, .max_body = 10};
    const std::string line30 = "GET /" + std::string(15, 'a') + " HTTP/1.1\r\n"; // 31 bytes
    CHECK(parsed(line30 + "Host: h\r\n\r\n", lim).request().target.size() == 16);
    const std::string line33 = "GET /" + std::string(17, 'a') + " HTTP/1.1\r\n";
    CHECK(error_of(line33 + "Host: h\r\n\r\n", lim) == request_error::request_line_too_long);
    CHECK(error_of(line33.substr(0, 32), lim) == request_error::request_line_too_long); // no LF yet
    CHECK(error_of(line33.substr(0, 31), lim) == std::error_code{}); // incomplete

    const std::string start = "GET / HTTP/1.1\r\nHost: h\r\n"; // 25 bytes
    const std::string pad = "X: " + std::string(64 - 25 - 2 - 5, 'v') + "\r\n";
    CHECK(parsed(start + pad + "\r\n", lim).request().head_size == 64);
    CHECK(error_of(start + "X: " + std::string(33, 'v') + "\r\n\r\n", lim) ==
          request_error::headers_too_large);
    CHECK(error_of(start + std::string(39, 'v'), lim) == request_error::headers_too_large);
    CHECK(error_of(start + std::string(38, 'v'), lim) == std::error_code{});
    CHECK(parsed(start + "A: 1\r\n\r\n", lim).request().headers.size() == 2);
    CHECK(error_of(start + "A: 1\r\nB: 2\r\n\r\n", lim) == request_error::too_many_headers);
    CHECK(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n",
                   {.max_headers = 4, .max_body = 10}) == request_error::body_too_large);
    CHECK_THROWS_AS(http::request_parser({.max_headers = 0}), std::invalid_argument);

    // Empty lines push the request line to the end of the head: the error is the same
    // whether the bytes come in one call or two (a case the fuzzer found).
    const std::string late = std::string(60, '\n') + std::string(100, 'G');
    CHECK(error_of(late, lim) == request_error::headers_too_large);
    http::request_parser p(lim);
    CHECK(p.parse(std::string_view(late).substr(0, 62)).value() == false);
    CHECK(p.parse(late).error() == request_error::headers_too_large);
}

TEST_CASE("http request: errors stick until reset, then the next request parses") {
    http::request_parser p;
    auto r = p.parse("BAD\r\n");
    CHECK(r.error() == request_error::bad_request_line);
    CHECK(p.parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n").error() == request_error::bad_request_line);
    p.reset();
    r = p.parse("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    REQUIRE(r);
    CHECK(*r);
    CHECK(p.request().target == "/next");
}

TEST_CASE("http request: statuses and messages of the errors") {
    CHECK(http::status_of(request_error::bad_request_line) == 400);
    CHECK(http::status_of(request_error::bad_header) == 400);
    CHECK(http::status_of(request_error::bad_host) == 400);
    CHECK(http::status_of(request_error::bad_content_length) == 400);
    CHECK(http::status_of(request_error::request_line_too_long) == 414);
    CHECK(http::status_of(request_error::headers_too_large) == 431);
    CHECK(http::status_of(request_error::too_many_headers) == 431);
    CHECK(http::status_of(request_error::body_too_large) == 413);
    CHECK(http::status_of(request_error::unsupported_transfer_coding) == 501);
    CHECK(http::status_of(request_error::unsupported_expectation) == 417);
    CHECK(http::status_of(request_error::unsupported_version) == 505);
    CHECK(http::status_of(request_error::request_timeout) == 408);
    CHECK(http::status_of(error::timed_out) == 0);
    CHECK(http::status_of(error::end_of_stream) == 0);
    CHECK(http::status_of(std::make_error_code(std::errc::connection_reset)) == 0);
    CHECK(std::error_code(request_error::body_too_large).message() ==
          "HTTP request body larger than the limit");
    CHECK(std::string(std::error_code(request_error::bad_host).category().name()) ==
          "coronet.http");
}
