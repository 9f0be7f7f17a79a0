// Fuzz target: the object layer's decoding (net/object_stream.hpp), on the
// types examples/object_server decodes from the network.
//
// The input is a payload. Decoded as dynamic JSON and as an example::order it
// must either fail with invalid_json / type_mismatch or give a value that
// encodes and decodes back to itself; the server's answer to a decoded order
// (make_receipt) must encode. Framed and received with recv_object in
// arbitrary chunks, it must give the same outcome as decoding it directly.
//
// Run: ./dev fuzz 60 object_stream   (build-fuzz/fuzz/object_stream_fuzz)
#include "examples/records.hpp"
#include "fuzz/fuzz_util.hpp"

#include <coronet/net/object_stream.hpp>
#include <coronet/runtime/error.hpp>

#include <cstdint>
#include <vector>

using coronet::error;
using fuzz::check;

namespace {

bool documented(std::error_code e) {
    return e == error::invalid_json || e == error::type_mismatch;
}

std::span<const std::byte> bytes_of(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

void dynamic_round_trip(std::span<const std::byte> in) {
    auto j = coronet::decode_object<nlohmann::json>(in);
    if (!j) return check(j.error() == error::invalid_json, "json: undocumented error");
    auto text = coronet::encode_object(*j);
    check(text.has_value(), "a parsed JSON value does not encode");
    auto again = coronet::decode_object<nlohmann::json>(bytes_of(*text));
    check(again.has_value() && *again == *j, "json: decode(encode(j)) != j");
}

void order_round_trip(std::span<const std::byte> in) {
    auto o = coronet::decode_object<example::order>(in);
    if (!o) return check(documented(o.error()), "order: undocumented error");
    auto text = coronet::encode_object(*o);
    check(text.has_value(), "a decoded order does not encode");
    auto again = coronet::decode_object<example::order>(bytes_of(*text));
    check(again.has_value(), "an encoded order does not decode");
    check(coronet::encode_object(*again).value() == *text, "order: round trip not stable");
    check(coronet::encode_object(example::make_receipt(*o)).has_value(), "receipt does not encode");
}

void framed(std::span<const std::byte> in, std::vector<std::size_t> chunks) {
    std::vector<std::byte> wire;
    auto h = coronet::encode_frame_header(in.size());
    wire.insert(wire.end(), h.begin(), h.end());
    wire.insert(wire.end(), in.begin(), in.end());
    fuzz::chunked_stream s(wire, std::move(chunks));
    coronet::stream_reader reader(s, wire.size());
    coronet::result<example::order> got = make_error_code(error::end_of_stream);
    for (int attempt = 0; attempt < 16; ++attempt) { // injected failures are retried
        got = fuzz::run_now(coronet::recv_object<example::order>(reader, in.size()));
        if (got || got.error() != fuzz::injected) break;
    }
    auto direct = coronet::decode_object<example::order>(in);
    check(got.has_value() == direct.has_value(), "framed and direct decoding disagree");
    if (got)
        check(coronet::encode_object(*got).value() == coronet::encode_object(*direct).value(),
              "framed and direct decoding give different orders");
    else
        check(got.error() == direct.error(), "framed and direct decoding fail differently");
    check(reader.buffered().empty(), "a whole frame was read but bytes are left");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = std::as_bytes(std::span(data, size));
    dynamic_round_trip(in);
    order_round_trip(in);
    // Chunk sizes from the input's own bytes: cheap and varied.
    std::vector<std::size_t> chunks;
    for (std::size_t i = 0; i < std::min<std::size_t>(size, 4); ++i)
        chunks.push_back(data[i] % 40);
    framed(in, std::move(chunks));
    return 0;
}
