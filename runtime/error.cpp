#include "coronet/runtime/error.hpp"

#include <string>

namespace coronet {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "coronet"; }
    std::string message(int c) const override {
        switch (static_cast<error>(c)) {
        case error::timed_out:
            return "deadline expired";
        case error::channel_closed:
            return "channel closed";
        case error::end_of_stream:
            return "end of stream";
        case error::unexpected_eof:
            return "end of stream in the middle of a line or frame";
        case error::line_too_long:
            return "line too long: no delimiter within the limit";
        case error::buffer_too_small:
            return "read larger than the reader's buffer";
        case error::frame_too_large:
            return "frame larger than the limit";
        case error::invalid_json:
            return "message is not valid JSON";
        case error::type_mismatch:
            return "JSON message does not match the expected type";
        case error::loop_closed:
            return "the target event loop has stopped";
        case error::channel_full:
            return "channel full";
        case error::data_pending:
            return "the loop holds data received for the socket: receive it first";
        case error::subscriber_overflow:
            return "subscriber's queue overflowed: it fell behind and was cut off";
        }
        return "unknown coronet error";
    }
    std::error_condition default_error_condition(int c) const noexcept override {
        switch (static_cast<error>(c)) {
        case error::timed_out:
            return std::errc::timed_out;
        case error::frame_too_large:
            return std::errc::message_size;
        default:
            return {c, *this};
        }
    }
};

} // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

} // namespace coronet
