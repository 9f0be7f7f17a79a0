#!/usr/bin/env python3
"""End-to-end tests of examples/chat_server with real clients: nc, socat and Python sockets.

    chat_examples_test.py --server PATH --backend io_uring|epoll

Runs the server as a process on loopback (port 0 only) with one backend forced;
exits 77 (meson's SKIP) when the backend cannot run here. The slow-client tests
make a client stop reading (a Python socket that never calls recv, or an nc
whose stdout nobody reads) while another keeps chatting: the others must get
every line, and the slow one must meet the documented policy (cut off, the rest
of the line in flight, "* disconnected: too slow (N lines behind)", EOF). They
synchronise on the server's "NAME disconnected: ..." line on stdout: nothing
sleeps, and every loop is bounded.
"""

import os
import re
import signal
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import example_harness  # noqa: E402
from example_harness import (  # noqa: E402
    FeatureServer, IO_TIMEOUT, LineClient, ToolClient, run, tool_missing)

ARGS = None  # set in main()

MAX_LINES = 200_000  # bound on the lines a test sends to make a slow client overflow
FILLER = "x" * 180


ChatServer = FeatureServer  # prints the backend features line after the banner


def join(port, name, **kw):
    """A Python client that has joined as `name`; returns (client, the greeting line)."""
    c = LineClient(port, **kw)
    assert c.line() == "* welcome! your name?"
    c.send(name + "\n")
    return c, c.line()


class ChatExamplesTest(unittest.TestCase):
    maxDiff = 4000

    def server(self, *extra):
        return ChatServer(extra=extra)

    def test_nc_and_socat_clients_chat(self):
        for tool in ("nc", "socat"):
            if tool_missing(tool):
                self.skipTest(tool_missing(tool))
        with self.server() as srv:
            port = str(srv.port)
            # nc -C sends "\r\n" line ends, as telnet would: the server trims them.
            with ToolClient(["nc", "-N", "-C", "127.0.0.1", port]) as bob, \
                    ToolClient(["socat", "-", f"TCP:127.0.0.1:{port}"]) as ann:
                self.assertEqual(bob.line(), "* welcome! your name?")
                bob.send("bob\n")
                self.assertEqual(bob.line(), "* hi bob; here: ")
                self.assertEqual(ann.line(), "* welcome! your name?")
                ann.send("ann\n")
                self.assertEqual(ann.line(), "* hi ann; here: bob")
                self.assertEqual(bob.line(), "* ann joined")
                ann.send("hello from socat\n")
                self.assertEqual(bob.line(), "ann: hello from socat")
                bob.send("hi ann, nc here\n")
                self.assertEqual(ann.line(), "bob: hi ann, nc here")
                code, rest = ann.finish()  # stdin EOF: socat half-closes, the server ends it
                self.assertEqual((code, rest), (0, ""))
                self.assertEqual(bob.line(), "* ann left")
                code, rest = bob.finish()
                self.assertEqual((code, rest), (0, ""))
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_names_taken_or_invalid_are_asked_again(self):
        with self.server() as srv, LineClient(srv.port) as a, LineClient(srv.port) as b:
            self.assertEqual(a.line(), "* welcome! your name?")
            a.send("alice\n")
            self.assertEqual(a.line(), "* hi alice; here: ")
            self.assertEqual(b.line(), "* welcome! your name?")
            for bad in ("", "two words", "x" * 21, "semi;colon"):
                b.send(bad + "\n")
                self.assertEqual(b.line(), "* 1-20 letters, digits, - or _; your name?", bad)
            b.send("alice\n")
            self.assertEqual(b.line(), "* alice is taken; your name?")
            b.send("alice_2\n")
            self.assertEqual(b.line(), "* hi alice_2; here: alice")
            self.assertEqual(a.line(), "* alice_2 joined")
            b.send("hi\n")
            self.assertEqual(a.line(), "alice_2: hi")
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_a_line_too_long_ends_that_connection_only(self):
        with self.server() as srv:
            a, _ = join(srv.port, "alice")
            b, _ = join(srv.port, "bob")
            self.assertEqual(a.line(), "* bob joined")
            b.send("y" * 2000 + "\n")
            self.assertEqual(b.line(), "* disconnected: line too long")
            self.assertIsNone(b.line(), "the connection is closed after the last line")
            self.assertEqual(a.line(), "* bob left: line too long")
            a.send("still here\n")  # the room goes on
            c, greeting = join(srv.port, "bob")  # and the name is free again
            self.assertEqual(greeting, "* hi bob; here: alice")
            for x in (a, b, c):
                x.close()
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def flood_until_cut_off(self, srv, sender, victim):
        """`sender` chats until the server reports `victim` cut off; returns lines sent."""
        wanted = f"{victim} disconnected: too slow (16 lines behind)"
        for n in range(MAX_LINES):
            sender.send(f"{n} {FILLER}\n")
            if n % 50 == 49 and srv.line_ready():
                self.assertEqual(srv.read_line(), wanted)
                return n + 1
        self.fail(f"{victim} was not cut off after {MAX_LINES} lines")

    def check_slow_output(self, text, victim_first_line=0):
        """The slow client's bytes: complete, consecutive lines, then the goodbye, then EOF."""
        lines = text.split("\n")
        self.assertEqual(lines[-1], "", "output ends with a complete line")
        self.assertEqual(lines[-2], "* disconnected: too slow (16 lines behind)")
        chat = lines[:-2]
        self.assertGreater(len(chat), 0)
        for i, line in enumerate(chat):
            self.assertEqual(line, f"alice: {victim_first_line + i} {FILLER}",
                             f"line {i} of the slow client's output")

    def test_slow_client_is_cut_off_and_the_others_keep_receiving(self):
        with self.server("--queue", "16") as srv:
            alice, _ = join(srv.port, "alice")
            bob, _ = join(srv.port, "bob")
            slow, greeting = join(srv.port, "slow", rcvbuf=4096)
            self.assertEqual(greeting, "* hi slow; here: alice, bob")
            self.assertEqual(alice.line(), "* bob joined")
            self.assertEqual(alice.line(), "* slow joined")
            self.assertEqual(bob.line(), "* slow joined")
            got, errors = [], []

            def bob_reads():  # bob keeps reading everything, in a thread
                try:
                    for _ in range(MAX_LINES + 10):
                        line = bob.line()
                        got.append(line)
                        if line in (None, "alice: done"):
                            return
                except AssertionError as e:
                    errors.append(e)

            reader = threading.Thread(target=bob_reads, daemon=True)
            reader.start()
            sent = self.flood_until_cut_off(srv, alice, "slow")  # slow never calls recv
            text = slow.reader.rest().decode()  # now it reads: what it was owed, then EOF
            self.check_slow_output(text)
            alice.send("done\n")
            reader.join(IO_TIMEOUT)
            self.assertFalse(reader.is_alive() or errors, errors)
            left = "* slow left: too slow (16 lines behind)"
            self.assertIn(left, got)
            got.remove(left)
            self.assertEqual(got, [f"alice: {n} {FILLER}" for n in range(sent)] + ["alice: done"])
            for x in (alice, bob, slow):
                x.close()
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_a_cut_off_client_that_never_reads_is_closed_within_5_s(self):
        with self.server("--queue", "16") as srv:
            alice, _ = join(srv.port, "alice")
            slow, _ = join(srv.port, "slow", rcvbuf=4096)
            self.assertEqual(alice.line(), "* slow joined")
            self.flood_until_cut_off(srv, alice, "slow")
            # slow never reads: the goodbye cannot be delivered, and after 5 s the
            # server gives up and closes the connection.
            self.assertEqual(alice.line(timeout=15), "* slow left: too slow (16 lines behind)")
            alice.close()
            slow.close()
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_slow_nc_client_whose_output_nobody_reads(self):
        if tool_missing("nc"):
            self.skipTest(tool_missing("nc"))
        with self.server("--queue", "16") as srv:
            alice, _ = join(srv.port, "alice")
            # -I: a small receive buffer. Nobody reads nc's stdout, so once that pipe is
            # full nc stops reading the socket: a real client that stopped reading.
            with ToolClient(["nc", "-N", "-I", "4096", "127.0.0.1", str(srv.port)]) as nc:
                self.assertEqual(nc.line(), "* welcome! your name?")
                nc.send("nc-slow\n")
                self.assertEqual(nc.line(), "* hi nc-slow; here: alice")
                self.assertEqual(alice.line(), "* nc-slow joined")
                self.flood_until_cut_off(srv, alice, "nc-slow")
                code, rest = nc.finish()
                self.assertEqual(code, 0, nc.proc.stderr)
                self.check_slow_output(rest)
            for _ in range(3):  # alice gets the notice (after nothing else: she sent all)
                line = alice.line()
                if line == "* nc-slow left: too slow (16 lines behind)":
                    break
            else:
                self.fail("alice was not told that nc-slow left")
            alice.close()
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_sigterm_tells_everyone_then_exits_0(self):
        with self.server() as srv:
            a, _ = join(srv.port, "alice")
            b, _ = join(srv.port, "bob")
            self.assertEqual(a.line(), "* bob joined")
            srv.proc.send_signal(signal.SIGTERM)
            for c in (a, b):
                self.assertEqual(c.line(), "* server shutting down")
                self.assertIsNone(c.line(), "closed after the last line")
            self.assertEqual(srv.stop(None), 0, srv.stderr)
            for c in (a, b):
                c.close()

    def test_help_and_bad_flags(self):
        r = run([ARGS.server, "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("usage: chat_server"), r.stdout)
        self.assertIn("Exit status: 0", r.stdout)
        for args in (["--queue", "0"], ["--queue", "x"], ["--queue", "10001"], ["--queue"],
                     ["--count", "3"]):
            with self.subTest(args=args):
                r = run([ARGS.server, *args])
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertRegex(r.stderr, r"^chat_server: .*(--queue|--count)")


def main():
    global ARGS
    ARGS, rest = example_harness.parse_args(__doc__, "chat_server", None)
    example_harness.run_tests(rest)


if __name__ == "__main__":
    main()
