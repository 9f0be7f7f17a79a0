#!/usr/bin/env python3
"""The headers `meson install` puts under include/coronet/, derived from the code.

The public headers are every .hpp under runtime/ and net/ outside a detail/
directory. They are installed together with every header they reach through
`#include "coronet/..."` or `#include <coronet/...>` (the detail/ headers the
public ones need), and nothing else: the set follows the includes, so it
cannot go stale as detail/ headers come and go.

    installed_headers.py ROOT     prints the set, one path (relative to ROOT) a line

meson.build runs it at configure time (install_headers); test/consumer/
install_check.py imports it to compare an install with it.
"""
import pathlib
import re
import sys

TREES = ("runtime", "net")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]coronet/([^">]+)[">]', re.M)


def public_headers(root):
    """Every public header, as paths relative to root, sorted."""
    root = pathlib.Path(root)
    found = []
    for tree in TREES:
        for path in (root / tree).rglob("*.hpp"):
            rel = path.relative_to(root)
            if "detail" not in rel.parts:
                found.append(rel.as_posix())
    return sorted(found)


def includes(root, header):
    """The coronet headers `header` includes, as paths relative to root."""
    text = (pathlib.Path(root) / header).read_text()
    return INCLUDE.findall(text)


def installed_headers(root):
    """The public headers and the closure of their coronet includes, sorted.

    Raises FileNotFoundError naming the includer when an include names a
    header that does not exist."""
    root = pathlib.Path(root)
    seen = set()
    todo = public_headers(root)
    while todo:
        header = todo.pop()
        if header in seen:
            continue
        seen.add(header)
        for inc in includes(root, header):
            if not (root / inc).is_file():
                raise FileNotFoundError(f"{header} includes <coronet/{inc}>, which does not exist")
            todo.append(inc)
    return sorted(seen)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: installed_headers.py ROOT")
    try:
        print("\n".join(installed_headers(sys.argv[1])))
    except FileNotFoundError as e:
        sys.exit(f"installed_headers.py: {e}")
