#!/usr/bin/env python3
"""Every example explains a failure in one line, with the right exit code.

    cli_errors_test.py --server echo_server --client echo_client --backend io_uring|epoll
                       [--programs PATH...]

--programs lists the other examples (servers and clients are told apart by
their --help). For each program: --help documents the exit codes (0 ok,
1 runtime failure, 2 usage error); a bad flag is one line naming the option
(exit 2); a server whose port is in use, or that may not bind a privileged
port (run as nobody through setpriv), is one line naming the address and the
reason (exit 1); a client whose connection is refused or times out
(--connect-timeout, against a listener whose backlog is full) likewise.
Exits 77 when the backend cannot run here; loopback only, port 0 or ports
nothing can bind, every process call has a timeout.
"""

import argparse
import os
import re
import shutil
import socket
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import example_harness  # noqa: E402
from example_harness import run  # noqa: E402

ARGS = None  # set in main()
PROGRAMS = {}  # name -> (path, "server" | "client")

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def kind(path):
    usage = run([path, "--help"]).stdout
    return "server" if "cannot listen" in usage else "client"


def drop_privileges_reason():
    """None when a program can be run as nobody (setpriv), else why not."""
    if os.geteuid() != 0:
        return "not root: cannot drop privileges to nobody"
    if not shutil.which("setpriv"):
        return "setpriv (util-linux) is not installed"
    return None


def privileged_port_reason():
    """None when a privileged port can be tried as nobody, else why not."""
    if drop_privileges_reason():
        return drop_privileges_reason()
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            start = int(f.read())
    except OSError as e:
        return f"cannot read ip_unprivileged_port_start: {e}"
    if start <= 80:
        return f"net.ipv4.ip_unprivileged_port_start={start}: port 80 needs no privilege here"
    return None


class CliErrorsTest(unittest.TestCase):
    maxDiff = 2000

    def one_line(self, r, name, pattern, code):
        self.assertEqual(r.returncode, code, f"stdout={r.stdout!r} stderr={r.stderr!r}")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"expected one line on stderr, got {r.stderr!r}")
        self.assertTrue(r.stderr.endswith("\n"), r.stderr)
        self.assertRegex(lines[0], f"^{re.escape(name)}: " + pattern)

    def programs(self, which=None):
        for name, (path, k) in sorted(PROGRAMS.items()):
            if which is None or k == which:
                yield name, path

    def test_help_documents_the_exit_codes(self):
        for name, path in self.programs():
            with self.subTest(program=name):
                r = run([path, "--help"])
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                self.assertTrue(r.stdout.startswith(f"usage: {name} "), r.stdout)
                text = " ".join(r.stdout.split())
                self.assertIn("Exit status: 0 ", text)
                self.assertIn("1 runtime failure", text)
                self.assertIn("one line on stderr names the address and the reason", text)
                self.assertIn("2 usage error", text)

    def test_bad_flags_name_the_option_exit_2(self):
        cases = [(["--bogus"], r"unknown option '--bogus' \(see --help\)$"),
                 (["--port", "99999"], r"--port: '99999' is not a number from 0 to 65535"),
                 (["--port", "-1"], r"--port: '-1' is not"),
                 (["--port", "8\n0"], r"--port: '8\\n0' is not a number"),  # still one line
                 (["--unix\x01"], r"unknown option '--unix\\x01'"),
                 (["--backend", "uring"], r"--backend: 'uring' is not auto\|io_uring\|epoll"),
                 (["--fast-paths", "yes"], r"--fast-paths: 'yes' is not on\|off"),
                 (["--host", ""], r"--host: empty host"),
                 (["--port"], r"--port needs a value")]
        for name, path in self.programs():
            for args, pattern in cases:
                with self.subTest(program=name, args=args):
                    r = run([path, *args])
                    self.one_line(r, name, pattern, 2)
                    self.assertEqual(r.stdout, "")

    def test_client_only_flags(self):
        for name, path in self.programs("client"):
            for args, pattern in ((["--count", "x"], r"--count: 'x' is not a number"),
                                  (["--connect-timeout", "0"], r"--connect-timeout: '0' is not"),
                                  (["--grace", "1"], r"unknown option '--grace'")):
                if name in ("multiconn_client", "hello_client") and args[0] == "--count":
                    continue  # --connections/--messages, or it sends once
                if name == "udp_echo_client" and args[0] == "--connect-timeout":
                    continue  # UDP does not connect; each reply has its own 2 s wait
                with self.subTest(program=name, args=args):
                    self.one_line(run([path, *args]), name, pattern, 2)

    def test_server_port_in_use(self):
        for name, path in self.programs("server"):
            udp = name.startswith("udp")
            with self.subTest(program=name), \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) \
                    as holder:
                holder.bind(("127.0.0.1", 0))
                if not udp:
                    holder.listen()
                port = holder.getsockname()[1]
                r = run([path, "--port", str(port), "--backend", ARGS.backend])
                verb = "bind" if udp else "listen on"
                self.one_line(r, name, rf"cannot {verb} 127\.0\.0\.1:{port}: Address already in "
                              r"use \(another program is listening there\)$", 1)
                self.assertEqual(r.stdout, "")

    def test_server_not_an_address_of_this_machine(self):
        for name, path in self.programs("server"):
            with self.subTest(program=name):
                # 192.0.2.0/24 is TEST-NET-1: documentation only, never a local address.
                r = run([path, "--host", "192.0.2.1", "--port", "0", "--backend", ARGS.backend])
                self.one_line(r, name, r"cannot (listen on|bind) 192\.0\.2\.1:0: .*"
                              r"\(not an address of this machine\)$", 1)

    def test_server_privileged_port_as_nobody(self):
        reason = privileged_port_reason()
        if reason:
            self.skipTest(reason)
        for name, path in self.programs("server"):
            with self.subTest(program=name):
                r = run([*NOBODY, path, "--port", "80", "--backend", ARGS.backend])
                if r.returncode == 126 or "unavailable" in r.stderr:
                    self.skipTest(f"{name} cannot run as nobody here: {r.stderr.strip()}")
                verb = "bind" if name.startswith("udp") else "listen on"
                self.one_line(r, name, rf"cannot {verb} 127\.0\.0\.1:80: Permission denied "
                              r"\(ports below 1024 need root or CAP_NET_BIND_SERVICE\)$", 1)

    def test_unix_socket_in_a_directory_nobody_may_write(self):
        reason = drop_privileges_reason()
        if reason:
            self.skipTest(reason)
        path = PROGRAMS["echo_server"][0]
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o755)  # root's: nobody may not create a socket file in it
            sock = os.path.join(d, "echo.sock")
            r = run([*NOBODY, path, "--unix", sock, "--backend", ARGS.backend])
            if r.returncode == 126 or "unavailable" in r.stderr:
                self.skipTest(f"echo_server cannot run as nobody here: {r.stderr.strip()}")
            self.one_line(r, "echo_server", rf"cannot listen on {re.escape(sock)}: Permission "
                          r"denied \(no write permission in the socket's directory\?\)$", 1)

    def test_client_connection_refused(self):
        for name, path in self.programs("client"):
            if name.startswith("udp"):
                continue  # udp_examples_test covers its "no reply" and refused paths
            with self.subTest(program=name), socket.socket() as holder:
                holder.bind(("127.0.0.1", 0))  # bound, not listening: refused
                port = holder.getsockname()[1]
                r = run([path, "--port", str(port), "--backend", ARGS.backend])
                where = rf"127\.0\.0\.1:{port}"
                self.one_line(r, name, rf"(cannot connect to {where}|{where}: connection \d+): "
                              r"Connection refused \(no server is listening there\)$", 1)

    def test_client_connect_timeout(self):
        with socket.socket() as full:
            full.bind(("127.0.0.1", 0))
            full.listen(0)  # backlog 0: one connection fills it, later SYNs are dropped
            port = full.getsockname()[1]
            filler = socket.create_connection(("127.0.0.1", port), timeout=5)
            try:
                for name, path in self.programs("client"):
                    if name.startswith("udp"):
                        continue
                    with self.subTest(program=name):
                        extra = ["--connections", "2"] if name == "multiconn_client" else []
                        r = run([path, "--port", str(port), "--connect-timeout", "300",
                                 "--backend", ARGS.backend, *extra])
                        where = rf"127\.0\.0\.1:{port}"
                        self.one_line(r, name, rf"(cannot connect to {where}|{where}: connection "
                                      r"\d+): no connection within 300 ms \(--connect-timeout\)$", 1)
            finally:
                filler.close()


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--programs", nargs="*", default=[])
    extra, rest = parser.parse_known_args()
    sys.argv[1:] = rest
    ARGS, rest = example_harness.parse_args(__doc__, "echo_server", "echo_client")
    for path in [ARGS.server, ARGS.client, *map(os.path.abspath, extra.programs)]:
        PROGRAMS[os.path.basename(path)] = (path, kind(path))
    example_harness.run_tests(rest)


if __name__ == "__main__":
    main()
