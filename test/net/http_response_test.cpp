#include <coronet/net/http_response.hpp>

#include <doctest/doctest.h>
#include <ostream> // doctest prints std::error_code
#include <regex>
#include <stdexcept>
#include <string>

using namespace coronet;

TEST_CASE("http response: the head of a keep-alive and a closing response") {
    http::response_head ok(200, 14, "text/plain; charset=utf-8");
    std::string text(ok.text());
    CHECK(std::regex_match(
        text, std::regex("HTTP/1\\.1 200 OK\r\n"
                         "Date: \\w{3}, \\d\\d \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d GMT\r\n"
                         "Content-Length: 14\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n\r\n")));
    http::response_head closing(431, 18446744073709551615u, "", false);
    text = closing.text();
    CHECK(text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\nDate: "));
    CHECK(text.ends_with("\r\nContent-Length: 18446744073709551615\r\nConnection: close\r\n\r\n"));
    CHECK(text.find("Content-Type") == std::string::npos);
    http::response_head longest(431, 18446744073709551615u,
                                std::string(http::response_head::max_content_type, 't'), false);
    CHECK(longest.text().ends_with(std::string(128, 't') + "\r\nConnection: close\r\n\r\n"));
    CHECK(http::response_head(599, 0).text().starts_with("HTTP/1.1 599 \r\n"));
}

TEST_CASE("http response: bad arguments throw, so no header can be smuggled in") {
    CHECK_THROWS_AS(http::response_head(99, 0), std::invalid_argument);
    CHECK_THROWS_AS(http::response_head(1000, 0), std::invalid_argument);
    CHECK_THROWS_AS(http::response_head(200, 0, "text/plain\r\nSet-Cookie: x"),
                    std::invalid_argument);
    CHECK_THROWS_AS(http::response_head(200, 0, std::string(129, 't')), std::invalid_argument);
}

TEST_CASE("http response: dates and reason phrases") {
    CHECK(http::http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"); // RFC 9110's example
    CHECK(http::http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(http::http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"); // after the cache moved
    CHECK(http::reason_phrase(404) == "Not Found");
    CHECK(http::reason_phrase(413) == "Content Too Large");
    CHECK(http::reason_phrase(100) == "Continue");
    CHECK(http::reason_phrase(299) == "");
}
