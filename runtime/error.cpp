#include "runtime/error.hpp"

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
        }
        return "unknown coronet error";
    }
    std::error_condition default_error_condition(int c) const noexcept override {
        if (static_cast<error>(c) == error::timed_out) return std::errc::timed_out;
        return {c, *this};
    }
};

} // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

} // namespace coronet
