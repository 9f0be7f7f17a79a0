"""What build_consumer.py and install_check.py share: `meson install` of a build
directory into a staging directory (DESTDIR), and pkg-config pointed at it.

Imported, not run. Every command has a timeout; a failing one raises
StagingError with its command line and output.
"""

import os
import pathlib
import shlex
import shutil
import subprocess

COMMAND_TIMEOUT = 300  # seconds for any one command (a compile, an install, a meson setup)


class StagingError(Exception):
    pass


def run(argv, env=None, stdin_text=None):
    """Runs argv (with stdin_text on its stdin); returns its stdout. Raises
    StagingError if it fails."""
    stdin = subprocess.DEVNULL if stdin_text is None else None
    try:
        proc = subprocess.run(argv, stdin=stdin, input=stdin_text, capture_output=True,
                              text=True, env=env, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise StagingError(f"timed out after {COMMAND_TIMEOUT}s: {shlex.join(map(str, argv))}")
    except OSError as e:
        raise StagingError(f"cannot run {shlex.join(map(str, argv))}: {e}")
    if proc.returncode != 0:
        raise StagingError(f"exit {proc.returncode}: {shlex.join(map(str, argv))}\n"
                           f"{proc.stdout}{proc.stderr}")
    return proc.stdout


def install(meson, build_root, stage):
    """A fresh `meson install` of build_root (coronet's files only) into stage."""
    stage = pathlib.Path(stage)
    shutil.rmtree(stage, ignore_errors=True)
    run([meson, "install", "-C", build_root, "--destdir", str(stage), "--no-rebuild",
         "--skip-subprojects", "--quiet"])


def pkg_config_env(stage):
    """The environment in which `pkg-config coronet` finds the staged coronet.pc.

    coronet.pc is relocatable (prefix=${pcfiledir}/...), so PKG_CONFIG_PATH is
    all it takes. A build directory configured before that was the default
    has an absolute prefix; PKG_CONFIG_SYSROOT_DIR then maps it into stage."""
    pcs = sorted(pathlib.Path(stage).rglob("pkgconfig/coronet.pc"))
    if len(pcs) != 1:
        raise StagingError(f"expected one pkgconfig/coronet.pc under {stage}, found {pcs}")
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = os.pathsep.join(
        [str(pcs[0].parent)] + [p for p in [os.environ.get("PKG_CONFIG_PATH")] if p])
    if "prefix=${pcfiledir}" not in pcs[0].read_text():
        env["PKG_CONFIG_SYSROOT_DIR"] = str(stage)
    return env


def pkg_config(env, *args):
    """`pkg-config ARGS coronet`, split into arguments."""
    return shlex.split(run(["pkg-config", *args, "coronet"], env=env))
