#!/usr/bin/env python3
"""Runs a consumer build of echo_round_trip (build_consumer.py) and checks its echo.

  consumer_test.py PROGRAM CONFIG     CONFIG: io_uring, io_uring-plain or epoll, the
                                      configuration meson's environment
                                      (CORONET_BACKEND, CORONET_FAST_PATHS) asks for

Passes when the program exits 0 having printed "echoed N bytes over
127.0.0.1:PORT (backend: KIND)" (KIND: CONFIG's backend; io_uring-plain adds
", fast paths off"); exits 77 (SKIP) when the program reports that the
backend cannot run here, with its reason.
"""
import re
import subprocess
import sys

TIMEOUT = 60  # seconds; the program's own exchange times out after 20
BYTES = 300000  # several receive buffers' worth

program, config = sys.argv[1], sys.argv[2]
backend = {"io_uring": "io_uring", "io_uring-plain": "io_uring, fast paths off",
           "epoll": "epoll"}[config]
try:
    proc = subprocess.run([program, str(BYTES)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=TIMEOUT)
except subprocess.TimeoutExpired:
    sys.exit(f"{program} did not finish within {TIMEOUT}s")
out = proc.stdout.strip()
if proc.returncode == 77:
    print(out)
    sys.exit(77)
expected = re.compile(
    rf"^echoed {BYTES} bytes over 127\.0\.0\.1:\d+ \(backend: {re.escape(backend)}\)$")
if proc.returncode != 0 or not expected.match(out):
    sys.exit(f"{program}: exit {proc.returncode}\nstdout: {proc.stdout!r}\nstderr: {proc.stderr!r}\n"
             f"expected one line matching {expected.pattern}")
print(f"{program}: {out}")
