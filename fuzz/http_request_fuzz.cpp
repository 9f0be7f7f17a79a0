// libFuzzer target for coronet::http::request_parser (net/http_request.cpp)
// and target_path (net/http_files.cpp).
//
// Each input is parsed twice: in one call, and in two chunks split at a
// point derived from the data, the first chunk in its own heap copy that is
// freed before the second call (ASan then catches any view left pointing at
// the old bytes). Both must agree on everything; a complete head must keep
// every limit and every view inside the input. Built by hand:
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
//       fuzz/http_request_fuzz.cpp net/http_request.cpp net/http_files.cpp -o http_request_fuzz
//   ./http_request_fuzz -dict=fuzz/http_request.dict fuzz/corpus/http_request
#include <coronet/net/http_files.hpp>
#include <coronet/net/http_request.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

using namespace coronet;

namespace {

// Like assert, but on in every build, and says which check failed.
#define check(ok) ((ok) ? void() : fail(#ok, __LINE__))
[[noreturn]] void fail(const char* what, int line) {
    std::fprintf(stderr, "http_request_fuzz.cpp:%d: check failed: %s\n", line, what);
    std::abort();
}

bool inside(std::string_view part, std::string_view all) {
    return part.empty() ||
           (part.data() >= all.data() && part.data() + part.size() <= all.data() + all.size());
}

void check_request(const http::request& r, std::string_view all, const http::request_limits& lim) {
    check(r.head_size <= all.size() && r.head_size <= lim.max_head);
    check(r.headers.size() <= lim.max_headers && r.content_length <= lim.max_body);
    check(!r.method.empty() && !r.target.empty() && inside(r.method, all) && inside(r.target, all));
    check(r.method.data() + r.method.size() <= all.data() + r.head_size);
    for (const http::header& h : r.headers)
        check(!h.name.empty() && inside(h.name, all) && inside(h.value, all));
    check(r.version_minor == 0 || r.version_minor == 1);
    if (r.expect_continue) check(r.content_length > 0 && r.version_minor == 1);
}

bool same(const http::request& a, const http::request& b) {
    if (a.method != b.method || a.target != b.target || a.version_minor != b.version_minor ||
        a.content_length != b.content_length || a.keep_alive != b.keep_alive ||
        a.expect_continue != b.expect_continue || a.head_size != b.head_size ||
        a.headers.size() != b.headers.size())
        return false;
    for (std::size_t i = 0; i < a.headers.size(); ++i)
        if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value)
            return false;
    return true;
}

void check_path(std::string_view target) {
    auto p = http::target_path(target);
    if (!p) return;
    std::string_view s = *p;
    check(!s.empty() && s.front() != '/' && s.find('\0') == std::string_view::npos);
    for (std::size_t from = 0; from <= s.size();) { // no segment is "..", ".", or empty
        std::size_t slash = std::min(s.find('/', from), s.size());
        std::string_view seg = s.substr(from, slash - from);
        check(seg != ".." && seg != "." && !seg.empty());
        from = slash + 1;
    }
}

void run(std::string_view all, std::size_t cut, const http::request_limits& lim) {
    http::request_parser whole(lim);
    auto one = whole.parse(all);
    if (one && *one) {
        check_request(whole.request(), all, lim);
        check_path(whole.request().target);
    }
    if (!one) check(http::status_of(one.error()) >= 400);

    http::request_parser split(lim);
    auto first_copy = std::make_unique<char[]>(cut + 1);
    std::memcpy(first_copy.get(), all.data(), cut);
    auto first = split.parse(std::string_view(first_copy.get(), cut));
    if (!first || *first) {
        // An error or a whole head within the first chunk: the same in one call.
        check(bool(one) == bool(first));
        if (!one)
            check(one.error() == first.error());
        else
            check(*one && same(whole.request(), split.request()));
        first_copy.reset();            // views into the first chunk must not be used again
        auto again = split.parse(all); // a complete head: only re-pointed at the new bytes
        if (first) check(again && *again && same(whole.request(), split.request()));
        return;
    }
    first_copy.reset();
    auto second = split.parse(all);
    check(bool(one) == bool(second));
    if (!one) {
        check(one.error() == second.error());
    } else {
        check(*one == *second);
        if (*one) check(same(whole.request(), split.request()));
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view all(reinterpret_cast<const char*>(data), size);
    std::size_t cut = 0;
    for (std::size_t i = 0; i < size; i += 7)
        cut = cut * 31 + data[i]; // derived from the data
    cut = size ? cut % (size + 1) : 0;
    run(all, cut, http::request_limits{});
    run(all, cut, {.max_request_line = 40, .max_head = 120, .max_headers = 4, .max_body = 100});
    return 0;
}
