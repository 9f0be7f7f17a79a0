#!/usr/bin/env python3
"""coronet's benchmark driver (Python 3 standard library only).

    python3 bench/run.py --rounds 5 --output docs/benchmarks.md

builds build-bench/ (meson -Dbench=true, release) if needed, then measures each
echo server with bench/loadgen:

  coronet (io_uring)  build-bench/examples/echo_server --backend io_uring
                      (with CORONET_FAST_PATHS=1)
  coronet (io_uring, plain)  the same with CORONET_FAST_PATHS=0: one-shot
                      operations only, so the fast paths' effect shows side by side
  coronet (epoll)     build-bench/examples/echo_server --backend epoll
  C epoll             build-bench/bench/epoll_echo      (the baseline of every ratio)
  C io_uring          build-bench/bench/uring_echo
  Asio                build-bench/bench/asio_echo       (when Boost was found)

Sections (--sections, default all):

  throughput  wall-clock msgs/s and latency per scenario, in interleaved rounds
              (A B C ... A', A B C ... A', ...): every ratio is taken against
              the C epoll run of the same round, then summarised as median
              [min, max]; A' is C epoll run again, the A/A row, whose ratio
              shows the noise floor of this machine.
  cost        per message, independent of machine noise: user-space
              instructions (valgrind --tool=callgrind, counters zeroed and
              dumped with callgrind_control exactly around a fixed number of
              messages), syscalls (perf stat -e raw_syscalls:sys_enter on the
              server, enabled exactly around the window; strace -c -f when the
              tracepoint is unavailable), server CPU (utime+stime from
              /proc/PID/stat) -- each in its own run of --cost-messages.
  memory      server RSS per idle connection with --idle-connections open.
  zc          build-bench/bench/zc_threshold: plain vs zero-copy send_all over
              loopback per send size (4 KiB .. 4 MiB), for loop_options::zero_copy_min.

The server runs on --server-cpu (default 1), the load generator on
--loadgen-cpu (default 0). Every echoed byte is verified by the load
generator; any error, a server that does not start, or one that does not exit
0 on SIGTERM is listed under "Failures" and makes the exit status 1.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCENARIOS = {
    "50x64": dict(connections=50, size=64, churn=False, title="50 connections × 64 B"),
    "1000x64": dict(connections=1000, size=64, churn=False, title="1,000 connections × 64 B"),
    "10x16k": dict(connections=10, size=16384, churn=False, title="10 connections × 16 KiB"),
    "1x64": dict(connections=1, size=64, churn=False, title="1 connection × 64 B (latency)"),
    "churn": dict(connections=50, size=64, churn=True,
                  title="connection churn: 50 slots, each connect, one 64 B echo, close"),
}
BASELINE = "c-epoll"
AA = "c-epoll-aa"
LABELS = {
    "coronet-io_uring": "coronet (io_uring)",
    "coronet-io_uring-plain": "coronet (io_uring, plain)",
    "coronet-epoll": "coronet (epoll)",
    "c-epoll": "C epoll",
    "c-io_uring": "C io_uring",
    "asio": "Boost.Asio (C++20 coroutines)",
    AA: "C epoll again (A/A)",
}
# Syscalls broken out per message when their tracepoints exist.
WAKEUP_SYSCALLS = ["io_uring_enter", "epoll_wait", "epoll_pwait", "epoll_pwait2"]
# The environment a server runs with, on top of run.py's own (coronet's rows set
# CORONET_FAST_PATHS explicitly, so an inherited value cannot change them).
SERVER_ENV = {
    "coronet-io_uring": {"CORONET_FAST_PATHS": "1"},
    "coronet-io_uring-plain": {"CORONET_FAST_PATHS": "0"},
}
SYSCALL_BREAKDOWN = ["io_uring_enter", "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl",
                     "recvfrom", "sendto", "recvmsg", "sendmsg", "read", "write", "readv", "writev",
                     "accept4", "close"]


class BenchError(Exception):
    pass


# ----------------------------------------------------------------------------- processes

class LineReader:
    """Lines from a pipe, with a timeout per line (select + os.read)."""

    def __init__(self, pipe):
        self.fd = pipe.fileno()
        self.buf = b""
        self.eof = False

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 65536)
                if chunk:
                    self.buf += chunk
                else:
                    self.eof = True
        if b"\n" in self.buf:
            line, _, self.buf = self.buf.partition(b"\n")
        else:
            line, self.buf = self.buf, b""
            if not line:
                return None
        return line.decode(errors="replace")


def pin_to(cpu):
    def preexec():
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
    return preexec


def tail(f, limit=600):
    f.seek(0)
    text = f.read().decode(errors="replace").strip()
    return text[-limit:]


class Server:
    def __init__(self, key, argv, cpu, wrapper=(), banner_timeout=30):
        self.key, self.argv, self.cpu = key, list(argv), cpu
        self.wrapper, self.banner_timeout = list(wrapper), banner_timeout
        self.proc = None
        self.features = None  # coronet's "backend features: ..." line, when printed

    def start(self):
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ, **SERVER_ENV.get(self.key, {}))
        self.proc = subprocess.Popen(self.wrapper + self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.stderr,
                                     preexec_fn=pin_to(self.cpu), env=env)
        self.stdout = LineReader(self.proc.stdout)
        try:
            line = self.stdout.readline(self.banner_timeout)
        except TimeoutError:
            line = None
        m = re.search(r"listening on ([0-9.]+):(\d+)", line or "")
        if not m:
            self.kill()
            raise BenchError(f"{self.key}: no 'listening on' banner (got {line!r}); "
                             f"stderr: {tail(self.stderr)}")
        self.banner = line.strip()
        self.host, self.port = m.group(1), int(m.group(2))
        if "(backend: " in self.banner:  # coronet prints its features on the next line
            try:
                line = self.stdout.readline(5)
            except TimeoutError:
                line = None
            if line and line.startswith("backend features: "):
                self.features = line.split(": ", 1)[1].strip()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, timeout=30):
        """SIGTERM; returns None if it exited 0, else a description."""
        if self.proc is None or self.proc.poll() is not None:
            rc = None if self.proc is None else self.proc.returncode
            return None if rc == 0 else f"{self.key} had already exited with {rc}: {tail(self.stderr)}"
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return f"{self.key} did not exit within {timeout}s of SIGTERM (killed)"
        finally:
            self.proc.stdout.close()
        return None if rc == 0 else f"{self.key} exited with {rc} after SIGTERM: {tail(self.stderr)}"

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Loadgen:
    """bench/loadgen; with pause=True the driver releases each phase (see loadgen.c)."""

    def __init__(self, exe, server, cpu, connections, size, depth=1, duration=5.0, warmup=1.0,
                 churn=False, idle=False, messages=None, pause=False, threads=1):
        argv = [str(exe), "--host", server.host, "--port", str(server.port),
                "--connections", str(connections), "--size", str(size), "--depth", str(depth),
                "--duration", str(duration), "--warmup", str(warmup)]
        if cpu is not None:
            argv += ["--cpu", str(cpu)]
        if threads > 1:
            argv += ["--threads", str(threads)]
        if churn:
            argv.append("--churn")
        if idle:
            argv.append("--idle")
        if messages:
            argv += ["--messages", str(messages)]
        if pause:
            argv.append("--pause")
        self.argv = argv
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr)
        self.stdout = LineReader(self.proc.stdout)

    def next_json(self, timeout):
        try:
            line = self.stdout.readline(timeout)
        except TimeoutError:
            self.kill()
            raise BenchError(f"loadgen: no output within {timeout:.0f}s ({shlex.join(self.argv)})")
        if line is None:
            self.proc.wait()
            raise BenchError(f"loadgen exited with {self.proc.returncode} without a result: "
                             f"{tail(self.stderr)}")
        try:
            return json.loads(line)
        except ValueError:
            raise BenchError(f"loadgen: unexpected output {line!r}")

    def release(self):
        """Lets a paused loadgen go on."""
        self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()

    def finish(self, timeout=60):
        """Waits for the exit; returns the error text ('' if none)."""
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return "loadgen did not exit (killed)"
        self.proc.stdout.close()
        return "" if rc == 0 else f"loadgen exited with {rc}: {tail(self.stderr)}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def result_problems(res, what):
    problems = []
    if res.get("errors"):
        problems.append(f"{what}: {res['errors']} error(s) (failed connections or echoed bytes that "
                        f"did not verify)")
    if res.get("timeout"):
        problems.append(f"{what}: did not finish its messages in time")
    return problems


# ----------------------------------------------------------------------------- setup

def run_quiet(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def ensure_build(build, no_build):
    if no_build:
        return
    if not (build / "build.ninja").exists():
        cmd = ["meson", "setup", str(build), "-Dbench=true", "-Dtests=false", "--buildtype=release"]
        print("+", shlex.join(cmd), file=sys.stderr)
        subprocess.run(cmd, cwd=ROOT, check=True)
    else:
        opts = json.loads(run_quiet(["meson", "introspect", str(build), "--buildoptions"]).stdout)
        if not any(o["name"] == "bench" and o["value"] is True for o in opts):
            cmd = ["meson", "configure", str(build), "-Dbench=true"]
            print("+", shlex.join(cmd), file=sys.stderr)
            subprocess.run(cmd, cwd=ROOT, check=True)
    cmd = ["ninja", "-C", str(build)]
    print("+", shlex.join(cmd), file=sys.stderr)
    r = run_quiet(cmd, cwd=ROOT)
    if r.returncode != 0:
        raise BenchError("the build failed (last lines below); fix it, or run with --no-build to use "
                         "the binaries already in " + str(build) + "\n" + r.stdout[-3000:])


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(need, soft)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))  # root only
            return
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def server_defs(args):
    build = args.build_dir
    coronet = Path(args.coronet_server) if args.coronet_server else build / "examples" / "echo_server"
    defs = {
        "coronet-io_uring": [str(coronet), "--port", "0", "--backend", "io_uring"],
        "coronet-io_uring-plain": [str(coronet), "--port", "0", "--backend", "io_uring"],
        "coronet-epoll": [str(coronet), "--port", "0", "--backend", "epoll"],
        "c-epoll": [str(build / "bench" / "epoll_echo"), "--port", "0"],
        "c-io_uring": [str(build / "bench" / "uring_echo"), "--port", "0"],
        "asio": [str(build / "bench" / "asio_echo"), "--port", "0"],
    }
    chosen = {}
    for key in args.servers:
        argv = defs[key]
        if not Path(argv[0]).exists():
            if key == "asio":
                print("note: asio_echo was not built (no Boost headers): skipping Asio", file=sys.stderr)
                continue
            raise BenchError(f"{argv[0]} does not exist (build failed?)")
        chosen[key] = argv
    if BASELINE not in chosen:
        raise BenchError("the C epoll baseline (c-epoll) must be among --servers")
    return chosen


def syscall_tool(choice):
    if choice in ("auto", "perf") and shutil.which("perf"):
        r = run_quiet(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "--", "true"])
        if r.returncode == 0 and re.search(r"^\d+,[^,]*,raw_syscalls:sys_enter", r.stdout, re.M):
            return "perf"
        if choice == "perf":
            raise BenchError("perf cannot count raw_syscalls:sys_enter here:\n" + r.stdout[-500:])
    if choice in ("auto", "strace") and shutil.which("strace"):
        return "strace"
    return None


def tracefs_events():
    for base in ("/sys/kernel/tracing/events/syscalls", "/sys/kernel/debug/tracing/events/syscalls"):
        try:
            names = set(os.listdir(base))
        except OSError:
            continue
        return [s for s in SYSCALL_BREAKDOWN if "sys_enter_" + s in names]
    return []


def machine_info(args):
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    def out(argv):
        try:
            return run_quiet(argv, cwd=ROOT).stdout.strip()
        except OSError:
            return ""
    commit = out(["git", "rev-parse", "--short", "HEAD"])
    dirty = bool(out(["git", "status", "--porcelain", "--untracked-files=no"]))
    return {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "cpu": cpu,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "compiler": out(["cc", "--version"]).splitlines()[0] if out(["cc", "--version"]) else "",
        "commit": commit + (" (working tree with uncommitted changes)" if dirty else ""),
        "coronet_server": str(args.coronet_server or args.build_dir / "examples" / "echo_server"),
        "loadavg_start": os.getloadavg(),
    }


# ----------------------------------------------------------------------------- /proc

def proc_cpu_seconds(pid):
    """(utime, stime) of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def proc_vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for {pid}")


def proc_fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


# ----------------------------------------------------------------------------- measurements

class Bench:
    def __init__(self, args):
        self.args = args
        self.loadgen_exe = args.build_dir / "bench" / "loadgen"
        if not self.loadgen_exe.exists():
            raise BenchError(f"{self.loadgen_exe} does not exist (build failed?)")
        self.servers = server_defs(args)
        self.failures = []
        self.results = {"throughput": {}, "cost": {}, "memory": {}, "zc": [], "features": {}}

    def log(self, msg):
        print(msg, file=sys.stderr, flush=True)

    def fail(self, msg):
        self.failures.append(msg)
        self.log("FAILED: " + msg)

    def server(self, key, wrapper=(), banner_timeout=30):
        return FeatureNotingServer(self, key, self.servers[key], self.args.server_cpu, wrapper,
                                   banner_timeout)

    # -- throughput -------------------------------------------------------------------------

    def throughput(self):
        a = self.args
        order = [k for k in self.servers if k == BASELINE] + [k for k in self.servers if k != BASELINE]
        order.append(AA)
        for name in a.scenarios:
            sc = SCENARIOS[name]
            per = {k: [] for k in order}
            for rnd in range(1, a.rounds + 1):
                for key in order:
                    res = self.throughput_run(BASELINE if key == AA else key, sc)
                    per[key].append(res)
                    if res:
                        self.log(f"[{name} round {rnd}/{a.rounds}] {LABELS[key]}: "
                                 f"{res['msgs_per_s']:.0f} msgs/s, p99 {res['p99_us']:.1f} us, "
                                 f"errors {res['errors']}")
            self.results["throughput"][name] = per

    def throughput_run(self, key, sc):
        a = self.args
        srv = self.server(key)
        try:
            srv.start()
        except (BenchError, OSError, subprocess.SubprocessError) as e:
            self.fail(str(e))
            return None
        res = None
        try:
            lg = Loadgen(self.loadgen_exe, srv, a.loadgen_cpu, sc["connections"], sc["size"], a.depth,
                         a.duration, a.warmup, churn=sc["churn"])
            res = lg.next_json(a.warmup + a.duration + 90)
            err = lg.finish()
            if err and not res.get("errors"):
                self.fail(f"{key} {sc['title']}: {err}")
            for p in result_problems(res, f"{key} {sc['title']}"):
                self.fail(p)
        except (BenchError, OSError, subprocess.SubprocessError) as e:
            self.fail(f"{key} {sc['title']}: {e}")
        finally:
            err = srv.stop()
            if err:
                self.fail(err)
        return res

    # -- cost per message -------------------------------------------------------------------

    def cost(self):
        a = self.args
        tool = syscall_tool(a.syscall_tool)
        self.syscall_tool = tool
        breakdown = tracefs_events() if tool == "perf" else []
        have_callgrind = bool(shutil.which("valgrind") and shutil.which("callgrind_control"))
        if not have_callgrind and not a.no_callgrind:
            self.fail("valgrind/callgrind_control not found: no instruction counts (apt-get install valgrind)")
        wake_names = [n for n in breakdown if n in WAKEUP_SYSCALLS]
        for name in a.cost_scenarios:
            sc = SCENARIOS[name]
            out = {}
            for key in self.servers:
                row = {}
                if have_callgrind and "instructions" in a.cost_metrics and not a.no_callgrind:
                    hooks = self.callgrind_hooks()
                    if wake_names:  # count the wake-ups of the same window: the batching
                        hooks = combine_hooks(hooks, self.syscall_hooks(tool, wake_names, total=False))
                    got = self.fixed_window(key, sc, a.callgrind_messages, *hooks, valgrind=True)
                    if isinstance(got, tuple):
                        instr, wakes = got
                        n = sum((wakes or {}).get("breakdown", {}).values())
                        if n:
                            row["callgrind_msgs_per_wakeup"] = round(1 / n, 2)
                        got = instr
                    row["instructions_per_msg"] = got
                if tool and "syscalls" in a.cost_metrics:
                    row["syscalls"] = self.fixed_window(key, sc, a.cost_messages,
                                                        *self.syscall_hooks(tool, breakdown))
                if "cpu" in a.cost_metrics:
                    row["cpu_us_per_msg"] = self.fixed_window(key, sc, a.cost_messages,
                                                              *self.cpu_hooks())
                out[key] = row
                self.log(f"[cost {name}] {LABELS[key]}: {json.dumps(row)}")
            self.results["cost"][name] = out
        self.results["cost_meta"] = {"syscall_tool": tool, "callgrind_messages": a.callgrind_messages,
                                     "cost_messages": a.cost_messages}

    def fixed_window(self, key, sc, messages, before, after, valgrind=False):
        """One server, one loadgen with --messages --pause: before(srv) runs once the
        warm-up has drained, after(srv, state, msgs) once exactly `messages` are done."""
        a = self.args
        wrapper, tmp = (), None
        if valgrind:
            tmp = tempfile.mkdtemp(prefix="coronet-callgrind-")
            wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                       f"--callgrind-out-file={tmp}/cg.out"]
        srv = self.server(key, wrapper, banner_timeout=120 if valgrind else 30)
        srv.tmp = tmp
        what = f"{key} cost {'(callgrind) ' if valgrind else ''}{sc['title']}"
        try:
            srv.start()
        except (BenchError, OSError, subprocess.SubprocessError) as e:
            self.fail(str(e))
            return None
        value = None
        lg = None
        try:
            if valgrind:
                self.callgrind_control(srv, "-i", "on")
            lg = Loadgen(self.loadgen_exe, srv, a.loadgen_cpu, sc["connections"], sc["size"], a.depth,
                         duration=900 if valgrind else 300, warmup=a.cost_warmup, churn=sc["churn"],
                         messages=messages, pause=True)
            first = lg.next_json(a.cost_warmup + 600)
            if first.get("phase") != "warm":
                raise BenchError(f"loadgen: expected the warm phase, got {first}")
            state = before(srv)
            lg.release()
            res = lg.next_json(900)
            problems = result_problems(res, what)
            if res.get("msgs") != messages:
                problems.append(f"{what}: {res.get('msgs')} messages instead of {messages}")
            if problems:
                for p in problems:
                    self.fail(p)
            value = after(srv, state, messages)
            lg.release()
            err = lg.finish()
            if err and not problems:
                self.fail(f"{what}: {err}")
        except (BenchError, OSError, subprocess.SubprocessError) as e:
            self.fail(f"{what}: {e}")
            if lg:
                lg.kill()
        finally:
            err = srv.stop(timeout=120 if valgrind else 30)
            if err:
                self.fail(err)
            if tmp:
                if a.callgrind_dir:  # keep the dumps for callgrind_annotate
                    os.makedirs(a.callgrind_dir, exist_ok=True)
                    for i, d in enumerate(sorted(f for f in os.listdir(tmp) if f != "cg.out")):
                        shutil.copy(os.path.join(tmp, d),
                                    os.path.join(a.callgrind_dir, f"{key}-{sc['connections']}x{sc['size']}{'-churn' if sc['churn'] else ''}.{i}.out"))
                shutil.rmtree(tmp, ignore_errors=True)
        return value

    def callgrind_control(self, srv, *cmd):
        r = run_quiet(["callgrind_control", *cmd, str(srv.pid)], timeout=120)
        if r.returncode != 0 or "OK" not in r.stdout:
            raise BenchError(f"callgrind_control {' '.join(cmd)} failed: {r.stdout.strip()[-300:]}")

    def callgrind_hooks(self):
        def before(srv):
            self.callgrind_control(srv, "-z")

        def after(srv, _state, messages):
            before_dump = set(os.listdir(srv.tmp))
            self.callgrind_control(srv, "-d")
            dumps = sorted(set(os.listdir(srv.tmp)) - before_dump)
            if not dumps:
                raise BenchError("callgrind wrote no dump file")
            total = 0
            for d in dumps:  # one file, or one per thread
                with open(os.path.join(srv.tmp, d)) as f:
                    for line in f:
                        if line.startswith("summary:"):
                            total += int(line.split()[1])
            return round(total / messages, 1)
        return before, after

    def syscall_hooks(self, tool, breakdown, total=True):
        events = (["raw_syscalls:sys_enter"] if total else []) + \
            ["syscalls:sys_enter_" + s for s in breakdown]

        def before_perf(srv):
            d = tempfile.mkdtemp(prefix="coronet-perf-")
            ctl, ack, out = f"{d}/ctl", f"{d}/ack", f"{d}/out.csv"
            os.mkfifo(ctl)
            os.mkfifo(ack)
            ack_fd = os.open(ack, os.O_RDONLY | os.O_NONBLOCK)
            proc = subprocess.Popen(["perf", "stat", "-x", ",", "-o", out, "-e", ",".join(events),
                                     "-D", "-1", "--control", f"fifo:{ctl},{ack}", "-p", str(srv.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 30
            while True:  # perf opens the control fifo once it is attached
                try:
                    ctl_fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK)
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        proc.kill()
                        raise BenchError("perf stat did not start: " + proc.stderr.read().decode()[-300:])
                    time.sleep(0.01)
            st = dict(dir=d, proc=proc, ctl=ctl_fd, ack=ack_fd, out=out)
            perf_command(st, b"enable")
            return st

        def after_perf(srv, st, messages):
            perf_command(st, b"disable")
            st["proc"].send_signal(signal.SIGINT)
            st["proc"].wait(30)
            os.close(st["ctl"])
            os.close(st["ack"])
            counts = {}
            with open(st["out"]) as f:
                for line in f:
                    parts = line.strip().split(",")
                    if len(parts) >= 3 and parts[0].isdigit():
                        counts[parts[2].split(":")[-1].replace("sys_enter_", "")] = int(parts[0])
            shutil.rmtree(st["dir"], ignore_errors=True)
            if total and "sys_enter" not in counts:
                raise BenchError("perf stat counted nothing")
            return {"tool": "perf",
                    "per_msg": round(counts.pop("sys_enter") / messages, 3) if total else None,
                    "breakdown": {k: round(v / messages, 4) for k, v in counts.items() if v}}

        def before_strace(srv):
            d = tempfile.mkdtemp(prefix="coronet-strace-")
            out = f"{d}/out.txt"
            proc = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(srv.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            reader = LineReader(proc.stderr)
            try:
                line = reader.readline(30)
            except TimeoutError:
                line = None
            if not line or "attached" not in line:
                proc.kill()
                raise BenchError(f"strace did not attach: {line!r}")
            return dict(dir=d, proc=proc, out=out)

        def after_strace(srv, st, messages):
            st["proc"].send_signal(signal.SIGINT)
            st["proc"].wait(30)
            calls, breakdown = None, {}
            with open(st["out"]) as f:
                for line in f:
                    p = line.split()
                    if len(p) >= 5 and p[-1] == "total":
                        calls = int(p[3])
                    elif len(p) >= 5 and re.match(r"^[\d.]+$", p[0]) and p[3].isdigit():
                        breakdown[p[-1]] = round(int(p[3]) / messages, 3)
            shutil.rmtree(st["dir"], ignore_errors=True)
            if calls is None:
                raise BenchError("could not parse strace -c output")
            return {"tool": "strace", "per_msg": round(calls / messages, 3), "breakdown": breakdown}

        return (before_perf, after_perf) if tool == "perf" else (before_strace, after_strace)

    def cpu_hooks(self):
        def before(srv):
            return proc_cpu_seconds(srv.pid)

        def after(srv, t0, messages):
            t1 = proc_cpu_seconds(srv.pid)
            user, sys_ = ((b - a) / messages * 1e6 for a, b in zip(t0, t1))
            return {"total": round(user + sys_, 3), "user": round(user, 3), "sys": round(sys_, 3)}
        return before, after

    # -- zero-copy threshold ----------------------------------------------------------------

    def zc(self):
        a = self.args
        exe = a.build_dir / "bench" / "zc_threshold"
        if not exe.exists():
            self.fail(f"{exe} does not exist (build failed?)")
            return
        argv = [str(exe), "--json", "--total-mib", str(a.zc_total_mib), "--repeat", str(a.zc_repeat),
                "--sender-cpu", str(-1 if a.server_cpu is None else a.server_cpu),
                "--reader-cpu", str(-1 if a.loadgen_cpu is None else a.loadgen_cpu)]
        self.results["zc_argv"] = argv[1:]
        self.log("+ " + shlex.join(argv))
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=3600)
        except subprocess.TimeoutExpired:
            self.fail("zc_threshold did not finish within an hour")
            return
        if r.returncode == 77:
            self.results["zc_skipped"] = r.stderr.strip()
            self.log("zc: skipped: " + r.stderr.strip())
            return
        for line in r.stdout.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            self.results["zc"].append(row)
            self.log(f"[zc] {row['size'] >> 10} KiB: plain {row['plain_mb_per_s']:.0f} MB/s, "
                     f"zero-copy {row['zc_mb_per_s']:.0f} MB/s, ratio {row['ratio']:.2f}")
        if r.returncode != 0 or not self.results["zc"]:
            self.fail(f"zc_threshold exited with {r.returncode}: {r.stderr.strip()[-600:]}")

    # -- memory -----------------------------------------------------------------------------

    def memory(self):
        a = self.args
        n = a.idle_connections
        for key in self.servers:
            srv = self.server(key)
            try:
                srv.start()
            except (BenchError, OSError, subprocess.SubprocessError) as e:
                self.fail(str(e))
                continue
            what = f"{key} memory ({n} idle connections)"
            lg = None
            try:
                time.sleep(0.2)
                rss0, fds0 = proc_vmrss_kib(srv.pid), proc_fd_count(srv.pid)
                lg = Loadgen(self.loadgen_exe, srv, a.loadgen_cpu, n, 64, idle=True, pause=True,
                             duration=1, warmup=0)
                res = lg.next_json(180)
                for p in result_problems(res, what):
                    self.fail(p)
                time.sleep(0.2)
                rss1, fds1 = proc_vmrss_kib(srv.pid), proc_fd_count(srv.pid)
                lg.release()
                err = lg.finish()
                if err and not res.get("errors"):
                    self.fail(f"{what}: {err}")
                if fds1 - fds0 != n:
                    self.fail(f"{what}: the server holds {fds1 - fds0} new fds, not {n}")
                row = {"connections": n, "rss_before_kib": rss0, "rss_after_kib": rss1,
                       "bytes_per_connection": round((rss1 - rss0) * 1024 / n)}
                self.results["memory"][key] = row
                self.log(f"[memory] {LABELS[key]}: {json.dumps(row)}")
            except (BenchError, OSError, subprocess.SubprocessError) as e:
                self.fail(f"{what}: {e}")
                if lg:
                    lg.kill()
            finally:
                err = srv.stop()
                if err:
                    self.fail(err)


class FeatureNotingServer(Server):
    """A Server that records coronet's backend features line in the results."""

    def __init__(self, bench, *args):
        super().__init__(*args)
        self.bench = bench

    def start(self):
        super().start()
        if self.features and not self.wrapper:
            self.bench.results["features"].setdefault(self.key, self.features)
        return self


def combine_hooks(first, second):
    """Runs two measurements over one window: `first` innermost (its before last,
    its after first); the result is the pair of their results."""
    def before(srv):
        s2 = second[0](srv)
        return s2, first[0](srv)

    def after(srv, state, messages):
        s2, s1 = state
        r1 = first[1](srv, s1, messages)
        return r1, second[1](srv, s2, messages)
    return before, after


def perf_command(st, cmd):
    os.write(st["ctl"], cmd + b"\n")
    deadline = time.monotonic() + 30
    buf = b""
    while b"ack" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"perf did not acknowledge '{cmd.decode()}'")
        ready, _, _ = select.select([st["ack"]], [], [], left)
        if ready:
            try:
                buf += os.read(st["ack"], 64)
            except BlockingIOError:
                pass
        if st["proc"].poll() is not None:
            raise BenchError("perf exited: " + st["proc"].stderr.read().decode()[-300:])


# ----------------------------------------------------------------------------- report

def fmt_num(v, digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def render(bench, info, argv, started, finished):
    a = bench.args
    r = bench.results
    servers = list(bench.servers)
    L = []
    L.append("# coronet benchmarks\n")
    if a.note:
        L.append(f"> **{a.note}**\n")
    L.append("Produced by `bench/run.py` (see [`bench/README.md`](../bench/README.md)) with:\n")
    L.append("```sh\n" + "python3 bench/run.py " + shlex.join(argv) + "\n```\n")
    L.append(f"- date: {started:%Y-%m-%d %H:%M} – {finished:%H:%M} UTC")
    load_end = info.get("loadavg_end", os.getloadavg())
    L.append(f"- machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']} GiB, "
             f"Linux {info['kernel']}; load average at start {info['loadavg_start'][0]:.2f}, "
             f"at end {load_end[0]:.2f}")
    L.append(f"- compiler: {info['compiler']}; build: meson `--buildtype=release`")
    if a.coronet_server:
        L.append(f"- coronet: server binary `{info['coronet_server']}` (given with --coronet-server); "
                 f"repository at commit {info['commit']}")
    else:
        L.append(f"- coronet: commit {info['commit']}; server binary `{info['coronet_server']}`")
    L.append(f"- pinning: servers on CPU {a.server_cpu}, load generator on CPU {a.loadgen_cpu}; "
             f"messages in flight per connection (depth): {a.depth}")
    if "coronet-io_uring-plain" in servers and set(a.sections) & {"cost", "memory", "throughput"}:
        L.append("- coronet (io_uring, plain) is the same `echo_server --backend io_uring` run with "
                 "`CORONET_FAST_PATHS=0` (plain one-shot operations); coronet (io_uring) runs with "
                 "`CORONET_FAST_PATHS=1`")
    for key, features in r.get("features", {}).items():
        L.append(f"- {LABELS[key]} backend features: `{features}`")
    L.append("")
    L.extend(render_targets(bench))
    L.extend(render_fast_paths(bench))

    if "cost" in a.sections and r["cost"]:
        meta = r.get("cost_meta", {})
        tool = meta.get("syscall_tool")
        how_sys = {"perf": "`perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_NAME... -p PID`, "
                           "started disabled and enabled/disabled through `--control` exactly around "
                           "the window",
                   "strace": "`strace -c -f -p PID`, attached after the warm-up and detached after "
                             "the window"}.get(tool, "not measured (neither perf nor strace works here)")
        L.append("## Cost per message\n")
        L.append("Each number comes from its own server run: the load generator warms up, drains, "
                 "then runs an exact number of messages, and the counters are read around exactly "
                 "that window.\n")
        L.append(f"- **instructions / msg**: user-space instructions (all code in the server process: "
                 f"the server, libc, liburing), `valgrind --tool=callgrind --instr-atstart=no`, "
                 f"counters zeroed (`callgrind_control -z`) and dumped (`-d`) around "
                 f"{meta.get('callgrind_messages'):,} messages.")
        L.append("- **msgs / wake-up**: in that same callgrind window, messages divided by the "
                 "wake-up syscalls (`io_uring_enter`, `epoll_wait`, `epoll_pwait`, `epoll_pwait2`) "
                 "perf counted: the batch size the instruction count was taken at.")
        L.append(f"- **syscalls / msg** and by name: {how_sys}, over {meta.get('cost_messages'):,} "
                 f"messages (tool: {tool or 'none'}).")
        L.append(f"- **server CPU µs / msg**: utime + stime of the server (all threads) from "
                 f"/proc/PID/stat, split user + sys, over {meta.get('cost_messages'):,} messages in a "
                 f"separate run. A time, not a count: noisy on a busy machine (and 10 ms ticks).")
        L.append("")
        L.append("Instruction and syscall counts do not depend on the machine's speed or load, with "
                 "one caveat: the work of a wake-up (one `epoll_wait` or `io_uring_enter` and its "
                 "loop turn) is shared by the messages it serves, so with more than one connection "
                 "the counts per message depend on batching, i.e. on timing. Under callgrind a server "
                 "runs ~50x slower and finds more connections ready per wake-up than at full speed; "
                 "compare instruction counts at similar msgs / wake-up. With one connection (1x64) "
                 "every wake-up serves one message, and the counts are exact and repeatable. "
                 "Syscalls per message vary between runs too, most for io_uring, where one "
                 "`io_uring_enter` serves a whole batch.\n")
        if len(r["cost"]) > 1:
            names = list(r["cost"])
            L.append("Instructions per message, all cost scenarios:\n")
            L.append("| server | " + " | ".join(names) + " |")
            L.append("|---|" + "---:|" * len(names))
            for key in servers:
                L.append(f"| {LABELS[key]} | " + " | ".join(
                    fmt_num(r["cost"][n].get(key, {}).get("instructions_per_msg")) for n in names) + " |")
            L.append("")
        for name, rows in r["cost"].items():
            sc = SCENARIOS[name]
            L.append(f"### {name}: {sc['title']}\n")
            L.append("| server | instructions / msg | msgs / wake-up | syscalls / msg | "
                     "syscalls by name / msg | server CPU µs / msg (user + sys) |")
            L.append("|---|---:|---:|---:|---|---:|")
            for key in servers:
                row = rows.get(key, {})
                sc_ = row.get("syscalls") or {}
                brk = ", ".join(f"{k} {v:.3g}" for k, v in sorted(sc_.get("breakdown", {}).items(),
                                                                  key=lambda kv: -kv[1]))
                cpu = row.get("cpu_us_per_msg")
                cpu = (f"{cpu['total']:.2f} ({cpu['user']:.2f} + {cpu['sys']:.2f})" if cpu else "—")
                L.append(f"| {LABELS[key]} | {fmt_num(row.get('instructions_per_msg'))} | "
                         f"{fmt_num(row.get('callgrind_msgs_per_wakeup'), 1)} | "
                         f"{fmt_num(sc_.get('per_msg'), 2)} | {brk or '—'} | {cpu} |")
            L.append("")

    if "memory" in a.sections and r["memory"]:
        L.append(f"## Memory — RSS per idle connection ({a.idle_connections:,} connections)\n")
        L.append("Server VmRSS before the load generator connects and once every connection has "
                 "echoed one 64 B message and sits idle (the server waits in a read on each), divided "
                 "by the number of connections.\n")
        L.append("| server | RSS before (KiB) | RSS with connections (KiB) | bytes / connection |")
        L.append("|---|---:|---:|---:|")
        for key in servers:
            row = r["memory"].get(key)
            if row:
                bad = " (failed: see Failures)" if memory_failures(bench, key) else ""
                L.append(f"| {LABELS[key]} | {fmt_num(row['rss_before_kib'])} | "
                         f"{fmt_num(row['rss_after_kib'])} | {fmt_num(row['bytes_per_connection'])}{bad} |")
        L.append("")

    if "throughput" in a.sections and r["throughput"]:
        L.append("## Throughput and latency (wall-clock: noisy on a shared machine)\n")
        L.append(f"{a.rounds} interleaved round(s) of {a.warmup:g} s warm-up + {a.duration:g} s "
                 "measured per server; each round runs C epoll first, then the others, then C epoll "
                 "again (A/A). Ratios are msgs/s divided by the same round's C epoll run, shown as "
                 "median [min, max] over the rounds; the A/A row is the noise floor — a difference "
                 "smaller than its spread is not a difference. Latencies are medians over the rounds "
                 "of each run's percentile. \"Load generator CPU\" is the client's CPU time over the "
                 "window (1.00 = its core was saturated, so the server may not have been). On a "
                 "shared VM these numbers are noisy; the cost table is not.\n")
        for name, per in r["throughput"].items():
            sc = SCENARIOS[name]
            L.append(f"### {name}: {sc['title']}\n")
            L.append("| server | msgs/s (median) | vs C epoll | p50 µs | p99 µs | p99.9 µs | "
                     "load generator CPU | errors |")
            L.append("|---|---:|---|---:|---:|---:|---:|---:|")
            base = per.get(BASELINE, [])
            for key in per:
                runs = per[key]
                ok = [x for x in runs if x]
                ratios = [x["msgs_per_s"] / b["msgs_per_s"] for x, b in zip(runs, base)
                          if x and b and b["msgs_per_s"] > 0]
                med = lambda f: statistics.median([x[f] for x in ok]) if ok else None
                ratio = (f"{statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}]"
                         if ratios else "—")
                errors = sum(x["errors"] for x in ok) if ok else "—"
                L.append(f"| {LABELS[key]} | {fmt_num(med('msgs_per_s'))} | "
                         f"{'1 (baseline)' if key == BASELINE else ratio} | {fmt_num(med('p50_us'), 1)} | "
                         f"{fmt_num(med('p99_us'), 1)} | {fmt_num(med('p999_us'), 1)} | "
                         f"{fmt_num(med('client_cpu'), 2)} | {errors} |")
            L.append("")

    if "zc" in a.sections:
        L.extend(render_zc(bench))

    L.append("## Failures\n")
    if bench.failures:
        L.extend(f"- {f}" for f in bench.failures)
    else:
        L.append("None: every server started, every echoed byte verified, every server exited 0 on "
                 "SIGTERM.")
    L.append("")
    return "\n".join(L)


# The targets. Instruction targets (issue 10): (scenario, coronet row, reference row, max
# ratio); in churn a message is a connection (accept, one echo, close). Against Asio: issue 5.
INSTR_TARGETS = [(sc, "coronet-io_uring", "c-io_uring", 2.0) for sc in ("50x64", "1000x64")] + \
                [(sc, "coronet-epoll", "c-epoll", 2.5) for sc in ("50x64", "1000x64")] + \
                [("churn", "coronet-io_uring", "c-io_uring", 2.0),
                 ("churn", "coronet-epoll", "c-epoll", 2.0),
                 ("50x64", "coronet-io_uring", "asio", 0.15), ("50x64", "coronet-epoll", "asio", 0.15)]
SYSCALL_TARGETS = [("coronet-io_uring", "c-io_uring"), ("coronet-epoll", "c-epoll")]
TARGET_SYSCALL_SCENARIO = "1000x64"
TARGET_THROUGHPUT_SCENARIOS = ["50x64", "1000x64", "10x16k"]
TARGET_THROUGHPUT_ROWS = ["coronet-io_uring", "coronet-epoll"]
TARGET_MSGS_RATIO, TARGET_P99_RATIO, TARGET_RSS_BYTES = 1.0, 1.1, 2048


def round_ratios(per, key, field):
    """Per round: `field` of `key`'s run / the same round's C epoll run."""
    return [x[field] / b[field] for x, b in zip(per.get(key, []), per.get(BASELINE, []))
            if x and b and b[field] > 0]


def fmt_range(v):
    return f"{statistics.median(v):.2f} [{min(v):.2f}, {max(v):.2f}]"


def memory_failures(bench, key):
    """The failures of `key`'s memory run, without the server's name."""
    prefix = f"{key} memory ("
    return [f.split("): ", 1)[-1] for f in bench.failures if f.startswith(prefix)]


def render_targets(bench):
    """The "Targets" table (issues 5 and 10): each target's figure from this run, its ratio, met
    or not."""
    a, r = bench.args, bench.results
    cost, tp, mem = r.get("cost", {}), r.get("throughput", {}), r.get("memory", {})
    rows = []  # (target, measured, ratio, verdict)

    def verdict(ok):
        return "**met**" if ok else "**not met**"

    for scenario, key, ref, limit in INSTR_TARGETS:
        c = cost.get(scenario, {})
        x = c.get(key, {}).get("instructions_per_msg")
        y = c.get(ref, {}).get("instructions_per_msg")
        if x is None or y is None:
            continue
        bx = c[key].get("callgrind_msgs_per_wakeup")
        by = c[ref].get("callgrind_msgs_per_wakeup")
        batch = (f" (at {bx:.1f} vs {by:.1f} msgs / wake-up)" if bx and by else "")
        unit = "connection" if SCENARIOS[scenario]["churn"] else "msg"
        rows.append((f"user-space instructions / {unit}, {scenario}: {LABELS[key]} "
                     f"≤ {limit:g}× {LABELS[ref]}",
                     f"{fmt_num(x)} vs {fmt_num(y)}{batch}", f"{x / y:.2f}×", verdict(x <= limit * y)))
    c1k = cost.get(TARGET_SYSCALL_SCENARIO, {})
    for key, ref in SYSCALL_TARGETS:
        x = (c1k.get(key, {}).get("syscalls") or {}).get("per_msg")
        y = (c1k.get(ref, {}).get("syscalls") or {}).get("per_msg")
        if x is None or y is None:
            continue
        rows.append((f"syscalls / msg, {TARGET_SYSCALL_SCENARIO}: {LABELS[key]} ≤ {LABELS[ref]}",
                     f"{x:.3f} vs {y:.3f}", f"{x / y:.2f}×" if y else "—", verdict(x <= y)))
    uncertain_any = False
    for name in TARGET_THROUGHPUT_SCENARIOS:
        per = tp.get(name)
        if not per:
            continue
        aa_msgs, aa_p99 = round_ratios(per, AA, "msgs_per_s"), round_ratios(per, AA, "p99_us")
        noise_msgs = max((abs(v - 1) for v in aa_msgs), default=0)
        noise_p99 = max((abs(v - 1) for v in aa_p99), default=0)
        for key in TARGET_THROUGHPUT_ROWS:
            for field, limit, what, noise, aa in (
                    ("msgs_per_s", TARGET_MSGS_RATIO, "msgs/s ≥ 1.0×", noise_msgs, aa_msgs),
                    ("p99_us", TARGET_P99_RATIO, "p99 latency ≤ 1.1×", noise_p99, aa_p99)):
                v = round_ratios(per, key, field)
                if not v:
                    continue
                med = statistics.median(v)
                ok = med >= limit if field == "msgs_per_s" else med <= limit
                every = all(x >= limit for x in v) if field == "msgs_per_s" else all(x <= limit for x in v)
                none = all(x < limit for x in v) if field == "msgs_per_s" else all(x > limit for x in v)
                text = verdict(ok)
                if abs(med - limit) <= noise:
                    uncertain_any = True
                    text += f", uncertain (within the A/A noise: A/A {fmt_range(aa)})"
                elif not every and not none:
                    text += " (not in every round)"
                unit = "msgs/s" if field == "msgs_per_s" else "p99 µs"
                mx = statistics.median([x[field] for x in per[key] if x])
                mb = statistics.median([x[field] for x in per[BASELINE] if x])
                rows.append((f"{what} C epoll, {name}: {LABELS[key]}",
                             f"{unit} {fmt_num(mx, 0 if field == 'msgs_per_s' else 1)} vs "
                             f"{fmt_num(mb, 0 if field == 'msgs_per_s' else 1)}",
                             fmt_range(v), text))
    for key in bench.servers:
        if not key.startswith("coronet") or key not in mem:
            continue
        b = mem[key]["bytes_per_connection"]
        target = (f"RSS per idle connection at {mem[key]['connections']:,} connections: "
                  f"{LABELS[key]} ≤ {TARGET_RSS_BYTES:,} B")
        failed = memory_failures(bench, key)
        if failed:  # the server did not serve every connection: the figure is not the target's
            rows.append((target, f"{fmt_num(b)} B, invalid: " + "; ".join(failed), "—",
                         "**not met** (the server did not serve every connection)"))
            continue
        rows.append((target, f"{fmt_num(b)} B", f"{b / TARGET_RSS_BYTES:.2f}× the target",
                     verdict(b <= TARGET_RSS_BYTES)))
    rows.append(("zero heap allocations per message and per accepted connection (steady state)",
                 "0 allocations: proven by tests, not by this benchmark (see below)", "—",
                 "**met** (tests)"))
    if len(rows) == 1:
        return []
    L = ["## Targets (issues 5 and 10)\n"]
    L.append("Every figure below is from this run (the tables further down). Ratios of "
             "instructions and syscalls are single counts; throughput and p99 ratios are per round "
             "against the same round's C epoll run, median [min, max] over the rounds, and the verdict "
             "goes by the median. A throughput or p99 verdict is marked *uncertain* when the median "
             "lies closer to the target than the A/A row strays from 1.0 in the same scenario (the "
             "A/A row runs C epoll against itself: its spread is this machine's noise), and *not in "
             "every round* when single rounds fall on the other side.\n")
    L.append("| target | measured (this run) | ratio | verdict |")
    L.append("|---|---|---|---|")
    L.extend(f"| {t} | {m} | {q} | {v} |" for t, m, q, v in rows)
    L.append("")
    L.append("Zero allocations: `test/net/allocation_test.cpp` replaces the global `operator new` "
             "with a counting one and checks that the count does not move over a steady TCP echo "
             "(2,000 round trips, 64 B, after 200 to warm up), a pooled echo (`recv_pooled` and "
             "`send_all` of the lease, 2,000 round trips each with a plain and a pooled client), a "
             "UDP echo (2,000 datagrams) and a churn of 500 connections (connect, accept, spawn of "
             "the echo task, one echo, close; after 100 to warm up): 0 allocations. The test suite "
             "runs it once per backend: io_uring, io_uring-plain (`CORONET_FAST_PATHS=0`) and "
             "epoll.\n")
    if uncertain_any:
        L.append("Uncertain verdicts are not results: rerun on a quiet machine (more rounds) before "
                 "reading them either way.\n")
    return L


def render_fast_paths(bench):
    """coronet (io_uring) against coronet (io_uring, plain): the fast paths' effect."""
    r = bench.results
    on, off = "coronet-io_uring", "coronet-io_uring-plain"
    if on not in bench.servers or off not in bench.servers:
        return []
    cost, tp, mem = r.get("cost", {}), r.get("throughput", {}), r.get("memory", {})
    names = [n for n in cost if on in cost[n] and off in cost[n]]
    tnames = [n for n in tp if tp[n].get(on) and tp[n].get(off)]
    if not names and not tnames:
        return []
    L = ["## Fast paths: coronet (io_uring) against coronet (io_uring, plain)\n"]
    L.append("The same `echo_server --backend io_uring`, with `CORONET_FAST_PATHS=1` (the fast "
             "paths the backend features line lists) and `=0` (plain one-shot operations). "
             "Instructions and syscalls per message from the cost section; msgs/s as the median "
             "over rounds of the per-round ratio fast / plain (both runs of the same round), [min, "
             "max]; p99 as the medians over rounds.\n")
    L.append("| scenario | instructions / msg: fast | plain | msgs / wake-up: fast | plain | "
             "syscalls / msg: fast | plain | msgs/s fast / plain | p99 µs: fast | plain |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for n in dict.fromkeys(names + tnames):
        c = cost.get(n, {})
        cf, cp = c.get(on, {}), c.get(off, {})
        sf, sp = (cf.get("syscalls") or {}).get("per_msg"), (cp.get("syscalls") or {}).get("per_msg")
        per = tp.get(n, {})
        ratios = [x["msgs_per_s"] / y["msgs_per_s"] for x, y in zip(per.get(on, []), per.get(off, []))
                  if x and y and y["msgs_per_s"] > 0]
        p99 = lambda k: (statistics.median([x["p99_us"] for x in per[k] if x])
                         if any(per.get(k, [])) else None)
        L.append(f"| {n} | {fmt_num(cf.get('instructions_per_msg'))} | "
                 f"{fmt_num(cp.get('instructions_per_msg'))} | "
                 f"{fmt_num(cf.get('callgrind_msgs_per_wakeup'), 1)} | "
                 f"{fmt_num(cp.get('callgrind_msgs_per_wakeup'), 1)} | {fmt_num(sf, 3)} | "
                 f"{fmt_num(sp, 3)} | {fmt_range(ratios) if ratios else '—'} | "
                 f"{fmt_num(p99(on), 1)} | {fmt_num(p99(off), 1)} |")
    if on in mem and off in mem:
        L.append("")
        bad = lambda k: " (invalid: the run failed, see Failures)" if memory_failures(bench, k) else ""
        L.append(f"RSS per idle connection: {fmt_num(mem[on]['bytes_per_connection'])} B with the "
                 f"fast paths{bad(on)}, {fmt_num(mem[off]['bytes_per_connection'])} B without{bad(off)}.")
    L.append("")
    return L


def render_zc(bench):
    a, r = bench.args, bench.results
    L = ["## Zero-copy send threshold\n"]
    if r.get("zc_skipped"):
        return L + [f"Not measured: {r['zc_skipped']}\n"]
    rows = r.get("zc") or []
    if not rows:
        return L + ["Not measured: zc_threshold failed (see Failures).\n"]
    L.append("`bench/zc_threshold` (run by `bench/run.py --sections zc`; directly: "
             "`build-bench/bench/" + shlex.join(["zc_threshold", *r.get("zc_argv", [])]) + "`): "
             "one coronet loop (io_uring, fast paths on) `send_all()`s the same S-byte buffer "
             f"over one loopback TCP connection until {a.zc_total_mib} MiB are sent; a plain thread "
             "drains the socket with blocking `recv` (1 MiB buffer). Plain: `zero_copy_min = "
             "SIZE_MAX`; zero-copy forced: `zero_copy_min = 1, zero_copy_local = true`. "
             f"{a.zc_repeat} repeat(s) per size and mode, the modes alternating; MB/s (10^6 B/s, "
             "first send to the reader's EOF) and CPU are medians, the ratio is zero-copy / plain "
             "of the same repeat, median [min, max]. Sender CPU is the loop thread's user + sys "
             "time (on loopback it includes the receive side's TCP processing, done in its "
             "softirq); process CPU adds the reader and any io_uring worker. SEND_ZC is "
             "`event_loop::stats().zero_copy_sends` per zero-copy run (0 in every plain run).\n")
    L.append("| send size | plain MB/s | zero-copy MB/s | zero-copy / plain | sender CPU ms/GiB: "
             "plain | zero-copy | process CPU ms/GiB: plain | zero-copy | SEND_ZC / run |")
    L.append("|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for x in rows:
        size = x["size"]
        label = f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"
        L.append(f"| {label} | {fmt_num(x['plain_mb_per_s'])} | {fmt_num(x['zc_mb_per_s'])} | "
                 f"{x['ratio']:.2f} [{x['ratio_min']:.2f}, {x['ratio_max']:.2f}] | "
                 f"{fmt_num(x['plain_sender_cpu_ms_per_gib'])} | "
                 f"{fmt_num(x['zc_sender_cpu_ms_per_gib'])} | "
                 f"{fmt_num(x['plain_process_cpu_ms_per_gib'])} | "
                 f"{fmt_num(x['zc_process_cpu_ms_per_gib'])} | {x['zc_zero_copy_sends']:,} |")
    L.append("")
    name = lambda x: f"{x['size'] >> 20} MiB" if x["size"] >= 1 << 20 else f"{x['size'] >> 10} KiB"
    faster = [x for x in rows if x["ratio_min"] > 1]
    slower = [x for x in rows if x["ratio_max"] < 1]
    costlier = [x for x in rows if x["zc_sender_cpu_ms_per_gib"] > x["plain_sender_cpu_ms_per_gib"]]
    used = all(x["zc_zero_copy_sends"] > 0 for x in rows)
    ratios = [x["ratio"] for x in rows]
    if not used:
        verdict = ("Some zero-copy runs made no SEND_ZC request (a kernel without it, or fast paths "
                   "off): those rows compare plain with plain.")
    elif len(slower) == len(rows):
        verdict = (f"Measured: forced zero-copy was slower than plain sends at every size from "
                   f"{name(rows[0])} to {name(rows[-1])} (median ratio {min(ratios):.2f} to "
                   f"{max(ratios):.2f}, every repeat below 1)")
    elif faster:
        verdict = ("Measured: forced zero-copy was faster in every repeat at " +
                   ", ".join(name(x) for x in faster) + f", and slower in every repeat at "
                   f"{len(slower)} of {len(rows)} sizes")
    else:
        verdict = (f"Measured: forced zero-copy was slower in every repeat at {len(slower)} of "
                   f"{len(rows)} sizes and never faster in every repeat (median ratio "
                   f"{min(ratios):.2f} to {max(ratios):.2f})")
    if used:
        verdict += (f"; its sender CPU per GiB was higher at {len(costlier)} of {len(rows)} sizes.")
    L.append(f"**Conclusion.** {verdict} On loopback zero-copy cannot pay off: the kernel "
             "never hands the sender's pages to the receiver — a looped-back zero-copy skb is "
             "copied on delivery anyway (the \"deferred copy\" of the kernel's msg_zerocopy "
             "documentation) — while the sender still pins the pages, and a SEND_ZC completes "
             "only with its notification, when TCP frees the skb, i.e. once the receiver has "
             "acknowledged the data (bytes still queued behind a closed receive window wait for "
             "the reader). A `send_all` therefore waits about one ACK round trip (or a "
             "delayed-ACK timer, ~40 ms, when the reader is slow) before the next send can start, "
             "instead of returning as soon as the bytes are in the socket buffer. So the defaults "
             "stand for local peers: zero-copy stays off for them (`zero_copy_local = false`). "
             "These numbers say nothing for or against `zero_copy_min = 64 KiB` for peers on "
             "another host, where zero-copy does skip a copy: that needs a real NIC and a "
             "remote reader to measure.\n")
    return L


# ----------------------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per run (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run (default 1)")
    p.add_argument("--depth", type=int, default=1, help="messages in flight per connection (default 1)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help="comma-separated, from " + ",".join(SCENARIOS))
    p.add_argument("--servers",
                   default="coronet-io_uring,coronet-io_uring-plain,coronet-epoll,c-epoll,c-io_uring,asio",
                   help="comma-separated (default all; asio is skipped when not built)")
    p.add_argument("--sections", default="cost,memory,throughput,zc",
                   help="comma-separated from cost,memory,throughput,zc (default all)")
    p.add_argument("--cost-scenarios", default="50x64", help="scenarios for the cost table (default 50x64)")
    p.add_argument("--callgrind-messages", type=int, default=20000,
                   help="messages in the callgrind window (default 20000)")
    p.add_argument("--cost-messages", type=int, default=200000,
                   help="messages in the syscall and CPU windows (default 200000)")
    p.add_argument("--cost-warmup", type=float, default=0.5, help="warm-up before a cost window (s)")
    p.add_argument("--no-callgrind", action="store_true", help="skip the instruction counts")
    p.add_argument("--callgrind-dir", metavar="DIR",
                   help="keep each callgrind window's dump in DIR as SERVER-SCENARIO.N.out "
                        "(for callgrind_annotate)")
    p.add_argument("--cost-metrics", default="instructions,syscalls,cpu",
                   help="comma-separated from instructions,syscalls,cpu (default all)")
    p.add_argument("--syscall-tool", choices=["auto", "perf", "strace"], default="auto")
    p.add_argument("--zc-total-mib", type=int, default=512,
                   help="zc: MiB sent per run (default 512)")
    p.add_argument("--zc-repeat", type=int, default=3, help="zc: runs per size and mode (default 3)")
    p.add_argument("--idle-connections", type=int, default=10000,
                   help="idle connections for the memory section (default 10000)")
    p.add_argument("--server-cpu", type=int, default=1)
    p.add_argument("--loadgen-cpu", type=int, default=0)
    p.add_argument("--build-dir", type=Path, default=ROOT / "build-bench")
    p.add_argument("--no-build", action="store_true", help="use the binaries already in --build-dir")
    p.add_argument("--coronet-server", type=Path, help="echo_server binary to measure instead of "
                   "BUILD/examples/echo_server")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 round of 1 s, short cost windows, 1,000 idle connections")
    p.add_argument("--output", type=Path, help="also write the Markdown report here")
    p.add_argument("--json", type=Path, help="write the raw results here")
    p.add_argument("--note", help="a line shown at the top of the report")
    p.add_argument("--render-from", type=Path, metavar="JSON",
                   help="measure nothing: print (and with --output write) the report of a run saved "
                        "with --json, with that run's arguments")
    a = p.parse_args(argv)
    if a.quick:
        a.rounds, a.duration, a.warmup = 1, 1.0, 0.3
        a.callgrind_messages, a.cost_messages, a.cost_warmup = 2000, 20000, 0.2
        a.idle_connections = 1000
        a.zc_total_mib, a.zc_repeat = 64, 1
    a.scenarios = [s for s in a.scenarios.split(",") if s]
    a.cost_scenarios = [s for s in a.cost_scenarios.split(",") if s]
    a.servers = [s for s in a.servers.split(",") if s]
    a.sections = [s for s in a.sections.split(",") if s]
    a.cost_metrics = [s for s in a.cost_metrics.split(",") if s]
    for s in a.cost_metrics:
        if s not in ("instructions", "syscalls", "cpu"):
            p.error(f"unknown cost metric {s!r}")
    for s in a.scenarios + a.cost_scenarios:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s!r}; choose from {','.join(SCENARIOS)}")
    for s in a.servers:
        if s not in LABELS or s == AA:
            p.error(f"unknown server {s!r}")
    for s in a.sections:
        if s not in ("cost", "memory", "throughput", "zc"):
            p.error(f"unknown section {s!r}")
    a.build_dir = a.build_dir.resolve()
    if a.coronet_server:
        a.coronet_server = a.coronet_server.resolve()
    ncpu = os.cpu_count() or 1
    for flag in ("server_cpu", "loadgen_cpu"):
        if getattr(a, flag) >= ncpu:
            print(f"note: --{flag.replace('_', '-')} {getattr(a, flag)} does not exist here: not pinned",
                  file=sys.stderr)
            setattr(a, flag, None)
    return a


class SavedRun:
    """What render() needs, from a --json file."""

    def __init__(self, data):
        self.args = parse_args(data["argv"])
        self.results = data["results"]
        keys = list(self.args.servers)
        seen = set(self.results.get("memory", {}))
        for rows in self.results.get("cost", {}).values():
            seen |= set(rows)
        for per in self.results.get("throughput", {}).values():
            seen |= {k for k, runs in per.items() if any(runs)}
        self.servers = [k for k in keys if k in seen] or keys
        self.failures = data.get("failures", [])


def render_saved(path, output):
    data = json.loads(path.read_text())
    saved = SavedRun(data)
    info = data["machine"]
    parse = datetime.datetime.fromisoformat
    started = parse(data["started"]) if "started" in data else datetime.datetime.now(datetime.timezone.utc)
    finished = parse(data["finished"]) if "finished" in data else started
    report = render(saved, info, data["argv"], started, finished)
    print(report)
    if output:
        output.write_text(report)
        print(f"wrote {output}", file=sys.stderr)
    return 0


def main(argv):
    a = parse_args(argv)
    if a.render_from:
        return render_saved(a.render_from, a.output)
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        ensure_build(a.build_dir, a.no_build)
        raise_nofile(a.idle_connections + 4096)
        bench = Bench(a)
        info = machine_info(a)
        if "cost" in a.sections:
            bench.cost()
        if "memory" in a.sections:
            bench.memory()
        if "throughput" in a.sections:
            bench.throughput()
        if "zc" in a.sections:
            bench.zc()
    except (BenchError, subprocess.CalledProcessError) as e:
        print(f"run.py: {e}", file=sys.stderr)
        return 1
    finished = datetime.datetime.now(datetime.timezone.utc)
    info["loadavg_end"] = os.getloadavg()
    report = render(bench, info, argv, started, finished)
    print(report)
    if a.output:
        a.output.parent.mkdir(parents=True, exist_ok=True)
        a.output.write_text(report)
        print(f"wrote {a.output}", file=sys.stderr)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"argv": argv, "machine": info, "results": bench.results,
                                      "failures": bench.failures, "started": started.isoformat(),
                                      "finished": finished.isoformat()}, indent=1))
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
