// cli_fuzz: drives the examples' command-line parser (examples/cli.hpp,
// example::parse_args) with arbitrary command lines. It must never crash,
// exit, hang or throw, and what it returns must keep the promises the
// examples make: a usage error is one line naming the program and ending in
// "(see --help)", --help ends with the exit codes, a successful parse holds
// values inside the documented ranges.
//
// Input: the first byte chooses client or server (bit 0) and the extra flags
// (bits 1-7, example::extra); the rest is split at NUL bytes into argv[1..]
// (argv[0] is "fuzz"). Seeds: fuzz/corpus/cli/.
//
// Build and run by hand (libclang-rt-14-dev provides the fuzzer runtime):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -I. \
//       fuzz/cli_fuzz.cpp net/address.cpp net/unix_address.cpp runtime/backend_kind.cpp \
//       runtime/error.cpp -lfmt -o build/cli_fuzz
//   build/cli_fuzz -max_total_time=60 fuzz/corpus/cli
#include "examples/cli.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

void require(bool ok) {
    if (!ok) __builtin_trap(); // a broken promise is a crash the fuzzer reports
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const bool client = (data[0] & 1) != 0;
    const unsigned extras = data[0] >> 1;
    std::vector<std::string> args{"fuzz"};
    std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    while (!rest.empty()) {
        auto nul = rest.find('\0');
        args.emplace_back(rest.substr(0, nul));
        rest.remove_prefix(nul == std::string_view::npos ? rest.size() : nul + 1);
    }
    std::vector<const char*> argv;
    for (const std::string& a : args)
        argv.push_back(a.c_str());

    const example::parsed p = example::parse_args(static_cast<int>(argv.size()), argv.data(),
                                                  "usage: fuzz [flags]\n", client, extras);
    switch (p.what) {
    case example::parsed::usage_error:
        require(p.exit_code() == 2);
        require(p.text.starts_with("fuzz: ") && p.text.ends_with(" (see --help)"));
        require(p.text.find('\n') == std::string::npos); // one line, whatever the input
        break;
    case example::parsed::help:
        require(p.exit_code() == 0);
        require(p.text.starts_with("usage: fuzz [flags]\n"));
        require(p.text.ends_with(example::exit_codes_help(client)));
        break;
    case example::parsed::run: {
        const example::options& o = p.opts;
        require(p.exit_code() == 0 && p.text.empty());
        require(!o.host.empty());
        require(o.host_is_name || o.address.port() == o.port);
        require(o.queue >= 1 && o.queue <= 10'000);
        require(o.connect_timeout.count() >= 1 && o.connect_timeout.count() <= 3'600'000);
        require(o.grace.count() >= 0 && o.grace.count() <= 3'600'000);
        require(o.count <= 1'000'000'000 && o.messages <= 1'000'000'000);
        require(o.connections <= 100'000);
        require(o.count == 1 || (client && !(extras & (example::connections | example::once))));
        require(!o.stats || (extras & example::stats));
        require(o.unix_path.empty() || (extras & example::unix_socket));
        require(!example::endpoint(o).empty());
        break;
    }
    }
    return 0;
}
