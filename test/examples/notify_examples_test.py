#!/usr/bin/env python3
"""End-to-end tests of examples/notify_server with real clients: nc, socat and Python sockets.

    notify_examples_test.py --server PATH --backend io_uring|epoll

Runs the server as a process on loopback (port 0 only) with one backend forced;
exits 77 (meson's SKIP) when the backend cannot run here. The slow-subscriber
test makes a subscriber stop reading while a publisher goes on: the other
subscriber must get every event, the publisher's "ok N" replies must show the
slow one's events being dropped (never a stall), and when the slow one reads
again it must get a prefix of the events, "* missed N events" with N exactly
the number it lost, then the next event. Publishers wait for each reply, so
nothing sleeps, and every loop is bounded.
"""

import os
import signal
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import example_harness  # noqa: E402
from example_harness import (  # noqa: E402
    FeatureServer, IO_TIMEOUT, LineClient, ToolClient, run, tool_missing)

ARGS = None  # set in main()

MAX_EVENTS = 200_000  # bound on the events a test publishes to make a subscriber overflow
FILLER = "y" * 150


NotifyServer = FeatureServer  # prints the backend features line after the banner


def subscriber(port, topic, **kw):
    c = LineClient(port, **kw)
    c.send(f"sub {topic}\n")
    assert c.line() == f"* subscribed to {topic}"
    return c


def publish(pub, topic, text):
    """Publishes one event and returns N from the "ok N" reply."""
    pub.send(f"pub {topic} {text}\n")
    reply = pub.line()
    assert reply.startswith("ok "), reply
    return int(reply[3:])


class NotifyExamplesTest(unittest.TestCase):
    maxDiff = 4000

    def test_nc_subscribers_and_a_socat_publisher(self):
        for tool in ("nc", "socat"):
            if tool_missing(tool):
                self.skipTest(tool_missing(tool))
        with NotifyServer(extra=()) as srv:
            port = str(srv.port)
            with ToolClient(["nc", "-N", "127.0.0.1", port]) as news1, \
                    ToolClient(["nc", "-N", "-C", "127.0.0.1", port]) as news2, \
                    ToolClient(["nc", "-N", "127.0.0.1", port]) as weather, \
                    ToolClient(["socat", "-", f"TCP:127.0.0.1:{port}"]) as pub:
                for client, topic in ((news1, "news"), (news2, "news"), (weather, "weather")):
                    client.send(f"sub {topic}\n")
                    self.assertEqual(client.line(), f"* subscribed to {topic}")
                pub.send("pub news coronet 0.1 is out\n")
                self.assertEqual(pub.line(), "ok 2")
                pub.send("pub sports nobody listens\n")
                self.assertEqual(pub.line(), "ok 0")
                pub.send("pub weather sunny\n")
                self.assertEqual(pub.line(), "ok 1")
                for client in (news1, news2):
                    self.assertEqual(client.line(), "news coronet 0.1 is out")
                self.assertEqual(weather.line(), "weather sunny")  # and no news before it
                news1.send("anything a subscriber sends is ignored\n")
                pub.send("pub news second\n")
                self.assertEqual(pub.line(), "ok 2")
                self.assertEqual(news1.line(), "news second")
                self.assertEqual(news2.line(), "news second")
                for client in (news1, news2, weather, pub):
                    self.assertEqual(client.finish(), (0, ""))
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_bad_commands_are_answered_and_the_connection_goes_on(self):
        with NotifyServer() as srv, LineClient(srv.port) as c:
            for bad in ("hello", "sub", "sub two words", "pub", "pub news", "PUB news x"):
                c.send(bad + "\n")
                self.assertEqual(c.line(), "* expected 'sub TOPIC' or 'pub TOPIC TEXT'", bad)
            self.assertEqual(publish(c, "news", "fine"), 0)
            c.close()  # (an open publisher would keep the server for its --grace)
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_slow_subscriber_misses_events_counted_the_others_get_all(self):
        with NotifyServer(extra=("--queue", "16")) as srv:
            fast = subscriber(srv.port, "news")
            slow = subscriber(srv.port, "news", rcvbuf=4096)
            pub = LineClient(srv.port)
            got, errors = [], []

            def fast_reads():  # the fast subscriber reads everything, in a thread
                try:
                    for _ in range(MAX_EVENTS * 2):
                        line = fast.line()
                        got.append(line)
                        if line in (None, "news end"):
                            return
                except AssertionError as e:
                    errors.append(e)

            reader = threading.Thread(target=fast_reads, daemon=True)
            reader.start()
            # Phase 1: slow never reads. Publish until an event is not queued for it.
            for n in range(MAX_EVENTS):
                if publish(pub, "news", f"{n} {FILLER}") == 1:
                    break
            else:
                self.fail(f"the slow subscriber still took events after {MAX_EVENTS}")
            first_dropped = n
            for n in range(first_dropped + 1, first_dropped + 101):  # all dropped for slow
                self.assertEqual(publish(pub, "news", f"{n} {FILLER}"), 1)
            # Phase 2: slow reads again; publish until an event reaches it again.
            slow_lines, slow_errors = [], []

            def slow_reads():
                try:
                    for _ in range(MAX_EVENTS * 2):
                        line = slow.line()
                        slow_lines.append(line)
                        if line is None or line.startswith("news last "):
                            return
                except AssertionError as e:
                    slow_errors.append(e)

            slow_reader = threading.Thread(target=slow_reads, daemon=True)
            slow_reader.start()
            total = first_dropped + 101
            for n in range(total, total + MAX_EVENTS):
                if publish(pub, "news", f"last {n}") == 2:
                    break
            else:
                self.fail("the slow subscriber never got an event again")
            back = n  # the first event queued for slow again
            self.assertGreaterEqual(publish(pub, "news", "end"), 1)
            slow_reader.join(IO_TIMEOUT)
            reader.join(IO_TIMEOUT)
            self.assertFalse(slow_reader.is_alive() or slow_errors, slow_errors)
            self.assertFalse(reader.is_alive() or errors, errors)
            # The fast subscriber got every event, in order, and missed nothing.
            want = [f"news {i} {FILLER}" for i in range(first_dropped + 101)]
            want += [f"news last {i}" for i in range(first_dropped + 101, back + 1)]
            self.assertEqual(len(got), len(want) + 1)
            self.assertTrue(got == want + ["news end"], "the fast subscriber's events differ")
            # The slow one: every event that was queued for it ("ok 2"), then the exact
            # count of those it lost ("ok 1"), then the event that reached it again.
            self.assertEqual(len(slow_lines), first_dropped + 2)
            self.assertTrue(slow_lines[:first_dropped] == want[:first_dropped])
            self.assertEqual(slow_lines[first_dropped:],
                             [f"* missed {back - first_dropped} events", f"news last {back}"])
            for c in (fast, slow, pub):
                c.close()
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_topic_goes_away_with_its_last_subscriber(self):
        with NotifyServer() as srv, LineClient(srv.port) as pub:
            s = subscriber(srv.port, "news")
            self.assertEqual(publish(pub, "news", "one"), 1)
            self.assertEqual(s.line(), "news one")
            s.close()
            for _ in range(10_000):  # until the server has seen the EOF
                if publish(pub, "news", "two") == 0:
                    break
            else:
                self.fail("the closed subscriber still counts")
            s = subscriber(srv.port, "news")  # a new subscriber starts afresh
            self.assertEqual(publish(pub, "news", "three"), 1)
            self.assertEqual(s.line(), "news three")
            s.close()
            pub.close()
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_sigterm_delivers_what_is_queued_then_exits_0(self):
        with NotifyServer(extra=("--grace", "300")) as srv:
            s = subscriber(srv.port, "news")
            with LineClient(srv.port) as pub:
                self.assertEqual(publish(pub, "news", "before shutdown"), 1)
                srv.proc.send_signal(signal.SIGTERM)
                self.assertEqual(s.line(), "news before shutdown")
                self.assertIsNone(s.line(), "closed once the queue is drained")
                self.assertIsNone(pub.line(), "a publisher is closed after --grace")
            self.assertEqual(srv.stop(None), 0, srv.stderr)
            s.close()

    def test_help_and_bad_flags(self):
        r = run([ARGS.server, "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("usage: notify_server"), r.stdout)
        self.assertIn("Exit status: 0", r.stdout)
        for args in (["--queue", "0"], ["--queue", "-3"], ["--message", "x"]):
            with self.subTest(args=args):
                r = run([ARGS.server, *args])
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertRegex(r.stderr, r"^notify_server: .*(--queue|--message)")


def main():
    global ARGS
    ARGS, rest = example_harness.parse_args(__doc__, "notify_server", None)
    example_harness.run_tests(rest)


if __name__ == "__main__":
    main()
