#!/usr/bin/env python3
"""coronet's HTTP benchmark: wrk against examples/http_server and a C epoll responder.

    python3 bench/http_bench.py --rounds 5 --output bench/results/http.md

builds build-bench/ (as bench/run.py does) if needed, then, for each
--connections value, runs `wrk -t1 -cC -dDs --latency http://127.0.0.1:PORT/hello`
against each server, in interleaved rounds:

  C epoll             build-bench/bench/epoll_http (the baseline of every ratio)
  coronet (io_uring)  build-bench/examples/http_server --backend io_uring (CORONET_FAST_PATHS=1)
  coronet (io_uring, plain)  the same with CORONET_FAST_PATHS=0 (with --plain)
  coronet (epoll)     build-bench/examples/http_server --backend epoll
  C epoll again       the A/A row: the baseline against itself, the noise floor

Each round starts every server afresh (server on --server-cpu, wrk on
--loadgen-cpu), warms it with --warmup seconds of wrk, then measures
--duration seconds. Ratios divide a run's requests/s (and latency
percentiles) by the C epoll run of the same round; the report gives the
median and [min, max] over the rounds. Before measuring, each server's
answer to GET /hello is checked to be byte-identical to the baseline's
(except the Date value). Any socket error or non-2xx answer that wrk
reports, a server that does not start, or one that does not exit 0 on
SIGTERM is a failure (exit status 1). Needs wrk (apt-get install wrk).
"""

import argparse
import datetime
import json
import re
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: Server, ensure_build, pin_to, ...)

BASELINE, AA = "c-epoll", "c-epoll-aa"
LABELS = {
    "c-epoll": "C epoll (`epoll_http`)",
    "coronet-io_uring": "coronet (io_uring)",
    "coronet-io_uring-plain": "coronet (io_uring, plain)",
    "coronet-epoll": "coronet (epoll)",
    AA: "C epoll again (A/A)",
}
UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def server_argv(key, build):
    http = str(build / "examples" / "http_server")
    return {
        "c-epoll": [str(build / "bench" / "epoll_http"), "--port", "0"],
        AA: [str(build / "bench" / "epoll_http"), "--port", "0"],
        "coronet-io_uring": [http, "--port", "0", "--backend", "io_uring"],
        "coronet-io_uring-plain": [http, "--port", "0", "--backend", "io_uring"],
        "coronet-epoll": [http, "--port", "0", "--backend", "epoll"],
    }[key]


def hello(port):
    """The raw answer to GET /hello, its Date value blanked."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n")
        data = b""
        for _ in range(100):  # each turn receives >= 1 byte or ends
            if data.endswith(b"Hello, world!\n"):
                break
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return re.sub(rb"Date: [^\r]*", b"Date: -", data)


def parse_wrk(text):
    """requests/s, latency percentiles (us), errors from `wrk --latency` output."""
    out = {"errors": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m:
        raise bench.BenchError(f"wrk printed no Requests/sec:\n{text[-800:]}")
    out["rps"] = float(m.group(1))
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        out[f"p{pct}_us"] = float(value) * UNITS[unit]
    m = re.search(r"(\d+) requests in", text)
    out["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["errors"] += sum(int(g) for g in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["errors"] += int(m.group(1))
    return out


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # includes every wrk waited for
    return ru.ru_utime + ru.ru_stime


def wrk(args, server, connections, seconds):
    """wrk's results, plus the CPU wrk and the server used meanwhile."""
    argv = [args.wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
            f"http://127.0.0.1:{server.port}/hello"]
    wrk0, srv0 = children_cpu(), sum(bench.proc_cpu_seconds(server.pid))
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       preexec_fn=bench.pin_to(args.loadgen_cpu), timeout=seconds + 60)
    wrk1, srv1 = children_cpu(), sum(bench.proc_cpu_seconds(server.pid))
    if r.returncode != 0:
        raise bench.BenchError(f"{shlex.join(argv)} exited {r.returncode}: {r.stderr[-500:]}")
    out = parse_wrk(r.stdout)
    out["wrk_cpu"] = (wrk1 - wrk0) / seconds  # fraction of its core
    out["server_cpu_us"] = (srv1 - srv0) * 1e6 / max(out["requests"], 1)  # per request
    return out


def measure(args, key, connections, reference):
    srv = bench.Server(key, server_argv(key, args.build_dir), args.server_cpu).start()
    try:
        answer = hello(srv.port)
        if answer != reference:
            raise bench.BenchError(f"{key}: GET /hello answered {answer!r}, not {reference!r}")
        wrk(args, srv, connections, args.warmup)
        res = wrk(args, srv, connections, args.duration)
        res["features"] = srv.features
    finally:
        problem = srv.stop()
    if problem:
        raise bench.BenchError(problem)
    if res["errors"]:
        raise bench.BenchError(f"{key}: wrk reported {res['errors']} errors or non-2xx answers")
    return res


def ratio_stats(rounds, key, field, servers):
    ratios = [r[key][field] / r[BASELINE][field] for r in rounds if key in r and BASELINE in r]
    return statistics.median(ratios), min(ratios), max(ratios)


def render(args, results, info, started):
    lines = [f"## HTTP: `http_server` against a C epoll responder (wrk)", "",
             f"Measured {started:%Y-%m-%d %H:%M} UTC on {info['cpu']} ({info['nproc']} CPUs, "
             f"kernel {info['kernel']}, commit {info['commit']}), load average at start "
             f"{info['loadavg_start'][0]:.2f}:", "", "```sh", "python3 " + " ".join(
                 shlex.quote(a) for a in ["bench/http_bench.py", *sys.argv[1:]]), "```", "",
             f"`wrk -t1 -cC -d{args.duration:g}s --latency http://127.0.0.1:PORT/hello` (after "
             f"{args.warmup:g} s of warm-up) on CPU {args.loadgen_cpu}, each server on CPU "
             f"{args.server_cpu}, {args.rounds} interleaved rounds; every server started afresh "
             "for each run. `http_server` parses every request (line, headers, limits), reads it "
             "through `read_request` with its timeouts armed and answers through "
             "`write_response`; `epoll_http` only looks for the blank line ending each head and "
             "copies a prepared answer: the same bytes (checked before each run), far less work. "
             "Ratios are against the C epoll run of the same round: median [min, max]; the A/A "
             "row is the noise floor. Latency is wrk's (per request, on keep-alive connections). "
             "Server CPU / request is the server's utime + stime (`/proc/PID/stat`) over the "
             "measured run divided by the requests wrk completed; wrk CPU is the share of its "
             "core wrk used: near 1.00 the client, not the server, limits requests/s, and the "
             "CPU per request is the fairer comparison.",
             ""]
    for connections, rounds in results.items():
        lines += [f"### {connections} connection{'s' if connections != 1 else ''}", "",
                  "| server | requests/s (median) | ratio | p50 latency | p50 ratio | "
                  "p99 latency | p99 ratio | server CPU / request | ratio | wrk CPU |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for key in [BASELINE, *[k for k in args.servers if k != BASELINE], AA]:
            runs = [r[key] for r in rounds if key in r]
            if not runs:
                continue
            row = [LABELS[key], f"{statistics.median(r['rps'] for r in runs):,.0f}"]
            for field, unit in (("rps", None), ("p50_us", "µs"), ("p99_us", "µs"),
                                ("server_cpu_us", "µs")):
                if unit:
                    digits = 1 if field == "server_cpu_us" else 0
                    row.append(f"{statistics.median(r[field] for r in runs):,.{digits}f} {unit}")
                if key == BASELINE:
                    row.append("1")
                else:
                    med, lo, hi = ratio_stats(rounds, key, field, args.servers)
                    row.append(f"{med:.2f} [{lo:.2f}, {hi:.2f}]")
            row.append(f"{statistics.median(r['wrk_cpu'] for r in runs):.2f}")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    feats = {k: r[k]["features"] for rs in results.values() for r in rs for k in r
             if r[k].get("features")}
    for key, f in sorted(feats.items()):
        lines.append(f"{LABELS[key]} ran with backend features: {f}.")
    lines.append("")
    return "\n".join(lines)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=5.0, help="seconds measured per run")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of wrk before each run")
    p.add_argument("--connections", default="50,1", help="wrk -c values, comma-separated")
    p.add_argument("--plain", action="store_true", help="add coronet io_uring with fast paths off")
    p.add_argument("--server-cpu", type=int, default=1)
    p.add_argument("--loadgen-cpu", type=int, default=0)
    p.add_argument("--build-dir", type=Path, default=bench.ROOT / "build-bench")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    p.add_argument("--output", type=Path, help="write the Markdown section here (else stdout)")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--quick", action="store_true", help="1 round of 1 s: a smoke test")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 1.0, 0.5
    args.connections = [int(c) for c in args.connections.split(",")]
    args.servers = [BASELINE, "coronet-io_uring", *(["coronet-io_uring-plain"] if args.plain else []),
                    "coronet-epoll"]
    args.duration = max(1, round(args.duration))  # wrk takes whole seconds
    args.warmup = max(1, round(args.warmup))
    return args


def main(argv):
    args = parse_args(argv)
    if not Path(args.wrk).exists() and not shutil.which(args.wrk):
        print("http_bench: wrk not found: apt-get install wrk", file=sys.stderr)
        return 1
    started = datetime.datetime.utcnow()
    try:
        bench.ensure_build(args.build_dir, args.no_build)
        info = bench.machine_info(argparse.Namespace(coronet_server=None, build_dir=args.build_dir))
        base = bench.Server(BASELINE, server_argv(BASELINE, args.build_dir), args.server_cpu).start()
        reference = hello(base.port)
        if base.stop():
            raise bench.BenchError("the C epoll responder did not exit 0 on SIGTERM")
        results = {}
        for connections in args.connections:
            rounds = results.setdefault(connections, [])
            for i in range(args.rounds):
                r = {}
                for key in [*args.servers, AA]:
                    print(f"round {i + 1}/{args.rounds}, {connections} connections: {key}",
                          file=sys.stderr)
                    r[key] = measure(args, key, connections, reference)
                rounds.append(r)
    except bench.BenchError as e:
        print(f"http_bench: {e}", file=sys.stderr)
        return 1
    if args.json:  # first: the raw results survive a failure to render
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"info": info, "results": results}, indent=1))
    report = render(args, results, info, started)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report)
    else:
        print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
