#!/usr/bin/env python3
"""End-to-end tests of examples/http_server, with curl and with raw sockets.

Runs the server as a process on loopback, port 0 only, with one backend forced;
talks to it with real curl (GET, keep-alive, HEAD, static files, escapes) and
with Python's socket module where curl would not send the bytes (pipelining,
malformed and oversized requests, a client that stalls half-way):

    http_examples_test.py --server PATH --client PATH-TO-CURL --backend io_uring|epoll

Exits 77 (meson's SKIP) when the backend cannot run here or curl is missing.
Every process call and socket operation has a timeout, every loop is bounded,
and nothing sleeps to synchronise: the tests wait for the server's "listening
on" line, and for a timeout's effect (a close) with a bounded socket timeout.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import example_harness  # noqa: E402
from example_harness import IO_TIMEOUT, Server, run  # noqa: E402

ARGS = None  # set in main()
HELLO = b"Hello, world!\n"


class Conn:
    """A raw HTTP/1.1 client connection: send bytes, read responses one at a time."""

    def __init__(self, server):
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=IO_TIMEOUT)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"closed; buffered {self.buf!r}")
        self.buf += chunk

    def response(self, head_request=False):
        """(status, headers dict with lower-case names, body) of the next response."""
        for _ in range(10000):  # each turn receives >= 1 byte or raises
            if b"\r\n\r\n" in self.buf:
                break
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, status, _ = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        n = 0 if head_request else int(headers["content-length"])
        for _ in range(n + 1):
            if len(self.buf) >= n:
                break
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(status), headers, body

    def closed(self):
        """True once the server closed the connection (EOF or reset), nothing else sent."""
        try:
            extra = self.sock.recv(65536)
        except ConnectionResetError:
            return not self.buf
        return extra == b"" and not self.buf


def get(path, host="x", extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


class HttpExamplesTest(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = os.path.join(cls.tmp.name, "root")
        os.makedirs(os.path.join(cls.root, "docs"))
        with open(os.path.join(cls.tmp.name, "secret.txt"), "w") as f:
            f.write("the secret outside the root\n")
        with open(os.path.join(cls.root, "index.html"), "w") as f:
            f.write("<h1>index</h1>\n")
        cls.page = bytes(range(256)) * 300  # 76,800 bytes: larger than the writer's buffer
        with open(os.path.join(cls.root, "docs", "data.bin"), "wb") as f:
            f.write(cls.page)
        with open(os.path.join(cls.root, "docs", "a b.txt"), "w") as f:
            f.write("spaced\n")
        os.symlink(os.path.join(cls.tmp.name, "secret.txt"), os.path.join(cls.root, "out"))
        os.symlink("../secret.txt", os.path.join(cls.root, "up"))
        os.symlink("docs/a b.txt", os.path.join(cls.root, "inside"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def server(self, *extra):
        return Server(extra=["--root", self.root, "--grace", "200", *extra])

    def curl(self, srv, *args):
        """curl's exit code, stdout and stderr as text, with CRLFs kept."""
        r = subprocess.run([ARGS.client, "--silent", "--show-error", "--max-time", "15", *args],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           env=example_harness.child_env(), timeout=example_harness.RUN_TIMEOUT)
        return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(errors="replace"),
                                           r.stderr.decode(errors="replace"))

    def url(self, srv, path):
        return f"http://127.0.0.1:{srv.port}{path}"

    # --- curl ---------------------------------------------------------------------

    def test_curl_get_hello(self):
        with self.server() as srv:
            r = self.curl(srv, "--include", self.url(srv, "/hello"))
            self.assertEqual(r.returncode, 0, r.stderr)
            head, _, body = r.stdout.partition("\r\n\r\n")
            self.assertTrue(head.startswith("HTTP/1.1 200 OK\r\n"), head)
            self.assertIn("\r\nContent-Length: 14", head)
            self.assertIn("\r\nContent-Type: text/plain; charset=utf-8", head)
            self.assertRegex(head, r"\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT")
            self.assertEqual(body, HELLO.decode())
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_curl_keep_alive_reuses_one_connection(self):
        with self.server() as srv:
            r = self.curl(srv, "--write-out", "[%{http_code} %{num_connects}]",
                          self.url(srv, "/hello"), self.url(srv, "/docs/a%20b.txt"),
                          self.url(srv, "/hello"))
            self.assertEqual(r.returncode, 0, r.stderr)
            # num_connects counts new connections per transfer: 1, then 0 (reused).
            self.assertEqual(r.stdout, "Hello, world!\n[200 1]spaced\n[200 0]Hello, world!\n[200 0]")
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_curl_head(self):
        with self.server() as srv:
            r = self.curl(srv, "--head", self.url(srv, "/docs/data.bin"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith("HTTP/1.1 200 OK\r\n"), r.stdout)
            self.assertIn(f"\r\nContent-Length: {len(self.page)}\r\n", r.stdout)
            self.assertTrue(r.stdout.endswith("\r\n\r\n"), r.stdout)  # and no body
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_curl_static_files(self):
        with self.server() as srv:
            out = os.path.join(self.tmp.name, "downloaded.bin")
            r = self.curl(srv, "--output", out, "--write-out", "%{http_code} %{content_type}",
                          self.url(srv, "/docs/data.bin"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "200 application/octet-stream")
            with open(out, "rb") as f:
                self.assertEqual(f.read(), self.page)
            for path, body, ctype in (("/", "<h1>index</h1>\n", "text/html; charset=utf-8"),
                                      ("/docs/a%20b.txt?v=1", "spaced\n", "text/plain; charset=utf-8"),
                                      ("/inside", "spaced\n", "application/octet-stream")):
                with self.subTest(path=path):
                    r = self.curl(srv, "--write-out", " %{http_code} %{content_type}", self.url(srv, path))
                    self.assertEqual(r.stdout, f"{body} 200 {ctype}")
            r = self.curl(srv, "--write-out", "%{http_code}", "--output", "/dev/null",
                          self.url(srv, "/missing.txt"))
            self.assertEqual(r.stdout, "404")
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_curl_path_escapes_are_refused(self):
        with self.server() as srv:
            for path in ("/../secret.txt", "/docs/../../secret.txt", "/%2e%2e/secret.txt",
                         "/docs/..%2f..%2fsecret.txt", "/out", "/up", "/%00"):
                with self.subTest(path=path):
                    r = self.curl(srv, "--path-as-is", "--write-out", " %{http_code}",
                                  self.url(srv, path))
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertNotIn("secret", r.stdout)
                    code = int(r.stdout.rsplit(" ", 1)[1])
                    self.assertIn(code, (400, 403, 404), r.stdout)
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_curl_post_echo_and_http10(self):
        with self.server() as srv:
            body = "x" * 5000  # curl sends Expect: 100-continue for this one
            r = self.curl(srv, "--data-binary", body, self.url(srv, "/echo"))
            self.assertEqual((r.returncode, r.stdout), (0, body), r.stderr)
            r = self.curl(srv, "--http1.0", "--include", self.url(srv, "/hello"))
            self.assertIn("\r\nConnection: close\r\n", r.stdout)
            self.assertTrue(r.stdout.endswith("\r\n\r\nHello, world!\n"), r.stdout)
            self.assertEqual(srv.stop(), 0, srv.stderr)

    # --- raw sockets ------------------------------------------------------------------

    def test_pipelined_requests_are_answered_in_order(self):
        with self.server() as srv, Conn(srv) as c:
            c.send(get("/hello") + get("/docs/a%20b.txt") +
                   b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n" +
                   b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde" +
                   get("/missing") + get("/hello", extra="Connection: close\r\n"))
            self.assertEqual(c.response()[::2], (200, HELLO))
            self.assertEqual(c.response()[::2], (200, b"spaced\n"))
            status, headers, body = c.response(head_request=True)
            self.assertEqual((status, headers["content-length"], body), (200, "14", b""))
            self.assertEqual(c.response()[::2], (200, b"abcde"))
            self.assertEqual(c.response()[0], 404)
            status, headers, body = c.response()
            self.assertEqual((status, headers.get("connection"), body), (200, "close", HELLO))
            self.assertTrue(c.closed())
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_request_sent_one_byte_at_a_time(self):
        with self.server() as srv, Conn(srv) as c:
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for b in b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz":
                c.send(bytes([b]))
            self.assertEqual(c.response()[::2], (200, b"xyz"))
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_http10_and_connection_close_end_the_connection(self):
        with self.server() as srv:
            for request in (b"GET /hello HTTP/1.0\r\n\r\n", get("/hello", extra="Connection: close\r\n")):
                with self.subTest(request=request), Conn(srv) as c:
                    c.send(request)
                    status, headers, body = c.response()
                    self.assertEqual((status, headers.get("connection"), body), (200, "close", HELLO))
                    self.assertTrue(c.closed())
            with Conn(srv) as c:  # HTTP/1.0 that asks for keep-alive gets it
                c.send(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + get("/hello"))
                self.assertEqual(c.response()[::2], (200, HELLO))
                self.assertEqual(c.response()[::2], (200, HELLO))
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def check_refused(self, srv, request, status):
        with Conn(srv) as c:
            c.send(request)
            got, headers, body = c.response()
            self.assertEqual(got, status, body)
            self.assertEqual(headers.get("connection"), "close")
            self.assertTrue(body.startswith(str(status).encode()), body)
            self.assertTrue(c.closed())
        with Conn(srv) as c:  # the server goes on
            c.send(get("/hello"))
            self.assertEqual(c.response()[::2], (200, HELLO))

    def stop_and_check_log(self, srv, *messages):
        """SIGTERM: exit 0, and each refused request was logged on stderr."""
        self.assertEqual(srv.stop(), 0, srv.stderr)
        for m in messages:
            self.assertIn(m, srv.stderr)

    def test_malformed_requests_get_400(self):
        with self.server() as srv:
            for request in (b"GARBAGE\r\n\r\n", b"GET /hello HTTP/1.1 extra\r\nHost: x\r\n\r\n",
                            b"GET /hello\r\n\r\n", b"GET  /hello HTTP/1.1\r\nHost: x\r\n\r\n",
                            b"GET /hello HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
                            b"GET /hello HTTP/1.1\r\nHost: x\r\nName : v\r\n\r\n",
                            b"GET /hello HTTP/1.1\r\nHost: x\r\nA: b\r\n folded\r\n\r\n",
                            b"GET /hello HTTP/1.1\r\nHost: x\r\nA: b\x00c\r\n\r\n",
                            b"GET /hello HTTP/1.1\r\n\r\n",  # no Host
                            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n"):
                with self.subTest(request=request):
                    self.check_refused(srv, request, 400)
            self.stop_and_check_log(srv, "malformed HTTP request line", "malformed HTTP header line",
                                    "without exactly one Host", "invalid Content-Length")

    def test_oversized_heads_get_431_and_414(self):
        with self.server() as srv:
            self.check_refused(srv, get("/hello", extra="X-Big: " + "a" * 9000 + "\r\n"), 431)
            many = "".join(f"X-H{i}: v\r\n" for i in range(65))
            self.check_refused(srv, get("/hello", extra=many), 431)
            self.check_refused(srv, get("/" + "a" * 9000), 414)
            self.stop_and_check_log(srv, "head larger than the limit", "more HTTP header lines",
                                    "request line longer")

    def test_oversized_body_gets_413(self):
        with self.server() as srv:
            request = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"z" * 30000
            self.check_refused(srv, request, 413)
            self.stop_and_check_log(srv, "body larger than the limit")

    def test_unsupported_requests(self):
        with self.server() as srv:
            self.check_refused(srv, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                    b"\r\n3\r\nabc\r\n0\r\n\r\n", 501)
            self.check_refused(srv, b"GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", 505)
            self.check_refused(srv, get("/hello", extra="Expect: magic\r\n"), 417)
            with Conn(srv) as c:  # an unknown method is answered, and the connection goes on
                c.send(b"DELETE /index.html HTTP/1.1\r\nHost: x\r\n\r\n" + get("/hello"))
                self.assertEqual(c.response()[0], 501)
                self.assertEqual(c.response()[::2], (200, HELLO))
            self.stop_and_check_log(srv, "Transfer-Encoding is not supported",
                                    "version not supported", "unsupported Expect")

    def test_expect_100_continue(self):
        with self.server() as srv, Conn(srv) as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            for _ in range(100):
                if b"\r\n\r\n" in c.buf:
                    break
                c._fill()
            self.assertEqual(c.buf, b"HTTP/1.1 100 Continue\r\n\r\n")
            c.buf = b""
            c.send(b"ping")
            self.assertEqual(c.response()[::2], (200, b"ping"))
            self.assertEqual(srv.stop(), 0, srv.stderr)

    # --- timeouts -------------------------------------------------------------------

    def test_slow_request_is_closed_with_408(self):
        with self.server("--request-timeout", "300") as srv, Conn(srv) as slow:
            started = time.monotonic()
            slow.send(b"GET /hello HTTP/1.1\r\nHo")  # half a request, then nothing
            with Conn(srv) as other:  # meanwhile another client is served
                other.send(get("/hello"))
                self.assertEqual(other.response()[::2], (200, HELLO))
            status, headers, body = slow.response()  # within IO_TIMEOUT
            self.assertEqual((status, headers.get("connection")), (408, "close"))
            self.assertGreaterEqual(time.monotonic() - started, 0.25)
            self.assertTrue(slow.closed())
            self.stop_and_check_log(srv, "not received in time")

    def test_trickling_request_is_cut_off_by_its_deadline(self):
        with self.server("--request-timeout", "400") as srv, Conn(srv) as c:
            started = time.monotonic()
            c.sock.settimeout(0.1)
            sent = 0
            for b in get("/hello", extra="X-Pad: " + "p" * 200 + "\r\n"):  # bounded: < 250 bytes
                try:
                    c.send(bytes([b]))
                    sent += 1
                    data = c.sock.recv(65536)  # waits 0.1 s per byte, unless the server answers
                    c.buf += data
                    break
                except socket.timeout:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
            c.sock.settimeout(IO_TIMEOUT)
            self.assertEqual(c.response()[0], 408)
            self.assertLess(time.monotonic() - started, 5)  # the deadline, not per read
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_idle_keep_alive_connection_is_closed(self):
        with self.server("--idle-timeout", "1000") as srv, Conn(srv) as c:
            c.send(get("/hello"))
            self.assertEqual(c.response()[::2], (200, HELLO))
            started = time.monotonic()  # at most 1 s after the server's timer started
            self.assertTrue(c.closed())  # no answer, just the close, within IO_TIMEOUT
            self.assertGreaterEqual(time.monotonic() - started, 0.5)  # by the timer, not at once
            self.assertEqual(srv.stop(), 0, srv.stderr)

    # --- command line ---------------------------------------------------------------

    def test_without_root_only_hello(self):
        with Server() as srv, Conn(srv) as c:
            c.send(get("/index.html") + get("/hello"))
            self.assertEqual(c.response()[0], 404)
            self.assertEqual(c.response()[::2], (200, HELLO))
            c.sock.close()
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_bad_flags_exit_2_with_one_line(self):
        for args in (["--bogus"], ["--request-timeout", "0"], ["--idle-timeout", "x"],
                     ["--root", os.path.join(self.tmp.name, "missing")], ["--root"]):
            with self.subTest(args=args):
                r = run([ARGS.server, *args])
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        r = run([ARGS.server, "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--request-timeout", r.stdout)


def main():
    global ARGS
    ARGS, rest = example_harness.parse_args(__doc__, "http_server", "curl")
    if not shutil.which(ARGS.client) and not os.access(ARGS.client, os.X_OK):
        print(f"SKIP: curl not found ({ARGS.client}); ./dev installs it")
        sys.exit(77)
    example_harness.run_tests(rest)


if __name__ == "__main__":
    main()
