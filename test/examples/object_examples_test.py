#!/usr/bin/env python3
"""End-to-end tests of examples/object_server and examples/object_client.

Runs the example binaries as processes on loopback, on port 0 only, with one
backend forced, and talks to the server from Python with the standard library
only (socket, struct, json), the way a client in any language would:

    object_examples_test.py --server PATH --client PATH --backend io_uring|epoll

Wire format: each message is a 4-byte big-endian length, then that many bytes
of UTF-8 JSON. Exits 77 (meson's SKIP) when the backend cannot run here. Every
process call and socket operation has a timeout, every loop is bounded, and
nothing sleeps to synchronise: the tests wait for the server's "listening on"
line.
"""

import json
import os
import signal
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import example_harness  # noqa: E402
from example_harness import IO_TIMEOUT, Server, recv_exactly, run  # noqa: E402

ARGS = None  # set in main()

NOT_JSON = "message is not valid JSON"
WRONG_TYPE = "JSON message does not match the expected type"
TOO_LARGE = "frame larger than the limit"
TIMED_OUT = "deadline expired"


# --- the protocol, standard library only --------------------------------------

def connect(server):
    return socket.create_connection(("127.0.0.1", server.port), timeout=IO_TIMEOUT)


def send_frame(sock, payload: bytes):
    sock.sendall(struct.pack(">I", len(payload)) + payload)


def send_obj(sock, obj):
    send_frame(sock, json.dumps(obj).encode())


def recv_obj(sock):
    header = recv_exactly(sock, 4)
    if len(header) < 4:
        raise EOFError(f"connection closed ({len(header)} header bytes)")
    (n,) = struct.unpack(">I", header)
    body = recv_exactly(sock, n)
    if len(body) < n:
        raise EOFError(f"frame truncated: {len(body)} of {n} bytes")
    return json.loads(body)


def assert_closed(test, sock):
    try:
        tail = sock.recv(16)
    except ConnectionResetError:
        tail = b""
    test.assertEqual(tail, b"", "the server should have closed this connection")


def order(oid, customer="Ada", items=None):
    if items is None:
        items = [{"sku": "apple", "quantity": 3, "price": 0.5},
                 {"sku": "pear", "quantity": 2, "price": 1.25}]
    return {"id": oid, "customer": customer, "items": items}


class ObjectExamplesTest(unittest.TestCase):
    maxDiff = 4000

    def stop_clean(self, srv, *socks):
        """Closes the test's connections (no grace period to wait out), then SIGTERM: exit 0."""
        for sock in socks:
            sock.close()
        self.assertEqual(srv.stop(), 0, srv.stderr)

    def check_receipt(self, receipt, sent):
        self.assertEqual(receipt["error"], "")
        self.assertEqual(receipt["order_id"], sent["id"])
        self.assertEqual(receipt["customer"], sent["customer"])
        self.assertEqual([(l["sku"], l["quantity"]) for l in receipt["lines"]],
                         [(i["sku"], i["quantity"]) for i in sent["items"]])
        want = sum(i["quantity"] * i["price"] for i in sent["items"])
        self.assertAlmostEqual(receipt["total"], want, places=9)

    # --- round trips -----------------------------------------------------------

    def test_cpp_client_round_trip(self):
        with Server() as srv:
            r = run([ARGS.client, "--port", str(srv.port), "--backend", ARGS.backend,
                     "--message", "Zoë", "--count", "25"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "Receipt for order 25 (Zoë): 3 lines, total 2.75\n"
                                       "25 orders verified\n")
            self.assertEqual(r.stderr, "")
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_python_client_round_trip(self):
        with Server() as srv, connect(srv) as s:
            sent = order(7, "Grace “G” Hopper ✓", [
                {"sku": "A-1", "quantity": 2, "price": 9.5},
                {"sku": "", "quantity": 0, "price": 0},
                {"sku": "big", "quantity": 1000, "price": 1e6}])
            send_obj(s, sent)
            self.check_receipt(recv_obj(s), sent)
            send_obj(s, order(8, items=[]))  # an empty list is fine
            self.assertEqual(recv_obj(s)["total"], 0)
            self.stop_clean(srv, s)

    def test_pipelined_orders_in_one_send(self):
        with Server() as srv, connect(srv) as s:
            orders = [order(i, f"customer {i}") for i in range(1, 51)]
            s.sendall(b"".join(struct.pack(">I", len(b)) + b
                               for b in (json.dumps(o).encode() for o in orders)))
            for o in orders:
                self.check_receipt(recv_obj(s), o)
            self.stop_clean(srv, s)

    def test_frame_sent_one_byte_at_a_time(self):
        with Server() as srv, connect(srv) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sent = order(3)
            body = json.dumps(sent).encode()
            for b in struct.pack(">I", len(body)) + body:
                s.sendall(bytes([b]))
            self.check_receipt(recv_obj(s), sent)
            self.stop_clean(srv, s)

    # --- bad input ---------------------------------------------------------------

    def test_bad_json_gets_an_error_and_the_connection_goes_on(self):
        with Server() as srv, connect(srv) as s:
            for bad in (b"{not json", b"", b"\xff\xfe", b"[1, 2"):
                with self.subTest(bad=bad):
                    send_frame(s, bad)
                    self.assertEqual(recv_obj(s), {"order_id": 0, "customer": "", "lines": [],
                                                   "total": 0, "error": NOT_JSON})
            for wrong in ({"id": "seven"}, {"id": 1, "customer": "x"}, [1, 2, 3], 42,
                          order(1, items=[{"sku": 5}])):
                with self.subTest(wrong=wrong):
                    send_obj(s, wrong)
                    self.assertEqual(recv_obj(s)["error"], WRONG_TYPE)
            sent = order(9)  # still in sync
            send_obj(s, sent)
            self.check_receipt(recv_obj(s), sent)
            self.stop_clean(srv, s)
            self.assertIn(NOT_JSON, srv.stderr)
            self.assertIn(WRONG_TYPE, srv.stderr)

    def test_numbers_that_do_not_fit_get_an_error_and_the_connection_goes_on(self):
        # Found by fuzz/object_stream_fuzz: nlohmann casts a JSON number into an
        # integer field unchecked (undefined behaviour for 1e300); the records use
        # CORONET_DEFINE_OBJECT, which checks the range.
        item = {"sku": "x", "quantity": 1, "price": 1.0}
        with Server() as srv, connect(srv) as s:
            for bad in (order(1e300), order(2 ** 64), order(-1), order(1.5),
                        order(1, items=[dict(item, quantity=2 ** 31)]),
                        order(1, items=[dict(item, quantity=-1e300)])):
                with self.subTest(bad=bad):
                    send_obj(s, bad)
                    self.assertEqual(recv_obj(s)["error"], WRONG_TYPE)
            sent = order(2 ** 64 - 1, items=[dict(item, quantity=2 ** 31 - 1)])
            send_obj(s, sent)  # the largest values that fit are fine
            self.check_receipt(recv_obj(s), sent)
            send_obj(s, order(5.0))  # an integral float (what some JSON encoders write)
            self.assertEqual(recv_obj(s)["order_id"], 5)
            self.stop_clean(srv, s)

    def test_oversized_frame_closes_only_that_connection(self):
        with Server() as srv, connect(srv) as other, connect(srv) as bad:
            send_obj(other, order(1))  # a connection in progress...
            self.check_receipt(recv_obj(other), order(1))
            bad.sendall(struct.pack(">I", 0xFFFFFFFF) + b"{}")
            self.assertEqual(recv_obj(bad)["error"], TOO_LARGE)
            assert_closed(self, bad)
            send_obj(other, order(2))  # ...is still served,
            self.check_receipt(recv_obj(other), order(2))
            with connect(srv) as fresh:  # and so are new ones
                send_obj(fresh, order(3))
                self.check_receipt(recv_obj(fresh), order(3))
            self.stop_clean(srv, other, bad)
            self.assertIn(TOO_LARGE, srv.stderr)

    def test_truncated_frame_then_close_does_not_disturb_the_server(self):
        with Server() as srv:
            with connect(srv) as s:
                s.sendall(struct.pack(">I", 100) + b'{"id": 1')
                s.shutdown(socket.SHUT_WR)
                self.assertIn("end of stream", recv_obj(s)["error"])
                assert_closed(self, s)
            with connect(srv) as s:
                s.sendall(b"\x00\x00")  # half a header, then a reset
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with connect(srv) as s:
                send_obj(s, order(4))
                self.check_receipt(recv_obj(s), order(4))
            self.assertEqual(srv.stop(), 0, srv.stderr)

    # --- slow and hostile peers --------------------------------------------------

    def test_a_frame_that_stalls_is_timed_out(self):
        # A header announcing the largest frame the server takes, a few bytes of
        # it, then nothing: the server answers "deadline expired" and closes,
        # instead of holding the connection (and 64 KiB of buffer) forever. The
        # timeout bounds each wait for a message, idle ones included.
        with Server(extra=["--read-timeout", "200"]) as srv, connect(srv) as stall, \
                connect(srv) as half, connect(srv) as idle:
            start = time.monotonic()
            stall.sendall(struct.pack(">I", 60_000) + b'{"id": 1, "cust')
            half.sendall(b"\x00\x00")  # half a header
            for s in (stall, half, idle):
                self.assertEqual(recv_obj(s)["error"], TIMED_OUT)
                assert_closed(self, s)
            self.assertGreaterEqual(time.monotonic() - start, 0.19)
            with connect(srv) as fresh:  # the server goes on
                send_obj(fresh, order(6))
                self.check_receipt(recv_obj(fresh), order(6))
            self.assertEqual(srv.stop(), 0, srv.stderr)
        self.assertEqual(srv.stderr.count(TIMED_OUT), 3, srv.stderr)

    def test_read_timeout_flag_bad_values(self):
        for bad in ("0", "-1", "abc", ""):
            with self.subTest(bad=bad):
                r = run([ARGS.server, "--read-timeout", bad])
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertIn("--read-timeout", r.stderr)

    # --- lifecycle and command line ----------------------------------------------

    def test_second_signal_cancels_open_connections_at_once(self):
        with Server(extra=["--grace", "60000"]) as srv, connect(srv) as s:
            send_obj(s, order(1))
            self.check_receipt(recv_obj(s), order(1))
            start = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            self.assertEqual(srv.read_line(), "shutting down: finishing 1 connection(s)")
            srv.proc.send_signal(signal.SIGINT)
            self.assertEqual(srv.stop(None), 0, srv.stderr)
            self.assertLess(time.monotonic() - start, 10.0)
            self.assertIn("second signal: cancelled 1 connection(s)", srv.stdout)
            assert_closed(self, s)

    def test_sigterm_and_sigint_exit_0(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(sig=sig), Server() as srv:
                self.assertEqual(srv.backend, ARGS.backend)
                self.assertEqual(srv.stop(sig), 0, srv.stderr)

    def test_sigterm_with_an_idle_connection_exits_0(self):
        with Server(extra=["--grace", "100"]) as srv, connect(srv) as s:
            send_obj(s, order(1))
            self.check_receipt(recv_obj(s), order(1))
            self.assertEqual(srv.stop(), 0, srv.stderr)
            assert_closed(self, s)

    def test_help_exits_0(self):
        for prog in (ARGS.server, ARGS.client):
            with self.subTest(prog=os.path.basename(prog)):
                r = run([prog, "--help"])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertTrue(r.stdout.startswith("usage: "), r.stdout)

    def test_bad_flags_exit_2_with_one_line(self):
        for prog in (ARGS.server, ARGS.client):
            for args in (["--bogus"], ["--port", "70000"], ["--backend", "nope"]):
                with self.subTest(prog=os.path.basename(prog), args=args):
                    r = run([prog, *args])
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                    self.assertEqual(r.stdout, "")

    def test_client_without_server_fails_with_one_line(self):
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            port = holder.getsockname()[1]  # bound, not listening: refused
            r = run([ARGS.client, "--port", str(port), "--backend", ARGS.backend])
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)


def main():
    global ARGS
    ARGS, rest = example_harness.parse_args(__doc__, "object_server", "object_client")
    example_harness.run_tests(rest)


if __name__ == "__main__":
    main()
