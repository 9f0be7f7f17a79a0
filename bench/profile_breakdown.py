#!/usr/bin/env python3
"""Where the instructions of one message go: callgrind dumps split by part of the path.

    python3 bench/profile_breakdown.py [--messages N] [--top K] DUMP [DUMP ...]

Each DUMP is a callgrind output file of a fixed window of N messages (run.py's
`--callgrind-dir` writes one per server and scenario; N is `--callgrind-messages`,
default 20,000; for churn, a tenth, and a message is a connection). Prints a Markdown
table: one row per part of the path, one column per dump, user-space instructions per
message. Self costs are taken by function, as a build without debug information reports
them: code inlined from a header counts for the function it was inlined into, so a build
with and one without `-g` compare. `--top K` lists, under the table, each dump's K
costliest functions that no part claims (the parts are regular expressions over function
names: adjust them when the code's names change).

Needs `callgrind_annotate` (Debian: valgrind).
"""
import argparse
import re
import subprocess
from pathlib import Path

# (part, pattern). The first matching part claims a function; "kernel entry" is matched
# against the function and its object or file (libc's and liburing's wrappers), every
# other part against the function's name only.
PARTS = [
    ("kernel entry: liburing, libc syscall wrappers",
     r"liburing\.so|io_uring_submit_and|/sysdeps/|libc\.so|epoll_wait|__libc|recv\.c|send\.c|"
     r"cancellation\.c"),
    ("receive pool: lease, buffer return, ring refill",
     r"buffer_lease|release_buffer|provide|buffer_pool|give_back|note_taken|give_to_pool"),
    ("epoll: the syscall per kind, when not inlined (perform / attempt)", r"perform|attempt"),
    ("completion: reap / edge, per-kind handler, handoff to the waiter",
     r"::reap|complete|on_multishot|serve|queue_buffer|finish|drive\(|epoll_backend::poll|"
     r"retry_after|unlink|enqueue_ready"),
    ("submission: submit, SQE, park",
     r"::submit|prepare|get_sqe|start\(|submit_on_socket|submit_pooled|park|register_fd|"
     r"take_queued|waits_on|::link\("),
    ("loop turn: mailbox, ready queue, timers, wait",
     r"event_loop::turn|run_mail|ready_queue|event_loop::drive|io_uring_backend::poll|"
     r"epoll_backend::wait"),
    ("coroutine and awaitables: resume/suspend, start_operation, scope link",
     r"echo|start_operation|await_resume|await_suspend|wait_link|event_loop::current|"
     r"system_category|cancel_scope|io_awaitable|stream_ops|loop_access|task_promise|variant|"
     r"system_error|result<|span|unique_ptr"),
]
LINE = re.compile(r"^\s*([\d,]+)\s+(\S.*)$")
SOURCE = re.compile(r"^(\?\?\?|[^ (]*\.(h|hpp|cpp|c|cc)|[^ (]*/[^ (:]*):")


def self_costs(dump):
    """[(instructions, function, where)] from callgrind_annotate's function list."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--show-percs=no",
                          "--threshold=100", "--auto=no", str(dump)],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = LINE.match(line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = m.group(2)
        obj = re.search(r"\[([^]]*)\]\s*$", name)
        name = re.sub(r"\s*\[[^]]*\]\s*$", "", name)
        where = obj.group(1) if obj else ""
        if SOURCE.match(name):  # "file:function" (with -g) or "???:function": by function
            file, name = name.split(":", 1)
            where = f"{file} {where}"
        rows.append((int(m.group(1).replace(",", "")), name, where))
    return rows


def split(dump, messages):
    parts = {p: 0.0 for p, _ in PARTS}
    rest = []
    for cost, fn, where in self_costs(dump):
        for i, (part, pattern) in enumerate(PARTS):
            if re.search(pattern, f"{fn} {where}" if i == 0 else fn):
                parts[part] += cost / messages
                break
        else:
            rest.append((cost / messages, fn))
    return parts, rest


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dumps", nargs="+", type=Path)
    p.add_argument("--messages", type=int, default=20000, help="messages per window (20,000)")
    p.add_argument("--top", type=int, default=0, help="list the K costliest unclaimed functions")
    a = p.parse_args()
    results = [split(d, a.messages) for d in a.dumps]
    labels = [f"{d.parent.name}/{d.name.removesuffix('.0.out')}" for d in a.dumps]
    print("| part of the path | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(a.dumps))
    for part, _ in PARTS:
        print(f"| {part} | " + " | ".join(f"{r[0][part]:,.0f}" for r in results) + " |")
    print("| other | " + " | ".join(f"{sum(c for c, _ in r[1]):,.0f}" for r in results) + " |")
    totals = [sum(r[0].values()) + sum(c for c, _ in r[1]) for r in results]
    print("| **total** | " + " | ".join(f"**{t:,.0f}**" for t in totals) + " |")
    for label, (_, rest) in zip(labels, results):
        if a.top:
            print(f"\n{label}, unclaimed:")
            for c, fn in sorted(rest, reverse=True)[:a.top]:
                print(f"  {c:7.1f}  {fn[:110]}")


if __name__ == "__main__":
    main()
