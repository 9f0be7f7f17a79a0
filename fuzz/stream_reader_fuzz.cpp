// Fuzz target: stream_reader (net/stream_reader.hpp) under arbitrary packet
// boundaries, injected recv failures and any sequence of reads.
//
// The input chooses the reader's capacity, the stream's chunk sizes (0 = a
// recv that fails with ECONNRESET), a script of operations (read_until with a
// 1-3 byte delimiter, read_line, read_exactly, fill, read_some, consume) and,
// in what is left, the bytes the peer sends. Every result is checked against
// a model that knows the whole input: since the stream ends with EOF, what a
// read returns does not depend on the chunking (except read_some's length), so
// the model predicts each value and each error exactly. Finally the rest is
// drained and every byte handed out must be the input, once, in order.
//
// Run: ./dev fuzz 60 stream_reader   (build-fuzz/fuzz/stream_reader_fuzz)
#include "fuzz/fuzz_util.hpp"

#include <coronet/net/stream_reader.hpp>
#include <coronet/runtime/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <fuzzer/FuzzedDataProvider.h>
#include <string>
#include <string_view>
#include <vector>

using coronet::error;
using fuzz::check;

namespace {

enum class op_kind : std::uint8_t { read_until, read_line, read_exactly, fill, read_some, consume };

struct op {
    op_kind kind;
    std::size_t arg;
    std::string delim; // read_until
};

struct model {
    std::span<const std::byte> in;
    std::size_t off = 0;        // bytes handed out (returned or consumed)
    std::vector<std::byte> out; // those bytes, in order

    std::size_t rem() const { return in.size() - off; }
    std::error_code eof_error() const {
        return make_error_code(rem() == 0 ? error::end_of_stream : error::unexpected_eof);
    }
    void take(std::span<const std::byte> got) {
        check(fuzz::same_bytes(got, in.subspan(off, got.size())), "returned bytes differ");
        out.insert(out.end(), got.begin(), got.end());
        off += got.size();
    }
};

using reader_t = coronet::stream_reader<fuzz::chunked_stream>;

// A read that failed: with the error the model predicts, or with the stream's
// injected failure (only if one happened during the read). Nothing consumed.
template <class R>
void expect_error(const R& r, std::error_code want, std::size_t failures_before,
                  const fuzz::chunked_stream& s) {
    check(!r, "a read succeeded where it must fail");
    if (r.error() == fuzz::injected) {
        check(s.failures > failures_before, "injected error reported without a failed recv");
        return;
    }
    check(r.error() == want, "a read failed with the wrong error");
}

template <class R>
bool injected_failure(const R& r, std::size_t failures_before, const fuzz::chunked_stream& s) {
    if (r || r.error() != fuzz::injected) return false;
    check(s.failures > failures_before, "injected error reported without a failed recv");
    return true;
}

void run_op(const op& o, reader_t& reader, fuzz::chunked_stream& s, model& m) {
    const std::size_t cap = reader.capacity();
    const std::size_t failures = s.failures;
    switch (o.kind) {
    case op_kind::read_until:
    case op_kind::read_line: {
        std::string_view delim = o.kind == op_kind::read_line ? std::string_view("\n") : o.delim;
        auto r = fuzz::run_now(reader.read_until(delim, o.arg));
        if (delim.empty())
            return expect_error(r, std::make_error_code(std::errc::invalid_argument), failures, s);
        const std::size_t limit = std::min(o.arg, cap);
        auto rest = coronet::detail::as_text(m.in.subspan(m.off));
        std::size_t at = rest.find(delim);
        if (at != std::string_view::npos && at + delim.size() <= limit) {
            if (injected_failure(r, failures, s)) return;
            check(r.has_value(), "read_until failed although the delimiter is within the limit");
            check(r->size() == at + delim.size(), "read_until returned the wrong length");
            m.take(std::as_bytes(std::span(r->data(), r->size())));
            return;
        }
        if (m.rem() >= limit)
            return expect_error(r, make_error_code(error::line_too_long), failures, s);
        return expect_error(r, m.eof_error(), failures, s);
    }
    case op_kind::read_exactly:
    case op_kind::fill: {
        bool peek = o.kind == op_kind::fill;
        auto r = fuzz::run_now(peek ? reader.fill(o.arg) : reader.read_exactly(o.arg));
        if (o.arg > cap)
            return expect_error(r, make_error_code(error::buffer_too_small), failures, s);
        if (m.rem() < o.arg) return expect_error(r, m.eof_error(), failures, s);
        if (injected_failure(r, failures, s)) return;
        check(r.has_value(), "read_exactly/fill failed although the bytes exist");
        if (peek) {
            check(r->size() >= o.arg && r->size() <= cap, "fill returned the wrong length");
            check(fuzz::same_bytes(*r, m.in.subspan(m.off, r->size())),
                  "fill returned wrong bytes");
        } else {
            check(r->size() == o.arg, "read_exactly returned the wrong length");
            m.take(*r);
        }
        return;
    }
    case op_kind::read_some: {
        auto r = fuzz::run_now(reader.read_some(o.arg));
        if (o.arg == 0)
            return expect_error(r, std::make_error_code(std::errc::invalid_argument), failures, s);
        if (injected_failure(r, failures, s)) return;
        check(r.has_value(), "read_some failed");
        check(r->size() <= o.arg, "read_some returned more than max");
        check(r->empty() == (m.rem() == 0), "read_some: empty exactly at EOF");
        m.take(*r);
        return;
    }
    case op_kind::consume: {
        auto have = reader.buffered();
        std::size_t n = std::min(o.arg, have.size());
        m.take(have.first(n));
        reader.consume(o.arg);
        return;
    }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider fdp(data, size);
    const std::size_t capacity = fdp.ConsumeIntegralInRange<std::size_t>(1, 300);
    std::vector<std::size_t> chunks(fdp.ConsumeIntegralInRange<std::size_t>(1, 8));
    for (auto& c : chunks)
        c = fdp.ConsumeIntegralInRange<std::size_t>(0, 80);
    std::vector<op> ops(fdp.ConsumeIntegralInRange<std::size_t>(0, 24));
    for (auto& o : ops) {
        o.kind = static_cast<op_kind>(fdp.ConsumeIntegralInRange<int>(0, 5));
        o.arg = fdp.ConsumeIntegralInRange<std::size_t>(0, 320);
        if (fdp.ConsumeBool()) o.arg = reader_t::no_limit;
        if (o.kind == op_kind::read_until)
            o.delim = fdp.ConsumeBytesAsString(fdp.ConsumeIntegralInRange<std::size_t>(0, 3));
    }
    std::vector<std::uint8_t> bytes = fdp.ConsumeRemainingBytes<std::uint8_t>();
    auto input = std::as_bytes(std::span(bytes));

    fuzz::chunked_stream stream(input, chunks);
    reader_t reader(stream, capacity);
    model m{input};
    for (const op& o : ops) {
        run_op(o, reader, stream, m);
        // Invariant: what is buffered is exactly the input after what was handed out.
        auto have = reader.buffered();
        check(have.size() <= capacity, "more buffered than the capacity");
        check(m.off + have.size() == stream.pos,
              "buffered bytes do not follow the handed-out ones");
        check(fuzz::same_bytes(have, input.subspan(m.off, have.size())), "buffered bytes differ");
    }
    // Drain: every recv either fails (bounded by the schedule) or makes progress.
    for (std::size_t guard = 0; guard < input.size() + 64; ++guard) {
        auto r = fuzz::run_now(reader.read_some());
        if (!r) {
            check(r.error() == fuzz::injected, "read_some failed while draining");
            continue;
        }
        if (r->empty()) break;
        m.take(*r);
    }
    check(m.off == input.size() && reader.at_eof(), "the drain did not reach EOF");
    check(fuzz::same_bytes(m.out, input), "bytes lost or duplicated");
    return 0;
}
