"""Shared harness for the end-to-end tests of the example programs.

Imported (not run) by the *_examples_test.py scripts: the command line
(--server, --client, --backend and optional extra program paths), the exit-77
SKIP when the backend cannot run, child processes with a controlled
environment, the Server process class that waits for the "listening on
HOST:PORT (backend: NAME)" line, and line-based clients (LineReader over any
fd, LineClient over a Python socket, ToolClient for nc and socat). Every
process call has a timeout, every loop is bounded, and nothing sleeps to
synchronise.
"""

import argparse
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

ARGS = None  # set by parse_args()

START_TIMEOUT = 15.0   # seconds for a server to print its listening line
RUN_TIMEOUT = 30.0     # seconds for any one process to finish
IO_TIMEOUT = 15.0      # seconds for any one socket operation

LISTENING = re.compile(r"^listening on (\S+):(\d+) \(backend: ([\w-]+)\)$")
UNIX_LISTENING = re.compile(r"^listening on (\S+) \(backend: ([\w-]+)\)$")


def child_env(backend_env=None):
    """The environment for a child: CORONET_BACKEND only when asked for."""
    env = dict(os.environ)
    env.pop("CORONET_BACKEND", None)
    if backend_env is not None:
        env["CORONET_BACKEND"] = backend_env
    return env


def run(argv, env=None, timeout=RUN_TIMEOUT):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=env if env is not None else child_env(), timeout=timeout)


def ipv6_loopback_reason(sock_type=socket.SOCK_STREAM):
    """None when [::1] can be bound, else why not."""
    if not socket.has_ipv6:
        return "Python was built without IPv6"
    try:
        with socket.socket(socket.AF_INET6, sock_type) as s:
            s.bind(("::1", 0))
    except OSError as e:
        return f"cannot bind [::1]: {e}"
    return None


def free_port(host="127.0.0.1", sock_type=socket.SOCK_STREAM):
    """A port nothing is bound to: bind port 0, note the port, close."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, sock_type) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def recv_exactly(sock, n):
    data = b""
    for _ in range(n + 1):  # each recv returns at least one byte or ends the loop
        if len(data) >= n:
            break
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


class Server:
    """An example server process. start() returns True once it listens, or raises.

    If the process exits before listening, `exited` is its exit code and
    `stderr` what it printed; start() then returns False.
    """

    def __init__(self, host="127.0.0.1", port=0, backend_flag=True, backend_env=None,
                 extra=(), unix=None, prefix=()):
        self.unix = unix  # a path or "@name": listen there instead of on TCP
        where = ["--unix", unix] if unix else ["--host", host, "--port", str(port)]
        # `prefix`: a launcher the server runs under (seccomp_run, prlimit, ...).
        self.argv = [*prefix, ARGS.server, *where, *extra]
        if backend_flag:
            self.argv += ["--backend", ARGS.backend]
        self.env = child_env(backend_env)
        self.proc = None
        self.host = self.port = self.backend = None
        self.banner = ""
        self._rest = ""
        self.exited = None
        self.stdout = self.stderr = ""

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=self.env)
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + START_TIMEOUT
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stop(signal.SIGKILL)
                    raise AssertionError(f"no listening line within {START_TIMEOUT}s from "
                                         f"{self.argv}; stderr: {self.stderr!r}")
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:  # stdout closed: the process is exiting
                    self.exited = self.proc.wait(timeout=RUN_TIMEOUT)
                    self.stdout = buf.decode(errors="replace") + self.proc.stdout.read().decode(
                        errors="replace")
                    self.stderr = self.proc.stderr.read().decode(errors="replace")
                    self.proc.stdout.close()
                    self.proc.stderr.close()
                    return False
                buf += chunk
        self.banner, _, rest = buf.decode(errors="replace").partition("\n")
        self._rest = rest
        if self.unix:
            m = UNIX_LISTENING.match(self.banner)
            if not m or m.group(1) != self.unix:
                self.stop(signal.SIGKILL)
                raise AssertionError(f"unexpected first line {self.banner!r}")
            self.backend = m.group(2)
            return True
        m = LISTENING.match(self.banner)
        if not m:
            self.stop(signal.SIGKILL)
            raise AssertionError(f"unexpected first line {self.banner!r}")
        host, port, self.backend = m.groups()
        self.host = host[1:-1] if host.startswith("[") else host
        self.port = int(port)
        return True

    def read_line(self, timeout=IO_TIMEOUT):
        """The next line the server prints after its banner (without the newline)."""
        fd = self.proc.stdout.fileno()
        buf = self._rest.encode()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no line within {timeout}s; got {buf!r}")
                if sel.select(left):
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        break
                    buf += chunk
        line, _, rest = buf.decode(errors="replace").partition("\n")
        self._rest = rest
        return line

    def line_ready(self):
        """True when read_line() would return without waiting (a line, or EOF, is there)."""
        if "\n" in self._rest:
            return True
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout.fileno(), selectors.EVENT_READ)
            return bool(sel.select(0))

    def stop(self, sig=signal.SIGTERM):
        """Sends `sig` (unless None) and waits; returns the exit code (None if it was not
        running)."""
        if self.proc is None or self.exited is not None:
            return self.exited
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=RUN_TIMEOUT)
            self.exited = self.proc.returncode
            self.stderr = err.decode(errors="replace")
            raise AssertionError(f"{self.argv} did not exit within {RUN_TIMEOUT}s of "
                                 f"signal {sig!r}")
        self.exited = self.proc.returncode
        self.stdout = self._rest + out.decode(errors="replace") if self.banner else out.decode(
            errors="replace")
        self.stderr = err.decode(errors="replace")
        return self.exited

    def __enter__(self):
        if not self.start():
            raise AssertionError(f"server exited {self.exited} before listening: "
                                 f"{self.stderr.strip()!r}")
        return self

    def read_features(self):
        """Reads the "backend features: ..." line that follows the banner (print_listening)."""
        line = self.read_line()
        if not line.startswith("backend features: "):
            raise AssertionError(f"expected the backend features line, got {line!r}")
        return line

    def __exit__(self, *exc):
        if self.proc is not None and self.exited is None:
            try:
                self.stop(signal.SIGTERM)
            except AssertionError:
                pass
        return False


class FeatureServer(Server):
    """A server that prints the backend features line after its banner
    (print_listening); it is read when the `with` block starts."""

    def __enter__(self):
        super().__enter__()
        self.read_features()
        return self


class LineReader:
    """Reads lines from a file descriptor (a socket's or a pipe's) with a deadline."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = b""

    def _fill(self, deadline):
        """Reads once; False at EOF. Raises AssertionError when the deadline passes."""
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"nothing more within the deadline; have {self.buf[-200:]!r}")
                if sel.select(left):
                    break
        try:
            chunk = os.read(self.fd, 1 << 16)
        except ConnectionResetError:
            chunk = b""
        self.buf += chunk
        return bool(chunk)

    def line(self, timeout=IO_TIMEOUT):
        """The next line without its newline, or None at EOF (with nothing left over)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if not self._fill(deadline):
                if self.buf:
                    raise AssertionError(f"EOF in the middle of a line: {self.buf[-200:]!r}")
                return None
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace")

    def rest(self, timeout=IO_TIMEOUT):
        """Everything up to EOF."""
        deadline = time.monotonic() + timeout
        while self._fill(deadline):
            pass
        data, self.buf = self.buf, b""
        return data

    def ready(self):
        """True when a line (or EOF) can be read without waiting."""
        if b"\n" in self.buf:
            return True
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            return bool(sel.select(0))


class LineClient:
    """A Python socket client that speaks lines; rcvbuf makes its receive buffer small."""

    def __init__(self, port, host="127.0.0.1", rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(IO_TIMEOUT)
        self.sock.connect((host, port))
        self.reader = LineReader(self.sock.fileno())

    def send(self, text):
        self.sock.sendall(text.encode())

    def line(self, timeout=IO_TIMEOUT):
        return self.reader.line(timeout)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def tool_missing(name):
    """None when the command-line tool is installed, else why a test must skip."""
    return None if shutil.which(name) else f"{name} is not installed (./dev installs it)"


class ToolClient:
    """A command-line client (nc, socat) as a process: lines go in through its stdin
    and come out of its stdout."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=child_env())
        self.reader = LineReader(self.proc.stdout.fileno())

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def line(self, timeout=IO_TIMEOUT):
        return self.reader.line(timeout)

    def finish(self, timeout=RUN_TIMEOUT):
        """Closes its stdin, reads its output to EOF; returns (exit code, rest of stdout)."""
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        rest = self.reader.rest(timeout)
        code = self.proc.wait(timeout=timeout)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code, rest.decode(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=RUN_TIMEOUT)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if not f.closed:
                f.close()
        return False


class ExampleTestMixin:
    """Helpers shared by the unittest.TestCase classes (a mixin, so that importing it
    adds no test class to a script)."""

    def client(self, server, *extra):
        return run([ARGS.client, "--host", server.host, "--port", str(server.port),
                    "--backend", ARGS.backend, *extra])

    def assert_one_line(self, text, what):
        lines = text.splitlines()
        self.assertEqual(len(lines), 1, f"{what}: expected exactly one line, got {text!r}")
        self.assertTrue(text.endswith("\n"), f"{what}: line not terminated: {text!r}")


class EchoPairContract:
    """What every echo pair's client promises (TCP and UDP alike): a mixin whose
    tests run in each script's TestCase. Set `server_class` and `socket_type`."""

    server_class = Server
    socket_type = socket.SOCK_STREAM

    def test_round_trip_ipv4(self):
        with self.server_class("127.0.0.1") as srv:
            r = self.client(srv)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "Received 'Hello, world'\n")
            self.assertEqual(r.stderr, "")
            self.assertEqual(srv.stop(), 0, srv.stderr)


    def test_round_trip_ipv6(self):
        reason = ipv6_loopback_reason(self.socket_type)
        if reason:
            self.skipTest(f"IPv6 loopback unavailable: {reason}")
        with self.server_class("::1") as srv:
            self.assertTrue(srv.banner.startswith("listening on [::1]:"), srv.banner)
            r = self.client(srv, "--message", "over IPv6")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "Received 'over IPv6'\n")
            self.assertEqual(srv.stop(), 0, srv.stderr)


    def test_client_count_200_with_several_words(self):
        message = "the quick brown fox jumps over the lazy dog"
        with self.server_class() as srv:
            r = self.client(srv, "--count", "200", "--message", message)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, f"Received '{message}'\n200 round trips verified\n")
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_banner_names_requested_backend(self):
        with self.server_class(backend_flag=True) as srv:
            self.assertEqual(srv.backend, ARGS.backend, srv.banner)
            self.assertEqual(srv.host, "127.0.0.1")
            self.assertNotEqual(srv.port, 0)

    def test_env_var_selects_backend(self):
        with self.server_class(backend_flag=False, backend_env=ARGS.backend) as srv:
            self.assertEqual(srv.backend, ARGS.backend, srv.banner)
            r = run([ARGS.client, "--port", str(srv.port)], env=child_env(ARGS.backend))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_server_port_in_use_by_python_socket(self):
        with socket.socket(socket.AF_INET, self.socket_type) as holder:
            holder.bind(("127.0.0.1", 0))
            if self.socket_type == socket.SOCK_STREAM:
                holder.listen()
            port = holder.getsockname()[1]
            srv = self.server_class(port=port)
            started = srv.start()
            if started:
                srv.stop(signal.SIGKILL)
            self.assertFalse(started, f"server bound a port in use: {srv.banner!r}")
            self.assertEqual(srv.exited, 1, srv.stderr)
            self.assert_one_line(srv.stderr, "port in use")
            self.assertIn(str(port), srv.stderr)


def parse_args(doc, server, client, optional=()):
    """Parses the command line into ARGS (program paths made absolute) and returns
    (ARGS, the arguments left for unittest). `client` is None for a server tested
    with nc, socat and Python clients only; `optional` lists (flag, program) pairs
    for extra program paths that may be left out."""
    global ARGS
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--server", required=True, help=f"path to {server}")
    if client is not None:
        parser.add_argument("--client", required=True, help=f"path to {client}")
    for flag, prog in optional:
        parser.add_argument(f"--{flag}", help=f"path to {prog} (optional)")
    parser.add_argument("--backend", required=True, choices=["io_uring", "epoll"])
    ARGS, rest = parser.parse_known_args()
    for dest in ["server", "client", *(flag for flag, _ in optional)]:
        if getattr(ARGS, dest, None):
            setattr(ARGS, dest, os.path.abspath(getattr(ARGS, dest)))
    return ARGS, rest


def backend_gate():
    """Exits 77 when the backend cannot run here; fails loudly on anything else odd."""
    name = os.path.basename(ARGS.server)
    srv = Server()
    if srv.start():
        code = srv.stop()
        if code != 0:
            print(f"{name} exited {code} on SIGTERM: {srv.stderr.strip()}", file=sys.stderr)
        return
    if srv.exited == 1 and "unavailable" in srv.stderr:
        print(f"SKIP: backend {ARGS.backend} unavailable: {srv.stderr.strip()}")
        sys.exit(77)
    print(f"{name} exited {srv.exited} before listening: {srv.stderr.strip()}",
          file=sys.stderr)
    sys.exit(1)


def run_tests(rest):
    """Runs the backend gate, then the calling script's tests (exits)."""
    backend_gate()
    unittest.main(module="__main__", argv=[sys.argv[0], "-v", *rest])
