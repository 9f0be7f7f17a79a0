#!/usr/bin/env python3
"""End-to-end tests of the tutorial's first programs (docs/tutorial.md):
examples/tutorial/echo_once and examples/tutorial/hello_client.

    tutorial_examples_test.py --server PATH --client PATH --backend io_uring|epoll

echo_once serves one connection and exits; it is driven by the seeds' own
Python client and by hello_client. Exits 77 (meson's SKIP) when the backend
cannot run here. Loopback and port 0 only; every process call and socket
operation has a timeout, and nothing sleeps to synchronise.
"""

import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import example_harness  # noqa: E402
from example_harness import IO_TIMEOUT, Server, run  # noqa: E402

ARGS = None  # set in main()


class TutorialExamplesTest(unittest.TestCase):
    def test_echo_once_with_the_seeds_python_client(self):
        with Server() as srv:
            srv.read_features()
            HOST, PORT = srv.host, srv.port
            # The seeds' echo client, as it is (plus a timeout).
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(IO_TIMEOUT)
                s.connect((HOST, PORT))
                s.sendall(b"Hello, world")
                data = s.recv(1024)
                self.assertRegex(srv.read_line(), r"^Connected by 127\.0\.0\.1:\d+$")
            self.assertEqual(data, b"Hello, world")
            self.assertEqual(srv.stop(None), 0, srv.stderr)  # exits once the client closes
            self.assertEqual(srv.stderr, "")

    def test_hello_client_against_echo_once(self):
        for message in ("Hello, world", "a longer message, with spaces"):
            with self.subTest(message=message), Server() as srv:
                r = run([ARGS.client, "--port", str(srv.port), "--message", message,
                         "--backend", ARGS.backend])
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                self.assertEqual(r.stdout, f"Received '{message}'\n")
                self.assertEqual(srv.stop(None), 0, srv.stderr)

    def test_echo_once_serves_one_client_only(self):
        with Server() as srv:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT) as s:
                s.sendall(b"ping")
                self.assertEqual(s.recv(16), b"ping")
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(s.recv(16), b"", "EOF once our side is closed")
            self.assertEqual(srv.stop(None), 0, srv.stderr)
        with socket.socket() as s:  # nothing listens there any more
            s.settimeout(IO_TIMEOUT)
            self.assertNotEqual(s.connect_ex(("127.0.0.1", srv.port)), 0)


def backend_gate():
    """Exits 77 when the backend cannot run here (echo_once exits after one client)."""
    srv = Server()
    if not srv.start():
        if srv.exited == 1 and "unavailable" in srv.stderr:
            print(f"SKIP: backend {ARGS.backend} unavailable: {srv.stderr.strip()}")
            sys.exit(77)
        print(f"echo_once exited {srv.exited} before listening: {srv.stderr.strip()}",
              file=sys.stderr)
        sys.exit(1)
    socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT).close()
    if srv.stop(None) != 0:
        print(f"echo_once exited {srv.exited}: {srv.stderr.strip()}", file=sys.stderr)
        sys.exit(1)


def main():
    global ARGS
    ARGS, rest = example_harness.parse_args(__doc__, "echo_once", "hello_client")
    backend_gate()
    unittest.main(module="__main__", argv=[sys.argv[0], "-v", *rest])


if __name__ == "__main__":
    main()
