#include "coronet/net/http_response.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace coronet::http {

std::string_view reason_phrase(int status) noexcept {
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

std::string_view http_date(std::time_t t) noexcept {
    thread_local std::time_t cached = -1;
    thread_local char
        text[96]; // 29 bytes for years 0..9999; room for what the compiler cannot rule out
    if (t != cached) {
        static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        std::tm tm{};
        gmtime_r(&t, &tm);
        // Names by hand, not strftime: the format must not follow the locale.
        std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                      tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                      tm.tm_sec);
        cached = t;
    }
    return {text, 29};
}

response_head::response_head(int status, std::uint64_t content_length,
                             std::string_view content_type, bool keep_alive) {
    if (status < 100 || status > 999)
        throw std::invalid_argument("response_head: status must be 100..999");
    if (content_type.size() > max_content_type)
        throw std::invalid_argument("response_head: content type too long");
    for (char c : content_type)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            throw std::invalid_argument("response_head: control byte in the content type");
    char num[24];
    append("HTTP/1.1 ");
    append({num, static_cast<std::size_t>(std::to_chars(num, num + 24, status).ptr - num)});
    append(" ");
    append(reason_phrase(status));
    append("\r\nDate: ");
    append(http_date(std::time(nullptr)));
    append("\r\nContent-Length: ");
    append({num, static_cast<std::size_t>(std::to_chars(num, num + 24, content_length).ptr - num)});
    if (!content_type.empty()) {
        append("\r\nContent-Type: ");
        append(content_type);
    }
    if (!keep_alive) append("\r\nConnection: close");
    append("\r\n\r\n");
}

void response_head::append(std::string_view s) noexcept {
    std::memcpy(buf_.data() + size_, s.data(), s.size()); // the sizes above fit in buf_
    size_ += s.size();
}

} // namespace coronet::http
