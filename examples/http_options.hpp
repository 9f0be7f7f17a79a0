#pragma once
// http_server's own flags, taken out of argv before cli.hpp parses the rest:
// --root DIR (serve files beneath DIR), --request-timeout MS and
// --idle-timeout MS (http::timeouts; 1..3,600,000). A missing or bad value,
// or a DIR that cannot be opened, is one line and exit 2, as in cli.hpp.

#include "cli.hpp"
#include <coronet/net/http_server.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>

namespace example {

/// One line on stderr, as cli.hpp's usage errors, and exit 2.
[[noreturn]] inline void http_usage_error(const char* argv0, const std::string& what) {
    fmt::print(stderr, "{}: {} (see --help)\n", program_name(argv0), what);
    std::exit(2);
}

struct http_site {
    int root = -1; ///< the --root directory (an O_PATH fd), or -1: no files
    coronet::http::timeouts timeouts;
};

/// Parses and removes this program's flags from argv (argc shrinks).
inline http_site parse_http_flags(int& argc, char** argv) {
    http_site s;
    std::string root;
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag != "--root" && flag != "--request-timeout" && flag != "--idle-timeout") {
            argv[kept++] = argv[i];
        } else if (i + 1 == argc) {
            http_usage_error(argv[0], fmt::format("{} needs a value", flag));
        } else if (flag == "--root") {
            root = argv[++i];
        } else {
            std::string_view text = argv[++i];
            auto v = detail::number<unsigned>(text, 3'600'000);
            if (!v || *v == 0)
                http_usage_error(argv[0], fmt::format("{}: {} is not a number from 1 to 3600000",
                                                      flag, detail::quoted(text)));
            (flag == "--idle-timeout" ? s.timeouts.idle : s.timeouts.request) =
                std::chrono::milliseconds(*v);
        }
    }
    argc = kept;
    if (!root.empty() && (s.root = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        http_usage_error(argv[0],
                         fmt::format("--root: {}: {}", detail::quoted(root), std::strerror(errno)));
    return s;
}

} // namespace example
