#!/usr/bin/env python3
"""Documentation code comes from files the build compiles.

    snippets_test.py [ROOT [FILE.md ...]]      (default: README.md docs/tutorial.md)

In every Markdown file, each ```cpp block must appear verbatim in the source
named by the last link to a .cpp file above it (a link relative to the
Markdown file, e.g. examples/echo_server.cpp in README.md, ../examples/...
in docs/), and that source must be one the build compiles: its file name
appears in the meson.build of its directory. ```python blocks are quotes from
the Python tutorials coronet follows, there as context: each is at most 15
lines and the text just before it says it comes from the seeds.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).parents[2]
docs = sys.argv[2:] or ["README.md", "docs/tutorial.md"]
LINK = re.compile(r"\]\(([^)\s]+\.cpp)\)")
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)


def check(md_path):
    """Returns (blocks checked, failure messages) for one Markdown file."""
    text = (root / md_path).read_text()
    checked, failures = 0, []
    blocks = [m for m in BLOCK.finditer(text) if m.group(1) in ("cpp", "python")]
    if not any(m.group(1) == "cpp" for m in blocks):
        failures.append(f"{md_path}: no ```cpp block to check")
    for m in blocks:
        line = text.count("\n", 0, m.start()) + 1
        where = f"{md_path}:{line}"
        checked += 1
        if m.group(1) == "python":
            if m.group(2).count("\n") > 15:
                failures.append(f"{where}: a quoted Python block is longer than 15 lines")
            if "seed" not in text[max(0, m.start() - 400):m.start()]:
                failures.append(f"{where}: a Python block does not say it quotes the seeds")
            continue
        links = LINK.findall(text[: m.start()])
        if not links:
            failures.append(f"{where}: a ```cpp block names no .cpp source above it")
            continue
        source = ((root / md_path).parent / links[-1]).resolve()
        if not source.is_file():
            failures.append(f"{where}: {links[-1]} does not exist")
            continue
        if m.group(2) not in source.read_text():
            failures.append(f"{where}: block differs from {links[-1]}; copy it again from the file")
        build = source.parent / "meson.build"
        if not build.is_file() or f"'{source.name}'" not in build.read_text():
            failures.append(f"{where}: {links[-1]} is not compiled (not in {build.name} beside it)")
    return checked, failures


total, failed = 0, []
for md in docs:
    n, f = check(md)
    total += n
    failed += f
for message in failed:
    print(message)
print(f"{total - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
