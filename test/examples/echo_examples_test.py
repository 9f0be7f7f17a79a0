#!/usr/bin/env python3
"""End-to-end tests of examples/echo_server, echo_client and multiconn_client.

Runs the example binaries as processes on loopback (port 0 only) and on Unix
sockets (in a temporary directory, or abstract names), with one backend forced:

    echo_examples_test.py --server PATH --client PATH [--multiconn PATH]
                          --backend io_uring|epoll

The multiconn_client tests are skipped without --multiconn.

Exits 77 (meson's SKIP) when the backend cannot run on this machine. Every
process call has a timeout, every loop is bounded, and nothing sleeps to
synchronise: the tests wait for the server's "listening on" line.
"""

import os
import re
import selectors
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import example_harness  # noqa: E402
from example_harness import (  # noqa: E402
    EchoPairContract,
    IO_TIMEOUT, ExampleTestMixin, Server, child_env, free_port,
    recv_exactly, run)

ARGS = None  # set in main()

# A host name that cannot exist and fails fast without any network: glibc
# refuses a name with an empty label before sending a DNS query.
MISSING_HOST = "no-such-host..invalid"


def connect(server):
    family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(IO_TIMEOUT)
    s.connect((server.host, server.port))
    return s


def unix_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(IO_TIMEOUT)
    s.connect("\0" + path[1:] if path.startswith("@") else path)
    return s


STATS = re.compile(r"^stats: turns=(?P<turns>\d+) submitted=(?P<submitted>\d+) "
                   r"completions=(?P<completions>\d+) kernel_waits=(?P<kernel_waits>\d+) "
                   r"in_flight=(?P<in_flight>\d+) zero_copy_sends=(?P<zero_copy_sends>\d+) "
                   r"pool_in_use=(?P<pool_in_use>\d+) pool_peak=(?P<pool_peak>\d+) "
                   r"pool_buffers=(?P<pool_buffers>\d+) pool_buffer_size=(?P<pool_buffer_size>\d+)$")


def pattern(n, seed=0):
    """n bytes that are not periodic at any buffer size (so a misplaced chunk shows)."""
    block = bytes((i * 7 + i // 251 + seed * 13) % 256 for i in range(65521))  # prime length
    return (block * (n // len(block) + 1))[:n]


def echo_concurrently(s, payload):
    """Sends `payload` from a thread while reading its echo here; returns what came
    back (at most len(payload) bytes; fewer if the connection ended early)."""
    errors = []

    def sender():
        try:
            s.sendall(payload)
        except OSError as e:
            errors.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    received = bytearray()
    for _ in range(len(payload) + 1):  # every recv returns >= 1 byte or EOF
        if len(received) >= len(payload):
            break
        chunk = s.recv(min(65536, len(payload) - len(received)))
        if not chunk:
            break
        received += chunk
    t.join(IO_TIMEOUT)
    if t.is_alive() or errors:
        raise AssertionError(f"sender did not finish: {errors}")
    return bytes(received)


def abstract_name():
    return f"@coronet-echo-test-{os.getpid()}-{time.monotonic_ns()}"


class EchoExamplesTest(EchoPairContract, ExampleTestMixin, unittest.TestCase):
    server_class = Server
    socket_type = socket.SOCK_STREAM
    maxDiff = 2000

    # --- round trips ---------------------------------------------------------

    def test_seed_python_client(self):
        with Server() as srv:
            HOST, PORT = srv.host, srv.port
            # The seed's echo client, as it is (plus a timeout).
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(IO_TIMEOUT)
                s.connect((HOST, PORT))
                s.sendall(b"Hello, world")
                data = s.recv(1024)
            self.assertEqual(data, b"Hello, world")
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_half_close_echoes_everything_then_eof(self):
        payload = bytes((i * 7 + i // 251) % 256 for i in range(100 * 1024))
        with Server() as srv, connect(srv) as s:
            errors = []

            def send_then_shutdown():
                try:
                    s.sendall(payload)
                    s.shutdown(socket.SHUT_WR)
                except OSError as e:
                    errors.append(e)

            sender = threading.Thread(target=send_then_shutdown, daemon=True)
            sender.start()
            received = bytearray()
            eof = False
            for _ in range(len(payload) + 1):  # every recv returns >= 1 byte or EOF
                chunk = s.recv(65536)
                if not chunk:
                    eof = True
                    break
                received += chunk
                if len(received) > len(payload):
                    break
            sender.join(IO_TIMEOUT)
            self.assertFalse(sender.is_alive(), "sender did not finish")
            self.assertEqual(errors, [])
            self.assertEqual(len(received), len(payload))
            self.assertTrue(bytes(received) == payload, "echoed bytes differ")
            self.assertTrue(eof, "no EOF after the echo")
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_large_message_echoed_intact(self):
        # 1 MiB through the pooled echo: many pool buffers in turn, sent while the
        # client is still sending (a thread), so both directions are full at times.
        payload = pattern(1 << 20)
        with Server() as srv, connect(srv) as s:
            self.assertEqual(echo_concurrently(s, payload), payload)
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_large_messages_on_several_connections_at_once(self):
        payloads = [pattern(256 * 1024, seed=i) for i in range(4)]
        with Server() as srv:
            socks = [connect(srv) for _ in payloads]
            try:
                results = [None] * len(socks)

                def one(i):
                    results[i] = echo_concurrently(socks[i], payloads[i])

                threads = [threading.Thread(target=one, args=(i,), daemon=True)
                           for i in range(len(socks))]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(IO_TIMEOUT * 2)
                    self.assertFalse(t.is_alive(), "a connection did not finish")
                for i, payload in enumerate(payloads):
                    self.assertTrue(results[i] == payload, f"connection {i}: echo differs")
            finally:
                for s in socks:
                    s.close()
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_many_concurrent_clients(self):
        n = 50
        with Server() as srv:
            socks = []
            try:
                for _ in range(n):
                    socks.append(connect(srv))
                messages = [f"client {i} says hello {'x' * i}".encode() for i in range(n)]
                for s, m in zip(socks, messages):  # all connections open at once
                    s.sendall(m)
                replies = {i: b"" for i in range(n)}
                with selectors.DefaultSelector() as sel:
                    for i, s in enumerate(socks):
                        sel.register(s, selectors.EVENT_READ, i)
                    deadline = time.monotonic() + IO_TIMEOUT
                    pending = n
                    while pending and time.monotonic() < deadline:
                        for key, _ in sel.select(deadline - time.monotonic()):
                            i = key.data
                            chunk = socks[i].recv(4096)
                            replies[i] += chunk
                            if not chunk or len(replies[i]) >= len(messages[i]):
                                sel.unregister(socks[i])
                                pending -= 1
                for i in range(n):
                    self.assertEqual(replies[i], messages[i], f"client {i}")
            finally:
                for s in socks:
                    s.close()
            self.assertEqual(srv.stop(), 0, srv.stderr)

    # --- lifecycle -----------------------------------------------------------

    def test_sigterm_exits_0(self):
        with Server() as srv:
            self.assertEqual(srv.stop(signal.SIGTERM), 0, srv.stderr)

    def test_sigint_exits_0(self):
        with Server() as srv:
            self.assertEqual(srv.stop(signal.SIGINT), 0, srv.stderr)

    def signal_with_open_connection(self, sig):
        # An idle connection: the grace period runs out, then it is cancelled.
        with Server(extra=["--grace", "100"]) as srv, connect(srv) as s:
            s.sendall(b"ping")
            self.assertEqual(recv_exactly(s, 4), b"ping")  # the connection is being served
            self.assertEqual(srv.stop(sig), 0, srv.stderr)
            try:
                tail = s.recv(16)
            except ConnectionResetError:
                tail = b""
            self.assertEqual(tail, b"", "the open connection is closed when the server exits")

    def test_graceful_shutdown_lets_a_busy_connection_finish(self):
        with Server(extra=["--grace", "20000"]) as srv, connect(srv) as s:
            s.sendall(b"before")
            self.assertEqual(recv_exactly(s, 6), b"before")
            self.assertTrue(srv.read_line().startswith("backend features: "))
            srv.proc.send_signal(signal.SIGTERM)
            self.assertEqual(srv.read_line(), "shutting down: finishing 1 connection(s)")
            # No new connections are accepted now...
            with self.assertRaises(OSError):
                with socket.create_connection((srv.host, srv.port), timeout=IO_TIMEOUT) as late:
                    late.sendall(b"x")
                    if late.recv(1) == b"":
                        raise ConnectionResetError("closed")
            # ...but the open one is still served until it closes.
            s.sendall(b"after")
            self.assertEqual(recv_exactly(s, 5), b"after")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(s.recv(16), b"")
            start = time.monotonic()
            self.assertEqual(srv.stop(None), 0, srv.stderr)
            self.assertLess(time.monotonic() - start, 15.0, "exited when the connection ended")

    # A busy connection never ends by itself: the client sends and never reads,
    # so the server waits in a send. An idle one was echoed once and waits.
    def busy_connection(self, srv):
        s = connect(srv)
        s.setblocking(False)
        chunk = pattern(65536)
        for _ in range(10_000):  # until the kernel's buffers both ways are full
            try:
                s.send(chunk)
            except BlockingIOError:
                return s
        self.fail("the server kept reading although its echoes were never read")

    def idle_connection(self, srv):
        s = connect(srv)
        s.sendall(b"ping")
        self.assertEqual(recv_exactly(s, 4), b"ping")
        return s

    def shut_down_with(self, grace, signals):
        """Busy and idle connections open, the signals sent in order: returns the
        server (exited) and how long it took from the first signal to exit."""
        extra = ["--grace", str(grace)] if grace is not None else []
        with Server(extra=extra) as srv:
            conns = [self.busy_connection(srv), self.idle_connection(srv)]
            try:
                self.assertTrue(srv.read_line().startswith("backend features: "))
                start = time.monotonic()
                srv.proc.send_signal(signals[0])
                self.assertEqual(srv.read_line(), "shutting down: finishing 2 connection(s)")
                for sig in signals[1:]:
                    srv.proc.send_signal(sig)
                self.assertEqual(srv.stop(None), 0, srv.stderr)
                elapsed = time.monotonic() - start
            finally:
                for c in conns:
                    c.close()
        return srv, elapsed

    def test_default_grace_is_about_a_second(self):
        srv, elapsed = self.shut_down_with(None, [signal.SIGTERM])
        self.assertIn("grace period over: cancelled 2 connection(s)", srv.stdout)
        self.assertGreaterEqual(elapsed, 0.9, "the connections got their grace period")
        self.assertLess(elapsed, 5.0, "the default grace period is short")

    def test_grace_period_over_cancels_busy_and_idle_connections(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(sig=sig):
                srv, elapsed = self.shut_down_with(300, [sig])
                self.assertIn("grace period over: cancelled 2 connection(s)", srv.stdout)
                self.assertGreaterEqual(elapsed, 0.28)

    def test_second_signal_ends_the_grace_period_at_once(self):
        for first, second in ((signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGINT),
                              (signal.SIGTERM, signal.SIGINT)):
            with self.subTest(first=first, second=second):
                srv, elapsed = self.shut_down_with(60_000, [first, second])
                self.assertIn("second signal: cancelled 2 connection(s)", srv.stdout)
                self.assertNotIn("grace period over", srv.stdout)
                self.assertLess(elapsed, 10.0, "a second signal does not wait for the grace")

    def test_idle_server_exits_without_waiting(self):
        with Server(extra=["--grace", "60000"]) as srv:
            start = time.monotonic()
            self.assertEqual(srv.stop(signal.SIGTERM), 0, srv.stderr)
            self.assertLess(time.monotonic() - start, 10.0)
        self.assertIn("shutting down: finishing 0 connection(s)", srv.stdout)
        self.assertNotIn("cancelled", srv.stdout)

    def test_sigterm_with_open_connection_exits_0(self):
        self.signal_with_open_connection(signal.SIGTERM)

    def test_sigint_with_open_connection_exits_0(self):
        self.signal_with_open_connection(signal.SIGINT)

    # --- --stats, --fast-paths, features line ---------------------------------

    def stats_at_exit(self, srv):
        """The counters --stats printed: the last stdout line, after the shutdown line."""
        lines = srv.stdout.splitlines()
        self.assertTrue(lines and lines[-1].startswith("stats: "), srv.stdout)
        self.assertTrue(any(line.startswith("shutting down: ") for line in lines[:-1]),
                        srv.stdout)
        m = STATS.match(lines[-1])
        self.assertIsNotNone(m, lines[-1])
        return {k: int(v) for k, v in m.groupdict().items()}

    def test_stats_at_sigterm_after_traffic(self):
        with Server(extra=["--stats"]) as srv:
            with connect(srv) as s:
                for i in range(20):
                    s.sendall(f"message {i}".encode())
                    self.assertEqual(recv_exactly(s, len(f"message {i}")), f"message {i}".encode())
                payload = pattern(1 << 20)
                self.assertEqual(echo_concurrently(s, payload), payload)
            r = run([ARGS.client, "--port", str(srv.port), "--backend", ARGS.backend,
                     "--count", "10"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(srv.stop(signal.SIGTERM), 0, srv.stderr)
        st = self.stats_at_exit(srv)
        self.assertGreater(st["turns"], 0, st)
        self.assertGreater(st["kernel_waits"], 0, st)
        self.assertGreater(st["completions"], 20, st)  # accepts, receives, sends
        self.assertEqual(st["in_flight"], 0, st)
        self.assertEqual(st["submitted"], st["completions"], st)
        self.assertEqual(st["zero_copy_sends"], 0, "loopback peers are not sent zero-copy "
                                                   f"by default: {st}")
        self.assertEqual(st["pool_in_use"], 0, st)
        self.assertGreaterEqual(st["pool_peak"], 1, st)
        self.assertLessEqual(st["pool_peak"], st["pool_buffers"], st)
        self.assertEqual(st["pool_buffers"], 1024, st)       # loop_options' defaults
        self.assertEqual(st["pool_buffer_size"], 16384, st)

    def test_stats_after_cancelling_busy_and_idle_connections(self):
        # One connection is stuck mid-echo (the client sends and never reads, so the
        # server waits in a send holding a pool buffer), one is idle; the grace
        # period runs out and both are cancelled: nothing may stay in flight or leased.
        with Server(extra=["--stats", "--grace", "100"]) as srv, \
                connect(srv) as busy, connect(srv) as idle:
            idle.sendall(b"ping")
            self.assertEqual(recv_exactly(idle, 4), b"ping")
            busy.setblocking(False)
            chunk = pattern(65536)
            for _ in range(10_000):  # until the kernel's buffers both ways are full
                try:
                    busy.send(chunk)
                except BlockingIOError:
                    break
            else:
                self.fail("the server kept reading although its echoes were never read")
            self.assertEqual(srv.stop(signal.SIGTERM), 0, srv.stderr)
        self.assertIn("grace period over: cancelled 2 connection(s)", srv.stdout)
        st = self.stats_at_exit(srv)
        self.assertEqual(st["in_flight"], 0, st)
        self.assertEqual(st["submitted"], st["completions"], st)
        self.assertEqual(st["pool_in_use"], 0, st)
        self.assertGreaterEqual(st["pool_peak"], 1, st)

    def test_no_stats_line_without_the_flag(self):
        with Server() as srv, connect(srv) as s:
            s.sendall(b"hi")
            self.assertEqual(recv_exactly(s, 2), b"hi")
            s.close()
            self.assertEqual(srv.stop(), 0, srv.stderr)
        self.assertNotIn("stats:", srv.stdout)

    def test_backend_features_line_follows_the_banner(self):
        with Server() as srv:
            line = srv.read_line()
            self.assertRegex(line, r"^backend features: \S")
            if ARGS.backend == "epoll":
                self.assertIn(line.split(": ", 1)[1], ("epoll_pwait2", "epoll_wait"))
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_fast_paths_flag(self):
        fast = ("multishot_accept", "multishot_recv", "provided_buffers", "send_zc")
        for value in ("off", "on"):
            with self.subTest(fast_paths=value), Server(extra=["--fast-paths", value,
                                                               "--stats"]) as srv:
                features = srv.read_line().split()
                if ARGS.backend == "io_uring" and value == "off":
                    self.assertFalse(set(fast) & set(features), features)
                with connect(srv) as s:
                    payload = pattern(300 * 1024)
                    self.assertEqual(echo_concurrently(s, payload), payload)
                r = run([ARGS.client, "--port", str(srv.port), "--backend", ARGS.backend,
                         "--fast-paths", value, "--count", "5"])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(srv.stop(), 0, srv.stderr)
                st = self.stats_at_exit(srv)
                self.assertEqual((st["in_flight"], st["pool_in_use"]), (0, 0), st)

    # --- command line ----------------------------------------------------------

    def test_help_exits_0(self):
        for prog in (ARGS.server, ARGS.client):
            with self.subTest(prog=os.path.basename(prog)):
                r = run([prog, "--help"])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertTrue(r.stdout.startswith("usage: "), r.stdout)
                self.assertEqual(r.stderr, "")

    def test_bad_arguments_exit_2_with_one_line(self):
        cases = [["--bogus"], ["--port", "70000"], ["--port", "abc"], ["--port", ""],
                 ["--port", "-1"], ["--backend", "nope"], ["--host", ""],
                 ["--unix", "/tmp/" + "x" * 200], ["--unix", ""], ["--unix", "@"],
                 ["--connections", "3"], ["--port"], ["--fast-paths", "maybe"],
                 ["--fast-paths", ""], ["--fast-paths"]]
        for prog in (ARGS.server, ARGS.client):
            for args in cases:
                with self.subTest(prog=os.path.basename(prog), args=args):
                    r = run([prog, *args])
                    self.assertEqual(r.returncode, 2, f"stdout={r.stdout!r} stderr={r.stderr!r}")
                    self.assert_one_line(r.stderr, f"{args}")
                    self.assertEqual(r.stdout, "")

    def test_stats_is_a_server_flag(self):
        for prog in filter(None, (ARGS.client, ARGS.multiconn)):
            with self.subTest(prog=os.path.basename(prog)):
                r = run([prog, "--stats"])
                self.assertEqual(r.returncode, 2, f"stdout={r.stdout!r} stderr={r.stderr!r}")
                self.assert_one_line(r.stderr, "--stats")
                self.assertIn("unknown option '--stats'", r.stderr)

    def test_unresolvable_host(self):
        # The server resolves --host while parsing its arguments: exit 2.
        r = run([ARGS.server, "--host", MISSING_HOST, "--port", "0", "--backend", ARGS.backend])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assert_one_line(r.stderr, "server")
        self.assertIn(f"cannot resolve '{MISSING_HOST}'", r.stderr)
        # The client resolves when it connects: exit 1.
        r = run([ARGS.client, "--host", MISSING_HOST, "--port", "9", "--backend", ARGS.backend])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assert_one_line(r.stderr, "client")
        self.assertIn(f"{MISSING_HOST}:9", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_client_connection_refused(self):
        port = free_port()
        r = run([ARGS.client, "--port", str(port), "--backend", ARGS.backend])
        self.assertNotEqual(r.returncode, 0)
        self.assert_one_line(r.stderr, "refused")
        self.assertIn(f"127.0.0.1:{port}", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_server_port_in_use_by_another_echo_server(self):
        with Server() as first:
            second = Server(port=first.port)
            started = second.start()
            if started:
                second.stop(signal.SIGKILL)
            self.assertFalse(started, "a second echo_server listened on the same port "
                                      f"(SO_REUSEPORT?): {second.banner!r}")
            self.assertEqual(second.exited, 1, second.stderr)
            self.assert_one_line(second.stderr, "port in use")
            self.assertEqual(first.stop(), 0, first.stderr)

    # --- by name, Unix sockets ----------------------------------------------

    def test_round_trip_localhost(self):
        with Server("localhost") as srv:  # binds the first address localhost has
            self.assertIn(srv.host, ("127.0.0.1", "::1"), srv.banner)
            r = run([ARGS.client, "--host", "localhost", "--port", str(srv.port),
                     "--backend", ARGS.backend, "--message", "by name"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "Received 'by name'\n")
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_client_by_name_refused_names_the_host(self):
        port = free_port()
        r = run([ARGS.client, "--host", "localhost", "--port", str(port),
                 "--backend", ARGS.backend])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assert_one_line(r.stderr, "refused")
        self.assertIn(f"localhost:{port}", r.stderr)

    def test_unix_path_round_trip_and_cleanup(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "echo.sock")
            with Server(unix=path, extra=["--grace", "1000"]) as srv:
                self.assertTrue(os.path.exists(path))
                r = run([ARGS.client, "--unix", path, "--backend", ARGS.backend,
                         "--count", "50", "--message", "over a Unix socket"])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, "Received 'over a Unix socket'\n"
                                           "50 round trips verified\n")
                with unix_connect(path) as s:  # a plain Python client
                    s.sendall(b"Hello, world")
                    self.assertEqual(recv_exactly(s, 12), b"Hello, world")
                self.assertEqual(srv.stop(), 0, srv.stderr)
            self.assertFalse(os.path.exists(path), "the socket file is removed at exit")

    def test_unix_abstract_round_trip(self):
        name = abstract_name()
        with Server(unix=name) as srv:
            r = run([ARGS.client, "--unix", name, "--backend", ARGS.backend])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "Received 'Hello, world'\n")
            with unix_connect(name) as s:
                s.sendall(b"ping")
                self.assertEqual(recv_exactly(s, 4), b"ping")
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_unix_stale_file_replaced_live_one_kept(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "echo.sock")
            stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            stale.bind(path)  # a crashed server's file: nobody listens
            stale.close()
            with Server(unix=path) as first:
                second = Server(unix=path)
                started = second.start()
                if started:
                    second.stop(signal.SIGKILL)
                self.assertFalse(started, f"a second server took a live socket: {second.banner!r}")
                self.assertEqual(second.exited, 1, second.stderr)
                self.assert_one_line(second.stderr, "in use")
                self.assertIn(path, second.stderr)
                self.assertEqual(first.stop(), 0, first.stderr)

    def test_unix_client_no_server(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "nobody.sock")
            r = run([ARGS.client, "--unix", path, "--backend", ARGS.backend])
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assert_one_line(r.stderr, "no server")
            self.assertIn(path, r.stderr)

    # --- multiconn_client ----------------------------------------------------

    def multiconn(self, *args):
        if not ARGS.multiconn:
            self.skipTest("no --multiconn given")
        return run([ARGS.multiconn, "--backend", ARGS.backend, *args])

    SUMMARY = re.compile(r"^connections: (\d+)/(\d+), messages: (\d+), bytes: (\d+), "
                         r"errors: (\d+), elapsed: \d+\.\d{3} s$")

    def check_summary(self, r, connections, messages, errors=0):
        m = self.SUMMARY.match(r.stdout.strip())
        self.assertIsNotNone(m, r.stdout)
        got = [int(x) for x in m.groups()]
        self.assertEqual(got[0], connections - errors)
        self.assertEqual(got[1], connections)
        self.assertEqual(got[2], (connections - errors) * messages)
        self.assertEqual(got[4], errors)
        return got

    def test_multiconn_many_connections_and_messages(self):
        with Server() as srv:
            r = self.multiconn("--port", str(srv.port), "--connections", "100",
                               "--messages", "20")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, "")
            got = self.check_summary(r, 100, 20)
            expected = sum(len(f"Hello, world #{m} from connection {c}\n")
                           for c in range(1, 101) for m in range(1, 21))
            self.assertEqual(got[3], expected)
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_multiconn_by_name_and_over_unix(self):
        with Server("localhost") as srv:
            r = self.multiconn("--host", "localhost", "--port", str(srv.port),
                               "--connections", "5", "--messages", "3", "--message", "hi")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.check_summary(r, 5, 3)
            self.assertEqual(srv.stop(), 0, srv.stderr)
        name = abstract_name()
        with Server(unix=name) as srv:
            r = self.multiconn("--unix", name, "--connections", "20", "--messages", "5")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.check_summary(r, 20, 5)
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_multiconn_help_and_bad_arguments(self):
        r = self.multiconn("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("usage: "), r.stdout)
        for args in (["--count", "3"], ["--connections", "abc"], ["--messages", "-1"],
                     ["--grace", "1"]):
            with self.subTest(args=args):
                r = self.multiconn(*args)
                self.assertEqual(r.returncode, 2, f"stdout={r.stdout!r} stderr={r.stderr!r}")
                self.assert_one_line(r.stderr, f"{args}")
                self.assertEqual(r.stdout, "")

    def test_multiconn_no_server_counts_errors(self):
        port = free_port()
        r = self.multiconn("--port", str(port), "--connections", "4", "--messages", "2")
        self.assertEqual(r.returncode, 1)
        self.assert_one_line(r.stderr, "refused")
        self.assertIn("refused", r.stderr)
        self.check_summary(r, 4, 2, errors=4)


def main():
    global ARGS
    ARGS, rest = example_harness.parse_args(__doc__, "echo_server", "echo_client",
                                            optional=[("multiconn", "multiconn_client")])
    example_harness.run_tests(rest)


if __name__ == "__main__":
    main()
