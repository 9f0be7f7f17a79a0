#!/usr/bin/env python3
"""coronet's thread-per-core benchmark (Python 3 standard library only).

    python3 bench/threads_bench.py --rounds 5 --output bench/results/threads.md

builds build-bench/ if needed (as bench/run.py does, whose pieces it imports:
the server and load-generator drivers, the callgrind, perf and /proc
measurements), then measures, for N = --loops (default 2):

  C epoll_mt, 1 / N loops   build-bench/bench/epoll_echo_mt --threads 1 / N
                            (the N-loop run is the baseline of every ratio)
  coronet (io_uring) 1 / N  build-bench/examples/echo_server --backend io_uring --threads 1 / N
  coronet (io_uring) N, handoff    ... --threads N --handoff
  coronet (epoll) 1 / N     ... --backend epoll --threads 1 / N  (and N, handoff: cost only)

Sections (--sections, default all):

  throughput  msgs/s, p50/p99, server CPU per message and how busy the cores
              were, per scenario, in interleaved rounds with an A/A row (the
              C N-loop server run again); every ratio against the same round's
              C N-loop run, median [min, max]; and each implementation's N-loop /
              1-loop ratio per round (the scaling).
  cost        user-space instructions per message (callgrind, counters zeroed
              and dumped exactly around a fixed window; all threads, which
              valgrind runs one at a time), the wake-ups of that window, and
              syscalls per message (perf) in a separate window: what a loop
              more costs per message, and (churn) per handed-off connection.
  cross       build-bench/bench/cross_loop: cross_channel items, posts,
              spawn_on tasks and run_on round trips between two loops, per
              backend: instructions per message (callgrind), messages/s and
              kernel waits per message (wall clock, --cross-repeat runs).

Nothing is pinned by default: on a machine with few cores a server of N loops
and the load generator share them, and pinning would only choose which of them
waits (see bench/README.md, "Thread-per-core"). Every echoed byte is verified;
any failure is listed under "Failures" and makes the exit status 1.
"""

import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as rb  # noqa: E402  (bench/run.py: the shared pieces)

SCENARIOS = rb.SCENARIOS
BASELINE, AA = "c-n", "c-n-aa"
IMPLS = {"c": "C epoll_mt", "io_uring": "coronet (io_uring)", "epoll": "coronet (epoll)"}


def server_table(args):
    """key -> (implementation, loops, handoff, argv)."""
    b, n = args.build_dir, args.loops
    es = str(args.coronet_server or b / "examples" / "echo_server")
    mt = str(b / "bench" / "epoll_echo_mt")
    t = {"c-1": ("c", 1, False, [mt, "--port", "0", "--threads", "1", "--stats"]),
         "c-n": ("c", n, False, [mt, "--port", "0", "--threads", str(n), "--stats"])}
    for backend in ("io_uring", "epoll"):
        base = [es, "--port", "0", "--backend", backend, "--stats", "--threads"]
        t[f"{backend}-1"] = (backend, 1, False, base + ["1"])
        t[f"{backend}-n"] = (backend, n, False, base + [str(n)])
        t[f"{backend}-n-handoff"] = (backend, n, True, base + [str(n), "--handoff"])
    return t


def label(args, key):
    if key == AA:
        return f"{IMPLS['c']}, {args.loops} loops again (A/A)"
    impl, loops, handoff, _ = server_table(args)[key]
    return f"{IMPLS[impl]}, {loops} loop{'s' if loops > 1 else ''}{', handoff' if handoff else ''}"


class StatsServer(rb.FeatureNotingServer):
    """A server started with --stats: keeps what it prints at exit (per-loop counters)."""

    def stop(self, timeout=30):
        self.exit_lines = []
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    self.proc.wait(3)
                except subprocess.TimeoutExpired:
                    if self.wrapper:
                        self.kick()
            try:
                while (line := self.stdout.readline(5)) is not None:
                    self.exit_lines.append(line)
            except TimeoutError:
                pass
        err = super().stop(timeout)
        if not self.proc.stdout.closed:
            self.proc.stdout.close()
        return err

    def kick(self):
        """Under valgrind an io_uring loop asleep in io_uring_enter keeps the main thread,
        which has the SIGTERM to pass on, from running (see valgrind_can_run): a little
        traffic wakes the loop, and valgrind switches threads while it works."""
        lg = [str(self.bench.loadgen_exe), "--host", self.host, "--port", str(self.port),
              "--connections", "2", "--duration", "0.5", "--warmup", "0"]
        subprocess.run(lg, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)

    def busiest_share(self):
        """The busiest loop's share of the work: connections accepted (C) or
        I/O completions (coronet), from the --stats lines; None with one loop."""
        counts = [int(m.group(1)) for line in self.exit_lines
                  for m in [re.search(r"(?:^thread \d+: accepted |^stats\[\d+\]: .*completions=)(\d+)",
                                      line)] if m]
        return round(max(counts) / sum(counts), 3) if len(counts) > 1 and sum(counts) else None


class ThreadsBench(rb.Bench):
    """rb.Bench's measurements (fixed_window and its hooks) on this benchmark's servers."""

    def __init__(self, args):
        self.args = args
        self.loadgen_exe = args.build_dir / "bench" / "loadgen"
        table = server_table(args)
        self.servers = {k: v[3] for k, v in table.items()}
        for k, v in table.items():
            if not Path(v[3][0]).exists():
                raise rb.BenchError(f"{v[3][0]} does not exist (build failed?)")
            if v[0] == "io_uring":  # as run.py: the fast paths on, whatever the environment says
                rb.SERVER_ENV.setdefault(k, {"CORONET_FAST_PATHS": "1"})
        self.failures = []
        self.results = {"throughput": {}, "cost": {}, "cross": {}, "features": {}}

    def server(self, key, wrapper=(), banner_timeout=30):
        return StatsServer(self, key, self.servers[key], None, wrapper, banner_timeout)

    # -- throughput -------------------------------------------------------------------------

    def throughput(self):
        a = self.args
        order = [BASELINE] + [k for k in a.servers if k != BASELINE] + [AA]
        for name in a.scenarios:
            sc = SCENARIOS[name]
            per = {k: [] for k in order}
            for rnd in range(1, a.rounds + 1):
                for key in order:
                    res = self.throughput_run(BASELINE if key == AA else key, sc)
                    per[key].append(res)
                    if res:
                        self.log(f"[{name} round {rnd}/{a.rounds}] {label(a, key)}: "
                                 f"{res['msgs_per_s']:.0f} msgs/s, p99 {res['p99_us']:.1f} us, server "
                                 f"{res['server_us_per_msg']:.2f} us/msg on {res['server_cores']:.2f} "
                                 f"cores, client {res['client_cpu']:.2f}, busiest {res['busiest']}")
            self.results["throughput"][name] = per

    def throughput_run(self, key, sc):
        a = self.args
        srv = self.server(key)
        try:
            srv.start()
        except (rb.BenchError, OSError, subprocess.SubprocessError) as e:
            self.fail(str(e))
            return None
        res, what = None, f"{key} {sc['title']}"
        try:
            if a.pin_server:
                pin_threads(srv.pid)
            lg = rb.Loadgen(self.loadgen_exe, srv, a.loadgen_cpu, sc["connections"], sc["size"],
                            a.depth, a.duration, a.warmup, churn=sc["churn"],
                            threads=min(a.loadgen_threads, sc["connections"]))
            # Server CPU over the measured part: from just after the warm-up (connections
            # open) to the result line, which the load generator prints as its window ends.
            time.sleep(a.warmup + 0.1)
            c0, t0 = sum(rb.proc_cpu_seconds(srv.pid)), time.monotonic()
            res = lg.next_json(a.duration + 90)
            c1, t1 = sum(rb.proc_cpu_seconds(srv.pid)), time.monotonic()
            res["server_cores"] = round((c1 - c0) / (t1 - t0), 3)
            res["server_us_per_msg"] = (round(res["server_cores"] / res["msgs_per_s"] * 1e6, 3)
                                        if res["msgs_per_s"] else None)
            err = lg.finish()
            if err and not res.get("errors"):
                self.fail(f"{what}: {err}")
            for p in rb.result_problems(res, what):
                self.fail(p)
        except (rb.BenchError, OSError, subprocess.SubprocessError) as e:
            self.fail(f"{what}: {e}")
        finally:
            err = srv.stop()
            if err:
                self.fail(err)
            if res is not None:
                res["busiest"] = srv.busiest_share()
        return res

    # -- cost -------------------------------------------------------------------------------

    def cost(self):
        a = self.args
        tool = rb.syscall_tool(a.syscall_tool)
        names = rb.tracefs_events() if tool == "perf" else []
        wake = [n for n in names if n in rb.WAKEUP_SYSCALLS]
        have_callgrind = bool(shutil.which("valgrind") and shutil.which("callgrind_control"))
        if not have_callgrind:
            self.fail("valgrind/callgrind_control not found: no instruction counts (apt-get install valgrind)")
        for name in a.cost_scenarios:
            sc = SCENARIOS[name]
            scale = 10 if sc["churn"] else 1  # a connection costs ~10x a message
            out = {}
            for key in a.cost_servers:
                row = {}
                if have_callgrind and valgrind_can_run(a, key):
                    hooks = self.callgrind_hooks()
                    if wake:  # the wake-ups of the same window: the batching
                        hooks = rb.combine_hooks(hooks, perf_hooks(syscall_events(wake)))
                    got = self.fixed_window(key, sc, a.callgrind_messages // scale, *hooks, valgrind=True)
                    if isinstance(got, tuple):
                        got, wakes = got
                        n = sum(wakes.values()) if wakes else 0
                        row["msgs_per_wakeup"] = round(1 / n, 2) if n else None
                    row["instructions_per_msg"] = got
                if tool == "perf":
                    events = [("total", "raw_syscalls:sys_enter", None)] + syscall_events(names)
                    if server_table(a)[key][0] == "io_uring":
                        events.append(MSG_RING_EVENT)
                    row["syscalls"] = self.fixed_window(key, sc, a.cost_messages // scale,
                                                        *perf_hooks(events))
                out[key] = row
                self.log(f"[cost {name}] {label(a, key)}: {json.dumps(row)}")
            self.results["cost"][name] = out
        self.results["cost_meta"] = {"syscall_tool": tool}

    # -- cross-loop messages ----------------------------------------------------------------

    def cross(self):
        a = self.args
        exe = a.build_dir / "bench" / "cross_loop"
        if not exe.exists():
            self.fail(f"{exe} does not exist (build failed?)")
            return
        tool = rb.syscall_tool("perf")
        names = rb.tracefs_events()
        events = syscall_events([n for n in names if n in rb.WAKEUP_SYSCALLS + ["write"]])
        for backend in a.cross_backends:
            out = self.results["cross"].setdefault(backend, {})
            evs = events + ([MSG_RING_EVENT] if backend == "io_uring" else [])
            for rep in range(a.cross_repeat):
                hooks = perf_hooks(evs) if tool == "perf" else None
                for row in self.cross_run(exe, backend, a.cross_messages, hooks):
                    out.setdefault(row["bench"], {}).setdefault("wall", []).append(row)
            have_callgrind = shutil.which("valgrind") and shutil.which("callgrind_control")
            if have_callgrind and backend != "io_uring":  # see valgrind_can_run
                for row in self.cross_run(exe, backend, a.cross_callgrind_messages, None, True):
                    out.setdefault(row["bench"], {})["callgrind"] = row
                    self.log(f"[cross {backend}] {row['bench']}: {row['instructions_per_msg']} "
                             f"instructions/msg (callgrind), kernel waits {row['kernel_waits']}")

    def cross_run(self, exe, backend, messages, hooks, valgrind=False):
        """One cross_loop --pause run: `hooks` (or callgrind's zero and dump) around each window."""
        tmp = tempfile.mkdtemp(prefix="coronet-cross-")
        argv = [str(exe), "--backend", backend, "--json", "--pause", "--messages", str(messages)]
        if valgrind:
            argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                    f"--callgrind-out-file={tmp}/cg.out"] + argv
            hooks = self.callgrind_hooks()
        self.log("+ " + shlex.join(argv))
        err = tempfile.TemporaryFile()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        reader, rows = rb.LineReader(proc.stdout), []
        target = type("target", (), {"pid": proc.pid, "tmp": tmp})()
        what = f"cross_loop {backend}{' (callgrind)' if valgrind else ''}"

        def expect(phase, timeout):
            line = reader.readline(timeout)
            msg = json.loads(line) if line else {}
            if phase and msg.get("phase") != phase:
                raise rb.BenchError(f"{what}: expected phase {phase}, got {line!r}")
            return msg

        def release():
            proc.stdin.write(b"\n")
            proc.stdin.flush()

        try:
            while (line := reader.readline(900)) is not None:
                if json.loads(line).get("phase") != "warm":
                    raise rb.BenchError(f"{what}: expected a warm line, got {line!r}")
                if valgrind and not rows:
                    self.callgrind_control(target, "-i", "on")
                state = hooks[0](target) if hooks else None
                release()
                expect("end", 1800)
                counts = hooks[1](target, state, messages) if hooks else None
                release()
                row = expect(None, 600)
                if valgrind:
                    row["instructions_per_msg"] = counts
                elif counts is not None:
                    counts["write"] = counts.get("write", 0) - 1 / messages  # the "end" line
                    row["per_msg"] = counts
                if not row.get("ok"):
                    self.fail(f"{what} {row.get('bench')}: a message was lost, repeated or out of order")
                rows.append(row)
            if proc.wait(120) != 0:
                err.seek(0)
                self.fail(f"{what} exited with {proc.returncode}: {err.read().decode()[-400:]}")
        except (rb.BenchError, OSError, ValueError, TimeoutError, subprocess.SubprocessError) as e:
            self.fail(f"{what}: {e!r}")
            proc.kill()
            proc.wait()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return rows


# IORING_OP_MSG_RING is opcode 40: one per wake-up sent ring to ring.
MSG_RING_EVENT = ("msg_ring", "io_uring:io_uring_submit_req", "opcode == 40")


def syscall_events(names):
    return [(n, "syscalls:sys_enter_" + n, None) for n in names]


def valgrind_can_run(args, key):
    """Valgrind 3.19 (Debian 12) holds its big lock through io_uring_enter (it does not
    mark the call as one that may block), so in a process with more than one io_uring
    loop a loop asleep in the kernel stops every other thread: the loops deadlock. One
    io_uring loop works: run_loops runs it on the calling thread (see StatsServer.kick)."""
    impl, loops, _, _ = server_table(args)[key]
    return impl != "io_uring" or loops == 1


def perf_hooks(events):
    """before/after hooks for Bench.fixed_window (or cross_run): `perf stat -p PID` on
    `events` [(name, event, filter or None)], started disabled and enabled / disabled
    through its control fifo exactly around the window; after() gives {name: per msg}."""
    spec = []
    for _, event, flt in events:
        spec += ["-e", event] + (["--filter", flt] if flt else [])

    def before(srv):
        d = tempfile.mkdtemp(prefix="coronet-perf-")
        ctl, ack, out = f"{d}/ctl", f"{d}/ack", f"{d}/out.csv"
        os.mkfifo(ctl)
        os.mkfifo(ack)
        ack_fd = os.open(ack, os.O_RDONLY | os.O_NONBLOCK)
        proc = subprocess.Popen(["perf", "stat", "-x", ",", "-o", out, *spec, "-D", "-1",
                                 "--control", f"fifo:{ctl},{ack}", "-p", str(srv.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:  # perf opens the control fifo once it is attached
            try:
                ctl_fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise rb.BenchError("perf stat did not start: " + proc.stderr.read().decode()[-300:])
                time.sleep(0.01)
        st = dict(dir=d, proc=proc, ctl=ctl_fd, ack=ack_fd, out=out)
        rb.perf_command(st, b"enable")
        return st

    def after(srv, st, messages):
        rb.perf_command(st, b"disable")
        st["proc"].send_signal(signal.SIGINT)
        st["proc"].wait(30)
        os.close(st["ctl"])
        os.close(st["ack"])
        counts = {}
        with open(st["out"]) as f:  # in the order of `events`
            rows = [p for p in (line.strip().split(",") for line in f) if len(p) >= 3 and p[2]]
        shutil.rmtree(st["dir"], ignore_errors=True)
        for (name, event, _), p in zip(events, rows):
            if p[2] != event:
                raise rb.BenchError(f"perf stat: expected {event}, got {p[2]}")
            counts[name] = round(int(p[0]) / messages, 4) if p[0].isdigit() else None
        return counts
    return before, after


def pin_threads(pid):
    """Pins a server's threads but the first (the main thread, which only waits for
    signals) to the allowed CPUs in turn, in the order they were created."""
    cpus = sorted(os.sched_getaffinity(0))
    tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)
    for i, tid in enumerate(tids):
        os.sched_setaffinity(tid, {cpus[i % len(cpus)]})


# ----------------------------------------------------------------------------- report

def med(runs, field):
    v = [x[field] for x in runs if x and x.get(field) is not None]
    return statistics.median(v) if v else None


def ratios(xs, ys, field):
    return [x[field] / y[field] for x, y in zip(xs, ys) if x and y and x.get(field) and y.get(field)]


def rng(v, digits=2):
    return (f"{statistics.median(v):.{digits}f} [{min(v):.{digits}f}, {max(v):.{digits}f}]"
            if v else "—")


def render(bench, info, argv, started, finished):
    a, r = bench.args, bench.results
    n, fmt = a.loops, rb.fmt_num
    L = ["## Thread-per-core\n"]
    if a.note:
        L.append(f"> **{a.note}**\n")
    L.append("Produced by `bench/threads_bench.py` (see [`bench/README.md`](../bench/README.md), "
             "\"Thread-per-core\") with:\n")
    L.append("```sh\npython3 bench/threads_bench.py " + shlex.join(argv) + "\n```\n")
    load_end = info.get("loadavg_end", os.getloadavg())
    L.append(f"- date: {started:%Y-%m-%d %H:%M} – {finished:%H:%M} UTC; machine: {info['nproc']} "
             f"CPUs ({info['cpu']}), Linux {info['kernel']}; load average at start "
             f"{info['loadavg_start'][0]:.2f}, at end {load_end[0]:.2f}")
    L.append(f"- coronet: commit {info['commit']}; server binary `{info['coronet_server']}`; "
             f"{info['compiler']}, `--buildtype=release`")
    pin = "each server thread but the main one pinned to a CPU in turn" if a.pin_server else \
        "nothing pinned (servers and load generator share every CPU)"
    lgcpu = f"on CPU {a.loadgen_cpu}" if a.loadgen_cpu is not None else "unpinned"
    L.append(f"- setup: {pin}; load generator: `loadgen --threads {a.loadgen_threads}`, {lgcpu}; "
             f"messages in flight per connection: {a.depth}")
    for key, features in r.get("features", {}).items():
        L.append(f"- {label(a, key)}: backend features `{features}`")
    L.append("")

    tp = r.get("throughput", {})
    if tp:
        L.append(f"### Throughput: 1 loop against {n} (wall clock)\n")
        L.append(f"{a.rounds} interleaved round(s) of {a.warmup:g} s warm-up + {a.duration:g} s "
                 f"measured; each round starts and ends with the C {n}-loop server (the second run is "
                 f"the A/A row: its spread is the noise). \"vs C {n}\" is msgs/s over the same round's "
                 f"C {n}-loop run, median [min, max]. Server CPU / msg is the server's utime + stime "
                 f"(all threads, /proc/PID/stat) over the measured part divided by its messages; "
                 f"\"cores\" is that CPU time (server) and the load generator's (client) per second of "
                 f"wall clock: their sum is how much of the machine the pair used. \"Busiest loop\" is "
                 f"the share of the work the busiest loop did (C: connections accepted; coronet: I/O "
                 f"completions; from the servers' --stats): 0.50 is an even split of 2.\n")
        for name, per in tp.items():
            L.append(f"#### {name}: {SCENARIOS[name]['title']}\n")
            L.append(f"| server | msgs/s | vs C {n} | p50 µs | p99 µs | server CPU µs / msg | "
                     f"cores: server + client | busiest loop | errors |")
            L.append("|---|---:|---|---:|---:|---:|---|---:|---:|")
            base = per.get(BASELINE, [])
            for key, runs in per.items():
                ok = [x for x in runs if x]
                q = "1 (baseline)" if key == BASELINE else rng(ratios(runs, base, "msgs_per_s"))
                sc_, cc = med(ok, "server_cores"), med(ok, "client_cpu")
                cores = f"{sc_:.2f} + {cc:.2f}" if sc_ is not None and cc is not None else "—"
                L.append(f"| {label(a, key)} | {fmt(med(ok, 'msgs_per_s'))} | {q} | "
                         f"{fmt(med(ok, 'p50_us'), 1)} | {fmt(med(ok, 'p99_us'), 1)} | "
                         f"{fmt(med(ok, 'server_us_per_msg'), 2)} | {cores} | "
                         f"{fmt(med(ok, 'busiest'), 2)} | "
                         f"{sum(x['errors'] for x in ok) if ok else '—'} |")
            L.append("")
        L.append(f"#### Scaling: {n} loops / 1 loop, per round\n")
        L.append(f"Per round, the {n}-loop run of an implementation divided by its 1-loop run of the "
                 f"same round, median [min, max]; the C server's ratio is what this machine lets any "
                 f"server gain from {n} loops, so compare coronet's with it.\n")
        L.append(f"| implementation | scenario | msgs/s {n} / 1 | p99 {n} / 1 | "
                 f"server CPU / msg {n} / 1 |")
        L.append("|---|---|---|---|---|")
        for impl in ("c", "io_uring", "epoll"):
            one, many = ("c-1", "c-n") if impl == "c" else (f"{impl}-1", f"{impl}-n")
            for name, per in tp.items():
                if per.get(one) and per.get(many):
                    L.append(f"| {IMPLS[impl]} | {name} | {rng(ratios(per[many], per[one], 'msgs_per_s'))} | "
                             f"{rng(ratios(per[many], per[one], 'p99_us'))} | "
                             f"{rng(ratios(per[many], per[one], 'server_us_per_msg'))} |")
        L.append("")

    cost = r.get("cost", {})
    if cost:
        L.append("### Cost per message and per connection (exact counts)\n")
        L.append("Each figure from its own server run, counted exactly around a fixed window of "
                 "messages after a drained warm-up (as `bench/run.py`'s cost section). "
                 "**Instructions**: user-space instructions of every thread of the server under "
                 "callgrind (valgrind runs the threads one at a time: that does not change what "
                 "each executes, but it changes the batching, shown as **msgs / wake-up**: messages "
                 "per `io_uring_enter` / `epoll_wait` call in the same window). **Syscalls** and "
                 "**MSG_RING**s (`io_uring:io_uring_submit_req` with opcode 40: one per wake-up one "
                 "io_uring loop sends another) by perf, in a separate window without valgrind. In "
                 "churn a \"message\" is a connection (connect, one 64 B echo, close), so those "
                 "figures are per connection: with --handoff, each connection is accepted on loop 0 "
                 "and spawned on a loop in turn (loop 0 included), and the `write` / `read` there "
                 "are the eventfd wake-ups of the epoll loops. Instructions of the io_uring rows "
                 "with more than one loop cannot be counted here: valgrind 3.19 (Debian 12) does "
                 "not release its lock while a thread sleeps in `io_uring_enter`, so a second "
                 "io_uring loop never runs (the loops deadlock; see liburing issue 657, valgrind "
                 "bug 463859).\n")
        for name, rows in cost.items():
            per = "connection" if SCENARIOS[name]["churn"] else "msg"
            L.append(f"#### {name}: {SCENARIOS[name]['title']}\n")
            L.append(f"| server | instructions / {per} | msgs / wake-up | syscalls / {per} | "
                     f"by name / {per} | MSG_RING / {per} |")
            L.append("|---|---:|---:|---:|---|---:|")
            for key, row in rows.items():
                s = dict(row.get("syscalls") or {})
                total, ring = s.pop("total", None), s.pop("msg_ring", None)
                brk = ", ".join(f"{k} {v:.3g}" for k, v in sorted(s.items(), key=lambda kv: -kv[1])
                                if v)
                instr = row.get("instructions_per_msg")
                instr = fmt(instr) if instr is not None else (
                    "— (valgrind)" if not valgrind_can_run(a, key) else "—")
                L.append(f"| {label(a, key)} | {instr} | {fmt(row.get('msgs_per_wakeup'), 1)} | "
                         f"{fmt(total, 2)} | {brk or '—'} | {fmt(ring, 3)} |")
            L.append("")
            for impl in ("c", "io_uring", "epoll"):
                one, many = ("c-1", "c-n") if impl == "c" else (f"{impl}-1", f"{impl}-n")
                x = rows.get(f"{impl}-n-handoff", {}).get("instructions_per_msg")
                y = rows.get(many, {}).get("instructions_per_msg")
                z = rows.get(one, {}).get("instructions_per_msg")
                parts = []
                if y and z:
                    parts.append(f"{n} loops with SO_REUSEPORT {y - z:+,.0f} instructions per {per} "
                                 f"against 1 loop")
                if x and y:
                    parts.append(f"handoff {x - y:+,.0f} against SO_REUSEPORT")
                if parts:
                    L.append(f"- {IMPLS[impl]}: " + "; ".join(parts) + ".")
            L.append("")

    cross = r.get("cross", {})
    if cross:
        L.append("### Cross-loop messages: `bench/cross_loop`\n")
        L.append(f"Two loops of one `run_loops` group; loop 0 sends, loop 1 receives; every message "
                 f"is checked to arrive once, in order. **channel**: `cross_channel<int>` (capacity "
                 f"1024) items, sender and receiver concurrent; **post**: `loop_handle::post` of a "
                 f"function, back to back; **spawn_on**: a task started there, back to back; "
                 f"**run_on**: `co_await run_on(loop 1, task)` one after the other, so each message is "
                 f"a round trip; **run_on ×64**: the same from 64 concurrent callers. **Instructions** "
                 f"/ msg: both threads', under callgrind around a window of "
                 f"{a.cross_callgrind_messages:,} messages (epoll only: valgrind cannot run two "
                 f"io_uring loops, see above); valgrind runs the threads one at a time, so its "
                 f"batching differs from the wall clock's: its kernel waits are shown beside. The "
                 f"rest from {a.cross_repeat} wall-clock run(s) of {a.cross_messages:,} messages "
                 f"(msgs/s: median [min, max]; counts: medians per 1,000 messages): **wake-ups "
                 f"sent**, counted by perf in the window: MSG_RINGs between io_uring loops, eventfd "
                 f"`write`s on epoll (a push that finds the mailbox empty sends one; the rest of the "
                 f"batch rides on it); **waits**: each loop's `loop_stats::kernel_waits` "
                 f"(`io_uring_enter` / `epoll_wait` calls, submissions included).\n")
        L.append("| primitive | backend | instructions / msg | callgrind's waits / 1,000 (loop 0, 1) | "
                 "msgs/s | wake-ups sent / 1,000 | waits / 1,000 (loop 0, 1) |")
        L.append("|---|---|---:|---|---|---:|---|")
        for name in ["channel", "post", "spawn_on", "run_on", "run_on_64"]:
            for backend, rows in cross.items():
                row = rows.get(name)
                if not row:
                    continue
                cg, wall = row.get("callgrind") or {}, row.get("wall") or []
                pair = lambda x: ", ".join(f"{1000 * w / x['messages']:.1f}" for w in x["kernel_waits"])
                waits = ", ".join(f"{statistics.median(1000 * x['kernel_waits'][i] / x['messages'] for x in wall):.1f}"
                                  for i in (0, 1)) if wall else "—"
                sent = [1000 * (x.get("per_msg") or {}).get("msg_ring" if backend == "io_uring" else "write", 0)
                        for x in wall if x.get("per_msg")]
                rate = [x["per_s"] for x in wall]
                rate_s = (f"{fmt(statistics.median(rate))} [{fmt(min(rate))}, {fmt(max(rate))}]"
                          if rate else "—")
                L.append(f"| {name.replace('_64', ' ×64')} | {backend} | "
                         f"{fmt(cg.get('instructions_per_msg'))} | {pair(cg) if cg else '—'} | "
                         f"{rate_s} | {fmt(statistics.median(sent), 1) if sent else '—'} | {waits} |")
        L.append("")

    L.append("### Failures\n")
    if bench.failures:
        L.extend(f"- {f}" for f in bench.failures)
    else:
        L.append("None: every server started, every echoed byte and cross-loop message verified, "
                 "every server exited 0 on SIGTERM.")
    L.append("")
    return "\n".join(L)


def put_section(path, text):
    """Replaces the "## Thread-per-core" section of `path` (to the next "## "
    heading) with `text`, or appends it."""
    old = path.read_text() if path.exists() else ""
    m = re.search(r"^## Thread-per-core\n.*?(?=^## |\Z)", old, re.M | re.S)
    new = old[:m.start()] + text + old[m.end():] if m else old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


# ----------------------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--duration", type=float, default=3.0, help="measured seconds per run (default 3)")
    p.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run (default 1)")
    p.add_argument("--depth", type=int, default=1, help="messages in flight per connection (default 1)")
    p.add_argument("--loops", type=int, default=2, help="loops of the multi-loop servers (default 2)")
    p.add_argument("--scenarios", default="50x64,1000x64,churn",
                   help="throughput scenarios, from " + ",".join(SCENARIOS))
    p.add_argument("--servers", default="c-1,io_uring-1,io_uring-n,io_uring-n-handoff,epoll-1,epoll-n",
                   help="throughput rows besides the baseline c-n, from c-1,io_uring-1,io_uring-n,"
                        "io_uring-n-handoff,epoll-1,epoll-n,epoll-n-handoff")
    p.add_argument("--loadgen-threads", type=int, default=2, help="loadgen --threads (default 2)")
    p.add_argument("--loadgen-cpu", type=int, default=None, help="pin the load generator (default: not)")
    p.add_argument("--pin-server", action="store_true",
                   help="pin each server thread but the main one to a CPU in turn (default: not)")
    p.add_argument("--sections", default="throughput,cost,cross",
                   help="comma-separated from throughput,cost,cross (default all)")
    p.add_argument("--cost-scenarios", default="1x64,50x64,churn", help="default 1x64,50x64,churn")
    p.add_argument("--cost-servers",
                   default="c-1,c-n,io_uring-1,io_uring-n,io_uring-n-handoff,epoll-1,epoll-n,epoll-n-handoff")
    p.add_argument("--callgrind-messages", type=int, default=20000,
                   help="messages in a callgrind window (default 20000; churn: a tenth, connections)")
    p.add_argument("--cost-messages", type=int, default=100000,
                   help="messages in a syscall window (default 100000; churn: a tenth)")
    p.add_argument("--cost-warmup", type=float, default=0.5)
    p.add_argument("--syscall-tool", choices=["auto", "perf", "strace"], default="auto")
    p.add_argument("--cross-backends", default="io_uring,epoll")
    p.add_argument("--cross-messages", type=int, default=200000, help="per wall-clock run (default 200000)")
    p.add_argument("--cross-repeat", type=int, default=5, help="wall-clock runs per backend (default 5)")
    p.add_argument("--cross-callgrind-messages", type=int, default=20000)
    p.add_argument("--build-dir", type=Path, default=rb.ROOT / "build-bench")
    p.add_argument("--no-build", action="store_true", help="use the binaries already in --build-dir")
    p.add_argument("--coronet-server", type=Path, help="echo_server binary to measure")
    p.add_argument("--quick", action="store_true", help="smoke test: 1 round of 1 s, short windows")
    p.add_argument("--output", type=Path, help="also write the Markdown section here")
    p.add_argument("--into", type=Path, metavar="MD",
                   help="replace (or append) the \"## Thread-per-core\" section of this file")
    p.add_argument("--json", type=Path, help="write the raw results here")
    p.add_argument("--note", help="a line shown at the top of the section")
    p.add_argument("--render-from", type=Path, metavar="JSON",
                   help="measure nothing: print (and with --output / --into write) the section of a "
                        "run saved with --json, with that run's arguments")
    a = p.parse_args(argv)
    if a.quick:
        a.rounds, a.duration, a.warmup = 1, 1.0, 0.3
        a.callgrind_messages, a.cost_messages, a.cost_warmup = 2000, 20000, 0.2
        a.cross_messages, a.cross_repeat, a.cross_callgrind_messages = 20000, 1, 2000
    split = lambda s: [x for x in s.split(",") if x]
    a.scenarios, a.cost_scenarios = split(a.scenarios), split(a.cost_scenarios)
    a.servers, a.cost_servers = split(a.servers), split(a.cost_servers)
    a.sections, a.cross_backends = split(a.sections), split(a.cross_backends)
    keys = set(server_table(a))
    for s in a.scenarios + a.cost_scenarios:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s!r}")
    for s in a.servers + a.cost_servers:
        if s not in keys:
            p.error(f"unknown server {s!r}; choose from {','.join(sorted(keys))}")
    for s in a.sections:
        if s not in ("throughput", "cost", "cross"):
            p.error(f"unknown section {s!r}")
    if a.loops < 2:
        p.error("--loops must be at least 2")
    a.build_dir = a.build_dir.resolve()
    a.server_cpu, a.callgrind_dir = None, None  # what rb.Bench's measurements look for
    return a


class SavedRun:
    """What render() needs, from a --json file."""

    def __init__(self, data):
        self.args = parse_args(data["argv"])
        self.results, self.failures = data["results"], data.get("failures", [])


def write_report(a, report):
    print(report)
    if a.output:
        a.output.parent.mkdir(parents=True, exist_ok=True)
        a.output.write_text(report)
    if a.into:
        put_section(a.into, report)
        print(f"wrote the Thread-per-core section of {a.into}", file=sys.stderr)


def main(argv):
    a = parse_args(argv)
    if a.render_from:
        data = json.loads(a.render_from.read_text())
        saved = SavedRun(data)
        parse = datetime.datetime.fromisoformat
        write_report(a, render(saved, data["machine"], data["argv"], parse(data["started"]),
                               parse(data["finished"])))
        return 0
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        rb.ensure_build(a.build_dir, a.no_build)
        rb.raise_nofile(max(SCENARIOS[s]["connections"] for s in a.scenarios + a.cost_scenarios) + 4096)
        bench = ThreadsBench(a)
        info = rb.machine_info(a)
        if "cost" in a.sections:
            bench.cost()
        if "cross" in a.sections:
            bench.cross()
        if "throughput" in a.sections:
            bench.throughput()
    except (rb.BenchError, subprocess.CalledProcessError) as e:
        print(f"threads_bench.py: {e}", file=sys.stderr)
        return 1
    finished = datetime.datetime.now(datetime.timezone.utc)
    info["loadavg_end"] = os.getloadavg()
    write_report(a, render(bench, info, argv, started, finished))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"argv": argv, "machine": info, "results": bench.results,
                                      "failures": bench.failures, "started": started.isoformat(),
                                      "finished": finished.isoformat()}, indent=1))
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
