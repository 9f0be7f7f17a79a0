// The doctest main shared by every coronet test program.
//
// - Backend gate: when CORONET_BACKEND names a backend this machine cannot run
//   (io_uring blocked by seccomp or kernel.io_uring_disabled, say), the
//   program prints why and exits 77, which meson reports as SKIP.
// - Watchdog: each test case must finish within CORONET_TEST_WATCHDOG seconds
//   (default 60); otherwise the program names the case and exits 124.
#define DOCTEST_CONFIG_IMPLEMENT
#include <coronet/runtime/backend_kind.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <doctest/doctest.h>
#include <unistd.h>

namespace {

char current_case[256] = "?";
unsigned watchdog_seconds = 60;

void on_alarm(int) {
    const char prefix[] = "watchdog: test case exceeded its time limit: ";
    [[maybe_unused]] auto r1 = ::write(2, prefix, sizeof prefix - 1);
    [[maybe_unused]] auto r2 = ::write(2, current_case, std::strlen(current_case));
    [[maybe_unused]] auto r3 = ::write(2, "\n", 1);
    ::_exit(124);
}

struct watchdog : doctest::IReporter {
    explicit watchdog(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData& tc) override {
        std::snprintf(current_case, sizeof current_case, "%s", tc.m_name);
        ::alarm(watchdog_seconds);
    }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override { ::alarm(0); }
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};

} // namespace

DOCTEST_REGISTER_LISTENER("watchdog", 1, watchdog);

int main(int argc, char** argv) {
    if (const char* s = std::getenv("CORONET_TEST_WATCHDOG")) watchdog_seconds = std::atoi(s);
    std::signal(SIGALRM, on_alarm);
    try {
        auto kind = coronet::configured_backend_kind();
        std::string why = coronet::backend_unavailable_reason(kind);
        if (!why.empty()) {
            std::printf("SKIP: backend %s unavailable here: %s\n",
                        std::string(coronet::to_string(kind)).c_str(), why.c_str());
            return 77;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    }
    doctest::Context ctx(argc, argv);
    return ctx.run();
}
