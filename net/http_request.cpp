#include "coronet/net/http_request.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace coronet::http {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "coronet.http"; }
    std::string message(int c) const override {
        switch (static_cast<request_error>(c)) {
        case request_error::bad_request_line:
            return "malformed HTTP request line";
        case request_error::bad_header:
            return "malformed HTTP header line";
        case request_error::bad_host:
            return "HTTP/1.1 request without exactly one Host header";
        case request_error::bad_content_length:
            return "invalid Content-Length";
        case request_error::request_line_too_long:
            return "HTTP request line longer than the limit";
        case request_error::headers_too_large:
            return "HTTP request head larger than the limit";
        case request_error::too_many_headers:
            return "more HTTP header lines than the limit";
        case request_error::body_too_large:
            return "HTTP request body larger than the limit";
        case request_error::unsupported_transfer_coding:
            return "Transfer-Encoding is not supported (send Content-Length)";
        case request_error::unsupported_expectation:
            return "unsupported Expect header";
        case request_error::unsupported_version:
            return "HTTP version not supported";
        case request_error::request_timeout:
            return "HTTP request not received in time";
        }
        return "unknown HTTP request error";
    }
};

bool is_tchar(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

char lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Each comma-separated element of a header value, trimmed (empty ones skipped).
template <class F>
void for_each_element(std::string_view list, F f) {
    while (!list.empty()) {
        std::size_t comma = std::min(list.find(','), list.size());
        if (auto item = trim(list.substr(0, comma)); !item.empty()) f(item);
        list.remove_prefix(std::min(comma + 1, list.size()));
    }
}

} // namespace

const std::error_category& request_error_category() noexcept {
    static const category instance;
    return instance;
}

int status_of(std::error_code e) noexcept {
    if (e.category() != request_error_category()) return 0;
    switch (static_cast<request_error>(e.value())) {
    case request_error::request_line_too_long:
        return 414;
    case request_error::headers_too_large:
    case request_error::too_many_headers:
        return 431;
    case request_error::body_too_large:
        return 413;
    case request_error::unsupported_transfer_coding:
        return 501;
    case request_error::unsupported_expectation:
        return 417;
    case request_error::unsupported_version:
        return 505;
    case request_error::request_timeout:
        return 408;
    default:
        return 400;
    }
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

std::optional<std::string_view> request::find(std::string_view name) const noexcept {
    for (const header& h : headers)
        if (iequals(h.name, name)) return h.value;
    return std::nullopt;
}

request_parser::request_parser(request_limits limits) : limits_(limits) {
    if (!limits.max_request_line || !limits.max_head || !limits.max_headers)
        throw std::invalid_argument("request_parser: limits must be at least 1");
    limits_.max_head = std::min<std::size_t>(limits_.max_head, UINT32_MAX); // 32-bit offsets
    limits_.max_body = std::min<std::uint64_t>(limits_.max_body, std::uint64_t{1} << 59);
    fields_.reserve(limits.max_headers);
    headers_.reserve(limits.max_headers);
}

void request_parser::reset() noexcept {
    fields_.clear();
    headers_.clear();
    req_ = {};
    line_start_ = method_size_ = target_at_ = target_size_ = 0;
    have_request_line_ = complete_ = false;
    error_ = {};
}

std::error_code request_parser::fail(request_error e) noexcept {
    error_ = e;
    return error_;
}

result<bool> request_parser::parse(std::string_view data) {
    if (error_) return error_;
    if (complete_) {
        if (data.size() < req_.head_size) throw std::logic_error("request_parser: head shrank");
        point_views(data);
        return true;
    }
    // Only the first max_head bytes can hold the head; lines are scanned once.
    const std::string_view window = data.substr(0, std::min(data.size(), limits_.max_head));
    for (;;) {
        std::size_t nl = window.find('\n', line_start_);
        if (nl == std::string_view::npos) {
            // Only bytes inside the window count, so that the error does not depend on
            // how the bytes were split between calls (found by fuzz/http_request_fuzz).
            if (!have_request_line_ && window.size() - line_start_ >= limits_.max_request_line)
                return fail(request_error::request_line_too_long);
            if (data.size() >= limits_.max_head) return fail(request_error::headers_too_large);
            return false;
        }
        const std::size_t at = line_start_;
        std::string_view line = window.substr(at, nl - at);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        line_start_ = nl + 1;
        std::error_code e;
        if (!have_request_line_) {
            if (line.empty()) continue; // empty lines before a request are ignored
            if (nl + 1 - at > limits_.max_request_line)
                return fail(request_error::request_line_too_long);
            e = request_line(line, at);
        } else if (line.empty()) {
            e = finish(data);
            if (!e) return true;
        } else {
            e = header_line(line, at);
        }
        if (e) return error_ = e;
    }
}

std::error_code request_parser::request_line(std::string_view line, std::size_t at) noexcept {
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1 || !is_token(line.substr(0, sp1)))
        return request_error::bad_request_line;
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    for (char c : target)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return request_error::bad_request_line;
    const std::string_view v = line.substr(sp2 + 1); // "HTTP/1.1"
    if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return request_error::bad_request_line;
    if (v[5] != '1') return request_error::unsupported_version;
    req_.version_minor = v[7] == '0' ? 0 : 1;
    method_size_ = sp1;
    target_at_ = at + sp1 + 1;
    target_size_ = target.size();
    have_request_line_ = true;
    return {};
}

std::error_code request_parser::header_line(std::string_view line, std::size_t at) noexcept {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
        return request_error::bad_header; // also obs-fold and space before the colon
    std::string_view value = line.substr(colon + 1);
    for (char c : value)
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
            return request_error::bad_header;
    const std::string_view trimmed = trim(value);
    if (fields_.size() == limits_.max_headers) return request_error::too_many_headers;
    const auto value_at = at + colon + 1 + static_cast<std::size_t>(trimmed.data() - value.data());
    fields_.push_back({static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(colon),
                       static_cast<std::uint32_t>(value_at),
                       static_cast<std::uint32_t>(trimmed.size())});
    return {};
}

void request_parser::point_views(std::string_view data) noexcept {
    headers_.clear();
    for (const field& f : fields_)
        headers_.push_back({data.substr(f.name, f.name_size), data.substr(f.value, f.value_size)});
    req_.method = data.substr(target_at_ - method_size_ - 1, method_size_);
    req_.target = data.substr(target_at_, target_size_);
    req_.headers = headers_;
}

std::error_code request_parser::finish(std::string_view data) noexcept {
    req_.head_size = line_start_;
    point_views(data);
    const bool v11 = req_.version_minor >= 1;
    int hosts = 0;
    bool transfer_coding = false, close = false, keep_alive = false, expect = false;
    std::optional<std::uint64_t> length; // capped at max_body + 1
    for (const header& h : headers_) {
        if (iequals(h.name, "host")) {
            ++hosts;
        } else if (iequals(h.name, "content-length")) {
            if (h.value.empty()) return request_error::bad_content_length;
            std::uint64_t n = 0;
            for (char c : h.value) {
                if (c < '0' || c > '9') return request_error::bad_content_length;
                n = std::min<std::uint64_t>(n * 10 + static_cast<unsigned>(c - '0'),
                                            limits_.max_body + 1); // no overflow: max_body <= 2^59
            }
            if (length && *length != n) return request_error::bad_content_length;
            length = n;
        } else if (iequals(h.name, "transfer-encoding")) {
            transfer_coding = true;
        } else if (iequals(h.name, "connection")) {
            for_each_element(h.value, [&](std::string_view o) {
                close = close || iequals(o, "close");
                keep_alive = keep_alive || iequals(o, "keep-alive");
            });
        } else if (iequals(h.name, "expect") && v11) { // HTTP/1.0 ignores Expect
            if (!iequals(h.value, "100-continue")) return request_error::unsupported_expectation;
            expect = true;
        }
    }
    if (hosts > 1 || (v11 && hosts != 1)) return request_error::bad_host;
    if (transfer_coding) return request_error::unsupported_transfer_coding;
    req_.content_length = length.value_or(0);
    if (req_.content_length > limits_.max_body) return request_error::body_too_large;
    req_.keep_alive = !close && (v11 || keep_alive);
    req_.expect_continue = expect && req_.content_length > 0;
    complete_ = true;
    return {};
}

} // namespace coronet::http
