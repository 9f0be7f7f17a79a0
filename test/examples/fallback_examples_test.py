#!/usr/bin/env python3
"""End-to-end tests of the backend choice under the limits a deployment meets.

Runs examples/echo_server as a process, on loopback, port 0 only:
- under a real seccomp filter that refuses io_uring_setup (and io_uring_enter,
  io_uring_register) with EPERM, as Docker's default profile does, or with
  ENOSYS, as a kernel without io_uring does (test/tools/seccomp_run installs
  it, then execs the server);
- with RLIMIT_MEMLOCK at 0 (prlimit(1)) and CAP_IPC_LOCK dropped (setpriv(1)),
  as for an unprivileged user or in a container.

    fallback_examples_test.py --server PATH --client PATH --launcher PATH
                              --backend io_uring|epoll

`--backend auto` must fall back to epoll and say why (the banner names epoll,
a "backend fallback:" line gives the kernel's reason); `--backend io_uring`
must fail with one line naming the cause and exit 1. Exits 77 (meson's SKIP)
when the configuration's backend cannot run here. Every process call has a
timeout, and nothing sleeps to synchronise: the tests wait for the server's
lines.
"""

import os
import shutil
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import example_harness  # noqa: E402
from example_harness import IO_TIMEOUT, Server, child_env, recv_exactly, run  # noqa: E402

ARGS = None  # set in main()

REASONS = {
    "EPERM": "io_uring_setup: operation not permitted (EPERM: seccomp filter or "
             "kernel.io_uring_disabled)",
    "ENOSYS": "io_uring_setup: not implemented by this kernel (ENOSYS)",
}
MEMLOCK_REASON = "io_uring_setup: out of memory (ENOMEM: raise RLIMIT_MEMLOCK, ulimit -l)"
MEMLOCK_BYTES = 8 << 20  # Debian's default limit; plenty for the ring


def echo_once(srv, message=b"through the fallback"):
    with socket.create_connection((srv.host, srv.port), timeout=IO_TIMEOUT) as s:
        s.sendall(message)
        return recv_exactly(s, len(message))


def without_ipc_lock(memlock_bytes):
    """A prefix that runs the server with RLIMIT_MEMLOCK = memlock_bytes and without
    CAP_IPC_LOCK (which exempts a process from the limit), or None if the tools are
    missing."""
    if not (shutil.which("prlimit") and shutil.which("setpriv")):
        return None
    return ["prlimit", f"--memlock={memlock_bytes}:{memlock_bytes}",
            "setpriv", "--bounding-set=-ipc_lock", "--inh-caps=-ipc_lock"]


_io_uring_reason = []


def io_uring_unavailable():
    """Why echo_server cannot run io_uring here without any limit ("" if it can)."""
    if not _io_uring_reason:
        srv = Server(backend_flag=False, extra=["--backend", "io_uring"])
        _io_uring_reason.append("" if srv.start() else srv.stderr.strip())
        srv.stop()
    return _io_uring_reason[0]


def has_ipc_lock():
    with open("/proc/self/status") as f:
        eff = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    return bool(eff & (1 << 14))  # CAP_IPC_LOCK


class FallbackExamplesTest(unittest.TestCase):
    maxDiff = 2000

    def filtered(self, err):
        return [ARGS.launcher, err]

    def check_fallback(self, srv, reason):
        self.assertEqual(srv.backend, "epoll", srv.banner)
        self.assertTrue(srv.read_line().startswith("backend features: epoll"))
        self.assertEqual(srv.read_line(), f"backend fallback: io_uring unavailable: {reason}")
        self.assertEqual(echo_once(srv), b"through the fallback")
        self.assertEqual(srv.stop(), 0, srv.stderr)

    # --- seccomp ----------------------------------------------------------------

    def auto_falls_back(self, err):
        srv = Server(prefix=self.filtered(err), backend_flag=False, extra=["--backend", "auto"])
        with srv:
            self.check_fallback(srv, REASONS[err])
        self.assertEqual(srv.stderr, "", "nothing on stderr: the kernel refusing io_uring is "
                                         "not an error when auto may fall back")

    def test_auto_falls_back_when_seccomp_returns_eperm(self):
        self.auto_falls_back("EPERM")

    def test_auto_falls_back_when_seccomp_returns_enosys(self):
        self.auto_falls_back("ENOSYS")

    def test_auto_from_the_environment_falls_back_too(self):
        srv = Server(prefix=self.filtered("EPERM"), backend_flag=False, backend_env="auto")
        with srv:
            self.check_fallback(srv, REASONS["EPERM"])

    def test_forced_io_uring_fails_with_one_line(self):
        for err in ("EPERM", "ENOSYS"):
            for how in ("flag", "environment"):
                with self.subTest(err=err, how=how):
                    flag = ["--backend", "io_uring"] if how == "flag" else []
                    env = child_env("io_uring" if how == "environment" else None)
                    r = run([*self.filtered(err), ARGS.server, "--port", "0", *flag], env=env)
                    self.assertEqual(r.returncode, 1, r.stderr)
                    self.assertEqual(r.stdout, "")
                    self.assertEqual(r.stderr, "echo_server: coronet: io_uring backend "
                                               f"unavailable: {REASONS[err]}\n")

    def test_forced_epoll_is_not_affected(self):
        with Server(prefix=self.filtered("EPERM"), backend_flag=False,
                    extra=["--backend", "epoll"]) as srv:
            self.assertEqual(srv.backend, "epoll")
            self.assertEqual(echo_once(srv, b"plain epoll"), b"plain epoll")
            self.assertEqual(srv.stop(), 0, srv.stderr)
        self.assertNotIn("fallback", srv.stdout)

    def test_the_client_falls_back_as_well(self):
        with Server(prefix=self.filtered("ENOSYS"), backend_flag=False,
                    extra=["--backend", "auto"]) as srv:
            r = run([*self.filtered("ENOSYS"), ARGS.client, "--port", str(srv.port),
                     "--backend", "auto", "--count", "20"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "Received 'Hello, world'\n20 round trips verified\n")
            self.assertEqual(srv.stop(), 0, srv.stderr)

    # --- RLIMIT_MEMLOCK ------------------------------------------------------------

    def test_memlock_zero(self):
        """RLIMIT_MEMLOCK = 0 without CAP_IPC_LOCK. Since 5.12 io_uring's memory is charged
        to the memory cgroup; whether the rings also count against RLIMIT_MEMLOCK depends
        on the kernel (on 6.18, where this was written, they do: io_uring_setup fails with
        ENOMEM). Either outcome must be clean: io_uring working fully, or a one-line
        error when forced and a fallback that says why."""
        prefix = without_ipc_lock(0)
        if prefix is None:
            self.skipTest("prlimit or setpriv (util-linux) not installed")
        if io_uring_unavailable():
            self.skipTest(f"io_uring unavailable here: {io_uring_unavailable()}")
        forced = Server(prefix=prefix, backend_flag=False, extra=["--backend", "io_uring"])
        if forced.start():
            print("\nthis kernel does not charge io_uring rings to RLIMIT_MEMLOCK",
                  file=sys.stderr)
            with forced:
                self.assertEqual(forced.backend, "io_uring")
                self.assertEqual(echo_once(forced), b"through the fallback")
                self.assertEqual(forced.stop(), 0, forced.stderr)
            return
        print(f"\nthis kernel ({os.uname().release}) charges io_uring rings to "
              "RLIMIT_MEMLOCK", file=sys.stderr)
        self.assertEqual(forced.exited, 1, forced.stderr)
        self.assertEqual(forced.stderr, "echo_server: coronet: io_uring backend unavailable: "
                                        f"{MEMLOCK_REASON}\n")
        srv = Server(prefix=prefix, backend_flag=False, extra=["--backend", "auto"])
        with srv:
            self.check_fallback(srv, MEMLOCK_REASON)
        # A resource limit is something to fix, so the library says so itself too.
        self.assertEqual(srv.stderr, f"coronet: io_uring not used ({MEMLOCK_REASON}); "
                                     "falling back to epoll\n")

    def test_memlock_large_enough_without_ipc_lock(self):
        prefix = without_ipc_lock(MEMLOCK_BYTES)
        if prefix is None:
            self.skipTest("prlimit or setpriv (util-linux) not installed")
        if io_uring_unavailable():
            self.skipTest(f"io_uring unavailable here: {io_uring_unavailable()}")
        with Server(prefix=prefix, backend_flag=False, extra=["--backend", "io_uring"]) as srv:
            self.assertEqual(srv.backend, "io_uring")
            features = srv.read_line()
            if os.environ.get("CORONET_FAST_PATHS", "1") in ("1", "on"):
                self.assertIn("provided_buffers", features)  # the buffer ring is pinned too
            self.assertEqual(echo_once(srv), b"through the fallback")
            self.assertEqual(srv.stop(), 0, srv.stderr)

    def test_memlock_zero_with_ipc_lock(self):
        if not has_ipc_lock():
            self.skipTest("needs CAP_IPC_LOCK (root outside a container)")
        if not shutil.which("prlimit"):
            self.skipTest("prlimit (util-linux) not installed")
        if io_uring_unavailable():
            self.skipTest(f"io_uring unavailable here: {io_uring_unavailable()}")
        # CAP_IPC_LOCK exempts the process from RLIMIT_MEMLOCK.
        with Server(prefix=["prlimit", "--memlock=0:0"], backend_flag=False,
                    extra=["--backend", "io_uring"]) as srv:
            self.assertEqual(srv.backend, "io_uring")
            self.assertEqual(echo_once(srv), b"through the fallback")
            self.assertEqual(srv.stop(), 0, srv.stderr)


def main():
    global ARGS
    ARGS, rest = example_harness.parse_args(__doc__, "echo_server", "echo_client",
                                            optional=[("launcher", "seccomp_run")])
    if not ARGS.launcher:
        sys.exit("fallback_examples_test.py: --launcher PATH (test/tools/seccomp_run) is needed")
    example_harness.run_tests(rest)


if __name__ == "__main__":
    main()
