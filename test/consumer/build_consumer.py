#!/usr/bin/env python3
"""Builds test/consumer/project/echo_round_trip.cpp the two ways a user would:

  build_consumer.py subproject --project DIR --coronet ROOT --work DIR --output FILE
      [--meson M] [--ninja N] [--cxx WORD]... [--setup-option -Dname=value]...
  build_consumer.py pkgconfig --build-root DIR --source FILE --work DIR
      --output-shared FILE --output-static FILE [--meson M] [--cxx WORD]... [--cxxflag F]...

subproject: the consumer project (DIR) with coronet (ROOT) linked in as
subprojects/coronet, configured once in WORK/build (again only when the
setup options change), then built by ninja, which rebuilds only what changed;
the program is copied to FILE.

pkgconfig: `meson install` of the coronet build (BUILD-ROOT) into WORK/stage,
then the program compiled with nothing but `pkg-config --cflags --libs
coronet` (linked to the shared library, with an rpath to the staged libdir),
and again with `pkg-config --static --libs coronet` and the static archive.
readelf checks that each program links what it claims.

Run by meson (test/consumer/meson.build) as custom targets; the tests run the
programs. Output is shown only when a step fails.
"""

import argparse
import filecmp
import os
import pathlib
import re
import shlex
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import staging  # noqa: E402


def copy_if_changed(src, dst):
    if not dst.exists() or not filecmp.cmp(src, dst, shallow=False):
        shutil.copy2(src, dst)


def build_subproject(args):
    work = pathlib.Path(args.work).resolve()
    src, build = work / "src", work / "build"
    (src / "subprojects").mkdir(parents=True, exist_ok=True)
    for name in ("meson.build", "echo_round_trip.cpp"):
        copy_if_changed(pathlib.Path(args.project) / name, src / name)
    link = src / "subprojects" / "coronet"
    coronet = pathlib.Path(args.coronet).resolve()
    if not link.is_symlink() or pathlib.Path(os.readlink(link)) != coronet:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(coronet, target_is_directory=True)

    # --force-fallback-for: use the subproject even if a coronet.pc is installed.
    setup = [args.meson, "setup", str(build), str(src), "--force-fallback-for=coronet",
             *args.setup_option]
    env = dict(os.environ, CXX=shlex.join(args.cxx))
    record = work / "setup-command.txt"
    wanted = shlex.join(setup) + "\nCXX=" + env["CXX"] + "\n"
    if not (build / "meson-private" / "coredata.dat").exists() or (
            not record.exists() or record.read_text() != wanted):
        shutil.rmtree(build, ignore_errors=True)
        record.unlink(missing_ok=True)
        staging.run(setup, env=env)
        record.write_text(wanted)
    staging.run([args.ninja, "-C", str(build)], env=env)
    shutil.copy2(build / "echo_round_trip", args.output)


def needed_libraries(program):
    dynamic = staging.run(["readelf", "-d", program])
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)


def build_pkgconfig(args):
    stage = pathlib.Path(args.work).resolve() / "stage"
    staging.install(args.meson, args.build_root, stage)
    env = staging.pkg_config_env(stage)
    cflags = staging.pkg_config(env, "--cflags")
    libdir = staging.pkg_config(env, "--variable=libdir")
    compile_ = [*args.cxx, "-std=c++20", "-Wall", "-Wextra", "-Wpedantic", *args.cxxflag,
                *cflags, args.source, "-o"]

    shared_libs = staging.pkg_config(env, "--libs")
    staging.run([*compile_, args.output_shared, *shared_libs, f"-Wl,-rpath,{libdir[0]}"], env=env)
    # The archive instead of the shared library: -l:libcoronet.a, and what
    # --static adds (Libs.private, Requires.private).
    static_libs = ["-l:libcoronet.a" if a == "-lcoronet" else a
                   for a in staging.pkg_config(env, "--static", "--libs")]
    if "-l:libcoronet.a" not in static_libs:
        raise staging.StagingError(f"no -lcoronet in pkg-config --static --libs: {static_libs}")
    staging.run([*compile_, args.output_static, *static_libs], env=env)

    shared_needs = needed_libraries(args.output_shared)
    if not any(n.startswith("libcoronet.so") for n in shared_needs):
        raise staging.StagingError(f"{args.output_shared} does not link libcoronet.so: "
                                   f"NEEDED {shared_needs}")
    static_needs = needed_libraries(args.output_static)
    if any(n.startswith("libcoronet") for n in static_needs):
        raise staging.StagingError(f"{args.output_static} links libcoronet dynamically: "
                                   f"NEEDED {static_needs}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="how", required=True)
    for name in ("subproject", "pkgconfig"):
        p = sub.add_parser(name)
        p.add_argument("--meson", default="meson")
        p.add_argument("--cxx", action="append", default=[])
        p.add_argument("--work", required=True)
    s = sub.choices["subproject"]
    s.add_argument("--ninja", default="ninja")
    s.add_argument("--project", required=True)
    s.add_argument("--coronet", required=True)
    s.add_argument("--output", required=True)
    s.add_argument("--setup-option", action="append", default=[])
    p = sub.choices["pkgconfig"]
    p.add_argument("--build-root", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--output-shared", required=True)
    p.add_argument("--output-static", required=True)
    p.add_argument("--cxxflag", action="append", default=[])
    args = parser.parse_args()
    args.cxx = args.cxx or ["c++"]
    try:
        build_subproject(args) if args.how == "subproject" else build_pkgconfig(args)
    except staging.StagingError as e:
        sys.exit(f"build_consumer.py {args.how}: {e}")


if __name__ == "__main__":
    main()
