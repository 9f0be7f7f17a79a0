// Fuzz target: length-prefixed frames (net/framing.hpp).
//
// 1. Any 4 bytes decode to a length that encodes back to the same 4 bytes.
// 2. recv_message over arbitrary bytes, chunk boundaries and injected recv
//    failures, with a random max_frame and reader capacity: each frame, and
//    each error (end_of_stream, unexpected_eof, frame_too_large,
//    buffer_too_small), is exactly what a model that reads the whole input
//    predicts, and a failed receive consumes nothing.
// 3. Payloads cut from the input, sent with send_message (directly and
//    through a stream_writer), give the wire bytes the format describes, and
//    read back, in any chunking, as the same payloads followed by end_of_stream.
//
// Run: ./dev fuzz 60 framing   (build-fuzz/fuzz/framing_fuzz)
#include "fuzz/fuzz_util.hpp"

#include <coronet/net/framing.hpp>
#include <coronet/runtime/error.hpp>

#include <cstdint>
#include <fuzzer/FuzzedDataProvider.h>
#include <vector>

using coronet::error;
using fuzz::check;

namespace {

using reader_t = coronet::stream_reader<fuzz::chunked_stream>;

std::vector<std::size_t> chunk_sizes(FuzzedDataProvider& fdp) {
    std::vector<std::size_t> chunks(fdp.ConsumeIntegralInRange<std::size_t>(1, 6));
    for (auto& c : chunks)
        c = fdp.ConsumeIntegralInRange<std::size_t>(0, 70);
    return chunks;
}

void header_round_trip(std::span<const std::byte> in) {
    if (in.size() < coronet::frame_header_size) return;
    auto h = in.first<coronet::frame_header_size>();
    std::size_t n = coronet::decode_frame_header(h);
    check(n <= coronet::max_frame_payload, "decoded length out of range");
    auto again = coronet::encode_frame_header(n);
    check(fuzz::same_bytes(again, h), "encode(decode(h)) != h");
}

// Frames from arbitrary bytes, checked against the model.
void receive_any(std::span<const std::byte> in, std::size_t max_frame, std::size_t capacity,
                 std::vector<std::size_t> chunks) {
    fuzz::chunked_stream s(in, std::move(chunks));
    reader_t reader(s, capacity);
    std::size_t off = 0;
    for (std::size_t guard = 0; guard < in.size() + 16; ++guard) {
        const std::size_t failures = s.failures;
        auto r = fuzz::run_now(coronet::recv_message(reader, max_frame));
        if (!r && r.error() == fuzz::injected) {
            check(s.failures > failures, "injected error without a failed recv");
            check(s.pos - reader.buffered().size() == off, "a failed receive consumed bytes");
            continue;
        }
        const std::size_t rem = in.size() - off;
        std::error_code want;
        std::size_t n = 0;
        if (capacity < coronet::frame_header_size) {
            want = error::buffer_too_small; // not even a header fits
        } else if (rem == 0) {
            want = error::end_of_stream;
        } else if (rem < coronet::frame_header_size) {
            want = error::unexpected_eof;
        } else {
            n = coronet::decode_frame_header(in.subspan(off).first<coronet::frame_header_size>());
            if (n > max_frame)
                want = error::frame_too_large;
            else if (n + coronet::frame_header_size > capacity)
                want = error::buffer_too_small;
            else if (rem < coronet::frame_header_size + n)
                want = error::unexpected_eof;
        }
        if (want) {
            check(!r && r.error() == want, "recv_message: wrong outcome for a bad frame");
            check(s.pos - reader.buffered().size() == off, "a failed receive consumed bytes");
            return; // after any of these errors the stream is out of sync (or over)
        }
        check(r.has_value(), "recv_message failed on a valid frame");
        check(fuzz::same_bytes(*r, in.subspan(off + coronet::frame_header_size, n)),
              "recv_message returned the wrong payload");
        off += coronet::frame_header_size + n;
    }
    fuzz::fail("recv_message made no progress");
}

// Payloads sent with send_message, then received back.
void send_and_receive(FuzzedDataProvider& fdp) {
    std::vector<std::vector<std::byte>> payloads(fdp.ConsumeIntegralInRange<std::size_t>(0, 6));
    std::size_t largest = 0;
    for (auto& p : payloads) {
        auto b = fdp.ConsumeBytes<std::uint8_t>(fdp.ConsumeIntegralInRange<std::size_t>(0, 5000));
        p.resize(b.size());
        if (!b.empty()) std::memcpy(p.data(), b.data(), b.size());
        largest = std::max(largest, p.size());
    }
    const bool via_writer = fdp.ConsumeBool();
    const std::size_t writer_capacity = fdp.ConsumeIntegralInRange<std::size_t>(1, 600);
    std::vector<std::byte> none;
    fuzz::chunked_stream out(none, {1});
    std::vector<std::byte> wire;
    {
        coronet::stream_writer<fuzz::chunked_stream> writer(out, writer_capacity);
        for (const auto& p : payloads) {
            auto r = via_writer ? fuzz::run_now(coronet::send_message(writer, p))
                                : fuzz::run_now(coronet::send_message(out, p));
            check(r.has_value(), "send_message failed on a stream that takes everything");
            auto h = coronet::encode_frame_header(p.size());
            wire.insert(wire.end(), h.begin(), h.end());
            wire.insert(wire.end(), p.begin(), p.end());
        }
        check(writer.buffered().empty(), "send_message left bytes in the writer");
    }
    check(fuzz::same_bytes(out.output, wire), "send_message wrote the wrong bytes");

    fuzz::chunked_stream in(wire, chunk_sizes(fdp));
    reader_t reader(in, largest + coronet::frame_header_size);
    auto receive = [&reader, largest] { // injected failures are retried
        auto r = fuzz::run_now(coronet::recv_message(reader, largest));
        for (int attempt = 0; attempt < 16 && !r && r.error() == fuzz::injected; ++attempt)
            r = fuzz::run_now(coronet::recv_message(reader, largest));
        return r;
    };
    for (const auto& p : payloads) {
        auto r = receive();
        check(r.has_value() && fuzz::same_bytes(*r, p), "a sent frame did not come back");
    }
    auto end = receive();
    check(!end && end.error() == error::end_of_stream, "no clean end after the last frame");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider fdp(data, size);
    const bool round_trip = fdp.ConsumeBool();
    if (round_trip) {
        send_and_receive(fdp);
        return 0;
    }
    std::size_t max_frame = fdp.ConsumeIntegralInRange<std::size_t>(0, 600);
    if (fdp.ConsumeBool()) max_frame = coronet::max_frame_payload;
    const std::size_t capacity = fdp.ConsumeIntegralInRange<std::size_t>(1, 700);
    auto chunks = chunk_sizes(fdp);
    std::vector<std::uint8_t> bytes = fdp.ConsumeRemainingBytes<std::uint8_t>();
    auto in = std::as_bytes(std::span(bytes));
    header_round_trip(in);
    receive_any(in, max_frame, capacity, std::move(chunks));
    return 0;
}
