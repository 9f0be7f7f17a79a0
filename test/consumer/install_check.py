#!/usr/bin/env python3
"""`meson install` installs what a user needs and nothing else.

  install_check.py --source-root ROOT --build-root DIR --work DIR
      --includedir ABS --libdir ABS --version X.Y.Z --default-library both|static|shared
      [--meson M] [--cxx WORD]... [--cxxflag F]...

Installs the build (coronet's files only) into WORK/stage, then checks:
  - the headers under INCLUDEDIR/coronet are exactly the public headers and
    the detail/ headers they include (tools/installed_headers.py, computed
    again from the sources now, so a stale configuration shows up too);
  - everything else is the library (static and/or shared, per
    default_library, with its soname links) and pkgconfig/coronet.pc;
  - every installed header compiles on its own (-fsyntax-only) with only
    `pkg-config --cflags coronet` on the include path.
Prints one line per failed check and a closing count; exits 1 on any failure.
"""

import argparse
import concurrent.futures
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))
import staging  # noqa: E402


def check_stage(stage, include, libdir, wanted, expected, compile_, env):
    """Checks a staged install: the headers under `include` (the coronet/
    directory) against `wanted`, every other file against `expected` (paths
    relative to `libdir`), and each header compiled alone by `compile_` (a
    command reading the source from stdin). Returns (passed, failures)."""
    failures = []
    passed = 0
    files = {p for p in pathlib.Path(stage).rglob("*") if p.is_file() or p.is_symlink()}

    headers = {p.relative_to(include).as_posix() for p in files if include in p.parents}
    for h in sorted(wanted - headers):
        failures.append(f"not installed: {h} (a public header or included by one; "
                        "reconfigure if it is new: meson setup --reconfigure)")
    for h in sorted(headers - wanted):
        failures.append(f"installed but neither public nor included by a public header: {h}")
    passed += not (wanted ^ headers)

    others = {p.relative_to(libdir).as_posix() if libdir in p.parents else str(p)
              for p in files if include not in p.parents}
    for f in sorted(expected - others):
        failures.append(f"not installed: {libdir / f}")
    for f in sorted(others - expected):
        failures.append(f"installed but not expected: {f}")
    passed += others == expected

    def compiles(header):
        try:
            staging.run(compile_, env=env, stdin_text=f"#include <coronet/{header}>\n")
            return None
        except staging.StagingError as e:
            return f"<coronet/{header}> does not compile on its own: {e}"

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for error in pool.map(compiles, sorted(headers)):
            if error:
                failures.append(error)
            else:
                passed += 1
    return passed, failures


def check(args):
    root = pathlib.Path(args.source_root)
    sys.path.insert(0, str(root / "tools"))
    from installed_headers import installed_headers

    stage = pathlib.Path(args.work).resolve() / "stage"
    staging.install(args.meson, args.build_root, stage)
    include = stage / args.includedir.lstrip("/") / "coronet"
    libdir = stage / args.libdir.lstrip("/")

    major, minor, _ = args.version.split(".")
    expected = {"pkgconfig/coronet.pc"}
    if args.default_library in ("static", "both"):
        expected.add("libcoronet.a")
    if args.default_library in ("shared", "both"):
        expected |= {"libcoronet.so", f"libcoronet.so.{major}.{minor}",
                     f"libcoronet.so.{args.version}"}

    env = staging.pkg_config_env(stage)
    cflags = staging.pkg_config(env, "--cflags")
    compile_ = [*args.cxx, "-std=c++20", "-fsyntax-only", "-Wall", "-Wextra", "-Wpedantic",
                *args.cxxflag, *cflags, "-x", "c++", "-"]
    return check_stage(stage, include, libdir, set(installed_headers(root)), expected, compile_,
                       env)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source-root", required=True)
    parser.add_argument("--build-root", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--includedir", required=True)
    parser.add_argument("--libdir", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--default-library", required=True, choices=["both", "static", "shared"])
    parser.add_argument("--meson", default="meson")
    parser.add_argument("--cxx", action="append", default=[])
    parser.add_argument("--cxxflag", action="append", default=[])
    args = parser.parse_args()
    args.cxx = args.cxx or ["c++"]
    try:
        passed, failures = check(args)
    except staging.StagingError as e:
        sys.exit(f"install_check.py: {e}")
    for f in failures:
        print(f"FAIL: {f}")
    print(f"{passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
