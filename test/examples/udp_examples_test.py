#!/usr/bin/env python3
"""End-to-end tests of examples/udp_echo_server and examples/udp_echo_client.

Runs the example binaries as processes on loopback, on port 0 only, with one
backend forced:

    udp_examples_test.py --server PATH --client PATH --backend io_uring|epoll

Exits 77 (meson's SKIP) when the backend cannot run on this machine. Every
process call and socket operation has a timeout, every loop is bounded, and
nothing sleeps to synchronise: the tests wait for the server's "listening on"
line. Loopback does not lose datagrams, so a missing echo is a failure.
"""

import os
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import example_harness  # noqa: E402
from example_harness import (  # noqa: E402
    EchoPairContract,
    IO_TIMEOUT, ExampleTestMixin, child_env, run)

ARGS = None  # set in main()

CLIENT_REPLY_TIMEOUT = 2.0  # udp_echo_client's wait for each echo


def free_udp_port(host="127.0.0.1"):
    """A UDP port nothing is bound to: bind port 0, note the port, close."""
    return example_harness.free_port(host, socket.SOCK_DGRAM)


def udp_socket(host):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(IO_TIMEOUT)
    return s


class Server(example_harness.Server):
    """A udp_echo_server process; leaving `with` kills it if a test did not stop it."""

    def __exit__(self, *exc):
        if self.exited is None:
            self.stop(signal.SIGKILL)


class UdpExamplesTest(EchoPairContract, ExampleTestMixin, unittest.TestCase):
    server_class = Server
    socket_type = socket.SOCK_DGRAM
    maxDiff = 2000

    def echo(self, sock, server, payload):
        """Sends one datagram from `sock` and returns the echoed one."""
        sock.sendto(payload, (server.host, server.port))
        data, peer = sock.recvfrom(65536)
        self.assertEqual(peer[:2], (server.host, server.port))
        return data

    # --- round trips ---------------------------------------------------------

    def test_python_udp_client(self):
        with Server() as srv, udp_socket(srv.host) as s:
            # The seed's client, with SOCK_DGRAM instead of SOCK_STREAM.
            self.assertEqual(self.echo(s, srv, b"Hello, world"), b"Hello, world")
            # Datagram boundaries are kept, including empty and large ones.
            for payload in (b"", b"x", bytes(range(256)) * 4, b"z" * 60000):
                with self.subTest(size=len(payload)):
                    self.assertEqual(self.echo(s, srv, payload), payload)
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_several_python_clients_interleaved(self):
        n = 20
        with Server() as srv:
            socks = [udp_socket(srv.host) for _ in range(n)]
            try:
                for i, s in enumerate(socks):  # all send before any reads
                    s.sendto(f"client {i}".encode(), (srv.host, srv.port))
                for i, s in enumerate(socks):  # each gets its own echo back
                    data, _ = s.recvfrom(1024)
                    self.assertEqual(data, f"client {i}".encode())
            finally:
                for s in socks:
                    s.close()
            self.assertEqual(srv.stop(), 0, srv.stderr)

    # --- lost replies and missing servers ----------------------------------------

    def test_client_without_reply_exits_1_instead_of_hanging(self):
        # A "server" that takes the datagram and never answers: a lost echo.
        with udp_socket("127.0.0.1") as silent:
            silent.bind(("127.0.0.1", 0))
            port = silent.getsockname()[1]
            start = time.monotonic()
            r = run([ARGS.client, "--port", str(port), "--backend", ARGS.backend])
            took = time.monotonic() - start
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assert_one_line(r.stderr, "no reply")
            self.assertIn("no reply", r.stderr)
            self.assertEqual(r.stdout, "")
            self.assertGreaterEqual(took, CLIENT_REPLY_TIMEOUT * 0.9)
            data, _ = silent.recvfrom(1024)
            self.assertEqual(data, b"Hello, world")

    def test_client_port_refused(self):
        port = free_udp_port()
        r = run([ARGS.client, "--port", str(port), "--backend", ARGS.backend])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assert_one_line(r.stderr, "refused")
        self.assertIn(f"127.0.0.1:{port}", r.stderr)
        self.assertEqual(r.stdout, "")

    # --- lifecycle -----------------------------------------------------------

    def test_sigterm_exits_0(self):
        with Server() as srv:
            self.assertEqual(srv.stop(signal.SIGTERM), 0, srv.stderr)

    def test_sigint_exits_0(self):
        with Server() as srv:
            self.assertEqual(srv.stop(signal.SIGINT), 0, srv.stderr)

    def test_sigterm_after_traffic_exits_0(self):
        with Server() as srv, udp_socket(srv.host) as s:
            self.assertEqual(self.echo(s, srv, b"ping"), b"ping")
            self.assertEqual(srv.stop(signal.SIGTERM), 0, srv.stderr)
            self.assertEqual(srv.stderr, "")

    # --- command line ----------------------------------------------------------

    def test_help_exits_0(self):
        for prog in (ARGS.server, ARGS.client):
            with self.subTest(prog=os.path.basename(prog)):
                r = run([prog, "--help"])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertTrue(r.stdout.startswith("usage: udp_echo_"), r.stdout)
                self.assertEqual(r.stderr, "")

    def test_bad_arguments_exit_2_with_one_line(self):
        cases = [["--bogus"], ["--port", "70000"], ["--port", "abc"], ["--port"],
                 ["--backend", "nope"], ["--host", "no-such-host..invalid"]]
        for prog in (ARGS.server, ARGS.client):
            for args in cases:
                with self.subTest(prog=os.path.basename(prog), args=args):
                    r = run([prog, *args])
                    self.assertEqual(r.returncode, 2, f"stdout={r.stdout!r} stderr={r.stderr!r}")
                    self.assert_one_line(r.stderr, f"{args}")
                    self.assertEqual(r.stdout, "")


def main():
    global ARGS
    ARGS, rest = example_harness.parse_args(__doc__, "udp_echo_server", "udp_echo_client")
    example_harness.run_tests(rest)


if __name__ == "__main__":
    main()
