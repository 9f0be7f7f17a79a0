#include <coronet/net/http_files.hpp>

#include <cstdlib>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <ostream> // doctest prints std::error_code
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace coronet;
namespace fs = std::filesystem;

TEST_CASE("http files: target_path decodes and keeps the path inside the root") {
    auto path = [](std::string_view t) { return http::target_path(t).value(); };
    CHECK(path("/") == "index.html");
    CHECK(path("/docs/") == "docs/index.html");
    CHECK(path("/a%20b.txt?x=1#frag") == "a b.txt");
    CHECK(path("//a/./b//c") == "a/b/c");
    CHECK(path("/a/.") == "a/index.html");
    CHECK(path("/%41%7a") == "Az");
    CHECK(path("/....") == "....");
    CHECK(path("http://example.com/x/y?q") == "x/y");
    CHECK(path("HTTPS://example.com") == "index.html");
    CHECK(path("http://example.com?q=/etc") == "index.html");
    for (const char* t :
         {"/..", "/../x", "/a/../../x", "/%2e%2e/x", "/a/..%2f..%2fx", "/a/%2E%2E"}) {
        CAPTURE(t);
        CHECK(http::target_path(t).error() == std::errc::permission_denied);
    }
    for (const char* t : {"", "*", "x/y", "example.com:443", "/a%", "/a%4", "/a%zz", "/a%00b"}) {
        CAPTURE(t);
        CHECK(http::target_path(t).error() == std::errc::invalid_argument);
    }
}

TEST_CASE("http files: content types by extension") {
    CHECK(http::content_type_for("index.html") == "text/html; charset=utf-8");
    CHECK(http::content_type_for("a/B.PNG") == "image/png");
    CHECK(http::content_type_for("a.txt") == "text/plain; charset=utf-8");
    CHECK(http::content_type_for("a.tar.gz") == "application/octet-stream");
    CHECK(http::content_type_for("dir.html/file") == "application/octet-stream");
    CHECK(http::content_type_for("noext") == "application/octet-stream");
}

namespace {

struct temp_tree {
    fs::path base;
    int root = -1;
    temp_tree() {
        char tmpl[] = "/tmp/coronet_http_files_XXXXXX";
        base = ::mkdtemp(tmpl);
        fs::create_directories(base / "root" / "sub");
        std::ofstream(base / "secret.txt") << "secret";
        std::ofstream(base / "root" / "a.txt") << "alpha";
        std::ofstream(base / "root" / "sub" / "b.txt") << "beta";
        fs::create_symlink(base / "secret.txt", base / "root" / "abs_out");
        fs::create_symlink("../secret.txt", base / "root" / "rel_out");
        fs::create_symlink("sub/b.txt", base / "root" / "in");
        fs::create_directory_symlink(base, base / "root" / "dir_out");
        ::mkfifo((base / "root" / "fifo").c_str(), 0600);
        root = ::open((base / "root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    ~temp_tree() {
        ::close(root);
        fs::remove_all(base);
    }
};

} // namespace

TEST_CASE("http files: read_file_beneath serves files and never leaves the root") {
    temp_tree t;
    REQUIRE(t.root >= 0);
    CHECK(http::read_file_beneath(t.root, "a.txt", 100).value() == "alpha");
    CHECK(http::read_file_beneath(t.root, "sub/b.txt", 100).value() == "beta");
    CHECK(http::read_file_beneath(t.root, "in", 100).value() == "beta"); // a symlink inside
    CHECK(http::read_file_beneath(t.root, "a.txt", 5).value() == "alpha");
    CHECK(http::read_file_beneath(t.root, "a.txt", 4).error() == std::errc::file_too_large);
    for (const char* escape : {"abs_out", "rel_out", "dir_out/secret.txt", "../secret.txt"}) {
        CAPTURE(escape);
        auto r = http::read_file_beneath(t.root, escape, 100);
        REQUIRE(!r);
        CHECK(r.error() == std::errc::cross_device_link); // openat2's RESOLVE_BENEATH
        CHECK(http::file_status(r.error()) == 403);
    }
    auto missing = http::read_file_beneath(t.root, "nope.txt", 100);
    CHECK(missing.error() == std::errc::no_such_file_or_directory);
    CHECK(http::file_status(missing.error()) == 404);
    CHECK(http::read_file_beneath(t.root, "sub", 100).error() == std::errc::is_a_directory);
    CHECK(http::read_file_beneath(t.root, "fifo", 100).error() == std::errc::is_a_directory);
    CHECK(http::read_file_beneath(t.root, "a.txt/x", 100).error() == std::errc::not_a_directory);
    CHECK(http::file_status(std::make_error_code(std::errc::invalid_argument)) == 400);
    CHECK(http::file_status(std::make_error_code(std::errc::permission_denied)) == 403);
    CHECK(http::file_status(std::make_error_code(std::errc::io_error)) == 500);
}
